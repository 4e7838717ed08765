// Orders rows inside each row group by the registry's cluster_by column (docs/scale.md).
//
// The spill hands a partition's rows out sorted by sort_by; rows that tie on it keep the order
// the store returned them in, which for dates is random. This reader cuts a partition into
// windows of `window_rows` rows from its start (the writers' row groups: a partition starts a
// row group and kRowGroupRows closes one) and stably sorts each window by (its run of equal
// sort_by values, cluster_by), nulls last. Windows are contiguous in the sort order, so the
// whole stays sorted by sort_by; the order is deterministic, so every file written from the
// same partition gets the same rows in the same order. Memory: one window.
#pragma once

#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/field_registry.h"

namespace memberlake::lake {

// Returns `sorted` itself when the registry has no cluster_by.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ClusterWindows(
    std::shared_ptr<arrow::RecordBatchReader> sorted, const model::FieldRegistry& registry, int64_t window_rows);

}  // namespace memberlake::lake
