#include "model/date_text.h"

#include <optional>

#include "model/text.h"

namespace memberlake::model {
namespace {

constexpr std::string_view kMonths[] = {"januari", "februari", "maart",     "april",   "mei",      "juni",
                                        "juli",    "augustus", "september", "oktober", "november", "december"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Two digits at p[0..1] as a number, or -1.
int TwoDigits(const char* p) { return IsDigit(p[0]) && IsDigit(p[1]) ? (p[0] - '0') * 10 + (p[1] - '0') : -1; }

// The number written in `digits` (all digits, at most 9), or -1.
int Number(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return -1;
  int value = 0;
  for (char c : digits) {
    if (!IsDigit(c)) return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

// The year ending in `yy` that puts yy-month-day in the hundred years up to `reference`.
int PivotYear(int yy, int month, int day, CivilDate reference) {
  int year = reference.year - ((reference.year % 100 - yy + 100) % 100);
  if (year == reference.year && (month > reference.month || (month == reference.month && day > reference.day))) {
    year -= 100;
  }
  return year;
}

// Day, month and a year of 4 digits, or of 2 digits to be pivoted.
DateTextResult MakeDate(int day, int month, std::string_view year_text, CivilDate reference, CivilDate* out) {
  int year = Number(year_text);
  if (year < 0 || (year_text.size() != 2 && year_text.size() != 4)) return DateTextResult::kNoDate;
  if (year_text.size() == 2) year = PivotYear(year, month, day, reference);
  *out = {year, month, day};
  return IsValidDate(*out) ? DateTextResult::kOk : DateTextResult::kImpossible;
}

// Numeric date: Y-M-D or D-M-Y with one kind of separator '-', '/' or '.'.
DateTextResult ParseNumericDate(std::string_view text, CivilDate reference, CivilDate* date) {
  const char* p = text.data();
  int century = 0, year = 0, month = 0, day = 0;
  if (text.size() == 10 && p[4] == '-' && p[7] == '-' && (century = TwoDigits(p)) >= 0 &&
      (year = TwoDigits(p + 2)) >= 0 && (month = TwoDigits(p + 5)) >= 0 && (day = TwoDigits(p + 8)) >= 0) {
    *date = {century * 100 + year, month, day};  // the common case first: canonical YYYY-MM-DD
    return IsValidDate(*date) ? DateTextResult::kOk : DateTextResult::kImpossible;
  }
  std::string_view parts[3];
  size_t count = 0, start = 0;
  char separator = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '-' || text[i] == '/' || text[i] == '.') {
      if (count == 3) return DateTextResult::kNoDate;
      if (i < text.size()) {
        if (separator != 0 && text[i] != separator) return DateTextResult::kNoDate;  // 1-2/2000
        separator = text[i];
      }
      parts[count++] = text.substr(start, i - start);
      start = i + 1;
    }
  }
  if (count != 3) return DateTextResult::kNoDate;
  int a = Number(parts[0]), b = Number(parts[1]);
  if (a < 0 || b < 0 || Number(parts[2]) < 0) return DateTextResult::kNoDate;
  if (parts[0].size() == 4 && parts[1].size() <= 2 && parts[2].size() <= 2) {
    *date = {a, b, Number(parts[2])};
    return IsValidDate(*date) ? DateTextResult::kOk : DateTextResult::kImpossible;
  }
  if (parts[0].size() > 2 || parts[1].size() > 2) return DateTextResult::kNoDate;
  return MakeDate(a, b, parts[2], reference, date);
}

// "3 februari 1974", "03 feb. 1974", "3-mrt-74": day, month word, year. `rest` gets the text
// after the year. False when the text does not start that way.
bool ParseWordDate(std::string_view text, CivilDate reference, CivilDate* date, std::string_view* rest,
                   DateTextResult* result) {
  size_t i = 0;
  auto skip_separators = [&] {
    size_t from = i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '-')) ++i;
    return i > from;
  };
  while (i < text.size() && IsDigit(text[i])) ++i;
  std::string_view day = text.substr(0, i);
  if (day.empty() || day.size() > 2 || !skip_separators()) return false;
  size_t word_start = i;
  while (i < text.size() && IsLetter(text[i])) ++i;
  if (i < text.size() && text[i] == '.') ++i;
  int month = DutchMonthNumber(text.substr(word_start, i - word_start));
  if (month == 0 || !skip_separators()) return false;
  size_t year_start = i;
  while (i < text.size() && IsDigit(text[i])) ++i;
  *rest = text.substr(i);
  if (!rest->empty() && rest->front() != ' ' && rest->front() != 'T') return false;
  *result = MakeDate(Number(day), month, text.substr(year_start, i - year_start), reference, date);
  return true;
}

struct TimeOfDay {
  int64_t millis = 0;                    // as written
  std::optional<int64_t> offset_millis;  // given offset (Z = 0)
};

// "H:MM" or "HH:MM", optional ":SS" and fraction, then nothing, "Z", or "+HH:MM" / "+HHMM" / "+HH".
bool ParseTimeOfDay(std::string_view text, TimeOfDay* out) {
  const char* p = text.data();
  const size_t n = text.size();
  const size_t hour_digits = n >= 2 && p[1] == ':' ? 1 : 2;
  if (n < hour_digits + 3 || p[hour_digits] != ':') return false;
  int64_t h = hour_digits == 1 ? (IsDigit(p[0]) ? p[0] - '0' : -1) : TwoDigits(p);
  int64_t m = TwoDigits(p + hour_digits + 1), s = 0, ms = 0;
  size_t pos = hour_digits + 3;
  if (pos < n && p[pos] == ':') {
    if (pos + 3 > n || (s = TwoDigits(p + pos + 1)) < 0) return false;
    pos += 3;
    if (pos < n && (p[pos] == '.' || p[pos] == ',')) {
      size_t digits = 0;
      for (++pos; pos < n && IsDigit(p[pos]); ++pos, ++digits) {
        if (digits < 3) ms = ms * 10 + (p[pos] - '0');
      }
      if (digits == 0) return false;
      for (; digits < 3; ++digits) ms *= 10;
    }
  }
  if (h < 0 || m < 0 || h > 23 || m > 59 || s > 59) return false;
  if (pos == n) {
    out->offset_millis.reset();
  } else if (pos + 1 == n && (p[pos] == 'Z' || p[pos] == 'z')) {
    out->offset_millis = 0;
  } else if (p[pos] == '+' || p[pos] == '-') {
    char digits[4];
    size_t count = 0;
    for (size_t i = pos + 1; i < n; ++i) {
      if (p[i] == ':' && count == 2) continue;
      if (!IsDigit(p[i]) || count == 4) return false;
      digits[count++] = p[i];
    }
    if (count != 2 && count != 4) return false;
    int oh = TwoDigits(digits);
    int om = count == 4 ? TwoDigits(digits + 2) : 0;
    if (oh > 14 || om > 59) return false;
    out->offset_millis = (p[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60) * 1000LL;
  } else {
    return false;
  }
  out->millis = ((h * 60 + m) * 60 + s) * 1000 + ms;
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

std::string_view DutchMonthName(int month) { return month >= 1 && month <= 12 ? kMonths[month - 1] : ""; }

int DutchMonthNumber(std::string_view word) {
  if (!word.empty() && word.back() == '.') word.remove_suffix(1);
  std::string lower = AsciiLower(std::string(word));
  if (lower == "mrt") return 3;
  if (lower.size() < 3) return 0;
  for (int m = 0; m < 12; ++m) {
    if (kMonths[m].substr(0, lower.size()) == lower) return m + 1;
  }
  return 0;
}

DateTextResult ParseDateText(std::string_view text, CivilDate reference, DateText* out) {
  std::string_view time_part;
  DateTextResult result = DateTextResult::kNoDate;
  CivilDate date;
  if (!ParseWordDate(text, reference, &date, &time_part, &result)) {
    size_t cut = 0;
    while (cut < text.size() && cut <= 10 && text[cut] != 'T' && text[cut] != ' ') ++cut;
    time_part = cut < text.size() ? text.substr(cut) : std::string_view();
    result = ParseNumericDate(text.substr(0, cut), reference, &date);
  }
  if (result != DateTextResult::kOk) return result;
  const bool has_time = !time_part.empty();  // "2024-03-01T" announces a time it lacks
  if (has_time && time_part.front() == 'T') time_part.remove_prefix(1);
  time_part = Trim(time_part);

  TimeOfDay time;
  if (has_time && !ParseTimeOfDay(time_part, &time)) return DateTextResult::kNoDate;
  const int64_t local_ms = static_cast<int64_t>(DaysFromCivil(date)) * 86400000LL + time.millis;
  if (time.offset_millis) {
    out->utc_millis = local_ms - *time.offset_millis;
    out->date = AmsterdamDateOfUtcMillis(out->utc_millis);
  } else {
    out->utc_millis = AmsterdamWallTimeToUtc(FloorDiv(local_ms, 1000)) * 1000 + time.millis % 1000;
    out->date = date;
  }
  // An offset or the time zone may move a moment out of the years a date can be written in
  // (in Amsterdam only from the first or the last year: the offset is at most two hours).
  const int utc_year = CivilFromDays(static_cast<int32_t>(FloorDiv(out->utc_millis, 86400000))).year;
  if (utc_year < 1 || utc_year > 9999 || !IsValidDate(out->date) ||
      ((utc_year == 1 || utc_year == 9999) && !IsValidDate(AmsterdamDateOfUtcMillis(out->utc_millis)))) {
    return DateTextResult::kOutOfRange;
  }
  return DateTextResult::kOk;
}

}  // namespace memberlake::model
