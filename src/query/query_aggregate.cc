// Aggregation: count(*) on dictionary codes for enum group keys, Acero for the rest, and
// exact quantiles per group.
#include <algorithm>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

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
      case AggregateFn::kSum: function = "sum"; break;
      case AggregateFn::kCountDistinct:
        function = "count_distinct";
        options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
        break;
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

arrow::Status CheckHaving(const QuerySpec& spec) {
  if (spec.having.empty()) return arrow::Status::OK();
  if (spec.aggregates.empty()) return arrow::Status::Invalid("having needs an aggregate to filter on (--agg)");
  std::string names;
  for (const auto& a : spec.aggregates) names += (names.empty() ? "" : ", ") + a.name;
  for (const FilterSpec& filter : spec.having) {
    bool known = std::any_of(spec.aggregates.begin(), spec.aggregates.end(),
                             [&](const AggregateSpec& a) { return a.name == filter.column; });
    if (!known) {
      return arrow::Status::Invalid("having '", filter.column, "': not an aggregate of the query (", names, ")");
    }
    if (filter.op == FilterOp::kIn || filter.op == FilterOp::kPrefix || filter.op == FilterOp::kMonth ||
        filter.op == FilterOp::kDay) {
      return arrow::Status::Invalid("having '", filter.column, "': only = != < <= > >= between and is (not) null compare aggregates");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Table>> ApplyHaving(std::shared_ptr<arrow::Table> rows,
                                                         const std::vector<FilterSpec>& having) {
  if (having.empty()) return rows;
  std::vector<cp::Expression> clauses;
  for (const FilterSpec& filter : having) {
    auto field = rows->schema()->GetFieldByName(filter.column);
    if (field == nullptr) return arrow::Status::Invalid("having '", filter.column, "': not an aggregate of the query");
    std::vector<cp::Expression> values;
    for (const std::string& text : filter.values) {
      // The value in the aggregate's own type (count: integer, avg: number, min(date): date).
      auto cast = arrow::MakeScalar(text)->CastTo(field->type());
      if (!cast.ok()) {
        return arrow::Status::Invalid("having '", filter.column, "': '", text, "' is not a ", field->type()->ToString());
      }
      values.push_back(cp::literal(*cast));
    }
    auto one = [&]() -> arrow::Result<cp::Expression> {
      if (values.size() != 1) return arrow::Status::Invalid("having '", filter.column, "': expected one value");
      return values[0];
    };
    cp::Expression column = cp::field_ref(filter.column);
    switch (filter.op) {
      case FilterOp::kIsNull: clauses.push_back(cp::is_null(column)); break;
      case FilterOp::kNotNull: clauses.push_back(cp::is_valid(column)); break;
      case FilterOp::kEq: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::equal(column, v)); break; }
      case FilterOp::kNe: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::not_equal(column, v)); break; }
      case FilterOp::kLt: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::less(column, v)); break; }
      case FilterOp::kLe: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::less_equal(column, v)); break; }
      case FilterOp::kGt: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::greater(column, v)); break; }
      case FilterOp::kGe: { ARROW_ASSIGN_OR_RAISE(auto v, one()); clauses.push_back(cp::greater_equal(column, v)); break; }
      case FilterOp::kBetween:
        if (values.size() != 2) return arrow::Status::Invalid("having '", filter.column, "': between needs two values");
        clauses.push_back(cp::and_(cp::greater_equal(column, values[0]), cp::less_equal(column, values[1])));
        break;
      default:
        return arrow::Status::Invalid("having '", filter.column, "': unsupported comparison");
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto bound, cp::and_(clauses).Bind(*rows->schema()));
  ARROW_ASSIGN_OR_RAISE(auto batch, rows->CombineChunksToBatch());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, cp::ExecuteScalarExpression(bound, cp::ExecBatch(*batch)));
  if (mask.is_scalar()) {
    ARROW_ASSIGN_OR_RAISE(mask, arrow::MakeArrayFromScalar(*mask.scalar(), batch->num_rows()));
  }
  ARROW_ASSIGN_OR_RAISE(arrow::Datum kept, cp::Filter(batch, mask));
  return arrow::Table::FromRecordBatches({kept.record_batch()});
}

}  // namespace memberlake::query::internal
