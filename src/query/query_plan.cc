// Planning: the text forms of filters, aggregates and orders, the scope, and filters as
// Arrow expressions with their values checked against the registry.
#include <algorithm>
#include <charconv>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "model/calendar.h"
#include "model/text.h"
#include "query/query_internal.h"

namespace memberlake::query {
namespace {

using model::Trim;

bool IsIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == separator) {
      parts.emplace_back(Trim(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

namespace internal {

namespace cp = arrow::compute;

// `text` as a whole number, all of it; nullopt otherwise.
std::optional<int64_t> WholeNumber(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

arrow::Result<int64_t> ParseInteger(std::string_view text, const std::string& column) {
  std::optional<int64_t> value = WholeNumber(text);
  if (!value) return arrow::Status::Invalid(column, ": '", text, "' is not a whole number");
  return *value;
}

// A filter value as a scalar of the column's lake type.
arrow::Result<std::shared_ptr<arrow::Scalar>> ToScalar(const model::FieldSpec& spec, const std::string& text) {
  switch (spec.type) {
    case model::FieldType::kString:
      return arrow::MakeScalar(text);
    case model::FieldType::kEnum: {
      for (const std::string& value : spec.values) {
        if (value == text) return arrow::MakeScalar(value);
      }
      for (const std::string& value : spec.values) {  // forgive case only
        if (value.size() == text.size() &&
            std::equal(value.begin(), value.end(), text.begin(), [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            })) {
          return arrow::MakeScalar(value);
        }
      }
      return arrow::Status::Invalid(spec.name, ": unknown value '", text, "'");
    }
    case model::FieldType::kInteger: {
      ARROW_ASSIGN_OR_RAISE(int64_t value, ParseInteger(text, spec.name));
      return std::make_shared<arrow::Int64Scalar>(value);
    }
    case model::FieldType::kDate: {
      auto date = model::ParseIsoDate(text);
      if (!date.ok()) return arrow::Status::Invalid(spec.name, ": ", date.status().message());
      return std::make_shared<arrow::Date32Scalar>(model::DaysFromCivil(*date));
    }
    case model::FieldType::kTimestamp: {
      auto date = model::ParseIsoDate(text.substr(0, 10));
      if (!date.ok() || text.size() != 10) {
        return arrow::Status::Invalid(spec.name, ": '", text, "' is not a date (YYYY-MM-DD)");
      }
      return std::make_shared<arrow::TimestampScalar>(
          static_cast<int64_t>(model::DaysFromCivil(*date)) * 86400000, model::FieldRegistry::LakeType(spec.type));
    }
  }
  return arrow::Status::Invalid("unsupported type");
}

arrow::Result<const model::FieldSpec*> Column(const model::FieldRegistry& registry, const std::string& name) {
  const model::FieldSpec* spec = registry.Find(name);
  if (spec == nullptr) return arrow::Status::Invalid("unknown column '", name, "'");
  return spec;
}

arrow::Result<cp::Expression> FilterExpression(const model::FieldRegistry& registry, const FilterSpec& filter) {
  ARROW_ASSIGN_OR_RAISE(const model::FieldSpec* spec, Column(registry, filter.column));
  cp::Expression field = cp::field_ref(filter.column);
  auto one_value = [&]() -> arrow::Result<std::shared_ptr<arrow::Scalar>> {
    if (filter.values.size() != 1) return arrow::Status::Invalid(filter.column, ": expected one value");
    return ToScalar(*spec, filter.values[0]);
  };
  // Equality on an enum (a dictionary column) as is_in: looked up once per dictionary and
  // mapped through the indices, where `equal` would first decode every row to a string.
  if (spec->type == model::FieldType::kEnum && (filter.op == FilterOp::kEq || filter.op == FilterOp::kIn)) {
    if (filter.values.empty()) return arrow::Status::Invalid(filter.column, ": 'in' needs values");
    if (filter.op == FilterOp::kEq) ARROW_RETURN_NOT_OK(one_value().status());
    arrow::StringBuilder set;
    for (const std::string& text : filter.values) {
      ARROW_ASSIGN_OR_RAISE(auto canonical, ToScalar(*spec, text));  // an unknown enum value is an error
      ARROW_RETURN_NOT_OK(set.Append(std::static_pointer_cast<arrow::StringScalar>(canonical)->view()));
    }
    ARROW_ASSIGN_OR_RAISE(auto values, set.Finish());
    return cp::call("is_in", {field}, cp::SetLookupOptions(values, cp::SetLookupOptions::NullMatchingBehavior::SKIP));
  }
  switch (filter.op) {
    case FilterOp::kIsNull: return cp::is_null(field);
    case FilterOp::kNotNull: return cp::is_valid(field);
    case FilterOp::kEq: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::equal(field, cp::literal(v)); }
    case FilterOp::kNe: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::not_equal(field, cp::literal(v)); }
    case FilterOp::kLt: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::less(field, cp::literal(v)); }
    case FilterOp::kLe: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::less_equal(field, cp::literal(v)); }
    case FilterOp::kGt: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::greater(field, cp::literal(v)); }
    case FilterOp::kGe: { ARROW_ASSIGN_OR_RAISE(auto v, one_value()); return cp::greater_equal(field, cp::literal(v)); }
    case FilterOp::kBetween: {
      if (filter.values.size() != 2) return arrow::Status::Invalid(filter.column, ": between needs a low and a high value");
      if (spec->type != model::FieldType::kInteger && spec->type != model::FieldType::kDate &&
          spec->type != model::FieldType::kTimestamp) {
        return arrow::Status::Invalid(filter.column, ": between needs a number or date column");
      }
      ARROW_ASSIGN_OR_RAISE(auto low, ToScalar(*spec, filter.values[0]));
      ARROW_ASSIGN_OR_RAISE(auto high, ToScalar(*spec, filter.values[1]));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum ordered, cp::CallFunction("less_equal", {low, high}));
      if (!ordered.scalar_as<arrow::BooleanScalar>().value) {
        return arrow::Status::Invalid(filter.column, ": between ", filter.values[0], " and ", filter.values[1],
                                      ": the low value is above the high one");
      }
      // Two comparisons, so Arrow's statistics pruning sees an ordinary range.
      return cp::and_(cp::greater_equal(field, cp::literal(low)), cp::less_equal(field, cp::literal(high)));
    }
    case FilterOp::kIn: {
      if (filter.values.empty()) return arrow::Status::Invalid(filter.column, ": 'in' needs values");
      std::vector<cp::Expression> any;
      for (const std::string& text : filter.values) {
        ARROW_ASSIGN_OR_RAISE(auto v, ToScalar(*spec, text));
        any.push_back(cp::equal(field, cp::literal(v)));
      }
      return cp::or_(any);
    }
    case FilterOp::kPrefix: {
      if (spec->type != model::FieldType::kString && spec->type != model::FieldType::kEnum) {
        return arrow::Status::Invalid(filter.column, ": prefix filters need a text column");
      }
      // Any text is a prefix, of an enum's values too: not checked against them.
      if (filter.values.size() != 1) return arrow::Status::Invalid(filter.column, ": expected one value");
      // Enums, and text group keys (read as dictionaries), are cast to plain text first:
      // starts_with has no dictionary kernel. On plain text the cast is free.
      cp::Expression text = cp::call("cast", {field}, cp::CastOptions::Safe(arrow::utf8()));
      return cp::call("starts_with", {text}, cp::MatchSubstringOptions(filter.values[0]));
    }
    case FilterOp::kMonth:
    case FilterOp::kDay: {
      if (spec->type != model::FieldType::kDate && spec->type != model::FieldType::kTimestamp) {
        return arrow::Status::Invalid(filter.column, ": month/day filters need a date column");
      }
      if (filter.values.size() != 1) return arrow::Status::Invalid(filter.column, ": expected one value");
      ARROW_ASSIGN_OR_RAISE(int64_t number, ParseInteger(filter.values[0], filter.column));
      bool month = filter.op == FilterOp::kMonth;
      if (number < 1 || number > (month ? 12 : 31)) {
        return arrow::Status::Invalid(filter.column, ": ", month ? "month" : "day", " ", number, " is out of range");
      }
      return cp::equal(cp::call(month ? "month" : "day", {field}), cp::literal(number));
    }
  }
  return arrow::Status::Invalid("unsupported filter");
}

