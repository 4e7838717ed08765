#include "model/member_normalizer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_map>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>

#include "model/calendar.h"

namespace memberlake::model {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Enum matching key: ASCII lower case without spaces, hyphens, slashes, dots and underscores.
std::string Fold(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == ' ' || c == '-' || c == '/' || c == '.' || c == '_' || c == '\t') continue;
    out.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
  }
  return out;
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int ToInt(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

// Dates as written in legacy data: Y-M-D, D-M-Y (separators - / .), and ISO timestamps.
bool ParseFlexibleDate(std::string_view text, CivilDate* date, bool* impossible) {
  *impossible = false;
  if (size_t cut = text.find_first_of("T "); cut != std::string_view::npos) text = text.substr(0, cut);
  std::string_view parts[3];
  size_t count = 0, start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '-' || text[i] == '/' || text[i] == '.') {
      if (count == 3) return false;
      parts[count++] = text.substr(start, i - start);
      start = i + 1;
    }
  }
  if (count != 3 || !AllDigits(parts[0]) || !AllDigits(parts[1]) || !AllDigits(parts[2])) return false;
  if (parts[0].size() == 4 && parts[1].size() <= 2 && parts[2].size() <= 2) {
    *date = {ToInt(parts[0]), ToInt(parts[1]), ToInt(parts[2])};
  } else if (parts[2].size() == 4 && parts[0].size() <= 2 && parts[1].size() <= 2) {
    *date = {ToInt(parts[2]), ToInt(parts[1]), ToInt(parts[0])};
  } else {
    return false;
  }
  if (!IsValidDate(*date)) {
    *impossible = true;
    return false;
  }
  return true;
}

