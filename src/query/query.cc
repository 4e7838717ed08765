#include "query/query.h"

#include <algorithm>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "lake/snapshot_manifest.h"
#include "model/arrow_compute.h"
#include "query/query_internal.h"

namespace memberlake::query {

namespace cp = arrow::compute;
using namespace internal;

arrow::Result<QueryResult> RunQuery(const lake::LakeStorage* lake, const LiveRows* live,
                                    const model::FieldRegistry& registry, const RegionalScope& scope,
                                    const QuerySpec& given, const lake::SnapshotManifest* manifest) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  // Enum values in their canonical spelling ("gewoon lid" -> "Gewoon lid"), so statistics,
  // dictionaries and codes compare like the data does.
  QuerySpec spec = given;
  std::vector<FilterSpec*> all_filters;
  for (FilterSpec& filter : spec.where) all_filters.push_back(&filter);
  for (FilterSpec& filter : spec.any) all_filters.push_back(&filter);
  for (FilterSpec* f : all_filters) {
    FilterSpec& filter = *f;
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
    if (a.column.empty()) continue;
    ARROW_RETURN_NOT_OK(need(a.column));
    const bool numeric_only = a.fn == AggregateFn::kSum || a.fn == AggregateFn::kAvg || a.fn == AggregateFn::kQuantile;
    if (numeric_only && registry.Find(a.column)->type != model::FieldType::kInteger) {
      return arrow::Status::Invalid("aggregate '", a.name, "': ", a.column, " is not a number column");
    }
  }
  const std::vector<FilterSpec> filters = FiltersWithScope(registry, scope, spec.where);
  std::vector<cp::Expression> clauses;
  for (const auto& filter : filters) {
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, filter));
    clauses.push_back(std::move(clause));
  }
  if (!spec.any.empty()) {  // ANDed with the scope's filter: an OR never widens the scope
    ARROW_ASSIGN_OR_RAISE(auto clause, AnyExpression(registry, spec.any));
    clauses.push_back(std::move(clause));
  }
  ARROW_RETURN_NOT_OK(CheckHaving(spec));
  // Without a select every column, in the lake's order (an order key does not move to the front).
  if (!aggregating && spec.select.empty()) {
    for (const auto& field : registry.lake_schema()->fields()) ARROW_RETURN_NOT_OK(need(field->name()));
  }
  for (const auto& order : spec.order_by) {
    bool output_column = false;
    for (const auto& a : spec.aggregates) output_column |= a.name == order.column;
    if (!output_column) ARROW_RETURN_NOT_OK(Column(registry, order.column).status());
    if (!aggregating) ARROW_RETURN_NOT_OK(need(order.column));
  }
  // Deterministic order: ties broken by the later keys, then by member_id (read for that even
  // when not selected) or, for aggregates, by the group keys.
  const std::vector<std::string> output_columns = needed;
  const std::vector<OrderSpec> order_by = WithTieBreak(spec, aggregating);
  if (!aggregating && !spec.order_by.empty()) ARROW_RETURN_NOT_OK(need("member_id"));
  // Order + limit over rows: the best rows are kept per batch as the scan goes (top-N).
  std::optional<TopRows> top;
  if (!aggregating && !spec.order_by.empty() && spec.limit && *spec.limit <= kMaxTopN) top.emplace(order_by, *spec.limit);
  // Aggregates on dictionary codes apply the code filters (enum equalities, the scope) while
  // they aggregate, instead of materialising the filtered rows first.
  // Without live rows to merge they are counted under a mask of all filters: no filtered copy.
  std::vector<FilterSpec> counted_filters;
  const bool live_changes = live != nullptr && ((live->rows != nullptr && live->rows->num_rows() > 0) ||
                                                !live->replaced_ids.empty());
  // Only worth it when some filter is not on codes (code filters alone are applied while
  // aggregating, with no copy either): a filter beyond codes or an OR group, whose verdicts are
  // judged on both cores (MapBatches) where a filtered copy would be made.
  const bool beyond_codes = CodeFilters(registry, filters).size() != filters.size() || !spec.any.empty();
  const bool count_under_mask = AggregatesOnCodes(spec) && lake != nullptr && !live_changes && beyond_codes;
  if (AggregatesOnCodes(spec) && !count_under_mask) {
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
    // How many (in a region, with a status): the footers may know without reading a value. Every
    // page of members over the API counts its total this way too.
    const bool counts_only = spec.group_by.empty() && spec.having.empty() && spec.any.empty() &&
                             std::all_of(spec.aggregates.begin(), spec.aggregates.end(),
                                         [](const AggregateSpec& a) { return a.fn == AggregateFn::kCountAll; });
    if (aggregating && counts_only && !live_changes) {
      ARROW_ASSIGN_OR_RAISE(std::optional<int64_t> counted,
                            CountFromFooters(*lake, registry, filters, scope, *manifest, &result));
      if (counted) {
        if (live != nullptr) result.live_data_version = live->data_version;
        arrow::FieldVector fields;
        arrow::ArrayVector columns;
        for (const AggregateSpec& a : spec.aggregates) {
          arrow::Int64Builder count;
          ARROW_RETURN_NOT_OK(count.Append(*counted));
          ARROW_ASSIGN_OR_RAISE(auto column, count.Finish());
          fields.push_back(arrow::field(a.name, arrow::int64()));
          columns.push_back(column);
        }
        result.table = arrow::Table::Make(arrow::schema(fields), columns);
        return result;
      }
    }
    ScanPlan plan;
    plan.needed = needed;
    if (live) plan.exclude_ids = live->replaced_ids;
    plan.apply_code_filters = counted_filters.empty();
    plan.as_dictionary = spec.group_by;
    for (const auto& a : spec.aggregates) {
      if (a.fn == AggregateFn::kCountDistinct) plan.as_dictionary.push_back(a.column);
    }
    plan.top = top ? &*top : nullptr;
    plan.mask_rows = count_under_mask;
    if (!aggregating && spec.order_by.empty() && spec.limit) plan.first_rows = *spec.limit;
    // Unordered rows with a limit too (every page of the API has one): a selective filter
    // judged on its own columns first, the others read for the rows that pass only.
    plan.filter_late = !aggregating && !top && !clauses.empty();
    ARROW_ASSIGN_OR_RAISE(auto snapshot_rows, ScanSnapshot(*lake, registry, scope, spec, plan, *manifest, &result));
    if (top) {
      ARROW_ASSIGN_OR_RAISE(auto empty, EmptyRows(registry, needed));
      ARROW_ASSIGN_OR_RAISE(snapshot_rows, top->Finish(empty->schema()));
    }
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
    if (top) {  // decoded like the top rows of the snapshot
      ARROW_ASSIGN_OR_RAISE(table, DecodeDictionaries(table));
    }
    parts.push_back(std::move(table));
  }
  if (live != nullptr) result.live_data_version = live->data_version;
  if (parts.size() == 2) {
    // Text read as dictionaries for the snapshot (group keys, prefix filters) is plain text in
    // the live rows: decoded where the two differ, so the parts concatenate.
    std::vector<std::string> alike;
    for (const auto& field : parts[0]->schema()->fields()) {
      auto other = parts[1]->schema()->GetFieldByName(field->name());
      if (other != nullptr && other->type()->Equals(*field->type())) alike.push_back(field->name());
    }
    ARROW_ASSIGN_OR_RAISE(parts[0], DecodeDictionaries(parts[0], {}, alike));
  }
  std::shared_ptr<arrow::Table> rows;
  if (parts.size() == 1) {
    rows = parts[0];
  } else {
    ARROW_ASSIGN_OR_RAISE(rows, arrow::ConcatenateTables(parts));
  }
  if (top || count_under_mask) {
    result.stats.rows_read += result.live_rows;
  } else {
    result.stats.rows_read = rows->num_rows();
  }
  if (aggregating) {
    // Group on dictionary codes and decode only the groups.
    std::vector<std::string> encoded = spec.group_by, filtered;
    for (const FilterSpec& f : counted_filters) filtered.push_back(f.column);  // judged per chunk
    for (const auto& a : spec.aggregates) {
      if (a.fn == AggregateFn::kCountDistinct) encoded.push_back(a.column);  // counted on codes
    }
    ARROW_ASSIGN_OR_RAISE(rows, DecodeDictionaries(rows, encoded, filtered));
    ARROW_ASSIGN_OR_RAISE(rows, Aggregate(rows, spec, counted_filters));
    ARROW_ASSIGN_OR_RAISE(rows, ApplyHaving(rows, spec.having));
  }
  ARROW_ASSIGN_OR_RAISE(rows, DecodeDictionaries(rows));

  ARROW_ASSIGN_OR_RAISE(rows, OrderAndLimit(rows, order_by, spec.limit));
  if (!aggregating && rows->num_columns() != static_cast<int>(output_columns.size())) {
    std::vector<int> keep;
    for (const auto& name : output_columns) keep.push_back(rows->schema()->GetFieldIndex(name));
    ARROW_ASSIGN_OR_RAISE(rows, rows->SelectColumns(keep));
  }
  ARROW_ASSIGN_OR_RAISE(result.table, rows->CombineChunks());
  return result;
}

arrow::Result<QueryResult> RunQuery(const lake::LakeStorage& lake, const model::FieldRegistry& registry,
                                    const RegionalScope& scope, const QuerySpec& spec) {
  return RunQuery(&lake, nullptr, registry, scope, spec);
}

}  // namespace memberlake::query
