#include "query/query.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/api.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/util/bitmap_ops.h>
#include <arrow/compute/api.h>
#include <arrow/dataset/api.h>
#include <arrow/dataset/file_parquet.h>
#include <parquet/metadata.h>
#include <parquet/bloom_filter.h>
#include <parquet/bloom_filter_reader.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/arrow/reader.h>
#include <parquet/page_index.h>
#include <parquet/statistics.h>

#include "lake/snapshot_manifest.h"
#include "model/arrow_compute.h"
#include "model/calendar.h"
#include "model/text.h"
#include "query/lru_cache.h"

namespace memberlake::query {
namespace {

namespace cp = arrow::compute;
namespace ds = arrow::dataset;

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
      ARROW_ASSIGN_OR_RAISE(auto v, one_value());
      cp::Expression text = spec->type == model::FieldType::kEnum
                                ? cp::call("cast", {field}, cp::CastOptions::Safe(arrow::utf8()))
                                : field;
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

// Decodes dictionary columns to plain strings, except the `keep_encoded` ones (group keys),
// which get one dictionary across all chunks: grouping on codes is far cheaper than on text.
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const std::shared_ptr<arrow::Table>& table,
                                                                const std::vector<std::string>& keep_encoded = {}) {
  arrow::FieldVector fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table->num_columns(); ++i) {
    auto column = table->column(i);
    auto field = table->schema()->field(i);
    if (column->type()->id() == arrow::Type::DICTIONARY) {
      if (std::find(keep_encoded.begin(), keep_encoded.end(), field->name()) != keep_encoded.end()) {
        ARROW_ASSIGN_OR_RAISE(column, arrow::DictionaryUnifier::UnifyChunkedArray(column));
      } else {
        ARROW_ASSIGN_OR_RAISE(arrow::Datum decoded, cp::Cast(column, arrow::utf8()));
        column = decoded.chunked_array();
        field = field->WithType(arrow::utf8());
      }
    }
    fields.push_back(std::move(field));
    columns.push_back(std::move(column));
  }
  return arrow::Table::Make(arrow::schema(fields), columns, table->num_rows());
}

// Exact quantile of each group's values (a list per group), interpolating linearly.
arrow::Result<std::shared_ptr<arrow::Array>> QuantilesOfLists(const arrow::ChunkedArray& lists, double q) {
  arrow::DoubleBuilder out;
  for (const auto& chunk : lists.chunks()) {
    const auto& list = static_cast<const arrow::ListArray&>(*chunk);
    for (int64_t row = 0; row < list.length(); ++row) {
      auto items = list.value_slice(row);
      std::vector<double> values;
      for (int64_t i = 0; i < items->length(); ++i) {
        if (items->IsNull(i)) continue;
        ARROW_ASSIGN_OR_RAISE(auto scalar, items->GetScalar(i));
        ARROW_ASSIGN_OR_RAISE(auto as_double, scalar->CastTo(arrow::float64()));
        values.push_back(static_cast<const arrow::DoubleScalar&>(*as_double).value);
      }
      if (values.empty()) {
        ARROW_RETURN_NOT_OK(out.AppendNull());
        continue;
      }
      std::sort(values.begin(), values.end());
      double position = q * static_cast<double>(values.size() - 1);
      size_t below = static_cast<size_t>(position);
      size_t above = std::min(below + 1, values.size() - 1);
      ARROW_RETURN_NOT_OK(out.Append(values[below] + (position - static_cast<double>(below)) *
                                                         (values[above] - values[below])));
    }
  }
  return out.Finish();
}

bool IsEnumEquality(const model::FieldRegistry& registry, const FilterSpec& filter) {
  const model::FieldSpec* spec = registry.Find(filter.column);
  return spec != nullptr && spec->type == model::FieldType::kEnum &&
         (filter.op == FilterOp::kEq || filter.op == FilterOp::kIn);
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
    if (IsEnumEquality(registry, f)) on_codes.push_back(f);
  }
  return on_codes;
}

// Calls `fn(codes)` with the raw indices of a dictionary array, whatever their integer width
// (a cast to one width would copy every column).
template <typename Fn>
arrow::Status VisitCodes(const arrow::DictionaryArray& encoded, Fn&& fn) {
  const arrow::Array& indices = *encoded.indices();
  switch (indices.type_id()) {
    case arrow::Type::INT8: fn(static_cast<const arrow::Int8Array&>(indices).raw_values()); break;
    case arrow::Type::UINT8: fn(static_cast<const arrow::UInt8Array&>(indices).raw_values()); break;
    case arrow::Type::INT16: fn(static_cast<const arrow::Int16Array&>(indices).raw_values()); break;
    case arrow::Type::UINT16: fn(static_cast<const arrow::UInt16Array&>(indices).raw_values()); break;
    case arrow::Type::INT32: fn(static_cast<const arrow::Int32Array&>(indices).raw_values()); break;
    case arrow::Type::UINT32: fn(static_cast<const arrow::UInt32Array&>(indices).raw_values()); break;
    case arrow::Type::INT64: fn(static_cast<const arrow::Int64Array&>(indices).raw_values()); break;
    case arrow::Type::UINT64: fn(static_cast<const arrow::UInt64Array&>(indices).raw_values()); break;
    default: return arrow::Status::TypeError("dictionary indices of type ", indices.type()->ToString());
  }
  return arrow::Status::OK();
}

// A filter's values as the set of codes it admits, one flag per entry of `dictionary`.
std::vector<uint8_t> AllowedCodes(const arrow::Array& dictionary, const std::vector<std::string>& values) {
  const auto& strings = static_cast<const arrow::StringArray&>(dictionary);
  std::vector<uint8_t> allowed(static_cast<size_t>(strings.length()), 0);
  for (int64_t i = 0; i < strings.length(); ++i) {
    allowed[static_cast<size_t>(i)] =
        strings.IsValid(i) && std::find(values.begin(), values.end(), strings.GetView(i)) != values.end();
  }
  return allowed;
}

