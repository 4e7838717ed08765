// Lifecycle of a lake: which snapshots to keep, and removing the rest together with every file
// only they reference, plus files no manifest references at all (left by a generation that was
// killed before it published). Works on any LakeStorage (local disk or S3).
//
// Safety rules, in order of precedence:
//  - the current snapshot, and any snapshot newer than it (a generation publishing right now),
//    is always kept;
//  - an unreferenced file younger than the grace period is kept: a running generation writes
//    its data files before its manifest names them;
//  - expired manifests are deleted before their data files, so no reader can open a snapshot
//    whose files are half gone; a file named by a kept manifest is never deleted;
//  - when a kept manifest cannot be read, nothing is deleted (what it references is unknown).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"

namespace memberlake::lake {

struct RetentionPolicy {
  int keep_last = 7;  // the newest snapshots kept (at least 1)
  int keep_days = 0;  // also keep snapshots generated less than this many days ago; 0: none
  std::chrono::seconds orphan_grace = std::chrono::hours(1);
};

struct LifecycleReport {
  bool dry_run = false;
  std::vector<std::string> kept_snapshots;     // oldest first
  std::vector<std::string> expired_snapshots;  // oldest first
  std::vector<std::string> removed_files;      // lake-relative (would be, in a dry run)
  int64_t orphan_files = 0;                    // of removed_files: named by no manifest
  int64_t bytes_freed = 0;
  std::string ToJson() const;
};

// Applies `policy` at time `now`; with `dry_run`, only reports what it would remove.
arrow::Result<LifecycleReport> ApplyRetention(LakeStorage& lake, const RetentionPolicy& policy,
                                              std::chrono::system_clock::time_point now, bool dry_run);

}  // namespace memberlake::lake