bool IsEnumEquality(const model::FieldRegistry& registry, const FilterSpec& filter) {
  const model::FieldSpec* spec = registry.Find(filter.column);
  return spec != nullptr && spec->type == model::FieldType::kEnum &&
         (filter.op == FilterOp::kEq || filter.op == FilterOp::kIn);
}

bool RunsOnCodes(const model::FieldRegistry& registry, const FilterSpec& filter) {
  if (IsEnumEquality(registry, filter)) return true;
  const model::FieldSpec* spec = registry.Find(filter.column);
  return spec != nullptr && filter.op == FilterOp::kPrefix && filter.values.size() == 1 &&
         (spec->type == model::FieldType::kString || spec->type == model::FieldType::kEnum);
}

arrow::Result<cp::Expression> AnyExpression(const model::FieldRegistry& registry, const std::vector<FilterSpec>& any) {
  if (any.empty()) return arrow::Status::Invalid("an OR group needs at least one filter");
  std::vector<cp::Expression> alternatives;
  for (const FilterSpec& filter : any) {
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, filter));
    alternatives.push_back(std::move(clause));
  }
  return cp::or_(alternatives);
}

// The query's filters and, for a regional scope, its region filter: every row is checked
// against the scope as well as only the scope's files being read (defence in depth).
std::vector<FilterSpec> FiltersWithScope(const model::FieldRegistry& registry, const RegionalScope& scope,
                                         const std::vector<FilterSpec>& where) {
  std::vector<FilterSpec> filters = where;
  if (!scope.all()) filters.push_back({registry.partition_field(), FilterOp::kIn, scope.regions()});
  return filters;
}

