// Reading the date and timestamp texts found in the club's live table (../shared/domain.md,
// "The live table as it really is"): ISO dates and timestamps as the approval workflow writes
// them, and the spreadsheet import's display text.
//
// Dates: YYYY-MM-DD, YYYY/MM/DD, day first with '-', '/' or '.' (29-11-1971, 29/11/1971,
// 3.2.1974), two-digit years (29-11-71), Dutch month names and abbreviations
// (3 februari 1974, 3 feb. 1974, 3-mrt-1974). A two-digit year takes the century that puts the
// date in the hundred years up to the reference date (never after it: a birth date is never in
// the future).
// Timestamps: one of those dates, then 'T' or spaces and a time "H:MM" or "HH:MM" with optional
// seconds and fraction (digits after the milliseconds are cut off), then nothing, "Z" or an
// offset (+01:00, +0100, +01). Without an offset the time is wall time in Europe/Amsterdam
// (DST-aware); a date alone is midnight there.
// Every result lies in the years 0001..9999, in UTC and in Amsterdam: an offset that moves a
// moment out of that range makes it kOutOfRange, never a wrapped year.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/calendar.h"

namespace memberlake::model {

enum class DateTextResult { kOk, kNoDate, kImpossible, kOutOfRange };

struct DateText {
  // A date field's value: the date as written, or for a timestamp with an offset the date in
  // Europe/Amsterdam at that moment.
  CivilDate date;
  int64_t utc_millis = 0;  // the moment, ms since the epoch in UTC (a timestamp field's value)
};

DateTextResult ParseDateText(std::string_view text, CivilDate reference, DateText* out);

// "januari".."december" for 1..12.
std::string_view DutchMonthName(int month);
// 1..12 for a Dutch month name or abbreviation ("feb", "feb.", "mrt", "sept"), ignoring ASCII
// case; 0 when the word is none.
int DutchMonthNumber(std::string_view word);

}  // namespace memberlake::model
