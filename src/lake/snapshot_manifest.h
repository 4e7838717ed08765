// A snapshot is a manifest plus the immutable Parquet files it lists. The lake's current
// snapshot is named by the small pointer file manifests/CURRENT; publishing a snapshot means
// writing its data files, then its manifest, then swapping CURRENT (see LakeStorage). A
// reader that follows CURRENT therefore sees a whole snapshot or the previous one, never a
// mix; older manifests stay readable until lifecycle removes them.
//
// Layout (seed document), relative to the lake root:
//   parquet/full-dataset/year=YYYY/month=MM/members-<snapshot_id>.parquet
//   parquet/regional/<region-slug>/members-<snapshot_id>.parquet
//   parquet/filtered-views/<view>/members-<snapshot_id>.parquet
//   quarantine/quarantine-<snapshot_id>.json
//   manifests/snapshot-<snapshot_id>.json, manifests/CURRENT
// snapshot_id = YYYYMMDD-HHMMSSmmm-<4 hex> (generation time in UTC with milliseconds, then
// random bits): ids and file names sort by time, the seed's members-YYYYMMDD prefix is kept,
// and several generations on one day never collide.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"

namespace memberlake::lake {

// "Groningen/Drenthe" -> "groningen-drenthe": lower case, runs of non-alphanumerics -> '-'.
std::string RegionSlug(std::string_view region);

enum class SnapshotFileKind { kFull, kRegional, kView };

struct SnapshotFile {
  std::string path;      // lake-relative
  SnapshotFileKind kind = SnapshotFileKind::kFull;
  std::string region;    // kRegional: the canonical region name
  std::string view;      // kView: the view name
  int64_t rows = 0;
  int64_t bytes = 0;
  std::string sha256;    // hex
};

struct SnapshotManifest {
  std::string snapshot_id;
  std::string previous_snapshot_id;  // empty for the first
  int64_t data_version = 0;
  int schema_version = 0;
  std::string generated_at;  // ISO UTC
  std::string as_of;         // YYYY-MM-DD
  int64_t members = 0;       // rows in the full dataset
  int64_t quarantined = 0;   // records rejected by the transform
  std::string quarantine_path;
  std::vector<SnapshotFile> files;
  // Revisions (lake/snapshot_erasure.h): 0 is the generation's own manifest; each erasure that
  // rewrote the snapshot's files adds one. Written to JSON only when > 0, so manifests of
  // unrevised snapshots are byte for byte what they were, and older readers ignore both keys.
  int64_t revision = 0;
  std::string revised_at;  // ISO UTC of the latest revision; empty for revision 0

  std::string ToJson() const;
  static arrow::Result<SnapshotManifest> FromJson(std::string_view json);

  static std::string ManifestPath(const std::string& snapshot_id);
  static std::string FullDatasetPath(const std::string& snapshot_id);
  static std::string RegionalPath(const std::string& region, const std::string& snapshot_id);
  static std::string ViewPath(const std::string& view, const std::string& snapshot_id);
  static std::string QuarantinePath(const std::string& snapshot_id);
};

inline constexpr const char* kCurrentPointer = "manifests/CURRENT";

// The generation time (UTC, to the second) a snapshot id starts with; nullopt if it has none.
std::optional<std::chrono::system_clock::time_point> SnapshotIdTime(const std::string& snapshot_id);

// A new, unique snapshot id for a generation starting now.
std::string NewSnapshotId();
// Same, but guaranteed to sort after `previous` (same millisecond, or a clock step back).
std::string NewSnapshotIdAfter(const std::string& previous);

// The id CURRENT names; Status::KeyError("no snapshot ...") when the lake has none.
arrow::Result<std::string> ReadCurrentSnapshotId(const LakeStorage& storage);
// The manifest CURRENT points to; Status::KeyError("no snapshot ...") when the lake has none.
arrow::Result<SnapshotManifest> ReadCurrentManifest(const LakeStorage& storage);
arrow::Result<SnapshotManifest> ReadManifest(const LakeStorage& storage, const std::string& snapshot_id);
// Manifest ids in the lake, oldest first.
arrow::Result<std::vector<std::string>> ListSnapshotIds(const LakeStorage& storage);
// Makes `manifest` the current snapshot: writes the manifest, then swaps CURRENT in one
// compare-and-swap (LakeStorage::ReplaceIf), so racing generations, in one process or many
// (two Lambdas, a server and a cron job), never move CURRENT backwards. When CURRENT no longer
// names manifest.previous_snapshot_id, another generation published meanwhile: if this
// snapshot sorts after it and its data_version is not lower, it is published on top (and
// previous_snapshot_id updated); otherwise Status::Cancelled("superseded: ...") and CURRENT
// is left alone (the snapshot's files become orphans for lifecycle to remove).
// With `open_table_format`, the snapshot is committed to the lake's Delta tables between the
// manifest and CURRENT (lake/delta_log.h), and a superseded one points them back at CURRENT's;
// only tests whose files are not Parquet turn it off.
struct PublishOptions {
  bool open_table_format = true;
};
arrow::Status PublishManifest(LakeStorage& storage, SnapshotManifest& manifest, const PublishOptions& options = {});
// Re-reads every listed file and checks size and SHA-256. Error names the first bad file.
arrow::Status VerifySnapshot(const LakeStorage& storage, const SnapshotManifest& manifest);

}  // namespace memberlake::lake