// The filters that run on dictionary codes: the enum = / in ones (the scope's among them).
std::vector<FilterSpec> CodeFilters(const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters) {
  std::vector<FilterSpec> on_codes;
  for (const FilterSpec& f : filters) {
    if (RunsOnCodes(registry, f)) on_codes.push_back(f);
  }
  return on_codes;
}

}  // namespace internal

using internal::ParseInteger;

arrow::Result<RegionalScope> RegionalScope::Regions(const model::FieldRegistry& registry,
                                                    std::vector<std::string> regions) {
  const model::FieldSpec* partition = registry.Find(registry.partition_field());
  if (partition == nullptr) return arrow::Status::Invalid("the registry has no region field");
  if (regions.empty()) return arrow::Status::Invalid("a regional scope needs at least one region");
  for (const std::string& region : regions) {
    if (std::find(partition->values.begin(), partition->values.end(), region) == partition->values.end()) {
      return arrow::Status::Invalid("unknown region '", region, "'");
    }
  }
  std::sort(regions.begin(), regions.end());
  regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
  return RegionalScope(false, std::move(regions));
}

std::string RegionalScope::ToString() const {
  if (all_) return "all";
  std::string out;
  for (const auto& region : regions_) out += (out.empty() ? "" : ",") + region;
  return out;
}

arrow::Result<FilterSpec> ParseFilter(std::string_view text) {
  text = Trim(text);
  size_t i = 0;
  while (i < text.size() && IsIdentifierChar(text[i])) ++i;
  FilterSpec filter;
  filter.column = std::string(text.substr(0, i));
  if (filter.column.empty()) return arrow::Status::Invalid("filter '", text, "': expected a column name first");
  std::string_view rest = Trim(text.substr(i));
  auto value = [&](size_t skip) { return std::string(Trim(rest.substr(skip))); };
  if (rest.rfind(".month", 0) == 0 || rest.rfind(".day", 0) == 0) {
    bool month = rest.rfind(".month", 0) == 0;
    rest = Trim(rest.substr(month ? 6 : 4));
    if (rest.empty() || rest[0] != '=') return arrow::Status::Invalid("filter '", text, "': expected .month=N or .day=N");
    filter.op = month ? FilterOp::kMonth : FilterOp::kDay;
    filter.values = {value(1)};
  } else if (rest == "is null") {
    filter.op = FilterOp::kIsNull;
  } else if (rest == "is not null") {
    filter.op = FilterOp::kNotNull;
  } else if (rest.rfind("between ", 0) == 0) {
    filter.op = FilterOp::kBetween;
    std::string_view range = Trim(rest.substr(8));
    size_t and_at = range.find(" and ");
    if (and_at == std::string_view::npos) {
      return arrow::Status::Invalid("filter '", text, "': expected 'col between low and high'");
    }
    filter.values = {std::string(Trim(range.substr(0, and_at))), std::string(Trim(range.substr(and_at + 5)))};
    if (filter.values[0].empty() || filter.values[1].empty()) {
      return arrow::Status::Invalid("filter '", text, "': expected 'col between low and high'");
    }
  } else if (rest.rfind("in ", 0) == 0) {
    filter.op = FilterOp::kIn;
    filter.values = Split(rest.substr(3), '|');
  } else if (rest.rfind("!=", 0) == 0) { filter.op = FilterOp::kNe; filter.values = {value(2)};
  } else if (rest.rfind("<=", 0) == 0) { filter.op = FilterOp::kLe; filter.values = {value(2)};
  } else if (rest.rfind(">=", 0) == 0) { filter.op = FilterOp::kGe; filter.values = {value(2)};
  } else if (rest.rfind("^=", 0) == 0) { filter.op = FilterOp::kPrefix; filter.values = {value(2)};
  } else if (rest.rfind("=", 0) == 0) { filter.op = FilterOp::kEq; filter.values = {value(1)};
  } else if (rest.rfind("<", 0) == 0) { filter.op = FilterOp::kLt; filter.values = {value(1)};
  } else if (rest.rfind(">", 0) == 0) { filter.op = FilterOp::kGt; filter.values = {value(1)};
  } else {
    return arrow::Status::Invalid("filter '", text, "': expected an operator (= != < <= > >= in ^= between is null)");
  }
  return filter;
}

