#include "model/member_normalizer.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_map>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/thread_pool.h>

#include "model/arrow_compute.h"
#include "model/calendar.h"
#include "model/date_text.h"
#include "model/text.h"

namespace memberlake::model {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char ToUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Enum matching key: ASCII lower case without spaces, hyphens, slashes, dots and underscores;
// other bytes (UTF-8 sequences such as the 'â' of "Fryslân") are kept as they are.
bool Dropped(char c) { return c == ' ' || c == '-' || c == '/' || c == '.' || c == '_' || c == '\t'; }

std::string Fold(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (!Dropped(c)) out.push_back(ToLower(c));
  }
  return out;
}

// Heterogeneous lookup, so that a folded key on the stack needs no std::string.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
};
using FoldedLookup = std::unordered_map<std::string, int32_t, KeyHash, std::equal_to<>>;

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

bool Mod97IsOne(std::string_view iban) {
  // Move the first four characters to the end, letters -> 10..35, then reduce mod 97; the
  // remainder is only reduced when it grows large (a division per character is the cost).
  uint64_t remainder = 0;
  auto feed = [&](char c) {
    remainder = IsDigit(c) ? remainder * 10 + static_cast<uint64_t>(c - '0')
                           : remainder * 100 + static_cast<uint64_t>(c - 'A' + 10);
    if (remainder >= 1'000'000'000'000'000ULL) remainder %= 97;
  };
  for (char c : iban.substr(4)) feed(c);
  for (char c : iban.substr(0, 4)) feed(c);
  return remainder % 97 == 1;
}

std::string Quote(std::string_view raw) {
  std::string out = "'";
  out.append(raw.substr(0, 80));
  if (raw.size() > 80) out.append("...");
  out.push_back('\'');
  return out;
}

// Why a value was refused; std::nullopt when it is fine (cheap on the hot path).
using Problem = std::optional<std::string>;

// A normalised value; which member is meaningful depends on the field type. Not copyable:
// `view` may point into `buf`.
struct NormalValue {
  NormalValue() = default;
  NormalValue(const NormalValue&) = delete;
  NormalValue& operator=(const NormalValue&) = delete;

  bool missing = true;
  std::string_view view;  // string fields: canonical text (into the input, `buf` or `text`)
  int32_t enum_index = 0;
  int32_t days = 0;       // dates
  int64_t number = 0;     // integers, timestamps (ms UTC)
  char buf[40];           // canonical postcodes and IBANs (at most 34 characters)
  std::string text;       // canonical text that does not fit `buf`
};

// The rule of one field for one present, trimmed, non-empty value. Shared by the batch and the
// record path, so both accept and canonicalise exactly the same values.
struct FieldRule {
  const FieldSpec* spec = nullptr;
  FoldedLookup enum_lookup;                  // folded spelling -> value index
  CivilDate reference;                       // two-digit years end at this date
  std::shared_ptr<arrow::Array> dictionary;  // enum values, registry order

  Problem Normalize(std::string_view raw, bool land_is_nederland, NormalValue* out) const {
    out->missing = false;
    switch (spec->type) {
      case FieldType::kString: return NormalizeString(raw, land_is_nederland, out);
      case FieldType::kEnum: return NormalizeEnum(raw, out);
      case FieldType::kDate:
      case FieldType::kTimestamp: {
        DateText parsed;
        switch (ParseDateText(raw, reference, &parsed)) {
          case DateTextResult::kOk:
            if (spec->type == FieldType::kDate) out->days = DaysFromCivil(parsed.date);
            else out->number = parsed.utc_millis;
            return {};
          case DateTextResult::kImpossible: return "impossible date " + Quote(raw);
          case DateTextResult::kOutOfRange: return "out of range (years 0001-9999) " + Quote(raw);
          case DateTextResult::kNoDate:
            return (spec->type == FieldType::kDate ? "not a date " : "not a timestamp ") + Quote(raw);
        }
        return {};
      }
      case FieldType::kInteger: {
        Problem problem = NormalizeInteger(raw, out);
        if (!problem && spec->min && out->number < *spec->min) {
          return "must be " + std::to_string(*spec->min) + " or more, got " + Quote(raw);
        }
        return problem;
      }
    }
    return "unsupported type";
  }

  Problem NormalizeEnum(std::string_view raw, NormalValue* out) const {
    // Most stored values are already canonical: try them before folding.
    for (size_t v = 0; v < spec->values.size(); ++v) {
      if (spec->values[v] == raw) {
        out->enum_index = static_cast<int32_t>(v);
        return {};
      }
    }
    char stack[64];
    std::string heap;
    std::string_view key;
    if (raw.size() <= sizeof stack) {
      size_t n = 0;
      for (char c : raw) {
        if (!Dropped(c)) stack[n++] = ToLower(c);
      }
      key = std::string_view(stack, n);
    } else {
      heap = Fold(raw);
      key = heap;
    }
    auto it = enum_lookup.find(key);
    if (it == enum_lookup.end()) return "unknown value " + Quote(raw);
    out->enum_index = it->second;
    return {};
  }

  // Decimal, optional sign; DynamoDB N strings may carry a zero fraction ("42.0").
  static Problem NormalizeInteger(std::string_view raw, NormalValue* out) {
    std::string_view digits = raw;
    if (size_t dot = digits.find('.'); dot != std::string_view::npos) {
      for (char c : digits.substr(dot + 1)) {
        if (c != '0') return "not a whole number " + Quote(raw);
      }
      digits = digits.substr(0, dot);
    }
    const char* begin = digits.data();
    const char* end = digits.data() + digits.size();
    if (begin != end && *begin == '+') {
      ++begin;
      if (begin == end || !IsDigit(*begin)) return "not a whole number " + Quote(raw);  // "+", "+-1"
    }
    int64_t value = 0;
    auto [stop, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range) return "number out of range " + Quote(raw);
    if (ec != std::errc() || stop != end) return "not a whole number " + Quote(raw);
    out->number = value;
    return {};
  }

  Problem NormalizeString(std::string_view raw, bool land_is_nederland, NormalValue* out) const {
    switch (spec->format) {
      case FieldFormat::kNone: out->view = raw; return {};
      case FieldFormat::kEmail: return NormalizeEmail(raw, out);
      case FieldFormat::kNlPostcode:
        if (!land_is_nederland) {
          out->view = raw;
          return {};
        }
        return NormalizePostcode(raw, out);
      case FieldFormat::kIban: return NormalizeIban(raw, out);
    }
    return {};
  }

  // One '@', a non-empty local part, a domain with an inner dot, no spaces. The domain is
  // case-insensitive and stored lower-case; the local part is kept as written.
  static Problem NormalizeEmail(std::string_view raw, NormalValue* out) {
    size_t at = raw.find('@');
    bool ok = at != std::string_view::npos && at > 0 && raw.find('@', at + 1) == std::string_view::npos;
    for (char c : raw) ok = ok && !IsAsciiSpace(c) && c != ',' && c != ';' && c != '<' && c != '>';
    std::string_view domain = ok ? raw.substr(at + 1) : std::string_view();
    size_t dot = domain.rfind('.');
    if (!ok || dot == std::string_view::npos || dot + 1 == domain.size() || domain.front() == '.') {
      return "invalid e-mail address " + Quote(raw);
    }
    bool lower = std::none_of(domain.begin(), domain.end(), IsUpper);
    if (lower) {
      out->view = raw;
      return {};
    }
    out->text.assign(raw.substr(0, at + 1));
    for (char c : domain) out->text.push_back(ToLower(c));
    out->view = out->text;
    return {};
  }

  // "1234AB", "1234 ab", "1234  AB" -> "1234 AB"; the first digit is never 0.
  static Problem NormalizePostcode(std::string_view raw, NormalValue* out) {
    std::string_view letters = Trim(raw.size() > 4 ? raw.substr(4) : std::string_view());
    bool ok = raw.size() >= 6 && AllDigits(raw.substr(0, 4)) && raw[0] != '0' && letters.size() == 2;
    for (char c : letters) ok = ok && IsUpper(ToUpper(c));
    if (!ok) return "invalid Dutch postcode " + Quote(raw) + " (expected 1234 AB)";
    if (raw.size() == 7 && raw[4] == ' ' && IsUpper(raw[5]) && IsUpper(raw[6])) {
      out->view = raw;
      return {};
    }
    std::memcpy(out->buf, raw.data(), 4);
    out->buf[4] = ' ';
    out->buf[5] = ToUpper(letters[0]);
    out->buf[6] = ToUpper(letters[1]);
    out->view = std::string_view(out->buf, 7);
    return {};
  }

  // Spaces removed, upper case, 15..34 characters, country letters, check digits, mod-97.
  static Problem NormalizeIban(std::string_view raw, NormalValue* out) {
    size_t n = 0;
    bool ok = true;
    for (char c : raw) {
      if (c == ' ') continue;
      c = ToUpper(c);
      ok = ok && n < 34 && (IsDigit(c) || IsUpper(c));
      if (!ok) break;
      out->buf[n++] = c;
    }
    std::string_view iban(out->buf, n);
    ok = ok && n >= 15 && IsUpper(iban[0]) && IsUpper(iban[1]) && IsDigit(iban[2]) && IsDigit(iban[3]);
    if (!ok) return "invalid IBAN " + Quote(raw);
    if (!Mod97IsOne(iban)) return "invalid IBAN " + Quote(raw) + " (check digits do not match)";
    out->view = iban == raw ? raw : iban;
    return {};
  }
};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

// The whole rule for one field of one record: trim, placeholders, default, required, then the
// type rule.
Problem ApplyRule(const FieldRule& rule, std::optional<std::string_view> raw, bool nl, NormalValue* out) {
  std::string_view value = raw ? Trim(*raw) : std::string_view();
  for (const std::string& placeholder : rule.spec->placeholders) {
    if (EqualsIgnoringCase(value, placeholder)) value = {};
  }
  if (value.empty() && rule.spec->default_value) value = *rule.spec->default_value;
  if (value.empty()) {
    out->missing = true;
    return rule.spec->required ? Problem("required field is missing") : std::nullopt;
  }
  return rule.Normalize(value, nl, out);
}

}  // namespace