// Clears keep[i] for every row of `batch` that some code filter rules out (nulls never match).
arrow::Status ApplyCodeFilters(const arrow::RecordBatch& batch, const std::vector<FilterSpec>& filters,
                               std::vector<uint8_t>* keep) {
  for (const FilterSpec& filter : filters) {
    auto column = batch.GetColumnByName(filter.column);
    if (column == nullptr || column->type_id() != arrow::Type::DICTIONARY ||
        static_cast<const arrow::DictionaryArray&>(*column).dictionary()->type_id() != arrow::Type::STRING) {
      return arrow::Status::TypeError("enum column ", filter.column, " is not dictionary-encoded text");
    }
    const auto& encoded = static_cast<const arrow::DictionaryArray&>(*column);
    const std::vector<uint8_t> allowed = AllowedCodes(*encoded.dictionary(), filter.values);
    const arrow::Array& indices = *encoded.indices();
    uint8_t* flags = keep->data();
    ARROW_RETURN_NOT_OK(VisitCodes(encoded, [&](const auto* codes) {
      if (indices.null_count() == 0) {
        for (int64_t i = 0; i < indices.length(); ++i) flags[i] &= allowed[static_cast<size_t>(codes[i])];
      } else {
        for (int64_t i = 0; i < indices.length(); ++i) {
          flags[i] &= indices.IsValid(i) ? allowed[static_cast<size_t>(codes[i])] : 0;
        }
      }
    }));
  }
  return arrow::Status::OK();
}

// Enum = / in filters (and the scope) on dictionary codes: each batch's dictionary (a handful
// of values) is searched once and the filter runs on the indices, where a kernel on the column
// would decode every row to a string first (Arrow's set lookups unpack dictionaries).
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnCodes(const std::shared_ptr<arrow::Table>& table,
                                                           const std::vector<FilterSpec>& filters) {
  if (filters.empty() || table->num_rows() == 0) return table;
  arrow::TableBatchReader reader(*table);
  arrow::RecordBatchVector kept;
  std::vector<uint8_t> keep;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (batch == nullptr) break;
    keep.assign(static_cast<size_t>(batch->num_rows()), 1);
    ARROW_RETURN_NOT_OK(ApplyCodeFilters(*batch, filters, &keep));
    ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateEmptyBitmap(batch->num_rows()));
    arrow::internal::GenerateBitsUnrolled(bitmap->mutable_data(), 0, batch->num_rows(),
                                          [&, i = int64_t{0}]() mutable { return keep[static_cast<size_t>(i++)] != 0; });
    arrow::Datum mask(std::make_shared<arrow::BooleanArray>(batch->num_rows(), std::move(bitmap)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
    kept.push_back(filtered.record_batch());
  }
  return arrow::Table::FromRecordBatches(table->schema(), kept);
}

