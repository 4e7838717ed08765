#include "model/calendar.h"

#include <gtest/gtest.h>

namespace memberlake::model {
namespace {

using std::chrono::system_clock;

system_clock::time_point Utc(int y, int m, int d, int hh, int mm) {
  return system_clock::time_point(std::chrono::seconds(static_cast<int64_t>(DaysFromCivil({y, m, d})) * 86400 +
                                                       hh * 3600 + mm * 60));
}

TEST(Calendar, DaysRoundTrip) {
  EXPECT_EQ(DaysFromCivil({1970, 1, 1}), 0);
  EXPECT_EQ(DaysFromCivil({2000, 3, 1}), 11017);
  EXPECT_EQ(DaysFromCivil({1969, 12, 31}), -1);
  for (int32_t days = -800000; days < 800000; days += 997) {
    EXPECT_EQ(DaysFromCivil(CivilFromDays(days)), days);
  }
}

TEST(Calendar, CivilFromDaysKnownDays) {
  EXPECT_EQ(CivilFromDays(0), (CivilDate{1970, 1, 1}));
  EXPECT_EQ(CivilFromDays(-1), (CivilDate{1969, 12, 31}));
  EXPECT_EQ(CivilFromDays(11016), (CivilDate{2000, 2, 29}));
  EXPECT_EQ(CivilFromDays(20460), (CivilDate{2026, 1, 7}));
  EXPECT_EQ(DaysFromCivil({1900, 3, 1}), -25508);
}

TEST(Calendar, LeapYearsAndMonthLengths) {
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_TRUE(IsLeapYear(2024));
  EXPECT_FALSE(IsLeapYear(1900));
  EXPECT_FALSE(IsLeapYear(2023));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(2023, 2), 28);
  EXPECT_EQ(DaysInMonth(1900, 2), 28);
  EXPECT_EQ(DaysInMonth(2023, 4), 30);
  EXPECT_EQ(DaysInMonth(2023, 12), 31);
  EXPECT_EQ(DaysInMonth(2023, 13), 0);
  EXPECT_TRUE(IsValidDate({2024, 2, 29}));
  EXPECT_FALSE(IsValidDate({2023, 2, 29}));
  EXPECT_FALSE(IsValidDate({2020, 2, 31}));
  EXPECT_FALSE(IsValidDate({2020, 0, 1}));
  EXPECT_FALSE(IsValidDate({2020, 1, 0}));
}

TEST(Calendar, ParseIsoDateIsStrictAndNamesTheText) {
  EXPECT_EQ(*ParseIsoDate("2024-02-29"), (CivilDate{2024, 2, 29}));
  auto impossible = ParseIsoDate("2023-02-29");
  ASSERT_FALSE(impossible.ok());
  EXPECT_TRUE(impossible.status().IsInvalid());
  EXPECT_EQ(impossible.status().message(), "'2023-02-29' is an impossible date");
  auto garbage = ParseIsoDate("07-01-2026");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().message(), "'07-01-2026' is not a date in the form YYYY-MM-DD");
  EXPECT_FALSE(ParseIsoDate("2026-1-7").ok());
  EXPECT_FALSE(ParseIsoDate("2026-01-07T00:00").ok());
  EXPECT_FALSE(ParseIsoDate("2026-13-01").ok());
  EXPECT_FALSE(ParseIsoDate("").ok());
  EXPECT_EQ(FormatIsoDate({2026, 1, 7}), "2026-01-07");
  EXPECT_EQ(FormatIsoDate({987, 12, 31}), "0987-12-31");
}

struct YearsCase {
  CivilDate from, to;
  int years;
};

void PrintTo(const YearsCase& c, std::ostream* os) {
  *os << FormatIsoDate(c.from) << " to " << FormatIsoDate(c.to);
}

class WholeYears : public ::testing::TestWithParam<YearsCase> {};

TEST_P(WholeYears, FollowsTheBirthdayRule) {
  EXPECT_EQ(WholeYearsBetween(GetParam().from, GetParam().to), GetParam().years);
}