struct MemberNormalizer::Rules {
  std::vector<FieldRule> fields;  // aligned with stored_fields()
  int member_id = -1;
  int land = -1;
  std::vector<std::pair<int, int>> notes;  // (integer field, its note_field)

  // Whether a record's raw land value (after the default) means Nederland.
  bool IsNederland(std::optional<std::string_view> raw_land) const {
    if (land < 0) return true;
    std::string_view value = raw_land ? Trim(*raw_land) : std::string_view();
    if (value.empty()) {
      const auto& def = fields[static_cast<size_t>(land)].spec->default_value;
      value = def ? std::string_view(*def) : std::string_view();
    }
    if (value == "Nederland") return true;
    std::string folded = Fold(value);
    return folded == "nederland" || folded == "nl" || folded == "thenetherlands" || folded == "netherlands";
  }
};

MemberNormalizer::MemberNormalizer(std::shared_ptr<const FieldRegistry> registry)
    : MemberNormalizer(std::move(registry), TodayInAmsterdam(std::chrono::system_clock::now())) {}

MemberNormalizer::MemberNormalizer(std::shared_ptr<const FieldRegistry> registry, CivilDate reference)
    : registry_(std::move(registry)), rules_(std::make_unique<Rules>()) {
  const auto& specs = registry_->stored_fields();
  for (const FieldSpec& spec : specs) {
    FieldRule rule;
    rule.spec = &spec;
    rule.reference = reference;
    if (!spec.note_field.empty()) {
      rules_->notes.emplace_back(static_cast<int>(rules_->fields.size()), registry_->StoredIndex(spec.note_field));
    }
    if (spec.type == FieldType::kEnum) {
      arrow::StringBuilder dictionary;
      for (size_t v = 0; v < spec.values.size(); ++v) {
        rule.enum_lookup.emplace(Fold(spec.values[v]), static_cast<int32_t>(v));
        (void)dictionary.Append(spec.values[v]);
      }
      // The registry checks that every alias names a canonical value.
      for (const auto& [alias, canonical] : spec.aliases) {
        auto target = std::find(spec.values.begin(), spec.values.end(), canonical);
        if (target != spec.values.end()) {
          rule.enum_lookup.emplace(Fold(alias), static_cast<int32_t>(target - spec.values.begin()));
        }
      }
      (void)dictionary.Finish(&rule.dictionary);
    }
    rules_->fields.push_back(std::move(rule));
  }
  rules_->member_id = registry_->StoredIndex("member_id");
  rules_->land = registry_->StoredIndex("land");
}