// "HH:MM[:SS[.fff]]" followed by nothing, "Z", or an offset "+HH:MM" / "+HHMM" / "+HH".
bool ParseTimeOfDay(std::string_view text, int64_t* millis) {
  if (text.size() < 5 || !AllDigits(text.substr(0, 2)) || text[2] != ':' || !AllDigits(text.substr(3, 2))) {
    return false;
  }
  int64_t h = ToInt(text.substr(0, 2)), m = ToInt(text.substr(3, 2)), s = 0, ms = 0;
  size_t pos = 5;
  if (pos < text.size() && text[pos] == ':') {
    if (pos + 3 > text.size() || !AllDigits(text.substr(pos + 1, 2))) return false;
    s = ToInt(text.substr(pos + 1, 2));
    pos += 3;
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      size_t digits = 0;
      ++pos;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (digits < 3) ms = ms * 10 + (text[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return false;
      for (; digits < 3; ++digits) ms *= 10;
    }
  }
  if (h > 23 || m > 59 || s > 60) return false;
  int64_t offset = 0;
  std::string_view zone = text.substr(pos);
  if (zone == "Z" || zone == "z" || zone.empty()) {
    offset = 0;
  } else if (zone[0] == '+' || zone[0] == '-') {
    std::string digits;
    for (char c : zone.substr(1)) {
      if (c != ':') digits.push_back(c);
    }
    if (!AllDigits(digits) || (digits.size() != 2 && digits.size() != 4)) return false;
    int oh = ToInt(std::string_view(digits).substr(0, 2));
    int om = digits.size() == 4 ? ToInt(std::string_view(digits).substr(2, 2)) : 0;
    if (oh > 14 || om > 59) return false;
    offset = (zone[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60) * 1000LL;
  } else {
    return false;
  }
  *millis = ((h * 60 + m) * 60 + s) * 1000 + ms - offset;
  return true;
}

bool Mod97IsOne(std::string_view iban) {
  // Move the first four characters to the end, letters -> 10..35, then mod 97 piecewise.
  int remainder = 0;
  auto feed = [&](char c) {
    if (c >= '0' && c <= '9') {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else {
      int value = c - 'A' + 10;
      remainder = (remainder * 100 + value) % 97;
    }
  };
  for (char c : iban.substr(4)) feed(c);
  for (char c : iban.substr(0, 4)) feed(c);
  return remainder == 1;
}

std::string Quote(std::string_view raw) {
  std::string out = "'";
  out.append(raw.substr(0, 80));
  if (raw.size() > 80) out.append("...");
  out.push_back('\'');
  return out;
}

}  // namespace

// A normalised value: exactly one of the members is meaningful, chosen by the field type.
struct NormalValue {
  bool missing = true;
  std::string_view view;  // string fields: the value (into the raw input or into `text`)
  std::string text;       // string fields whose canonical form differs from the input
  int32_t enum_index = 0;
  int32_t days = 0;     // dates
  int64_t number = 0;   // integers, timestamps (ms UTC)
};

struct FieldRule {
  const FieldSpec* spec = nullptr;
  std::unordered_map<std::string, int32_t> enum_lookup;  // folded spelling -> value index
  std::shared_ptr<arrow::Array> dictionary;               // enum values, registry order

  // Normalises one present (non-missing) raw value. Returns an empty string on success,
  // otherwise the problem.
  std::string Normalize(std::string_view raw, bool land_is_nederland, NormalValue* out) const {
    out->missing = false;
    switch (spec->type) {
      case FieldType::kString:
        return NormalizeString(raw, land_is_nederland, out);
      case FieldType::kEnum: {
        // Most stored values are already canonical: try them before folding.
        for (size_t v = 0; v < spec->values.size(); ++v) {
          if (spec->values[v] == raw) {
            out->enum_index = static_cast<int32_t>(v);
            return {};
          }
        }
        auto it = enum_lookup.find(Fold(raw));
        if (it == enum_lookup.end()) return "unknown value " + Quote(raw);
        out->enum_index = it->second;
        return {};
      }
      case FieldType::kDate: {
        CivilDate date;
        bool impossible;
        if (!ParseFlexibleDate(raw, &date, &impossible)) {
          return (impossible ? "impossible date " : "not a date ") + Quote(raw);
        }
        out->days = DaysFromCivil(date);
        return {};
      }
      case FieldType::kTimestamp: {
        std::string_view date_part = raw, time_part;
        if (size_t cut = raw.find_first_of("T "); cut != std::string_view::npos) {
          date_part = raw.substr(0, cut);
          time_part = Trim(raw.substr(cut + 1));
        }
        CivilDate date;
        bool impossible;
        int64_t millis = 0;
        if (!ParseFlexibleDate(date_part, &date, &impossible) ||
            (!time_part.empty() && !ParseTimeOfDay(time_part, &millis))) {
          return (impossible ? "impossible date " : "not a timestamp ") + Quote(raw);
        }
        out->number = static_cast<int64_t>(DaysFromCivil(date)) * 86400000LL + millis;
        return {};
      }
      case FieldType::kInteger: {
        std::string_view digits = raw;
        if (size_t dot = digits.find('.'); dot != std::string_view::npos) {
          for (char c : digits.substr(dot + 1)) {
            if (c != '0') return "not a whole number " + Quote(raw);
          }
          digits = digits.substr(0, dot);
        }
        int64_t value = 0;
        const char* begin = digits.data() + (digits.size() > 1 && digits[0] == '+' ? 1 : 0);
        auto [end, ec] = std::from_chars(begin, digits.data() + digits.size(), value);
        if (ec != std::errc() || end != digits.data() + digits.size() || begin == end) {
          return "not a whole number " + Quote(raw);
        }
        out->number = value;
        return {};
      }
    }
    return "unsupported type";
  }

  std::string NormalizeString(std::string_view raw, bool land_is_nederland, NormalValue* out) const {
    switch (spec->format) {
      case FieldFormat::kNone:
        out->view = raw;
        return {};
      case FieldFormat::kEmail: {
        size_t at = raw.find('@');
        bool ok = at != std::string_view::npos && at > 0 && raw.find('@', at + 1) == std::string_view::npos &&
                  raw.find_first_of(" \t,;<>") == std::string_view::npos;
        std::string_view domain = ok ? raw.substr(at + 1) : std::string_view();
        size_t dot = domain.rfind('.');
        if (!ok || dot == std::string_view::npos || dot == 0 || dot + 1 == domain.size() ||
            domain.front() == '.') {
          return "invalid e-mail address " + Quote(raw);
        }
        out->text.assign(raw.substr(0, at + 1));
        for (char c : domain) out->text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        out->view = out->text;
        return {};
      }
      case FieldFormat::kNlPostcode: {
        if (!land_is_nederland) {
          out->view = raw;
          return {};
        }
        std::string compact;
        for (char c : raw) {
          if (c != ' ') compact.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        }
        if (compact.size() != 6 || !AllDigits(std::string_view(compact).substr(0, 4)) || compact[0] == '0' ||
            !std::isupper(static_cast<unsigned char>(compact[4])) ||
            !std::isupper(static_cast<unsigned char>(compact[5]))) {
          return "invalid Dutch postcode " + Quote(raw) + " (expected 1234 AB)";
        }
        out->text = compact.substr(0, 4) + " " + compact.substr(4);
        out->view = out->text;
        return {};
      }
      case FieldFormat::kIban: {
        std::string compact;
        for (char c : raw) {
          if (c != ' ') compact.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        }
        bool shape = compact.size() >= 15 && compact.size() <= 34 &&
                     std::isupper(static_cast<unsigned char>(compact[0])) &&
                     std::isupper(static_cast<unsigned char>(compact[1])) &&
                     AllDigits(std::string_view(compact).substr(2, 2));
        for (char c : compact) shape = shape && std::isalnum(static_cast<unsigned char>(c));
        if (!shape) return "invalid IBAN " + Quote(raw);
        if (!Mod97IsOne(compact)) return "invalid IBAN " + Quote(raw) + " (check digits do not match)";
        out->text = std::move(compact);
        out->view = out->text;
        return {};
      }
    }
    return {};
  }
};

struct MemberNormalizer::Rules {
  std::vector<FieldRule> fields;  // aligned with stored_fields()
  int member_id = -1;
  int land = -1;
  const FieldRule* land_rule = nullptr;

  // Whether a record's (raw) land value means Nederland, after the default.
  bool IsNederland(std::optional<std::string_view> raw_land) const {
    if (land < 0) return true;
    std::string_view value = raw_land ? Trim(*raw_land) : std::string_view();
    if (value.empty()) {
      const auto& def = fields[land].spec->default_value;
      value = def ? std::string_view(*def) : std::string_view();
    }
    if (value == "Nederland") return true;
    std::string folded = Fold(value);
    return folded == "nederland" || folded == "nl" || folded == "thenetherlands" || folded == "netherlands";
  }

  // The whole rule for one field of one record: trim, default, required, then the type rule.
  std::string Apply(size_t field, std::optional<std::string_view> raw, bool nl, NormalValue* out) const {
    const FieldRule& rule = fields[field];
    std::string_view value = raw ? Trim(*raw) : std::string_view();
    if (value.empty() && rule.spec->default_value) value = *rule.spec->default_value;
    if (value.empty()) {
      out->missing = true;
      return rule.spec->required ? "required field is missing" : std::string();
    }
    return rule.Normalize(value, nl, out);
  }
};

MemberNormalizer::MemberNormalizer(std::shared_ptr<const FieldRegistry> registry)
    : registry_(std::move(registry)), rules_(std::make_unique<Rules>()) {
  const auto& specs = registry_->stored_fields();
  for (size_t i = 0; i < specs.size(); ++i) {
    FieldRule rule;
    rule.spec = &specs[i];
    if (rule.spec->type == FieldType::kEnum) {
      arrow::StringBuilder dictionary;
      for (size_t v = 0; v < rule.spec->values.size(); ++v) {
        rule.enum_lookup.emplace(Fold(rule.spec->values[v]), static_cast<int32_t>(v));
        (void)dictionary.Append(rule.spec->values[v]);
      }
      for (const auto& [alias, canonical] : rule.spec->aliases) {
        auto target = std::find(rule.spec->values.begin(), rule.spec->values.end(), canonical);
        rule.enum_lookup.emplace(Fold(alias), static_cast<int32_t>(target - rule.spec->values.begin()));
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

// Appends one normalised value to the builder of its field type.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(const FieldRule& rule) : rule_(rule) {
    switch (rule.spec->type) {
      case FieldType::kString: builder_ = std::make_unique<arrow::StringBuilder>(); break;
      case FieldType::kEnum: builder_ = std::make_unique<arrow::Int32Builder>(); break;
      case FieldType::kDate: builder_ = std::make_unique<arrow::Date32Builder>(); break;
      case FieldType::kInteger: builder_ = std::make_unique<arrow::Int64Builder>(); break;
      case FieldType::kTimestamp:
        builder_ = std::make_unique<arrow::TimestampBuilder>(
            FieldRegistry::LakeType(FieldType::kTimestamp), arrow::default_memory_pool());
        break;
    }
  }

  arrow::Status Reserve(int64_t rows, int64_t text_bytes) {
    ARROW_RETURN_NOT_OK(builder_->Reserve(rows));
    if (rule_.spec->type == FieldType::kString) {
      ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(builder_.get())->ReserveData(text_bytes));
    }
    return arrow::Status::OK();
  }

  arrow::Status Append(const NormalValue& value) {
    if (value.missing) return builder_->AppendNull();
    switch (rule_.spec->type) {
      case FieldType::kString: return static_cast<arrow::StringBuilder*>(builder_.get())->Append(value.view);
      case FieldType::kEnum: return static_cast<arrow::Int32Builder*>(builder_.get())->Append(value.enum_index);
      case FieldType::kDate: return static_cast<arrow::Date32Builder*>(builder_.get())->Append(value.days);
      case FieldType::kInteger: return static_cast<arrow::Int64Builder*>(builder_.get())->Append(value.number);
      case FieldType::kTimestamp:
        return static_cast<arrow::TimestampBuilder*>(builder_.get())->Append(value.number);
    }
    return arrow::Status::OK();
  }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    ARROW_ASSIGN_OR_RAISE(auto array, builder_->Finish());
    if (rule_.spec->type != FieldType::kEnum) return array;
    return arrow::DictionaryArray::FromArrays(FieldRegistry::LakeType(FieldType::kEnum), array,
                                              rule_.dictionary);
  }

 private:
  const FieldRule& rule_;
  std::unique_ptr<arrow::ArrayBuilder> builder_;
};

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

}  // namespace

arrow::Result<NormalizedBatch> MemberNormalizer::Normalize(const arrow::RecordBatch& raw) const {
  const auto& specs = registry_->stored_fields();
  const int64_t rows = raw.num_rows();
  // Raw columns by stored-field index (nullptr: the field is missing in every row).
  std::vector<std::shared_ptr<arrow::StringArray>> columns(specs.size());
  for (int c = 0; c < raw.num_columns(); ++c) {
    const std::string& name = raw.schema()->field(c)->name();
    int index = registry_->StoredIndex(name);
    if (index < 0) return arrow::Status::Invalid("unknown field '", name, "'");
    std::shared_ptr<arrow::Array> column = raw.column(c);
    if (column->type_id() != arrow::Type::STRING) {
      ARROW_ASSIGN_OR_RAISE(column, arrow::compute::Cast(*column, arrow::utf8()));
    }
    columns[index] = std::static_pointer_cast<arrow::StringArray>(column);
  }
  auto raw_value = [&](int field, int64_t row) -> std::optional<std::string_view> {
    const auto& column = columns[static_cast<size_t>(field)];
    if (column == nullptr || column->IsNull(row)) return std::nullopt;
    return column->GetView(row);
  };

  std::vector<uint8_t> nederland(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    nederland[row] = rules_->IsNederland(rules_->land >= 0 ? raw_value(rules_->land, row) : std::nullopt);
  }

  NormalizedBatch out;
  std::vector<uint8_t> rejected(static_cast<size_t>(rows), 0);
  std::vector<std::pair<int64_t, RecordProblem>> problems;  // (row, problem), found column by column
  arrow::ArrayVector typed;
  NormalValue value;
  for (size_t field = 0; field < specs.size(); ++field) {
    ColumnBuilder builder(rules_->fields[field]);
    const auto& column = columns[field];
    ARROW_RETURN_NOT_OK(builder.Reserve(rows, column ? column->total_values_length() + 6 * rows : 0));
    for (int64_t row = 0; row < rows; ++row) {
      std::string problem = rules_->Apply(field, raw_value(static_cast<int>(field), row), nederland[row], &value);
      if (!problem.empty()) {
        rejected[row] = 1;
        std::string id(rules_->member_id >= 0 ? raw_value(rules_->member_id, row).value_or("") : "");
        problems.push_back({row, {std::move(id), specs[field].name, std::move(problem)}});
        value.missing = true;
      }
      ARROW_RETURN_NOT_OK(builder.Append(value));
    }
    ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
    typed.push_back(std::move(array));
  }

  arrow::FieldVector fields(registry_->lake_schema()->fields().begin(),
                            registry_->lake_schema()->fields().begin() + static_cast<long>(specs.size()));
  auto batch = arrow::RecordBatch::Make(arrow::schema(fields), rows, std::move(typed));
  for (uint8_t r : rejected) out.rejected_rows += r;
  // Report row by row (in field order within a row), as a reader of the report expects.
  std::stable_sort(problems.begin(), problems.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [row, problem] : problems) out.problems.push_back(std::move(problem));
  if (out.rejected_rows == 0) {
    out.valid = std::move(batch);
    return out;
  }
  static const arrow::Status init = arrow::compute::Initialize();
  ARROW_RETURN_NOT_OK(init);
  arrow::BooleanBuilder keep;
  ARROW_RETURN_NOT_OK(keep.Reserve(rows));
  for (uint8_t r : rejected) keep.UnsafeAppend(r == 0);
  ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(batch, mask));
  out.valid = filtered.record_batch();
  return out;
}

arrow::Result<MemberRecord> MemberNormalizer::NormalizeRecord(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& fields) const {
  const auto& specs = registry_->stored_fields();
  std::vector<std::optional<std::string_view>> raw(specs.size());
  for (const auto& [name, text] : fields) {
    int index = registry_->StoredIndex(name);
    if (index < 0) return arrow::Status::Invalid("unknown field '", name, "'");
    raw[static_cast<size_t>(index)] = text ? std::optional<std::string_view>(*text) : std::nullopt;
  }
  bool nl = rules_->IsNederland(rules_->land >= 0 ? raw[static_cast<size_t>(rules_->land)] : std::nullopt);
  MemberRecord record(specs.size());
  NormalValue value;
  for (size_t field = 0; field < specs.size(); ++field) {
    std::string problem = rules_->Apply(field, raw[field], nl, &value);
    if (!problem.empty()) return arrow::Status::Invalid(specs[field].name, ": ", problem);
    if (!value.missing) record[field] = ToText(rules_->fields[field], value);
  }
  return record;
}

}  // namespace memberlake::model
