// Removing one member from a kept snapshot (privacy erasure, docs/privacy.md): the snapshot
// gets new files without the member's rows and a new revision of its manifest.
//
// Manifest revisions: a snapshot's manifest object (manifests/snapshot-<id>.json) is the
// pointer to that snapshot's files. A revision is published by one compare-and-swap of that
// object (LakeStorage::ReplaceIf: flock + rename on disk, a PUT with If-Match on S3), after its
// new files are written under names never used before. A reader therefore opens the old
// revision (whose files stay until the swap is done) or the new one, never a mix. The revision
// number and time are recorded in the manifest ("revision", "revised_at"; absent = 0, the
// generation's own), snapshot id, data_version and as_of stay: the snapshot still describes the
// same moment, minus the erased member. Old files go only after the swap (PurgeFiles).
//
// File names of a revision: the original name with ".r<revision>-<4 hex>" before the extension
// (members-<id>.r1-3fa2.parquet), so every name is new and still sorts with its snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"

namespace memberlake::lake {

// What holding a member means in one snapshot, and the replacement names chosen for it.
struct SnapshotErasurePlan {
  std::string snapshot_id;
  std::string manifest_text;  // the revision read: the compare-and-swap expects exactly this
  SnapshotManifest manifest;  // the same, parsed
  std::vector<std::string> old_paths;  // the Parquet files and the quarantine report naming the member
  std::vector<std::string> new_paths;  // their replacements, in the same order
  bool empty() const { return old_paths.empty(); }
};

// Reads the snapshot's manifest and the member_id column of each of its Parquet files (and its
// quarantine report). A snapshot without the member gives an empty plan. KeyError when the
// snapshot has no manifest (lifecycle removed it). A file without a member_id column is Invalid:
// the member's rows could not be found in it.
arrow::Result<SnapshotErasurePlan> PlanSnapshotErasure(const LakeStorage& lake, const std::string& snapshot_id,
                                                       const std::string& member_id);

// Writes plan.new_paths: each Parquet file re-encoded without the member's rows by
// LakeFileWriter (the lake's writer settings: statistics, page index, bloom filters, sorting
// columns), with the same schema, key-value metadata and row-group boundaries; the quarantine
// report without the member's entries. Returns the new revision of the manifest (not published).
arrow::Result<SnapshotManifest> WriteErasedFiles(LakeStorage& lake, const model::FieldRegistry& registry,
                                                 const SnapshotErasurePlan& plan, const std::string& member_id);

// Swaps the manifest from plan.manifest_text to `revised`. false, having published nothing,
// when the manifest changed meanwhile (another revision, or lifecycle removed the snapshot).
arrow::Result<bool> PublishRevision(LakeStorage& lake, const SnapshotErasurePlan& plan,
                                    const SnapshotManifest& revised);

// Deletes files for good (LakeStorage::DeleteAllVersions); missing ones are skipped. Returns the
// number of object versions removed; `versioning_api` as DeleteAllVersions reports it (all calls).
arrow::Result<int64_t> PurgeFiles(LakeStorage& lake, const std::vector<std::string>& paths,
                                  bool* versioning_api = nullptr);

// The member's rows in the snapshot's full dataset (all columns; enums decoded to text), and the lake paths of every
// file of the snapshot that holds a row of theirs (full, regional, views).
struct MemberRows {
  std::shared_ptr<arrow::Table> rows;
  std::vector<std::string> files;
};
arrow::Result<MemberRows> ReadMemberRows(const LakeStorage& lake, const SnapshotManifest& manifest,
                                         const std::string& member_id);

// The quarantine report's entries about the member (JSON objects as text), in report order.
arrow::Result<std::vector<std::string>> ReadQuarantineEntries(const LakeStorage& lake,
                                                              const SnapshotManifest& manifest,
                                                              const std::string& member_id);

}  // namespace memberlake::lake
