#include "transform/calculated_fields.h"

#include <algorithm>
#include <cstdio>

#include <arrow/api.h>

#include "model/date_text.h"
#include "model/text.h"

namespace memberlake::transform {
namespace {

using model::CivilDate;
using model::FieldSpec;


// korte_naam: the non-empty parts, trimmed, joined by single spaces.
arrow::Result<std::shared_ptr<arrow::Array>> JoinNames(const std::vector<std::shared_ptr<arrow::Array>>& inputs,
                                                       int64_t rows) {
  std::vector<const arrow::StringArray*> parts;
  for (const auto& input : inputs) {
    if (input->type_id() != arrow::Type::STRING) {
      return arrow::Status::TypeError("join_names needs string inputs, got ", input->type()->ToString());
    }
    parts.push_back(static_cast<const arrow::StringArray*>(input.get()));
  }
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(rows));
  int64_t bytes = 0;
  for (const auto* part : parts) bytes += part->total_values_length() + rows;
  ARROW_RETURN_NOT_OK(builder.ReserveData(bytes));
  std::string joined;
  for (int64_t row = 0; row < rows; ++row) {
    joined.clear();
    for (const auto* part : parts) {
      if (part->IsNull(row)) continue;
      std::string_view text = model::Trim(part->GetView(row));
      if (text.empty()) continue;
      if (!joined.empty()) joined.push_back(' ');
      joined.append(text);
    }
    builder.UnsafeAppend(joined);
  }
  return builder.Finish();
}

// Days since the epoch of a date32 value, or of a timestamp[ms] value's date in
// Europe/Amsterdam (the club's calendar: a registration at 00:30 on New Year's Day in
// Amsterdam belongs to the new year); false when null.
struct DateReader {
  const arrow::Array* array;
  bool Get(int64_t row, int32_t* days) const {
    if (array->IsNull(row)) return false;
    if (array->type_id() == arrow::Type::DATE32) {
      *days = static_cast<const arrow::Date32Array*>(array)->Value(row);
    } else {
      *days = model::DaysFromCivil(
          model::AmsterdamDateOfUtcMillis(static_cast<const arrow::TimestampArray*>(array)->Value(row)));
    }
    return true;
  }
};

arrow::Status CheckDateInput(const FieldSpec& spec, const std::shared_ptr<arrow::Array>& input) {
  if (input->type_id() != arrow::Type::DATE32 && input->type_id() != arrow::Type::TIMESTAMP) {
    return arrow::Status::TypeError("calculated field '", spec.name, "' (", spec.function,
                                    ") needs date or timestamp inputs, got ", input->type()->ToString());
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Array>> WholeYears(const arrow::Array& input, CivilDate as_of) {
  DateReader reader{&input};
  arrow::Int64Builder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(input.length()));
  for (int64_t row = 0; row < input.length(); ++row) {
    int32_t days;
    if (!reader.Get(row, &days)) {
      builder.UnsafeAppendNull();
      continue;
    }
    builder.UnsafeAppend(model::WholeYearsBetween(model::CivilFromDays(days), as_of));
  }
  return builder.Finish();
}

arrow::Result<std::shared_ptr<arrow::Array>> DutchMonthDay(const arrow::Array& input) {
  DateReader reader{&input};
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(input.length()));
  ARROW_RETURN_NOT_OK(builder.ReserveData(input.length() * 12));
  char buf[32];
  for (int64_t row = 0; row < input.length(); ++row) {
    int32_t days;
    if (!reader.Get(row, &days)) {
      builder.UnsafeAppend(std::string_view(""));  // a non-null pointer: memcpy(nullptr, 0) is undefined
      continue;
    }
    CivilDate date = model::CivilFromDays(days);
    int n = std::snprintf(buf, sizeof buf, "%s %d", model::DutchMonthName(date.month).data(), date.day);
    builder.UnsafeAppend(std::string_view(buf, static_cast<size_t>(n)));
  }
  return builder.Finish();
}

arrow::Result<std::shared_ptr<arrow::Array>> YearOfFirst(
    const std::vector<std::shared_ptr<arrow::Array>>& inputs, int64_t rows) {
  arrow::Int64Builder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(rows));
  for (int64_t row = 0; row < rows; ++row) {
    bool found = false;
    for (const auto& input : inputs) {
      int32_t days;
      if (DateReader{input.get()}.Get(row, &days)) {
        builder.UnsafeAppend(model::CivilFromDays(days).year);
        found = true;
        break;
      }
    }
    if (!found) builder.UnsafeAppendNull();
  }
  return builder.Finish();
}

}  // namespace