INSTANTIATE_TEST_SUITE_P(
    Calendar, WholeYears,
    ::testing::Values(YearsCase{{2000, 2, 29}, {2023, 2, 28}, 22},   // leap birthday, non-leap year
                      YearsCase{{2000, 2, 29}, {2023, 3, 1}, 23},    // reached on 1 March
                      YearsCase{{2000, 2, 29}, {2024, 2, 28}, 23},   // leap year: not yet
                      YearsCase{{2000, 2, 29}, {2024, 2, 29}, 24},   // leap year: on the day
                      YearsCase{{1964, 9, 26}, {2026, 9, 26}, 62},   // birthday on the reference date
                      YearsCase{{1964, 9, 26}, {2026, 9, 25}, 61},   // the day before
                      YearsCase{{2027, 1, 1}, {2026, 1, 7}, 0},      // future date: never negative
                      YearsCase{{2026, 1, 7}, {2026, 1, 7}, 0},
                      YearsCase{{1999, 12, 31}, {2000, 1, 1}, 0},
                      YearsCase{{1996, 2, 29}, {2000, 2, 29}, 4},    // leap to leap
                      YearsCase{{1996, 2, 29}, {1997, 2, 28}, 0},
                      YearsCase{{1996, 2, 29}, {1997, 3, 1}, 1},
                      YearsCase{{1964, 3, 1}, {2023, 2, 28}, 58},
                      YearsCase{{1964, 3, 1}, {2024, 3, 1}, 60}));

TEST(Calendar, FormatsTimestampsInUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestampMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(1767780900123), "2026-01-07T10:15:00.123Z");
  EXPECT_EQ(FormatTimestampMs(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(UtcNowIso(Utc(2026, 1, 7, 10, 15)), "2026-01-07T10:15:00.000Z");
}

// The fuzzing finding of issue 18: year 10000 was printed as 0000, a different valid-looking
// date. Out-of-range years are written in full so no formatter aliases them.
TEST(Calendar, OutOfRangeYearsAreNeverPrintedAsOtherYears) {
  EXPECT_EQ(FormatIsoDate({9999, 12, 31}), "9999-12-31");
  EXPECT_EQ(FormatIsoDate({10000, 1, 1}), "+10000-01-01");
  EXPECT_EQ(FormatIsoDate({-1, 12, 31}), "-0001-12-31");
  const int64_t ms_10000 = static_cast<int64_t>(DaysFromCivil({10000, 1, 1})) * 86400000 + 13 * 3600000;
  EXPECT_EQ(FormatTimestampMs(ms_10000), "+10000-01-01T13:00:00.000Z");
  EXPECT_FALSE(ParseIsoDate(FormatIsoDate({10000, 1, 1})).ok());
}

TEST(Calendar, AmsterdamWallTimeToUtcAcrossTheSwitches) {
  auto local = [](CivilDate d, int h, int m) { return static_cast<int64_t>(DaysFromCivil(d)) * 86400 + h * 3600 + m * 60; };
  auto utc = [](CivilDate d, int h, int m) { return static_cast<int64_t>(DaysFromCivil(d)) * 86400 + h * 3600 + m * 60; };
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 1, 1}, 0, 30)), utc({2025, 12, 31}, 23, 30));  // CET
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 7, 1}, 12, 0)), utc({2026, 7, 1}, 10, 0));    // CEST
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 3, 29}, 1, 59)), utc({2026, 3, 29}, 0, 59));
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 3, 29}, 2, 30)), utc({2026, 3, 29}, 1, 30));  // gap: read as CET
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 3, 29}, 3, 0)), utc({2026, 3, 29}, 1, 0));
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 10, 25}, 2, 30)), utc({2026, 10, 25}, 0, 30));  // repeated: CEST
  EXPECT_EQ(AmsterdamWallTimeToUtc(local({2026, 10, 25}, 3, 0)), utc({2026, 10, 25}, 2, 0));
  EXPECT_EQ(AmsterdamDateOfUtcMillis(utc({2025, 12, 31}, 23, 30) * 1000), (CivilDate{2026, 1, 1}));
  EXPECT_EQ(AmsterdamDateOfUtcMillis(utc({2025, 12, 31}, 22, 59) * 1000 + 999), (CivilDate{2025, 12, 31}));
}

