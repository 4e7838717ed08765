// Ordering and limiting the result.
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

arrow::Result<std::shared_ptr<arrow::Table>> OrderAndLimit(std::shared_ptr<arrow::Table> rows,
                                                           const std::vector<OrderSpec>& order_by,
                                                           std::optional<int64_t> limit) {
  if (!order_by.empty() && rows->num_rows() > 0) {
    std::vector<cp::SortKey> keys;
    for (const auto& order : order_by) {
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
  if (limit && *limit < rows->num_rows()) rows = rows->Slice(0, *limit);
  return rows;
}

}  // namespace memberlake::query::internal
