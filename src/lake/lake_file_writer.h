// Writes one immutable Parquet file of a snapshot with the lake's conventions: zstd,
// per-column encodings (deltas for dates, timestamps and identifiers, dictionaries for the
// rest; docs/scale.md), statistics and page index, bloom filters on the registry's lookup
// columns, sorting_columns recorded, and key-value metadata (generated_at, data_version,
// schema_version, as_of, snapshot_id). The bytes are hashed while they are written, so the
// manifest's checksum costs no second read.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>
#include <arrow/table.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"

namespace memberlake::lake {

struct LakeFileMetadata {
  std::string snapshot_id;
  std::string generated_at;
  std::string as_of;
  int64_t data_version = 0;
  int schema_version = 0;
};

class LakeFileWriter {
 public:
  ~LakeFileWriter();
  // `schema` is the lake schema or a projection of it; `file` names the kind/region/view the
  // file is recorded under in the manifest (path, rows, bytes and checksum are filled in).
  static arrow::Result<std::unique_ptr<LakeFileWriter>> Open(
      LakeStorage& storage, SnapshotFile file, const std::shared_ptr<arrow::Schema>& schema,
      const model::FieldRegistry& registry, const LakeFileMetadata& metadata);

  // The rows appended next start a new row group (callers mark each partition's start, so
  // row groups never span two regions). No empty row group is written.
  void StartRowGroup() { start_row_group_ = true; }
  // Appends rows, already in sort order, to the current row group; a row group is also
  // closed when it reaches kRowGroupRows.
  arrow::Status Append(const arrow::RecordBatch& rows);
  // Finishes the file; returns its manifest entry.
  arrow::Result<SnapshotFile> Close();

 private:
  LakeFileWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool start_row_group_ = false;
};

// A point lookup decodes the whole row group its bloom filter admits (parquet-cpp reads no part
// of a row group), so groups stay small; a full scan pays a little per group (docs/benchmarks.md).
inline constexpr int64_t kRowGroupRows = 32 * 1024;

}  // namespace memberlake::lake