MemberNormalizer::~MemberNormalizer() = default;

namespace {

// A problem found while walking one column.
struct CellProblem {
  int64_t row;
  std::string problem;
};

// Read access to a raw utf8 column without per-value virtual calls or bounds checks; a
// missing column reads as all null.
class RawColumn {
 public:
  explicit RawColumn(const arrow::StringArray* column) {
    if (column == nullptr) return;
    offsets_ = column->raw_value_offsets();
    data_ = reinterpret_cast<const char*>(column->raw_data());
    validity_ = column->null_count() > 0 ? column->null_bitmap_data() : nullptr;
    offset_ = column->offset();
  }
  std::optional<std::string_view> Get(int64_t row) const {
    if (offsets_ == nullptr || (validity_ != nullptr && !arrow::bit_util::GetBit(validity_, offset_ + row))) {
      return std::nullopt;
    }
    return std::string_view(data_ + offsets_[row], static_cast<size_t>(offsets_[row + 1] - offsets_[row]));
  }

 private:
  const int32_t* offsets_ = nullptr;  // already shifted by the array's offset
  const char* data_ = nullptr;
  const uint8_t* validity_ = nullptr;
  int64_t offset_ = 0;
};

// Walks one raw column once, applying the field's rule to every value. Rows with a problem get
// a null and are reported; the caller drops them afterwards.
class ColumnWalker {
 public:
  ColumnWalker(const FieldRule& rule, const arrow::StringArray* column, const uint8_t* nederland, int64_t rows,
               std::vector<CellProblem>* problems)
      : rule_(rule), column_(column), raw_(column), nederland_(nederland), rows_(rows), problems_(problems) {}

