// Generation: the main job. Scans the live store at one data_version, transforms every
// batch (normalise, validate, calculate), and publishes a snapshot in the seed's layout:
// the full dataset, one file per region and the registry's filtered views, all sorted by the
// registry's sort order, plus a quarantine report of the rejected records. Publishing is
// atomic (LakeStorage, PublishManifest): a failure or a kill at any point leaves the
// previous snapshot current and intact, and racing generations never move CURRENT backwards:
// one that another, newer generation overtook ends with Status::Cancelled("superseded ...")
// and removes its own files. Before publishing, the deep data check (jobs/data_health.h)
// proves the written files right; a snapshot that fails it is removed, never published.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "jobs/data_health.h"
#include "lake/lake_storage.h"
#include "lake/snapshot_lifecycle.h"
#include "lake/snapshot_manifest.h"
#include "model/calendar.h"
#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::jobs {

// Called as work advances: stage ("scan", "write", "publish"), units done, units total.
using ProgressFn = std::function<void(std::string_view stage, int64_t done, int64_t total)>;

struct GenerateOptions {
  model::CivilDate as_of;
  ProgressFn progress;    // may be empty
  std::string spill_dir;  // local scratch folder for sorting; empty: the system temp folder
  // Lifecycle after publishing (none: keep every snapshot). A failure here does not undo the
  // published snapshot: it is reported in GenerateSummary::retention_error.
  std::optional<lake::RetentionPolicy> retention;
  // Waits this long after writing the files, before publishing: widens the window in which
  // another generation can publish first, for the tests of racing generations.
  std::chrono::milliseconds pause_before_publish{0};
  // The deep data check (jobs/data_health.h) on the written files before publishing: a
  // failing check never becomes current; the generation fails and removes its files.
  bool deep_check = true;
  // Tests only: write one regional file without its first row, a fault only the deep check sees.
  bool inject_fault_for_test = false;
};

struct GenerateSummary {
  lake::SnapshotManifest manifest;
  // scan and transform overlap (two threads), so their sum may exceed the wall time
  double scan_seconds = 0;       // reading the store
  double transform_seconds = 0;  // normalise, validate, calculate, order and spill
  double write_seconds = 0;      // sort and Parquet encoding of every file
  double check_seconds = 0;      // the deep data check before publishing
  double publish_seconds = 0;    // quarantine report, manifest, CURRENT
  double total_seconds = 0;
  std::optional<lake::LifecycleReport> retention;  // when GenerateOptions::retention was set
  std::string retention_error;
  std::optional<HealthReport> health;  // the deep check's report (GenerateOptions::deep_check)
  std::string ToJson() const;
};

// The options of the generations nobody watches (the server's jobs, Lambda), from their
// settings: prune to the newest `keep_snapshots` after publishing (0: keep every snapshot),
// and the deep check before publishing or not (`verify` deep / none).
GenerateOptions UnattendedOptions(int64_t keep_snapshots, bool deep_check);

arrow::Result<GenerateSummary> GenerateSnapshot(store::MemberStore& store,
                                                lake::LakeStorage& lake,
                                                const GenerateOptions& options);

// Opens the store and the lake (created if missing) named by URIs and generates: the one path
// the CLI and the Lambda handler share.
arrow::Result<GenerateSummary> GenerateFromUris(const std::string& store_uri, const std::string& lake_uri,
                                                std::shared_ptr<const model::FieldRegistry> registry,
                                                const GenerateOptions& options);

}  // namespace memberlake::jobs
