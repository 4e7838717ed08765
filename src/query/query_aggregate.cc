// Aggregation: on dictionary codes where it can (query_group_codes.cc), Acero for the rest;
// exact quantiles per group; having.
#include <algorithm>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

// Exact quantile of each group's values (a list per group), interpolating linearly: the
// values cast to double once, each group's selected (QuantileOf), never sorted.
arrow::Result<std::shared_ptr<arrow::Array>> QuantilesOfLists(const arrow::ChunkedArray& lists, double q) {
  arrow::DoubleBuilder out;
  std::vector<double> values;
  for (const auto& chunk : lists.chunks()) {
    const auto& list = static_cast<const arrow::ListArray&>(*chunk);
    for (int64_t row = 0; row < list.length(); ++row) {
      values.clear();
      if (list.IsValid(row)) {
        ARROW_ASSIGN_OR_RAISE(arrow::Datum cast, cp::Cast(list.value_slice(row), arrow::float64()));
        const auto doubles = std::static_pointer_cast<arrow::DoubleArray>(cast.make_array());
        for (int64_t i = 0; i < doubles->length(); ++i) {
          if (doubles->IsValid(i)) values.push_back(doubles->Value(i));
        }
      }
      if (values.empty()) {
        ARROW_RETURN_NOT_OK(out.AppendNull());
      } else {
        ARROW_RETURN_NOT_OK(out.Append(QuantileOf(values, q)));
      }
    }
  }
  return out.Finish();
}

// Groups and aggregates `rows`, first keeping only the rows `code_filters` admit.
arrow::Result<std::shared_ptr<arrow::Table>> Aggregate(std::shared_ptr<arrow::Table> rows, const QuerySpec& spec,
                                                       const std::vector<FilterSpec>& code_filters) {
  ARROW_ASSIGN_OR_RAISE(auto counted, AggregateByCodes(*rows, spec, code_filters));
  if (counted) return *counted;
  if (int keep = rows->schema()->GetFieldIndex(kKeepColumn); keep >= 0) {  // a masked scan: its rows filtered now
    ARROW_ASSIGN_OR_RAISE(arrow::Datum verdicts, cp::Cast(rows->column(keep), arrow::boolean()));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum kept, cp::Filter(rows, verdicts));
    ARROW_ASSIGN_OR_RAISE(rows, kept.table()->RemoveColumn(keep));
  }
  ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, code_filters));
  // Acero groups on the keys' codes; every other column (a count(distinct) column read as a
  // dictionary, a code filter's column) as plain values.
  ARROW_ASSIGN_OR_RAISE(rows, DecodeDictionaries(rows, spec.group_by));
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