arrow::Result<CalculatedFields> CalculatedFields::Make(
    std::shared_ptr<const model::FieldRegistry> registry, model::CivilDate as_of) {
  for (const FieldSpec& spec : registry->calculated_fields()) {
    const bool is_string = spec.type == model::FieldType::kString;
    const bool is_integer = spec.type == model::FieldType::kInteger;
    bool ok = (spec.function == "join_names" && is_string) ||
              (spec.function == "dutch_month_day" && is_string && spec.from.size() == 1) ||
              (spec.function == "whole_years" && is_integer && spec.from.size() == 1) ||
              (spec.function == "year_of_first" && is_integer);
    if (!ok) {
      return arrow::Status::Invalid("calculated field '", spec.name, "': unknown function '",
                                    spec.function, "' for type ", model::FieldTypeName(spec.type),
                                    " with ", spec.from.size(), " input(s)");
    }
    for (const std::string& input : spec.from) {
      const FieldSpec* source = registry->Find(input);
      if (source == nullptr || source->calculated) {
        return arrow::Status::Invalid("calculated field '", spec.name, "': input '", input, "' is no stored field");
      }
      model::FieldType type = source->type;
      bool date_like = type == model::FieldType::kDate || type == model::FieldType::kTimestamp;
      if ((spec.function == "join_names") != (type == model::FieldType::kString) ||
          (spec.function != "join_names" && !date_like)) {
        return arrow::Status::Invalid("calculated field '", spec.name, "': input '", input,
                                      "' has the wrong type for ", spec.function);
      }
    }
  }
  if (!model::IsValidDate(as_of)) {
    return arrow::Status::Invalid("invalid reference date ", as_of.year, "-", as_of.month, "-", as_of.day);
  }
  return CalculatedFields(std::move(registry), as_of);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CalculatedFields::Append(
    const std::shared_ptr<arrow::RecordBatch>& typed) const {
  const int64_t rows = typed->num_rows();
  const auto& lake = registry_->lake_schema()->fields();
  const size_t stored = registry_->stored_fields().size();
  if (typed->schema()->num_fields() != static_cast<int>(stored) ||
      !std::equal(lake.begin(), lake.begin() + static_cast<long>(stored), typed->schema()->fields().begin(),
                  [](const auto& a, const auto& b) { return a->Equals(*b); })) {
    return arrow::Status::Invalid("calculated fields need the stored fields typed as in the lake schema, got ",
                                  typed->schema()->ToString());
  }
  arrow::ArrayVector columns = typed->columns();
  for (const FieldSpec& spec : registry_->calculated_fields()) {
    std::vector<std::shared_ptr<arrow::Array>> inputs;
    for (const std::string& name : spec.from) {
      auto column = typed->GetColumnByName(name);
      if (column == nullptr) return arrow::Status::Invalid("input column '", name, "' missing");
      if (spec.function != "join_names") ARROW_RETURN_NOT_OK(CheckDateInput(spec, column));
      inputs.push_back(std::move(column));
    }
    std::shared_ptr<arrow::Array> result;
    if (spec.function == "join_names") {
      ARROW_ASSIGN_OR_RAISE(result, JoinNames(inputs, rows));
    } else if (spec.function == "whole_years") {
      ARROW_ASSIGN_OR_RAISE(result, WholeYears(*inputs[0], as_of_));
    } else if (spec.function == "dutch_month_day") {
      ARROW_ASSIGN_OR_RAISE(result, DutchMonthDay(*inputs[0]));
    } else {
      ARROW_ASSIGN_OR_RAISE(result, YearOfFirst(inputs, rows));
    }
    columns.push_back(std::move(result));
  }
  auto out = arrow::RecordBatch::Make(registry_->lake_schema(), rows, std::move(columns));
  ARROW_RETURN_NOT_OK(out->Validate());
  return out;
}

}  // namespace memberlake::transform
