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

TEST(Calendar, ParseIsoDateIsStrict) {
  EXPECT_EQ(*ParseIsoDate("2024-02-29"), (CivilDate{2024, 2, 29}));
  auto impossible = ParseIsoDate("2023-02-29");
  ASSERT_FALSE(impossible.ok());
  EXPECT_NE(impossible.status().message().find("'2023-02-29' is an impossible date"), std::string::npos);
  EXPECT_FALSE(ParseIsoDate("07-01-2026").ok());
  EXPECT_FALSE(ParseIsoDate("2026-1-7").ok());
  EXPECT_FALSE(ParseIsoDate("").ok());
  EXPECT_EQ(FormatIsoDate({2026, 1, 7}), "2026-01-07");
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
    Cases, WholeYears,
    ::testing::Values(YearsCase{{2000, 2, 29}, {2023, 2, 28}, 22},   // leap birthday, non-leap year
                      YearsCase{{2000, 2, 29}, {2023, 3, 1}, 23},    // reached on 1 March
                      YearsCase{{2000, 2, 29}, {2024, 2, 28}, 23},   // leap year: not yet
                      YearsCase{{2000, 2, 29}, {2024, 2, 29}, 24},   // leap year: on the day
                      YearsCase{{1964, 9, 26}, {2026, 9, 26}, 62},   // birthday on the reference date
                      YearsCase{{1964, 9, 26}, {2026, 9, 25}, 61},   // the day before
                      YearsCase{{2027, 1, 1}, {2026, 1, 7}, 0},      // future date: never negative
                      YearsCase{{2026, 1, 7}, {2026, 1, 7}, 0},
                      YearsCase{{1999, 12, 31}, {2000, 1, 1}, 0}));

TEST(Calendar, FormatsTimestampsInUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestampMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(1767780900123), "2026-01-07T10:15:00.123Z");
  EXPECT_EQ(FormatTimestampMs(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(UtcNowIso(Utc(2026, 1, 7, 10, 15)), "2026-01-07T10:15:00.000Z");
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

}  // namespace
}  // namespace memberlake::model
