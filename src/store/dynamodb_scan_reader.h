// A whole-table parallel Scan streamed as Arrow batches of raw text (registry->raw_schema()):
// `segments` threads, each with its own client, paginate their segment into batches through
// a bounded queue, so memory stays at a few batches however large the table. Decoding is
// total: a malformed answer or attribute ends the scan with a Status naming the member and the
// attribute; no exception leaves a scan thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <nlohmann/json.hpp>

#include "model/field_registry.h"
#include "store/dynamodb_client.h"

namespace memberlake::store {

std::shared_ptr<arrow::RecordBatchReader> MakeParallelScanReader(const DynamoDbOptions& client, std::string table,
                                                                 int segments,
                                                                 std::shared_ptr<const model::FieldRegistry> registry,
                                                                 int64_t batch_rows);

// One scanned page's items appended to `builders` (one per stored field), as raw text.
// Invalid naming the member_id and attribute for a malformed value; never throws.
arrow::Status AppendItems(const nlohmann::json& page, const model::FieldRegistry& registry,
                          std::vector<arrow::StringBuilder>& builders, const std::function<arrow::Status()>& row_done);

}  // namespace memberlake::store
