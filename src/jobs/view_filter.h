// Which rows of a batch belong to a filtered view (the registry's `where` clauses, ANDed):
// the one definition generation writes views with and the deep data check re-derives them by.
#pragma once

#include <memory>

#include <arrow/datum.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/field_registry.h"

namespace memberlake::jobs {

// A boolean mask over `rows`, or a Datum that holds no value when the view has no clauses
// (every row). Dictionary columns are matched on their values.
arrow::Result<arrow::Datum> ViewRowMask(const model::ViewSpec& view, const arrow::RecordBatch& rows);

}  // namespace memberlake::jobs