  arrow::Result<std::shared_ptr<arrow::Array>> Run() {
    switch (rule_.spec->type) {
      case FieldType::kString: return Strings();
      case FieldType::kEnum: {
        ARROW_ASSIGN_OR_RAISE(auto data, Fixed<int32_t>(arrow::int32(), [](const NormalValue& v) { return v.enum_index; }));
        return arrow::DictionaryArray::FromArrays(FieldRegistry::LakeType(FieldType::kEnum), arrow::MakeArray(data),
                                                  rule_.dictionary);
      }
      case FieldType::kDate: return Finish(Fixed<int32_t>(arrow::date32(), [](const NormalValue& v) { return v.days; }));
      case FieldType::kInteger: return Finish(Fixed<int64_t>(arrow::int64(), [](const NormalValue& v) { return v.number; }));
      case FieldType::kTimestamp:
        return Finish(Fixed<int64_t>(FieldRegistry::LakeType(FieldType::kTimestamp),
                                     [](const NormalValue& v) { return v.number; }));
    }
    return arrow::Status::NotImplemented("field type");
  }

 private:
  static arrow::Result<std::shared_ptr<arrow::Array>> Finish(arrow::Result<std::shared_ptr<arrow::ArrayData>> data) {
    ARROW_ASSIGN_OR_RAISE(auto d, std::move(data));
    return arrow::MakeArray(d);
  }

  // Applies the rule to one row; false when the row's value is missing or refused.
  bool Next(int64_t row, NormalValue* value) {
    Problem problem = ApplyRule(rule_, raw_.Get(row), nederland_[row] != 0, value);
    if (!problem) return !value->missing;
    problems_->push_back({row, std::move(*problem)});
    return false;
  }

  // A string column whose values are all null or already trimmed and non-empty, for a field
  // without a format or default, is its own normal form: it is reused without a copy.
  bool AlreadyNormal() const {
    const FieldSpec& spec = *rule_.spec;
    if (column_ == nullptr || spec.format != FieldFormat::kNone || spec.default_value) return false;
    if (spec.required && column_->null_count() > 0) return false;
    for (int64_t row = 0; row < rows_; ++row) {
      std::optional<std::string_view> text = raw_.Get(row);
      if (text && (text->empty() || IsAsciiSpace(text->front()) || IsAsciiSpace(text->back()))) return false;
    }
    return true;
  }

  arrow::Result<std::shared_ptr<arrow::Array>> Strings() {
    if (AlreadyNormal()) return std::make_shared<arrow::StringArray>(column_->data());
    arrow::StringBuilder builder;
    ARROW_RETURN_NOT_OK(builder.Reserve(rows_));
    const auto& def = rule_.spec->default_value;
    int64_t bytes = column_ != nullptr ? column_->total_values_length() : 0;
    ARROW_RETURN_NOT_OK(builder.ReserveData(bytes + rows_ * (def ? static_cast<int64_t>(def->size()) : 0) + 64));
    NormalValue value;
    for (int64_t row = 0; row < rows_; ++row) {
      if (Next(row, &value)) {
        ARROW_RETURN_NOT_OK(builder.Append(value.view));  // checks capacity: canonical text may grow
      } else {
        builder.UnsafeAppendNull();
      }
    }
    return builder.Finish();
  }

