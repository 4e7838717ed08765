// An open table format over the current snapshot: a Delta Lake transaction log beside each
// dataset folder of the lake, so Spark, Athena, Trino, DuckDB, Polars or delta-rs pointed at
// parquet/full-dataset (or a regional or view folder) read exactly the current snapshot's files,
// not every snapshot a folder scan would find.
//
//   parquet/full-dataset/_delta_log/00000000000000000000.json, ...
//   parquet/regional/<region-slug>/_delta_log/...
//   parquet/filtered-views/<view>/_delta_log/...
//
// Why Delta and not Iceberg: a Delta commit is one small JSON file whose creation is the commit
// (put-if-absent), with paths relative to the table, so the lake stays relocatable and the
// commit is atomic on local disk (LakeStorage::ReplaceIf: lock file) and on S3 (If-None-Match: *)
// without a catalog service; Iceberg needs a catalog (or a version-hint file swap) and absolute
// paths in its manifests. docs/scale.md has the longer comparison.
//
// Each published snapshot is one commit per table: remove actions for every file the table
// shows that the snapshot lacks, add actions for the snapshot's files, the schema (metaData)
// and protocol, and userMetadata "memberlake snapshot <id>" (plus " revision <n>" for a snapshot an
// erasure revised: its new files are committed like a new snapshot's). It is made after the data files
// and the manifest are written and before CURRENT moves (PublishManifest), so time travel to a
// version is time travel to a snapshot. The log holds file paths, sizes and row counts only, no
// column statistics: nothing in it is personal data that an erasure would have to rewrite.
// Every tenth version is followed by a checkpoint (lake/delta_checkpoint.h), so readers need
// not replay the whole log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"

namespace memberlake::lake {

// The folder (lake-relative) of the Delta table a snapshot file belongs to.
std::string DeltaTableRoot(const SnapshotFile& file);

struct DeltaTableState {
  int64_t version = -1;               // the table's latest version; -1: no table yet
  std::string snapshot_id;            // the snapshot that version shows ("<id> revision <n>" once
                                      // an erasure revised it); empty if not ours
  std::vector<std::string> files;     // table-relative paths of the files it shows, sorted
  std::string schema_string;          // the Delta schema (JSON) of that version
  std::string table_id;               // metaData.id, kept across commits; empty for a new table
};

// The latest state of the Delta table at `table_root`. Reads back from the newest commit to the
// newest one memberlake made (each of ours replaces the whole table), so the cost does not grow
// with the table's history.
arrow::Result<DeltaTableState> ReadDeltaTableState(const LakeStorage& lake, const std::string& table_root);

// Commits `manifest` to every Delta table its files belong to (a table whose latest version
// already shows this snapshot is left alone). A commit that another writer beat to its version
// number is recomputed on the new state and tried again. IOError when a table cannot be written;
// Invalid when a file's schema has a type Delta cannot express (naming the column).
arrow::Status CommitSnapshotToDeltaTables(LakeStorage& lake, const SnapshotManifest& manifest);

// Points the lake's Delta tables, when it has any, at the snapshot (and revision) CURRENT names:
// the repair after a publish or an erasure that stopped between its manifest and its table
// commit. OK when the lake has no snapshot or no tables.
arrow::Status SyncDeltaTablesToCurrent(LakeStorage& lake);

// The Delta schemaString of an Arrow schema (dictionary strings are strings; timestamps with a
// time zone are Delta timestamps). Exposed for tests.
arrow::Result<std::string> DeltaSchemaString(const arrow::Schema& schema);

}  // namespace memberlake::lake