// count(*) grouped by dictionary columns with one dictionary each (DecodeDictionaries keeps
// group keys so): a count per combination of codes in a dense array, counting only the rows
// `code_filters` admit, so the rows are never materialised filtered. The shape of
// regional-stats; nullopt when the query has another shape (Acero then does the work).
arrow::Result<std::optional<std::shared_ptr<arrow::Table>>> CountByCodes(const arrow::Table& rows,
                                                                         const QuerySpec& spec,
                                                                         const std::vector<FilterSpec>& code_filters) {
  using Nothing = std::optional<std::shared_ptr<arrow::Table>>;
  if (spec.group_by.empty() || spec.aggregates.empty()) return Nothing();
  for (const AggregateSpec& a : spec.aggregates) {
    if (a.fn != AggregateFn::kCountAll) return Nothing();
  }
  std::vector<std::shared_ptr<arrow::Array>> dictionaries;
  std::vector<int64_t> strides;
  int64_t cells = 1;
  for (const std::string& key : spec.group_by) {
    auto column = rows.GetColumnByName(key);
    if (column == nullptr || column->type()->id() != arrow::Type::DICTIONARY || column->num_chunks() == 0) return Nothing();
    auto dictionary = static_cast<const arrow::DictionaryArray&>(*column->chunk(0)).dictionary();
    for (const auto& chunk : column->chunks()) {
      const auto& other = static_cast<const arrow::DictionaryArray&>(*chunk).dictionary();
      if (other != dictionary && !other->Equals(*dictionary)) return Nothing();
    }
    strides.push_back(cells);
    cells *= dictionary->length() + 1;  // the last code of each key stands for null
    if (cells > (1 << 20)) return Nothing();
    dictionaries.push_back(dictionary);
  }
  for (const FilterSpec& filter : code_filters) {
    auto column = rows.GetColumnByName(filter.column);
    if (column == nullptr || column->type()->id() != arrow::Type::DICTIONARY) return Nothing();
  }
  // Four interleaved tallies: rows arrive sorted by region, so consecutive rows mostly hit the
  // same cell, and one tally would serialise every increment on the previous one.
  constexpr int kLanes = 4;
  std::vector<int64_t> lanes(static_cast<size_t>(cells) * kLanes, 0);
  std::vector<uint32_t> cell;  // cells < 2^20
  std::vector<uint8_t> keep;
  arrow::TableBatchReader reader(rows);
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (batch == nullptr) break;
    const int64_t n = batch->num_rows();
    cell.assign(static_cast<size_t>(n), 0);
    keep.assign(static_cast<size_t>(n), 1);
    ARROW_RETURN_NOT_OK(ApplyCodeFilters(*batch, code_filters, &keep));
    for (size_t k = 0; k < spec.group_by.size(); ++k) {
      const auto& encoded = static_cast<const arrow::DictionaryArray&>(*batch->GetColumnByName(spec.group_by[k]));
      const arrow::Array& indices = *encoded.indices();
      const auto null_code = static_cast<uint32_t>(dictionaries[k]->length());
      const auto stride = static_cast<uint32_t>(strides[k]);
      uint32_t* target = cell.data();
      ARROW_RETURN_NOT_OK(VisitCodes(encoded, [&](const auto* codes) {
        if (indices.null_count() == 0) {
          for (int64_t i = 0; i < n; ++i) target[i] += static_cast<uint32_t>(codes[i]) * stride;
        } else {
          for (int64_t i = 0; i < n; ++i) {
            target[i] += (indices.IsValid(i) ? static_cast<uint32_t>(codes[i]) : null_code) * stride;
          }
        }
      }));
    }
    const uint32_t* cells_of = cell.data();
    const uint8_t* kept = keep.data();
    int64_t* tally = lanes.data();
    for (int64_t i = 0; i < n; ++i) tally[static_cast<size_t>(cells_of[i]) * kLanes + (i & (kLanes - 1))] += kept[i];
  }
  std::vector<int64_t> counts(static_cast<size_t>(cells), 0);
  for (int64_t c = 0; c < cells; ++c) {
    for (int lane = 0; lane < kLanes; ++lane) counts[static_cast<size_t>(c)] += lanes[static_cast<size_t>(c * kLanes + lane)];
  }
  // One row per combination that occurs: key codes (null for the null code) and the count.
  std::vector<arrow::Int32Builder> keys(spec.group_by.size());
  arrow::Int64Builder totals;
  for (int64_t c = 0; c < cells; ++c) {
    if (counts[static_cast<size_t>(c)] == 0) continue;
    for (size_t k = 0; k < keys.size(); ++k) {
      int64_t code = (c / strides[k]) % (dictionaries[k]->length() + 1);
      ARROW_RETURN_NOT_OK(code == dictionaries[k]->length() ? keys[k].AppendNull()
                                                            : keys[k].Append(static_cast<int32_t>(code)));
    }
    ARROW_RETURN_NOT_OK(totals.Append(counts[static_cast<size_t>(c)]));
  }
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t k = 0; k < keys.size(); ++k) {
    ARROW_ASSIGN_OR_RAISE(auto indices, keys[k].Finish());
    ARROW_ASSIGN_OR_RAISE(auto encoded, arrow::DictionaryArray::FromArrays(
                                            arrow::dictionary(arrow::int32(), dictionaries[k]->type()), indices, dictionaries[k]));
    fields.push_back(arrow::field(spec.group_by[k], encoded->type()));
    columns.push_back(encoded);
  }
  ARROW_ASSIGN_OR_RAISE(auto count_column, totals.Finish());
  for (const AggregateSpec& a : spec.aggregates) {
    fields.push_back(arrow::field(a.name, arrow::int64()));
    columns.push_back(count_column);
  }
  return Nothing(arrow::Table::Make(arrow::schema(fields), columns));
}
// Groups and aggregates `rows`, first keeping only the rows `code_filters` admit.
arrow::Result<std::shared_ptr<arrow::Table>> Aggregate(std::shared_ptr<arrow::Table> rows, const QuerySpec& spec,
                                                       const std::vector<FilterSpec>& code_filters) {
  ARROW_ASSIGN_OR_RAISE(auto counted, CountByCodes(*rows, spec, code_filters));
  if (counted) return *counted;
  ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, code_filters));
  std::vector<std::string> group_by = spec.group_by;
  const bool has_quantiles = std::any_of(spec.aggregates.begin(), spec.aggregates.end(),
                                         [](const AggregateSpec& a) { return a.fn == AggregateFn::kQuantile; });
  if (has_quantiles && group_by.empty()) {
    // Quantiles gather each group's values with hash_list, which needs a key: group all rows
    // under one constant key and drop it afterwards.
    ARROW_ASSIGN_OR_RAISE(auto zeros, arrow::MakeArrayFromScalar(arrow::Int32Scalar(0), rows->num_rows()));
    ARROW_ASSIGN_OR_RAISE(rows, rows->AddColumn(rows->num_columns(), arrow::field("__all", arrow::int32()),
                                                std::make_shared<arrow::ChunkedArray>(zeros)));
    group_by.push_back("__all");
  }
  const bool grouped = !group_by.empty();
  std::vector<cp::Aggregate> aggregates;
  for (const AggregateSpec& a : spec.aggregates) {
    std::string function;
    std::shared_ptr<cp::FunctionOptions> options;
    switch (a.fn) {
      case AggregateFn::kCountAll: function = "count_all"; break;
      case AggregateFn::kCount:
        function = "count";
        options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
        break;
      case AggregateFn::kMin: function = "min"; break;
      case AggregateFn::kMax: function = "max"; break;
      case AggregateFn::kAvg: function = "mean"; break;
      case AggregateFn::kQuantile: function = "list"; break;
    }
    if (grouped) function = "hash_" + function;
    if (a.fn == AggregateFn::kCountAll) {
      aggregates.emplace_back(function, options, std::vector<arrow::FieldRef>{}, a.name);
    } else {
      aggregates.emplace_back(function, options, arrow::FieldRef(a.column), a.name);
    }
  }
  std::vector<arrow::FieldRef> keys;
  for (const std::string& key : group_by) keys.emplace_back(key);
  arrow::acero::Declaration plan = arrow::acero::Declaration::Sequence(
      {{"table_source", arrow::acero::TableSourceNodeOptions(rows)},
       {"aggregate", arrow::acero::AggregateNodeOptions(std::move(aggregates), std::move(keys))}});
  ARROW_ASSIGN_OR_RAISE(auto result, arrow::acero::DeclarationToTable(std::move(plan), /*use_threads=*/false));
  for (const AggregateSpec& a : spec.aggregates) {
    if (a.fn != AggregateFn::kQuantile) continue;
    int index = result->schema()->GetFieldIndex(a.name);
    ARROW_ASSIGN_OR_RAISE(auto quantiles, QuantilesOfLists(*result->column(index), a.quantile));
    ARROW_ASSIGN_OR_RAISE(result, result->SetColumn(index, arrow::field(a.name, arrow::float64()),
                                                    std::make_shared<arrow::ChunkedArray>(quantiles)));
  }
  if (int all = result->schema()->GetFieldIndex("__all"); all >= 0) {
    ARROW_ASSIGN_OR_RAISE(result, result->RemoveColumn(all));
  }
  return result;
}