  // Values straight into a buffer; the validity bitmap is dropped when nothing is null.
  template <typename T, typename Get>
  arrow::Result<std::shared_ptr<arrow::ArrayData>> Fixed(std::shared_ptr<arrow::DataType> type, Get get) {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> values, arrow::AllocateBuffer(rows_ * static_cast<int64_t>(sizeof(T))));
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> validity, arrow::AllocateEmptyBitmap(rows_));
    T* out = values->mutable_data_as<T>();
    uint8_t* bits = validity->mutable_data();
    int64_t nulls = 0;
    NormalValue value;
    for (int64_t row = 0; row < rows_; ++row) {
      if (Next(row, &value)) {
        out[row] = static_cast<T>(get(value));
        arrow::bit_util::SetBit(bits, row);
      } else {
        out[row] = T{};
        ++nulls;
      }
    }
    if (nulls == 0) validity.reset();
    return arrow::ArrayData::Make(std::move(type), rows_, {std::move(validity), std::move(values)}, nulls);
  }

  const FieldRule& rule_;
  const arrow::StringArray* column_;
  RawColumn raw_;
  const uint8_t* nederland_;
  int64_t rows_;
  std::vector<CellProblem>* problems_;
};

// Runs task(i) for i in [0, count) on the calling thread and on Arrow's CPU pool. Runs
// serially for small inputs and on pool threads (waiting there for nested tasks could
// deadlock the pool).
arrow::Status ForEachField(size_t count, bool large, const std::function<arrow::Status(size_t)>& task) {
  auto* pool = arrow::internal::GetCpuThreadPool();
  int helpers = large && !pool->OwnsThisThread() ? std::min<int>(pool->GetCapacity(), static_cast<int>(count)) - 1 : 0;
  std::atomic<size_t> next{0};
  std::mutex mutex;
  arrow::Status status;
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) {
      arrow::Status done = task(i);
      if (!done.ok()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (status.ok()) status = std::move(done);
      }
    }
  };
  std::vector<arrow::Future<>> helpers_done;
  for (int h = 0; h < helpers; ++h) {
    auto submitted = pool->Submit(work);
    if (submitted.ok()) helpers_done.push_back(std::move(*submitted));
  }
  work();
  for (auto& done : helpers_done) done.Wait();
  return status;
}

std::string ToText(const FieldRule& rule, const NormalValue& value) {
  switch (rule.spec->type) {
    case FieldType::kString: return std::string(value.view);
    case FieldType::kEnum: return rule.spec->values[static_cast<size_t>(value.enum_index)];
    case FieldType::kDate: return FormatIsoDate(CivilFromDays(value.days));
    case FieldType::kInteger: return std::to_string(value.number);
    case FieldType::kTimestamp: return FormatTimestampMs(value.number);
  }
  return {};
}

// Below this many cells a batch is normalised on the calling thread only.
constexpr int64_t kParallelCells = 256 * 1024;

// A stored field's index for an input column name; -1 for a calculated field (a stale copy
// another program wrote back: ignored); Invalid for any other name.
arrow::Result<int> InputIndex(const FieldRegistry& registry, const std::string& name) {
  int index = registry.StoredIndex(name);
  if (index >= 0) return index;
  const FieldSpec* spec = registry.Find(name);
  if (spec != nullptr && spec->calculated) return -1;
  return arrow::Status::Invalid("unknown field '", name, "'");
}

// An integer field with a note_field: "1234 Donateur" is the number "1234" and the note
// "Donateur"; "Donateur" (no digit at all) is no number and the note. Anything else stays whole
// for the integer rule. A non-empty explicit note wins over the split-off one. True when the
// value was taken apart (then `number` and `note` are set).
bool SplitNumberNote(std::optional<std::string_view> value, std::optional<std::string_view> explicit_note,
                     std::optional<std::string_view>* number, std::optional<std::string_view>* note) {
  std::string_view text = value ? Trim(*value) : std::string_view();
  if (text.empty()) return false;
  size_t digits = 0;
  while (digits < text.size() && IsDigit(text[digits])) ++digits;
  if (digits == 0) {
    if (std::any_of(text.begin(), text.end(), IsDigit)) return false;  // "-5", "nr 12": the rule decides
    *number = std::nullopt;
  } else if (digits < text.size() && IsAsciiSpace(text[digits])) {
    *number = text.substr(0, digits);
    text = Trim(text.substr(digits));
  } else {
    return false;
  }
  const bool keep = explicit_note && !Trim(*explicit_note).empty();
  *note = keep ? explicit_note : std::optional<std::string_view>(text);
  return true;
}

