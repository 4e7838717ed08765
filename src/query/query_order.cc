// Ordering and limiting the result: a full sort, or for order + limit the best rows kept per
// batch (select_k) and merged, so the rows are never all materialised or sorted.
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

namespace {

arrow::Result<std::vector<cp::SortKey>> SortKeys(const arrow::Schema& schema, const std::vector<OrderSpec>& order_by) {
  std::vector<cp::SortKey> keys;
  for (const auto& order : order_by) {
    if (schema.GetFieldIndex(order.column) < 0) {
      return arrow::Status::Invalid("order by '", order.column, "': not a column of the result");
    }
    keys.emplace_back(arrow::FieldRef(order.column),
                      order.descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending);
  }
  return keys;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> OrderAndLimit(std::shared_ptr<arrow::Table> rows,
                                                           const std::vector<OrderSpec>& order_by,
                                                           std::optional<int64_t> limit) {
  if (!order_by.empty() && rows->num_rows() > 0) {
    ARROW_ASSIGN_OR_RAISE(auto keys, SortKeys(*rows->schema(), order_by));
    // Sorted and taken as one batch: over a table of many chunks Arrow sorts each chunk, merges
    // them and resolves every index to its chunk in both steps, which cost more than copying
    // the rows together once (a third of ordering 300,000 rows, perf).
    ARROW_ASSIGN_OR_RAISE(auto batch, rows->CombineChunksToBatch());
    ARROW_ASSIGN_OR_RAISE(auto indices, SortIndicesOf(batch, cp::SortOptions(keys)));
    // Only the rows kept are gathered (order + limit above kMaxTopN sorts them all).
    const int64_t kept = limit ? std::min(*limit, indices->length()) : indices->length();
    ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, cp::Take(batch, indices->Slice(0, kept)));
    return arrow::Table::FromRecordBatches(rows->schema(), {sorted.record_batch()});
  }
  if (limit && *limit < rows->num_rows()) rows = rows->Slice(0, *limit);
  return rows;
}

std::vector<OrderSpec> WithTieBreak(const QuerySpec& spec, bool aggregating) {
  std::vector<OrderSpec> keys = spec.order_by;
  if (keys.empty()) return keys;
  auto add = [&](const std::string& column) {
    for (const auto& key : keys) {
      if (key.column == column) return;
    }
    keys.push_back({column, false});
  };
  if (aggregating) {
    for (const auto& key : spec.group_by) add(key);
  } else {
    add("member_id");
  }
  return keys;
}

TopRows::TopRows(std::vector<OrderSpec> order_by, int64_t k) : order_by_(std::move(order_by)), k_(k) {}

arrow::Status TopRows::Add(const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (batch->num_rows() == 0 || k_ == 0) return arrow::Status::OK();
  // select_k compares plain values: dictionary-encoded keys (enums) are decoded first, the
  // other columns only for the rows kept.
  std::shared_ptr<arrow::RecordBatch> keyed = batch;
  for (const auto& order : order_by_) {
    int index = keyed->schema()->GetFieldIndex(order.column);
    if (index < 0) return arrow::Status::Invalid("order by '", order.column, "': not a column of the result");
    if (keyed->column(index)->type_id() != arrow::Type::DICTIONARY) continue;
    ARROW_ASSIGN_OR_RAISE(arrow::Datum decoded, cp::Cast(keyed->column(index), arrow::utf8()));
    ARROW_ASSIGN_OR_RAISE(keyed, keyed->SetColumn(index, arrow::field(order.column, arrow::utf8()), decoded.make_array()));
  }
  std::shared_ptr<arrow::Table> best;
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches({keyed}));
  if (keyed->num_rows() <= k_) {
    best = table;
  } else {
    ARROW_ASSIGN_OR_RAISE(auto keys, SortKeys(*keyed->schema(), order_by_));
    ARROW_ASSIGN_OR_RAISE(auto indices, cp::SelectKUnstable(arrow::Datum(keyed), cp::SelectKOptions(k_, keys)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, cp::Take(arrow::Datum(table), indices));
    best = taken.table();
  }
  ARROW_ASSIGN_OR_RAISE(best, DecodeDictionaries(best));
  pending_rows_ += best->num_rows();
  pending_.push_back(std::move(best));
  // Merge once the candidates outgrow a few times k: memory stays O(k) whatever the scan.
  if (pending_rows_ > 4 * k_ + 4096) ARROW_RETURN_NOT_OK(Merge(false));
  return arrow::Status::OK();
}

arrow::Status TopRows::Merge(bool sort) {
  if (pending_.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto all, arrow::ConcatenateTables(pending_));
  ARROW_ASSIGN_OR_RAISE(all, OrderAndLimit(all, sort ? order_by_ : std::vector<OrderSpec>{}, std::nullopt));
  if (!sort && all->num_rows() > k_) {
    ARROW_ASSIGN_OR_RAISE(auto keys, SortKeys(*all->schema(), order_by_));
    ARROW_ASSIGN_OR_RAISE(auto indices, cp::SelectKUnstable(arrow::Datum(all), cp::SelectKOptions(k_, keys)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, cp::Take(arrow::Datum(all), indices));
    all = taken.table();
  }
  if (all->num_rows() > k_) all = all->Slice(0, k_);
  pending_ = {all};
  pending_rows_ = all->num_rows();
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Table>> TopRows::Finish(const std::shared_ptr<arrow::Schema>& empty_schema) {
  if (pending_.empty()) return arrow::Table::MakeEmpty(empty_schema);
  ARROW_RETURN_NOT_OK(Merge(true));
  return pending_[0];
}

}  // namespace memberlake::query::internal
