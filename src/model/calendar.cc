#include "model/calendar.h"

#include <cstdio>

namespace memberlake::model {

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
int32_t DaysFromCivil(CivilDate date) {
  int y = date.year - (date.month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned m = static_cast<unsigned>(date.month);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + static_cast<unsigned>(date.day) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int32_t>(era * 146097 + static_cast<int>(doe) - 719468);
}

CivilDate CivilFromDays(int32_t days) {
  const int z = days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int y = static_cast<int>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{y + (m <= 2 ? 1 : 0), static_cast<int>(m), static_cast<int>(d)};
}

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

bool IsValidDate(CivilDate date) {
  return date.year >= 1 && date.year <= 9999 && date.month >= 1 && date.month <= 12 &&
         date.day >= 1 && date.day <= DaysInMonth(date.year, date.month);
}

arrow::Result<CivilDate> ParseIsoDate(std::string_view text) {
  auto digits = [&](size_t from, size_t count, int* out) {
    int value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  CivilDate date;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !digits(0, 4, &date.year) ||
      !digits(5, 2, &date.month) || !digits(8, 2, &date.day)) {
    return arrow::Status::Invalid("'", text, "' is not a date in the form YYYY-MM-DD");
  }
  if (!IsValidDate(date)) return arrow::Status::Invalid("'", text, "' is an impossible date");
  return date;
}

std::string FormatIsoDate(CivilDate date) {
  char buf[40];
  const bool plain = date.year >= 0 && date.year <= 9999;
  std::snprintf(buf, sizeof buf, plain ? "%04d-%02d-%02d" : "%+05d-%02d-%02d", date.year, date.month % 100,
                date.day % 100);
  return buf;
}

int WholeYearsBetween(CivilDate from, CivilDate to) {
  int years = to.year - from.year;
  // A 29 February anniversary falls on 1 March in non-leap years: compare against the
  // anniversary as it exists in the target year.
  int month = from.month, day = from.day;
  if (month == 2 && day == 29 && !IsLeapYear(to.year)) {
    month = 3;
    day = 1;
  }
  if (to.month < month || (to.month == month && to.day < day)) --years;
  return years < 0 ? 0 : years;
}

std::string FormatTimestampMs(int64_t millis) {
  int64_t days = millis >= 0 ? millis / 86400000 : (millis - 86399999) / 86400000;
  int64_t rest = millis - days * 86400000;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ",
                FormatIsoDate(CivilFromDays(static_cast<int32_t>(days))).c_str(),
                static_cast<int>(rest / 3600000), static_cast<int>(rest / 60000 % 60),
                static_cast<int>(rest / 1000 % 60), static_cast<int>(rest % 1000));
  return buf;
}

std::string UtcNowIso(std::chrono::system_clock::time_point now) {
  return FormatTimestampMs(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

namespace {

// Seconds since the epoch of 01:00 UTC on the last Sunday of `month` in `year`: the moment
// EU summer time starts (March) or ends (October).
int64_t EuSwitchUtc(int year, int month) {
  int32_t last = DaysFromCivil({year, month, DaysInMonth(year, month)});
  int weekday = static_cast<int>(((last % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday (4)
  int32_t sunday = last - weekday;
  return static_cast<int64_t>(sunday) * 86400 + 3600;
}

// The offset on plain seconds: a system_clock time_point counts nanoseconds and cannot hold
// the years 0001..9999 that member dates span (it overflows after 2262).
int64_t AmsterdamOffsetAt(int64_t utc) {
  int64_t utc_days = utc >= 0 ? utc / 86400 : (utc - 86399) / 86400;
  int year = CivilFromDays(static_cast<int32_t>(utc_days)).year;
  bool summer = utc >= EuSwitchUtc(year, 3) && utc < EuSwitchUtc(year, 10);
  return summer ? 7200 : 3600;
}

}  // namespace

int64_t AmsterdamUtcOffsetSeconds(std::chrono::system_clock::time_point now) {
  return AmsterdamOffsetAt(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

CivilDate AmsterdamDateOfUtcMillis(int64_t utc_millis) {
  int64_t utc = utc_millis >= 0 ? utc_millis / 1000 : (utc_millis - 999) / 1000;
  int64_t local = utc + AmsterdamOffsetAt(utc);
  int64_t local_days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  return CivilFromDays(static_cast<int32_t>(local_days));
}

CivilDate TodayInAmsterdam(std::chrono::system_clock::time_point now) {
  return AmsterdamDateOfUtcMillis(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

int64_t AmsterdamWallTimeToUtc(int64_t local_seconds) {
  // The offset that holds at the candidate moment. In the autumn both do (summer time, the
  // earlier moment, wins); in the spring gap neither does (read as winter time).
  for (int64_t offset : {7200, 3600}) {
    if (AmsterdamOffsetAt(local_seconds - offset) == offset) return local_seconds - offset;
  }
  return local_seconds - 3600;
}

std::chrono::system_clock::time_point NextAmsterdamTime(std::chrono::system_clock::time_point now, int hour,
                                                        int minute) {
  using std::chrono::seconds;
  using TimePoint = std::chrono::system_clock::time_point;
  const int32_t today = DaysFromCivil(TodayInAmsterdam(now));
  for (int32_t day = today - 1; day <= today + 2; ++day) {
    const int64_t local = static_cast<int64_t>(day) * 86400 + hour * 3600 + minute * 60;
    const TimePoint moment{seconds(AmsterdamWallTimeToUtc(local))};
    if (moment > now) return moment;
  }
  return now + std::chrono::hours(24);  // unreachable: one of four days is after `now`
}

}  // namespace memberlake::model