// The batch form of SplitNumberNote: new number and note columns, or nullptr when no value of
// `numbers` needs taking apart (the common case costs one pass and no copy).
arrow::Status SplitNoteColumns(int64_t rows, std::shared_ptr<arrow::StringArray>* numbers,
                               std::shared_ptr<arrow::StringArray>* notes) {
  RawColumn number_raw(numbers->get()), note_raw(notes->get());
  std::optional<std::string_view> number, note;
  int64_t first = 0;
  while (first < rows && !SplitNumberNote(number_raw.Get(first), note_raw.Get(first), &number, &note)) ++first;
  if (first == rows) return arrow::Status::OK();
  arrow::StringBuilder number_out, note_out;
  for (int64_t row = 0; row < rows; ++row) {
    number = number_raw.Get(row);
    note = note_raw.Get(row);
    SplitNumberNote(number, note, &number, &note);
    ARROW_RETURN_NOT_OK(number ? number_out.Append(*number) : number_out.AppendNull());
    ARROW_RETURN_NOT_OK(note ? note_out.Append(*note) : note_out.AppendNull());
  }
  std::shared_ptr<arrow::Array> number_array, note_array;
  ARROW_RETURN_NOT_OK(number_out.Finish(&number_array));
  ARROW_RETURN_NOT_OK(note_out.Finish(&note_array));
  *numbers = std::static_pointer_cast<arrow::StringArray>(number_array);
  *notes = std::static_pointer_cast<arrow::StringArray>(note_array);
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<NormalizedBatch> MemberNormalizer::Normalize(const arrow::RecordBatch& raw) const {
  ARROW_RETURN_NOT_OK(EnsureArrowCompute());
  const auto& specs = registry_->stored_fields();
  const int64_t rows = raw.num_rows();
  // Raw columns by stored-field index (nullptr: the field is missing in every row).
  std::vector<std::shared_ptr<arrow::StringArray>> columns(specs.size());
  for (int c = 0; c < raw.num_columns(); ++c) {
    const std::string& name = raw.schema()->field(c)->name();
    ARROW_ASSIGN_OR_RAISE(int index, InputIndex(*registry_, name));
    if (index < 0) continue;
    if (columns[static_cast<size_t>(index)] != nullptr) return arrow::Status::Invalid("duplicate field '", name, "'");
    std::shared_ptr<arrow::Array> column = raw.column(c);
    if (column->type_id() != arrow::Type::STRING) {
      auto text = arrow::compute::Cast(*column, arrow::utf8());
      if (!text.ok()) {
        return arrow::Status::TypeError("field '", name, "' must be text, got ", column->type()->ToString());
      }
      column = std::move(*text);
    }
    columns[static_cast<size_t>(index)] = std::static_pointer_cast<arrow::StringArray>(column);
  }

  for (const auto& [number, note] : rules_->notes) {
    ARROW_RETURN_NOT_OK(SplitNoteColumns(rows, &columns[static_cast<size_t>(number)], &columns[static_cast<size_t>(note)]));
  }

  // Whether each row's postcode follows the Dutch rule depends on its land.
  std::vector<uint8_t> nederland(static_cast<size_t>(rows), 1);
  if (rules_->land >= 0) {
    const arrow::StringArray* land = columns[static_cast<size_t>(rules_->land)].get();
    const bool default_nl = rules_->IsNederland(std::nullopt);
    for (int64_t row = 0; row < rows; ++row) {
      nederland[row] = land == nullptr || land->IsNull(row) ? default_nl : rules_->IsNederland(land->GetView(row));
    }
  }

  arrow::ArrayVector typed(specs.size());
  std::vector<std::vector<CellProblem>> problems(specs.size());
  auto walk = [&](size_t field) -> arrow::Status {
    ColumnWalker walker(rules_->fields[field], columns[field].get(), nederland.data(), rows, &problems[field]);
    ARROW_ASSIGN_OR_RAISE(typed[field], walker.Run());
    return arrow::Status::OK();
  };
  const bool parallel = rows * static_cast<int64_t>(specs.size()) >= kParallelCells;
  ARROW_RETURN_NOT_OK(ForEachField(specs.size(), parallel, walk));

  // Report row by row, in field order within a row, as a reader of the report expects.
  NormalizedBatch out;
  std::vector<std::pair<int64_t, size_t>> order;  // (row, field) of each problem
  for (size_t field = 0; field < specs.size(); ++field) {
    for (size_t p = 0; p < problems[field].size(); ++p) order.emplace_back(problems[field][p].row, field);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<size_t> taken(specs.size(), 0);
  const arrow::StringArray* ids = rules_->member_id >= 0 ? columns[static_cast<size_t>(rules_->member_id)].get() : nullptr;
  int64_t last_row = -1;
  for (const auto& [row, field] : order) {
    std::string id = ids != nullptr && ids->IsValid(row) ? std::string(ids->GetView(row)) : std::string();
    out.problems.push_back({std::move(id), specs[field].name, std::move(problems[field][taken[field]++].problem)});
    if (row != last_row) ++out.rejected_rows;
    last_row = row;
  }

  arrow::FieldVector fields(registry_->lake_schema()->fields().begin(),
                            registry_->lake_schema()->fields().begin() + static_cast<long>(specs.size()));
  auto schema = arrow::schema(std::move(fields));
  if (out.rejected_rows == 0) {
    out.valid = arrow::RecordBatch::Make(std::move(schema), rows, std::move(typed));
    return out;
  }
  // Drop the rejected rows, column by column on the same threads.
  arrow::BooleanBuilder keep;
  ARROW_RETURN_NOT_OK(keep.AppendValues(rows, true));
  ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
  auto* bits = mask->data()->GetMutableValues<uint8_t>(1, 0);
  for (const auto& [row, field] : order) arrow::bit_util::ClearBit(bits, row);
  auto drop = [&](size_t field) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(arrow::Datum kept, arrow::compute::Filter(typed[field], mask));
    typed[field] = kept.make_array();
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(ForEachField(specs.size(), parallel, drop));
  out.valid = arrow::RecordBatch::Make(std::move(schema), rows - out.rejected_rows, std::move(typed));
  return out;
}

arrow::Result<MemberRecord> MemberNormalizer::NormalizeRecord(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& fields) const {
  const auto& specs = registry_->stored_fields();
  std::vector<std::optional<std::string_view>> raw(specs.size());
  for (const auto& [name, text] : fields) {
    ARROW_ASSIGN_OR_RAISE(int index, InputIndex(*registry_, name));
    if (index >= 0) raw[static_cast<size_t>(index)] = text ? std::optional<std::string_view>(*text) : std::nullopt;
  }
  for (const auto& [number, note] : rules_->notes) {
    auto& n = raw[static_cast<size_t>(number)];
    auto& t = raw[static_cast<size_t>(note)];
    SplitNumberNote(n, t, &n, &t);
  }
  bool nl = rules_->IsNederland(rules_->land >= 0 ? raw[static_cast<size_t>(rules_->land)] : std::nullopt);
  MemberRecord record(specs.size());
  NormalValue value;
  for (size_t field = 0; field < specs.size(); ++field) {
    Problem problem = ApplyRule(rules_->fields[field], raw[field], nl, &value);
    if (problem) return arrow::Status::Invalid(specs[field].name, ": ", *problem);
    if (!value.missing) record[field] = ToText(rules_->fields[field], value);
  }
  return record;
}

arrow::Result<std::optional<std::string>> MemberNormalizer::NormalizeField(std::string_view name,
                                                                           std::optional<std::string_view> raw) const {
  int index = registry_->StoredIndex(std::string(name));
  if (index < 0) return arrow::Status::Invalid("unknown field '", name, "'");
  const FieldRule& rule = rules_->fields[static_cast<size_t>(index)];
  NormalValue value;
  Problem problem = ApplyRule(rule, raw, /*nl=*/true, &value);
  if (problem) return arrow::Status::Invalid(name, ": ", *problem);
  if (value.missing) return std::optional<std::string>();
  return std::optional<std::string>(ToText(rule, value));
}

}  // namespace memberlake::model