std::string_view View(const parquet::ByteArray& bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.ptr), bytes.len);
}

// Row groups whose statistics admit every enum equality filter. Arrow's dataset layer does not
// use string statistics of dictionary-encoded columns, and enums are exactly the columns
// the lake is sorted and partitioned by, so this is where most pruning comes from.
std::vector<int> RowGroupsMatchingEnumFilters(const parquet::FileMetaData& metadata,
                                              const model::FieldRegistry& registry,
                                              const std::vector<FilterSpec>& filters) {
  std::vector<int> kept;
  for (int rg = 0; rg < metadata.num_row_groups(); ++rg) {
    auto row_group = metadata.RowGroup(rg);
    bool possible = true;
    for (const FilterSpec& filter : filters) {
      const model::FieldSpec* spec = registry.Find(filter.column);
      if (spec == nullptr || spec->type != model::FieldType::kEnum ||
          (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn)) {
        continue;
      }
      int column = metadata.schema()->ColumnIndex(filter.column);
      if (column < 0) continue;
      auto stats = row_group->ColumnChunk(column)->statistics();
      if (stats == nullptr || !stats->HasMinMax()) continue;
      auto typed = std::static_pointer_cast<parquet::ByteArrayStatistics>(stats);
      std::string_view min = View(typed->min()), max = View(typed->max());
      bool any = false;
      for (const std::string& value : filter.values) any |= min <= value && value <= max;
      possible &= any;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// True when the row group's statistics prove it holds one of the filter's values: min and max
// are values that occur, so an equality on either cannot be ruled out by a bloom filter, page
// index or dictionary, and reading those would be wasted (status = 'Actief' in every group).
bool StatisticsProveMatch(const parquet::FileMetaData& metadata, int rg, int column, const FilterSpec& filter) {
  auto stats = metadata.RowGroup(rg)->ColumnChunk(column)->statistics();
  if (stats == nullptr || !stats->HasMinMax()) return false;
  for (const std::string& value : filter.values) {
    if (stats->physical_type() == parquet::Type::BYTE_ARRAY) {
      const auto& typed = static_cast<const parquet::ByteArrayStatistics&>(*stats);
      if (View(typed.min()) == value || View(typed.max()) == value) return true;
    } else if (stats->physical_type() == parquet::Type::INT64) {
      const auto& typed = static_cast<const parquet::Int64Statistics&>(*stats);
      std::optional<int64_t> number = WholeNumber(value);
      if (number && (typed.min() == *number || typed.max() == *number)) return true;
    }
  }
  return false;
}

// Drops row groups whose bloom filter rules out every value of some equality filter on a
// lookup column (the registry's `lookup = true`: ids, e-mail, postcode, ...).
arrow::Result<std::vector<int>> RowGroupsPassingBloomFilters(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups) {
  std::vector<std::pair<int, const FilterSpec*>> probes;  // (column index, filter)
  for (const FilterSpec& filter : filters) {
    const model::FieldSpec* spec = registry.Find(filter.column);
    if (spec == nullptr || !spec->lookup || (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn)) continue;
    if (spec->type != model::FieldType::kString && spec->type != model::FieldType::kInteger) continue;
    int column = reader.metadata()->schema()->ColumnIndex(filter.column);
    if (column >= 0) probes.emplace_back(column, &filter);
  }
  if (probes.empty()) return row_groups;
  std::vector<int> kept;
  auto& blooms = reader.GetBloomFilterReader();
  for (int rg : row_groups) {
    auto row_group = blooms.RowGroup(rg);
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      std::unique_ptr<parquet::BloomFilter> bloom = row_group ? row_group->GetColumnBloomFilter(column) : nullptr;
      if (!bloom) continue;
      bool any = false;
      for (const std::string& value : filter->values) {
        if (registry.Find(filter->column)->type == model::FieldType::kInteger) {
          ARROW_ASSIGN_OR_RAISE(int64_t number, ParseInteger(value, filter->column));
          any |= bloom->FindHash(bloom->Hash(number));
        } else {
          any |= bloom->FindHash(bloom->Hash(std::string_view(value)));
        }
      }
      possible &= any;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// Equality (= or in) filters on string or integer columns: the ones page indexes and
// dictionaries can rule out. Dates and ranges are left to statistics.
std::vector<std::pair<int, const FilterSpec*>> EqualityProbes(const parquet::FileMetaData& metadata,
                                                              const model::FieldRegistry& registry,
                                                              const std::vector<FilterSpec>& filters) {
  std::vector<std::pair<int, const FilterSpec*>> probes;
  for (const FilterSpec& filter : filters) {
    const model::FieldSpec* spec = registry.Find(filter.column);
    if (spec == nullptr || (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn)) continue;
    if (spec->type != model::FieldType::kString && spec->type != model::FieldType::kEnum &&
        spec->type != model::FieldType::kInteger) {
      continue;
    }
    int column = metadata.schema()->ColumnIndex(filter.column);
    if (column >= 0) probes.emplace_back(column, &filter);
  }
  return probes;
}

// Whether page `p` of a column index may hold one of `values`.
bool PageMayHold(const parquet::ColumnIndex& index, size_t p, const std::vector<std::string>& values,
                 bool integer) {
  if (index.null_pages()[p]) return false;
  for (const std::string& value : values) {
    if (integer) {
      const auto& typed = static_cast<const parquet::Int64ColumnIndex&>(index);
      std::optional<int64_t> number = WholeNumber(value);
      if (!number) return true;  // the scan reports it
      if (typed.min_values()[p] <= *number && *number <= typed.max_values()[p]) return true;
    } else {
      const auto& typed = static_cast<const parquet::ByteArrayColumnIndex&>(index);
      if (View(typed.min_values()[p]) <= value && value <= View(typed.max_values()[p])) return true;
    }
  }
  return false;
}

// Page-index pruning. The column index holds min/max per data page, finer than the row
// group's statistics: a value falling between pages' ranges, or only in null pages, rules the
// row group out. Pages the index excludes are counted; parquet-cpp 26 has no API to read a
// row group's remaining row ranges only (apache/arrow#45284), so a kept row group is read whole.
std::vector<int> RowGroupsPassingPageIndex(parquet::ParquetFileReader& reader, const model::FieldRegistry& registry,
                                           const std::vector<FilterSpec>& filters, const std::vector<int>& row_groups,
                                           bool count_pages, ScanStats* stats) {
  auto probes = EqualityProbes(*reader.metadata(), registry, filters);
  auto page_index = probes.empty() ? nullptr : reader.GetPageIndexReader();
  if (!page_index) return row_groups;
  std::vector<int> kept;
  for (int rg : row_groups) {
    std::shared_ptr<parquet::RowGroupPageIndexReader> row_group;  // read on first use
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (!count_pages && StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      if (!row_group) row_group = page_index->RowGroup(rg);
      std::shared_ptr<parquet::ColumnIndex> index = row_group ? row_group->GetColumnIndex(column) : nullptr;
      if (!index) continue;
      const bool integer = registry.Find(filter->column)->type == model::FieldType::kInteger;
      if (integer && reader.metadata()->schema()->Column(column)->physical_type() != parquet::Type::INT64) continue;
      int64_t matching = 0;
      const size_t pages = index->null_pages().size();
      for (size_t p = 0; p < pages; ++p) matching += PageMayHold(*index, p, filter->values, integer) ? 1 : 0;
      stats->pages_excluded_by_page_index += static_cast<int64_t>(pages) - matching;
      possible &= matching > 0;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// True when every data page of the column chunk is dictionary-encoded, so its dictionary
// lists every value (a writer that fell back to plain encoding mid-chunk breaks that).
bool FullyDictionaryEncoded(const parquet::ColumnChunkMetaData& chunk) {
  if (!chunk.has_dictionary_page() || chunk.encoding_stats().empty()) return false;
  for (const auto& page : chunk.encoding_stats()) {
    if (page.page_type != parquet::PageType::DATA_PAGE && page.page_type != parquet::PageType::DATA_PAGE_V2) continue;
    if (page.encoding != parquet::Encoding::RLE_DICTIONARY && page.encoding != parquet::Encoding::PLAIN_DICTIONARY) {
      return false;
    }
  }
  return true;
}

// Dictionary-page pruning: for = / in on a fully dictionary-encoded string column, a row group
// whose dictionary holds none of the values cannot match. Reads only the dictionary pages.
arrow::Result<std::vector<int>> RowGroupsPassingDictionaries(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups) {
  std::vector<std::pair<int, const FilterSpec*>> probes;
  for (const auto& probe : EqualityProbes(*reader.metadata(), registry, filters)) {
    if (registry.Find(probe.second->column)->type != model::FieldType::kInteger) probes.push_back(probe);
  }
  if (probes.empty()) return row_groups;
  std::vector<int> kept;
  for (int rg : row_groups) {
    std::shared_ptr<parquet::RowGroupReader> chunk_reader;  // opened on first use; outlives its page readers
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      auto chunk = reader.metadata()->RowGroup(rg)->ColumnChunk(column);
      if (!FullyDictionaryEncoded(*chunk)) continue;
      if (!chunk_reader) chunk_reader = reader.RowGroup(rg);
      auto pages = chunk_reader->GetColumnPageReader(column);
      std::shared_ptr<parquet::Page> first = pages->NextPage();
      if (!first || first->type() != parquet::PageType::DICTIONARY_PAGE) continue;
      const auto& dictionary = static_cast<const parquet::DictionaryPage&>(*first);
      if (dictionary.encoding() != parquet::Encoding::PLAIN && dictionary.encoding() != parquet::Encoding::PLAIN_DICTIONARY) continue;
      // PLAIN byte arrays: a 4-byte little-endian length, then the bytes.
      std::set<std::string_view> values;
      const uint8_t* data = dictionary.data();
      const int32_t size = dictionary.size();
      int32_t offset = 0;
      bool readable = true;
      for (int32_t i = 0; i < dictionary.num_values() && readable; ++i) {
        if (offset + 4 > size) { readable = false; break; }
        uint32_t length = static_cast<uint32_t>(data[offset]) | static_cast<uint32_t>(data[offset + 1]) << 8 |
                          static_cast<uint32_t>(data[offset + 2]) << 16 | static_cast<uint32_t>(data[offset + 3]) << 24;
        offset += 4;
        if (length > static_cast<uint32_t>(size - offset)) { readable = false; break; }
        values.emplace(reinterpret_cast<const char*>(data + offset), length);
        offset += static_cast<int32_t>(length);
      }
      if (!readable) continue;
      bool any = false;
      for (const std::string& value : filter->values) any |= values.count(value) > 0;
      possible &= any;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// Data pages of `columns` in `row_groups`, from the offset index.
int64_t CountPages(parquet::ParquetFileReader& reader, const std::vector<int>& row_groups,
                   const std::vector<std::string>& columns) {
  auto page_index = reader.GetPageIndexReader();
  if (!page_index) return 0;
  int64_t pages = 0;
  for (int rg : row_groups) {
    auto row_group = page_index->RowGroup(rg);
    if (!row_group) continue;
    for (const std::string& name : columns) {
      int column = reader.metadata()->schema()->ColumnIndex(name);
      if (column < 0) continue;
      auto offsets = row_group->GetOffsetIndex(column);
      if (offsets) pages += static_cast<int64_t>(offsets->page_locations().size());
    }
  }
  return pages;
}

// Lake files are written once under unique names and never changed, so a file's parsed footer
// is kept across queries, keyed by location and size: reading and parsing the full dataset's
// footer is a tenth of a point lookup.
LruCache<std::shared_ptr<parquet::FileMetaData>>& FooterCache() {
  static LruCache<std::shared_ptr<parquet::FileMetaData>> cache(64 << 20);
  return cache;
}

// One lake file as a fragment with its footer loaded, and a reader on it for the pruning passes.
struct OpenLakeFile {
  std::shared_ptr<ds::ParquetFileFragment> fragment;
  std::shared_ptr<parquet::arrow::FileReader> reader;
};

arrow::Result<OpenLakeFile> OpenSnapshotFile(const std::shared_ptr<ds::ParquetFileFormat>& format,
                                             const lake::LakeStorage& lake, const lake::SnapshotFile& file) {
  const std::string path = lake.FullPath(file.path);
  const std::string key = lake.filesystem()->type_name() + ":" + path + "#" + std::to_string(file.bytes);
  ds::FileSource source(path, lake.filesystem());
  ARROW_ASSIGN_OR_RAISE(auto fragment, format->MakeFragment(source));
  OpenLakeFile opened{std::static_pointer_cast<ds::ParquetFileFragment>(fragment), nullptr};
  std::shared_ptr<parquet::FileMetaData> footer = FooterCache().Get(key).value_or(nullptr);
  ARROW_ASSIGN_OR_RAISE(opened.reader, format->GetReader(source, std::make_shared<ds::ScanOptions>(), footer));
  if (footer == nullptr) {
    footer = opened.reader->parquet_reader()->metadata();
    FooterCache().Put(key, footer, static_cast<int64_t>(footer->size()));
  }
  ARROW_RETURN_NOT_OK(opened.fragment->EnsureCompleteMetadata(opened.reader.get()));
  return opened;
}

// The snapshot part of a query: only the scope's files, row groups pruned on enum statistics,
// Arrow's statistics and bloom filters, then a projected, filtered scan. Rows of members in
// `exclude_ids` (changed in the live store since the snapshot) are left out. Without
// `apply_code_filters` the caller applies CodeFilters (their columns must be in `needed`).
arrow::Result<std::shared_ptr<arrow::Table>> ScanSnapshot(
    const lake::LakeStorage& lake, const model::FieldRegistry& registry, const RegionalScope& scope,
    const QuerySpec& spec, const std::vector<std::string>& needed, const std::vector<std::string>& exclude_ids,
    bool apply_code_filters, const lake::SnapshotManifest& manifest, QueryResult* result) {
  result->snapshot_id = manifest.snapshot_id;
  result->data_version = manifest.data_version;
  result->as_of = manifest.as_of;
  auto format = std::make_shared<ds::ParquetFileFormat>();
  std::vector<std::shared_ptr<ds::FileFragment>> fragments;
  const std::vector<FilterSpec> filters = FiltersWithScope(registry, scope, spec.where);
  std::vector<cp::Expression> other_clauses;
  for (const FilterSpec& f : filters) {
    if (IsEnumEquality(registry, f)) continue;
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, f));
    other_clauses.push_back(std::move(clause));
  }
  cp::Expression filter_without_enums = other_clauses.empty() ? cp::literal(true) : cp::and_(other_clauses);
  // Arrow's statistics pruning sees only these clauses: it cannot use enum statistics, and
  // simplifying the whole filter per row group costs more than reading a small group.
  ARROW_ASSIGN_OR_RAISE(auto bound_without_enums, filter_without_enums.Bind(*registry.lake_schema()));
  for (const lake::SnapshotFile& file : FilesInScope(manifest, scope)) {
    ARROW_ASSIGN_OR_RAISE(OpenLakeFile opened, OpenSnapshotFile(format, lake, file));
    const auto& parquet_fragment = opened.fragment;
    parquet::ParquetFileReader* file_reader = opened.reader->parquet_reader();
    // Row groups that both Arrow (statistics of plain columns) and the enum check keep.
    std::vector<int> kept = RowGroupsMatchingEnumFilters(*parquet_fragment->metadata(), registry, filters);
    if (!other_clauses.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto arrow_kept, parquet_fragment->SplitByRowGroup(bound_without_enums));
      std::set<int> by_arrow;
      for (const auto& piece : arrow_kept) {
        for (int rg : std::static_pointer_cast<ds::ParquetFileFragment>(piece)->row_groups()) by_arrow.insert(rg);
      }
      std::erase_if(kept, [&](int rg) { return by_arrow.count(rg) == 0; });
    }
    const int row_groups = parquet_fragment->metadata()->num_row_groups();
    ARROW_ASSIGN_OR_RAISE(auto after_bloom, RowGroupsPassingBloomFilters(*file_reader, registry, spec.where, kept));
    ScanStats& stats = result->stats;
    auto after_index = RowGroupsPassingPageIndex(*file_reader, registry, spec.where, after_bloom, spec.count_pages, &stats);
    ARROW_ASSIGN_OR_RAISE(auto after_dictionary, RowGroupsPassingDictionaries(*file_reader, registry, spec.where, after_index));
    std::vector<int> all(static_cast<size_t>(row_groups));
    for (int rg = 0; rg < row_groups; ++rg) all[static_cast<size_t>(rg)] = rg;
    stats.files += 1;
    stats.row_groups_total += row_groups;
    stats.row_groups_pruned_by_statistics += row_groups - static_cast<int64_t>(kept.size());
    stats.row_groups_pruned_by_bloom_filter += static_cast<int64_t>(kept.size() - after_bloom.size());
    stats.row_groups_pruned_by_page_index += static_cast<int64_t>(after_bloom.size() - after_index.size());
    stats.row_groups_pruned_by_dictionary += static_cast<int64_t>(after_index.size() - after_dictionary.size());
    kept = std::move(after_dictionary);
    stats.row_groups_read += static_cast<int64_t>(kept.size());
    if (spec.count_pages) {
      stats.pages_total += CountPages(*file_reader, all, needed);
      stats.pages_read += CountPages(*file_reader, kept, needed);
    }
    if (kept.empty()) continue;
    ARROW_ASSIGN_OR_RAISE(auto subset, parquet_fragment->Subset(kept));
    fragments.push_back(std::static_pointer_cast<ds::FileFragment>(subset));
  }
  if (!exclude_ids.empty()) {
    arrow::StringBuilder ids;
    ARROW_RETURN_NOT_OK(ids.AppendValues(exclude_ids));
    ARROW_ASSIGN_OR_RAISE(auto id_set, ids.Finish());
    filter_without_enums = cp::and_(filter_without_enums, cp::not_(cp::call("is_in", {cp::field_ref("member_id")},
                                                                            cp::SetLookupOptions(id_set))));
  }
  ARROW_ASSIGN_OR_RAISE(auto dataset, ds::FileSystemDataset::Make(registry.lake_schema(), cp::literal(true), format,
                                                                   lake.filesystem(), std::move(fragments)));
  // Enum equalities (and the scope) run on dictionary codes after the scan, here or by the
  // caller; the scanner evaluates the rest. Their columns are read even when the result drops them.
  const std::vector<FilterSpec> on_codes = CodeFilters(registry, filters);
  std::vector<std::string> projected = needed;
  for (const FilterSpec& f : on_codes) {
    if (std::find(projected.begin(), projected.end(), f.column) == projected.end()) projected.push_back(f.column);
  }
  ds::ScannerBuilder builder(dataset);
  ARROW_RETURN_NOT_OK(builder.Project(projected));
  ARROW_RETURN_NOT_OK(builder.Filter(filter_without_enums));
  ARROW_RETURN_NOT_OK(builder.UseThreads(true));
  ARROW_ASSIGN_OR_RAISE(auto scanner, builder.Finish());
  ARROW_ASSIGN_OR_RAISE(auto rows, scanner->ToTable());
  if (apply_code_filters) {
    ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, on_codes));
  }
  std::vector<int> keep;
  for (const auto& name : needed) keep.push_back(rows->schema()->GetFieldIndex(name));
  return rows->SelectColumns(keep);
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> ReadLakeFile(const lake::LakeStorage& lake, const std::string& path,
                                                          const std::vector<std::string>& columns) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  auto format = std::make_shared<ds::ParquetFileFormat>();
  ARROW_ASSIGN_OR_RAISE(auto fragment, format->MakeFragment(ds::FileSource(lake.FullPath(path), lake.filesystem())));
  ARROW_ASSIGN_OR_RAISE(auto schema, fragment->ReadPhysicalSchema());
  ARROW_ASSIGN_OR_RAISE(auto dataset, ds::FileSystemDataset::Make(schema, cp::literal(true), format,
                                                                   lake.filesystem(), {std::static_pointer_cast<ds::FileFragment>(fragment)}));
  ds::ScannerBuilder builder(dataset);
  std::vector<std::string> present;
  for (const auto& column : columns) {
    if (schema->GetFieldIndex(column) >= 0) present.push_back(column);  // views hold fewer columns
  }
  ARROW_RETURN_NOT_OK(builder.Project(present));
  ARROW_ASSIGN_OR_RAISE(auto scanner, builder.Finish());
  ARROW_ASSIGN_OR_RAISE(auto table, scanner->ToTable());
  return DecodeDictionaries(table);
}

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
    return arrow::Status::Invalid("filter '", text, "': expected an operator (= != < <= > >= in ^= is null)");
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
    return arrow::Status::Invalid("aggregate '", text, "': expected count, count(col), min(col), max(col) or avg(col)");
  }
  std::string function(Trim(text.substr(0, open)));
  a.column = std::string(Trim(text.substr(open + 1, close - open - 1)));
  if (function == "count") a.fn = AggregateFn::kCount;
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

arrow::Result<QueryResult> RunQuery(const lake::LakeStorage* lake, const LiveRows* live,
                                    const model::FieldRegistry& registry, const RegionalScope& scope,
                                    const QuerySpec& given, const lake::SnapshotManifest* manifest) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  // Enum values in their canonical spelling ("gewoon lid" -> "Gewoon lid"), so statistics,
  // dictionaries and codes compare like the data does.
  QuerySpec spec = given;
  for (FilterSpec& filter : spec.where) {
    const model::FieldSpec* field = registry.Find(filter.column);
    if (field == nullptr || field->type != model::FieldType::kEnum ||
        (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn && filter.op != FilterOp::kNe)) {
      continue;
    }
    for (std::string& value : filter.values) {
      ARROW_ASSIGN_OR_RAISE(auto canonical, ToScalar(*field, value));
      value = std::string(std::static_pointer_cast<arrow::StringScalar>(canonical)->view());
    }
  }
  if (lake == nullptr && live == nullptr) return arrow::Status::Invalid("a query needs a lake or live rows");
  // Check every name before touching the lake, so a typo costs nothing.
  std::vector<std::string> needed;
  auto need = [&](const std::string& name) -> arrow::Status {
    ARROW_RETURN_NOT_OK(Column(registry, name).status());
    if (std::find(needed.begin(), needed.end(), name) == needed.end()) needed.push_back(name);
    return arrow::Status::OK();
  };
  const bool aggregating = !spec.group_by.empty() || !spec.aggregates.empty();
  if (aggregating && !spec.select.empty()) {
    return arrow::Status::Invalid("select columns with group by: list them as group-by keys instead");
  }
  for (const auto& name : spec.select) ARROW_RETURN_NOT_OK(need(name));
  for (const auto& name : spec.group_by) ARROW_RETURN_NOT_OK(need(name));
  for (const auto& a : spec.aggregates) {
    if (!a.column.empty()) ARROW_RETURN_NOT_OK(need(a.column));
  }
  const std::vector<FilterSpec> filters = FiltersWithScope(registry, scope, spec.where);
  std::vector<cp::Expression> clauses;
  for (const auto& filter : filters) {
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, filter));
    clauses.push_back(std::move(clause));
  }
  for (const auto& order : spec.order_by) {
    bool output_column = false;
    for (const auto& a : spec.aggregates) output_column |= a.name == order.column;
    if (!output_column) ARROW_RETURN_NOT_OK(Column(registry, order.column).status());
    if (!aggregating) ARROW_RETURN_NOT_OK(need(order.column));
  }
  if (!aggregating && spec.select.empty()) {
    for (const auto& field : registry.lake_schema()->fields()) needed.push_back(field->name());
  }
  // count(*) grouped by enums applies the code filters (enum equalities, the scope) while it
  // counts codes, instead of materialising the filtered rows first.
  std::vector<FilterSpec> counted_filters;
  if (!spec.group_by.empty() && !spec.aggregates.empty() &&
      std::all_of(spec.aggregates.begin(), spec.aggregates.end(),
                  [](const AggregateSpec& a) { return a.fn == AggregateFn::kCountAll; })) {
    counted_filters = CodeFilters(registry, filters);
    for (const FilterSpec& f : counted_filters) ARROW_RETURN_NOT_OK(need(f.column));
  }
  if (spec.limit && *spec.limit < 0) return arrow::Status::Invalid("limit must not be negative");

  cp::Expression filter = clauses.empty() ? cp::literal(true) : cp::and_(clauses);
  ARROW_ASSIGN_OR_RAISE(auto bound, filter.Bind(*registry.lake_schema()));

  QueryResult result;
  std::vector<std::shared_ptr<arrow::Table>> parts;
  if (lake != nullptr) {
    lake::SnapshotManifest current;
    if (manifest == nullptr) {
      ARROW_ASSIGN_OR_RAISE(current, lake::ReadCurrentManifest(*lake));
      manifest = &current;
    }
    ARROW_ASSIGN_OR_RAISE(auto snapshot_rows, ScanSnapshot(*lake, registry, scope, spec, needed,
                                                           live ? live->replaced_ids : std::vector<std::string>{},
                                                           counted_filters.empty(), *manifest, &result));
    parts.push_back(std::move(snapshot_rows));
  }
  if (live != nullptr && live->rows != nullptr && live->rows->num_rows() > 0) {
    ARROW_ASSIGN_OR_RAISE(auto batch, live->rows->CombineChunksToBatch());
    ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, cp::ExecuteScalarExpression(bound, cp::ExecBatch(*batch)));
    if (mask.is_scalar()) {  // a filter without column references: keep all or nothing
      const auto& keep = mask.scalar_as<arrow::BooleanScalar>();
      ARROW_ASSIGN_OR_RAISE(mask, arrow::MakeArrayFromScalar(arrow::BooleanScalar(keep.is_valid && keep.value),
                                                            batch->num_rows()));
    }
    ARROW_ASSIGN_OR_RAISE(arrow::Datum kept, cp::Filter(batch, mask));
    ARROW_ASSIGN_OR_RAISE(auto selected, kept.record_batch()->SelectColumns([&] {
      std::vector<int> indices;
      for (const auto& name : needed) indices.push_back(registry.lake_schema()->GetFieldIndex(name));
      return indices;
    }()));
    result.live_rows = selected->num_rows();
    ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches({selected}));
    parts.push_back(std::move(table));
  }
  if (live != nullptr) result.live_data_version = live->data_version;
  std::shared_ptr<arrow::Table> rows;
  if (parts.size() == 1) {
    rows = parts[0];
  } else {
    ARROW_ASSIGN_OR_RAISE(rows, arrow::ConcatenateTables(parts));
  }
  result.stats.rows_read = rows->num_rows();
  if (aggregating) {
    // Group on dictionary codes and decode only the groups.
    std::vector<std::string> encoded = spec.group_by;
    for (const FilterSpec& f : counted_filters) encoded.push_back(f.column);
    ARROW_ASSIGN_OR_RAISE(rows, DecodeDictionaries(rows, encoded));
    ARROW_ASSIGN_OR_RAISE(rows, Aggregate(rows, spec, counted_filters));
  }
  ARROW_ASSIGN_OR_RAISE(rows, DecodeDictionaries(rows));

  if (!spec.order_by.empty() && rows->num_rows() > 0) {
    std::vector<cp::SortKey> keys;
    for (const auto& order : spec.order_by) {
      if (rows->schema()->GetFieldIndex(order.column) < 0) {
        return arrow::Status::Invalid("order by '", order.column, "': not a column of the result");
      }
      arrow::FieldRef target(order.column);
      keys.push_back(cp::SortKey(std::move(target),
                                 order.descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending));
    }
    ARROW_ASSIGN_OR_RAISE(auto indices, cp::SortIndices(arrow::Datum(rows), cp::SortOptions(keys)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, cp::Take(rows, indices));
    rows = sorted.table();
  }
  if (spec.limit && *spec.limit < rows->num_rows()) rows = rows->Slice(0, *spec.limit);
  ARROW_ASSIGN_OR_RAISE(result.table, rows->CombineChunks());
  return result;
}

arrow::Result<QueryResult> RunQuery(const lake::LakeStorage& lake, const model::FieldRegistry& registry,
                                    const RegionalScope& scope, const QuerySpec& spec) {
  return RunQuery(&lake, nullptr, registry, scope, spec);
}

}  // namespace memberlake::query
