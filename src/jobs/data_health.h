// The deep data check: proves a snapshot right, not only intact. `snapshots verify` compares
// checksums; this re-reads every file of a snapshot and checks what the data says:
//   calculated_fields  every calculated column recomputed (CalculatedFields, the snapshot's
//                      as_of) from the stored source columns and compared on every row;
//   completeness       full dataset rows = manifest; rows + quarantined = the live store's
//                      member count at the snapshot's data_version (when a store is given and
//                      still at that version); every regional file = the full dataset's rows
//                      of its region, every view = its filter over the full dataset, compared
//                      by member_id and a content hash per row;
//   integrity          every file decoded to its last page, row counts as in footer and
//                      manifest, column statistics (null count, min/max bounds) consistent with
//                      the data, bloom filters answering for every stored lookup value;
//   schema_evolution   each kept snapshot's schema against the current registry: fields the
//                      registry added read as null, removed ones are reported, a retyped field
//                      makes the snapshot unreadable and fails the check.
// Generation runs it before publishing (a failure never becomes current); the server and
// Lambda run it on a schedule; `snapshots verify --deep` runs it by hand.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::jobs {

// The checks, in the order they run and are reported (also the metric label values).
inline constexpr const char* kDataChecks[] = {"calculated_fields", "completeness", "integrity", "schema_evolution"};

struct CheckResult {
  std::string name;
  bool passed = true;
  int64_t rows_checked = 0;
  int64_t mismatches = 0;
  std::vector<std::string> problems;  // the first few, each naming the file, field or member
  std::vector<std::string> notes;     // what was checked or could not be checked, and why

  // Records a problem (kept up to a bound; the count goes on).
  void Fail(std::string problem);
};

struct HealthReport {
  std::string snapshot_id;
  int64_t data_version = 0;
  std::string as_of;
  std::string checked_at;  // ISO UTC
  double seconds = 0;
  std::vector<CheckResult> checks;

  bool passed() const;
  const CheckResult* Find(const std::string& name) const;
  std::string ToJson() const;
  std::string ToText() const;
  // OK, or Status::Invalid("deep data check failed for snapshot X: integrity: ...") naming
  // each failing check and its first problem.
  arrow::Status ToStatus() const;
};

struct DeepCheckOptions {
  // Completeness against the live store (its member count at the snapshot's data_version).
  store::MemberStore* store = nullptr;
  // Generation: the rows it read from the store (rows + quarantined must equal it); -1: none.
  int64_t source_rows = -1;
  // Schema evolution over every kept snapshot (else only the checked one).
  bool all_kept_snapshots = true;
};

// Runs every check on `manifest`'s files. An error only when the lake cannot be listed; a
// file that cannot be read is a failed check, not an error.
arrow::Result<HealthReport> DeepCheck(const lake::LakeStorage& lake, const lake::SnapshotManifest& manifest,
                                      const std::shared_ptr<const model::FieldRegistry>& registry,
                                      const DeepCheckOptions& options);

// Refuses a registry under which a kept snapshot would be unreadable (a field whose type
// changed): Status::Invalid naming the field, both types and the snapshot. Run before the
// registry is used (server start, generation).
arrow::Status CheckRegistryAgainstLake(const lake::LakeStorage& lake, const model::FieldRegistry& registry);

// How a snapshot file's schema relates to the registry's lake schema.
struct SchemaDiff {
  std::vector<std::string> added;    // in the registry, not in the file: read as null
  std::vector<std::string> removed;  // in the file, no longer in the registry: ignored
  std::vector<std::string> retyped;  // "field: file type -> registry type": unreadable
};
SchemaDiff CompareSchema(const arrow::Schema& file_schema, const model::FieldRegistry& registry,
                         bool projected = false);

}  // namespace memberlake::jobs
