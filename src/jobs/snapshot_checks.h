// The file-level pieces of the deep data check (jobs/data_health.h): reading a lake file row
// group by row group while checking its integrity, per-row content hashes, and a vectorised
// comparison of two columns. Internal to jobs/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "jobs/data_health.h"
#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"

namespace memberlake::jobs {

// Reads `file` to its last page, one row group at a time, and checks into `integrity`: the
// footer's and the manifest's row counts, each column chunk's statistics against its values,
// and each lookup column's bloom filter against every value it holds. `each` sees every row
// group as read. Returns false when the file could not be read to the end (the reason is a
// problem in `integrity`); an error only when `each` fails.
arrow::Result<bool> ScanLakeFile(const lake::LakeStorage& lake, const lake::SnapshotFile& file,
                                 const model::FieldRegistry& registry, CheckResult* integrity,
                                 const std::function<arrow::Status(const arrow::Table&)>& each);

// The Arrow schema of a lake file, from its footer alone.
arrow::Result<std::shared_ptr<arrow::Schema>> ReadFileSchema(const lake::LakeStorage& lake, const std::string& path);

// A content hash per row over `columns` of `table` (in that order), equal for equal values
// whatever the encoding (a dictionary column hashes like its plain values).
arrow::Result<std::vector<uint64_t>> RowHashes(const arrow::Table& table, const std::vector<std::string>& columns);

// Rows where `expected` and `actual` differ (a null equals only a null), as a boolean array
// computed with Arrow kernels; `actual` is cast to `expected`'s type first when they differ.
arrow::Result<std::shared_ptr<arrow::BooleanArray>> DifferingRows(const std::shared_ptr<arrow::Array>& expected,
                                                                  const std::shared_ptr<arrow::Array>& actual);

// A column of a single-chunk view of `table`, or nullptr when it has none by that name.
arrow::Result<std::shared_ptr<arrow::Array>> CombinedColumn(const arrow::Table& table, const std::string& name);

}  // namespace memberlake::jobs