arrow::Result<AggregateSpec> ParseAggregate(std::string_view text) {
  text = Trim(text);
  AggregateSpec a;
  if (text == "count" || text == "count(*)") {
    a.fn = AggregateFn::kCountAll;
    a.name = "count";
    return a;
  }
  size_t open = text.find('('), close = text.rfind(')');
  if (open == std::string_view::npos || close != text.size() - 1 || close <= open + 1) {
    return arrow::Status::Invalid("aggregate '", text, "': expected count, count(col), count(distinct col), sum(col), min(col), max(col), avg(col), "
                                  "median(col) or quantile(col,q)");
  }
  std::string function(Trim(text.substr(0, open)));
  a.column = std::string(Trim(text.substr(open + 1, close - open - 1)));
  if (function == "count" && (a.column == "distinct" || a.column.rfind("distinct ", 0) == 0)) {
    a.fn = AggregateFn::kCountDistinct;
    a.column = std::string(Trim(std::string_view(a.column).substr(8)));
    if (a.column.empty()) return arrow::Status::Invalid("aggregate '", text, "': expected count(distinct col)");
    a.name = "count_distinct_" + a.column;
    return a;
  }
  if (function == "count") a.fn = AggregateFn::kCount;
  else if (function == "sum") a.fn = AggregateFn::kSum;
  else if (function == "min") a.fn = AggregateFn::kMin;
  else if (function == "max") a.fn = AggregateFn::kMax;
  else if (function == "avg") a.fn = AggregateFn::kAvg;
  else if (function == "median") a.fn = AggregateFn::kQuantile;
  else if (function == "quantile") {
    a.fn = AggregateFn::kQuantile;
    size_t comma = a.column.find(',');
    std::string q = comma == std::string::npos ? "" : std::string(Trim(std::string_view(a.column).substr(comma + 1)));
    a.column = std::string(Trim(std::string_view(a.column).substr(0, comma)));
    char* end = nullptr;
    a.quantile = std::strtod(q.c_str(), &end);
    if (q.empty() || end != q.c_str() + q.size() || !(a.quantile >= 0 && a.quantile <= 1)) {
      return arrow::Status::Invalid("aggregate '", text, "': expected quantile(col, q) with q from 0 to 1");
    }
    char name[32];
    std::snprintf(name, sizeof name, "p%g_", a.quantile * 100);
    a.name = name + a.column;
    return a;
  } else {
    return arrow::Status::Invalid("aggregate '", text, "': unknown function '", function, "'");
  }
  a.name = function + "_" + a.column;
  return a;
}

arrow::Result<OrderSpec> ParseOrder(std::string_view text) {
  text = Trim(text);
  OrderSpec order;
  size_t colon = text.find(':');
  order.column = std::string(Trim(text.substr(0, colon)));
  if (colon != std::string_view::npos) {
    std::string_view direction = Trim(text.substr(colon + 1));
    if (direction == "desc") order.descending = true;
    else if (direction != "asc") return arrow::Status::Invalid("order '", text, "': expected :asc or :desc");
  }
  if (order.column.empty()) return arrow::Status::Invalid("order: expected a column name");
  return order;
}

std::vector<lake::SnapshotFile> FilesInScope(const lake::SnapshotManifest& manifest, const RegionalScope& scope) {
  std::vector<lake::SnapshotFile> files;
  for (const auto& file : manifest.files) {
    if (scope.all() ? file.kind == lake::SnapshotFileKind::kFull
                    : file.kind == lake::SnapshotFileKind::kRegional &&
                          std::binary_search(scope.regions().begin(), scope.regions().end(), file.region)) {
      files.push_back(file);
    }
  }
  return files;
}

}  // namespace memberlake::query