TEST(Calendar, TodayInAmsterdamFollowsCetAndCest) {
  // winter: UTC+1
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 12, 31, 22, 59)), (CivilDate{2026, 12, 31}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 12, 31, 23, 0)), (CivilDate{2027, 1, 1}));
  // summer: UTC+2
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 7, 1, 21, 59)), (CivilDate{2026, 7, 1}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 7, 1, 22, 30)), (CivilDate{2026, 7, 2}));
  // 2026: summer time from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 28, 23, 30)), (CivilDate{2026, 3, 29}));   // CET
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 29, 22, 30)), (CivilDate{2026, 3, 30}));   // CEST
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 24, 22, 30)), (CivilDate{2026, 10, 25}));  // CEST
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 25, 22, 30)), (CivilDate{2026, 10, 25}));  // CET again
}

TEST(Calendar, TodayInAmsterdamAtTheExactSwitches) {
  // 29 March 2026 01:00 UTC: 02:00 CET becomes 03:00 CEST. Midnight is UTC 23:00 before it...
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 28, 22, 59)), (CivilDate{2026, 3, 28}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 28, 23, 0)), (CivilDate{2026, 3, 29}));
  // ...and UTC 22:00 after it.
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 29, 21, 59)), (CivilDate{2026, 3, 29}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 3, 29, 22, 0)), (CivilDate{2026, 3, 30}));
  // 25 October 2026 01:00 UTC: 03:00 CEST becomes 02:00 CET.
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 24, 21, 59)), (CivilDate{2026, 10, 24}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 24, 22, 0)), (CivilDate{2026, 10, 25}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 25, 22, 59)), (CivilDate{2026, 10, 25}));
  EXPECT_EQ(TodayInAmsterdam(Utc(2026, 10, 25, 23, 0)), (CivilDate{2026, 10, 26}));
  // Another year's rule: 2024 switched on 31 March and 27 October.
  EXPECT_EQ(TodayInAmsterdam(Utc(2024, 3, 30, 23, 30)), (CivilDate{2024, 3, 31}));   // CET
  EXPECT_EQ(TodayInAmsterdam(Utc(2024, 3, 31, 22, 30)), (CivilDate{2024, 4, 1}));    // CEST
  EXPECT_EQ(TodayInAmsterdam(Utc(2024, 10, 27, 22, 30)), (CivilDate{2024, 10, 27}));  // CET
  EXPECT_EQ(TodayInAmsterdam(Utc(2024, 10, 26, 22, 30)), (CivilDate{2024, 10, 27}));  // CEST
}

}  // namespace
TEST(Calendar, NextAmsterdamTimeIsLocalWallClockTime) {
  // winter (CET): 03:00 local is 02:00 UTC; not yet reached, then reached
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 1, 7, 1, 0), 3, 0), Utc(2026, 1, 7, 2, 0));
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 1, 7, 2, 0), 3, 0), Utc(2026, 1, 8, 2, 0));  // exactly now: the next day
  // summer (CEST): 03:00 local is 01:00 UTC
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 7, 1, 12, 0), 3, 0), Utc(2026, 7, 2, 1, 0));
  // local midnight late in the UTC evening
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 7, 1, 12, 0), 0, 30), Utc(2026, 7, 1, 22, 30));
  // spring switch, 29 March 2026: 02:30 local does not exist, it runs at 03:30 CEST (01:30 UTC)
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 3, 28, 12, 0), 2, 30), Utc(2026, 3, 29, 1, 30));
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 3, 28, 12, 0), 3, 0), Utc(2026, 3, 29, 1, 0));
  // autumn switch, 25 October 2026: 02:30 local happens twice, it runs once, the first time
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 10, 24, 12, 0), 2, 30), Utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(NextAmsterdamTime(Utc(2026, 10, 25, 0, 30), 2, 30), Utc(2026, 10, 26, 1, 30));
  EXPECT_EQ(AmsterdamUtcOffsetSeconds(Utc(2026, 1, 7, 0, 0)), 3600);
  EXPECT_EQ(AmsterdamUtcOffsetSeconds(Utc(2026, 7, 7, 0, 0)), 7200);
}

}  // namespace memberlake::model
