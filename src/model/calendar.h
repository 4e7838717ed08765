// Calendar arithmetic on proleptic Gregorian dates, free of time zones and the C library's
// global state. Dates are days since 1970-01-01 (Arrow's date32) or civil y/m/d triples.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace memberlake::model {

struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  friend bool operator==(const CivilDate&, const CivilDate&) = default;
};

int32_t DaysFromCivil(CivilDate date);
CivilDate CivilFromDays(int32_t days);
bool IsLeapYear(int year);
int DaysInMonth(int year, int month);
bool IsValidDate(CivilDate date);

// Strict YYYY-MM-DD (what --as-of accepts). Error names the text and why it is no date.
arrow::Result<CivilDate> ParseIsoDate(std::string_view text);
// YYYY-MM-DD. Years outside 0..9999 are written in ISO 8601's expanded form ("+10000-01-01",
// "-0001-12-31") so that no out-of-range date is ever printed as a different, valid one; every
// parser refuses them (the range of a member's dates is 0001..9999, IsValidDate).
std::string FormatIsoDate(CivilDate date);

// Whole years from `from` to `to`: one less if the anniversary has not been reached;
// a 29 February anniversary is reached on 1 March in non-leap years. Never negative.
int WholeYearsBetween(CivilDate from, CivilDate to);

// ISO 8601 in UTC with milliseconds ("2026-01-07T10:15:00.000Z") of milliseconds since the epoch.
std::string FormatTimestampMs(int64_t millis);
std::string UtcNowIso(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The calendar date in Europe/Amsterdam (CET/CEST, EU summer-time rule) at `now`.
CivilDate TodayInAmsterdam(std::chrono::system_clock::time_point now);

// Europe/Amsterdam's offset from UTC at `utc`: 3600 (CET) or 7200 (CEST), in seconds.
int64_t AmsterdamUtcOffsetSeconds(std::chrono::system_clock::time_point utc);

// The UTC moment (seconds since the epoch) at which the clock in Europe/Amsterdam shows
// `local_seconds` (wall time as seconds since 1970-01-01T00:00 local). A wall time repeated by
// the autumn switch is its first (summer-time) occurrence; one skipped by the spring switch is
// read as winter time, i.e. an hour later on the clock.
int64_t AmsterdamWallTimeToUtc(int64_t local_seconds);

// The calendar date in Europe/Amsterdam at `utc_millis` (milliseconds since the epoch).
CivilDate AmsterdamDateOfUtcMillis(int64_t utc_millis);

// The first moment after `now` at which the clock in Europe/Amsterdam shows `hour`:`minute`
// (every day; a time skipped by the spring switch runs an hour later, a repeated one once).
std::chrono::system_clock::time_point NextAmsterdamTime(std::chrono::system_clock::time_point now, int hour,
                                                        int minute);

}  // namespace memberlake::model
