#include "lake/snapshot_lifecycle.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "lake/delta_log.h"
#include "lake/snapshot_manifest.h"
#include "model/calendar.h"

namespace memberlake::lake {
namespace {

using Clock = std::chrono::system_clock;

// The full-dataset folder a generation running at `t` writes into (the layout is
// SnapshotManifest's: the folder of an id of that UTC day).
std::string FullDatasetMonthDir(Clock::time_point t) {
  const auto days = std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
  const model::CivilDate date = model::CivilFromDays(static_cast<int32_t>(days));
  char id[32];
  std::snprintf(id, sizeof id, "%04d%02d%02d-000000000-0000", date.year, date.month, date.day);
  const std::string path = SnapshotManifest::FullDatasetPath(id);
  return path.substr(0, path.rfind('/'));
}

}  // namespace

std::string LifecycleReport::ToJson() const {
  nlohmann::ordered_json doc;
  doc["dry_run"] = dry_run;
  doc["kept_snapshots"] = kept_snapshots;
  doc["expired_snapshots"] = expired_snapshots;
  doc["removed_files"] = removed_files;
  doc["orphan_files"] = orphan_files;
  doc["bytes_freed"] = bytes_freed;
  return doc.dump(2);
}

arrow::Result<LifecycleReport> ApplyRetention(LakeStorage& lake, const RetentionPolicy& policy, Clock::time_point now,
                                              bool dry_run) {
  if (policy.keep_last < 1) return arrow::Status::Invalid("keep: at least the newest snapshot must be kept");
  if (policy.keep_days < 0) return arrow::Status::Invalid("keep-days: must not be negative");
  if (policy.orphan_grace.count() < 0) return arrow::Status::Invalid("orphan grace: must not be negative");
  LifecycleReport report;
  report.dry_run = dry_run;

  std::string current;  // empty: the lake has no current snapshot
  if (auto id = ReadCurrentSnapshotId(lake); id.ok()) {
    current = *id;
  } else if (!id.status().IsKeyError()) {
    return id.status();
  }
  ARROW_ASSIGN_OR_RAISE(std::vector<std::string> ids, ListSnapshotIds(lake));
  const auto keep_since = now - std::chrono::hours(24) * policy.keep_days;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    auto generated = SnapshotIdTime(id);
    const bool keep = i + static_cast<size_t>(policy.keep_last) >= ids.size() || id == current ||
                      (!current.empty() && id > current) ||
                      (policy.keep_days > 0 && (!generated || *generated >= keep_since));
    (keep ? report.kept_snapshots : report.expired_snapshots).push_back(id);
  }

  // Everything a kept snapshot references stays; an unreadable kept manifest stops the run.
  std::set<std::string> referenced = {kCurrentPointer};
  for (const std::string& id : report.kept_snapshots) {
    auto manifest = ReadManifest(lake, id);
    if (!manifest.ok()) {
      return arrow::Status::IOError("cannot read the manifest of kept snapshot ", id, " (", manifest.status().message(),
                                    "): nothing was removed");
    }
    referenced.insert(SnapshotManifest::ManifestPath(id));
    if (!manifest->quarantine_path.empty()) referenced.insert(manifest->quarantine_path);
    for (const SnapshotFile& file : manifest->files) referenced.insert(file.path);
  }
  std::set<std::string> expired;  // manifests and files of expired snapshots
  for (const std::string& id : report.expired_snapshots) {
    expired.insert(SnapshotManifest::ManifestPath(id));
    auto manifest = ReadManifest(lake, id);
    if (!manifest.ok()) continue;  // its files are found as orphans
    if (!manifest->quarantine_path.empty()) expired.insert(manifest->quarantine_path);
    for (const SnapshotFile& file : manifest->files) expired.insert(file.path);
  }

  std::vector<LakeStorage::StoredEntry> entries;
  for (const char* folder : {"manifests", "parquet", "quarantine"}) {
    ARROW_ASSIGN_OR_RAISE(auto inside, lake.ListTree(folder));
    entries.insert(entries.end(), inside.begin(), inside.end());
  }
  // A publish that died between its Delta commit and CURRENT left the tables showing files
  // that are about to go as orphans: point the tables at the current snapshot first.
  if (!dry_run) ARROW_RETURN_NOT_OK(SyncDeltaTablesToCurrent(lake));
  std::vector<LakeStorage::StoredEntry> removals;
  for (const auto& entry : entries) {
    if (entry.is_dir || referenced.count(entry.path)) continue;
    // The Delta logs are the tables' history (lake/delta_log.h), not snapshot files.
    if (entry.path.find("/_delta_log/") != std::string::npos) continue;
    if (expired.count(entry.path)) {
      removals.push_back(entry);
    } else if (now - entry.modified >= policy.orphan_grace) {
      removals.push_back(entry);
      ++report.orphan_files;
    }
  }
  // Manifests first: once a snapshot's manifest is gone nobody opens it, so its files can go.
  std::stable_partition(removals.begin(), removals.end(),
                        [](const LakeStorage::StoredEntry& e) { return e.path.rfind("manifests/", 0) == 0; });
  for (const auto& entry : removals) {
    if (!dry_run) ARROW_RETURN_NOT_OK(lake.DeleteFile(entry.path));
    report.removed_files.push_back(entry.path);
    report.bytes_freed += entry.bytes;
  }
  // Empty month folders of the full dataset, except the ones a generation may be writing into.
  if (!dry_run) {
    const std::set<std::string> busy = {FullDatasetMonthDir(now), FullDatasetMonthDir(now - policy.orphan_grace)};
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {  // children before parents
      const bool month = it->path.find("/month=") != std::string::npos;
      const bool year = !month && it->path.rfind("parquet/full-dataset/year=", 0) == 0;
      if (!it->is_dir || it->path.rfind("parquet/full-dataset/", 0) != 0 || !(month || year)) continue;
      bool in_use = false;
      for (const std::string& dir : busy) in_use |= dir.rfind(it->path, 0) == 0;
      if (!in_use) ARROW_RETURN_NOT_OK(lake.DeleteDirIfEmpty(it->path));
    }
  }
  return report;
}

}  // namespace memberlake::lake
