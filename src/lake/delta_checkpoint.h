// Delta log checkpoints: every kDeltaCheckpointInterval versions, a Parquet file with the whole
// table state at that version, so a reader (Spark, delta-rs, DuckDB, Athena) starts from it
// instead of replaying every JSON commit since version 0. Per the Delta protocol:
//
//   <table>/_delta_log/<version, 20 digits>.checkpoint.parquet   one row per action: protocol,
//                                                                 metaData, an add for every file
//                                                                 the table shows, tombstones
//   <table>/_delta_log/_last_checkpoint                           {"version", "size", ...}
//
// The checkpoint is written after its version's commit; the commit is the truth, the checkpoint
// a copy a reader may use. A checkpoint at version v holds exactly what replaying 0..v gives
// (our commits restate the whole table, so that is the newest commit's protocol, metaData and
// files). _last_checkpoint is overwritten (a reader that finds an older one, or none, still
// finds the newest commit by listing). Like the commits, a checkpoint holds paths, sizes and
// row counts, never column statistics (no personal data in the log).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/status.h>
#include <nlohmann/json.hpp>

#include "lake/lake_storage.h"

namespace memberlake::lake {

inline constexpr int64_t kDeltaCheckpointInterval = 10;

// Whether a commit of `version` is followed by a checkpoint (10, 20, ...; never version 0,
// whose single commit is as short as a checkpoint).
inline bool DeltaCheckpointDue(int64_t version) {
  return version > 0 && version % kDeltaCheckpointInterval == 0;
}

// Writes the checkpoint of `version` from `actions` (each one JSON object with a single key:
// "protocol", "metaData", "add" or "remove", as in a commit) and then _last_checkpoint.
// Invalid for any other action; IOError when the lake cannot be written.
arrow::Status WriteDeltaCheckpoint(LakeStorage& lake, const std::string& table_root, int64_t version,
                                   const std::vector<nlohmann::json>& actions);

}  // namespace memberlake::lake
