// Generation as a background job (POST /api/generate, the scheduler, Lambda events): one
// generation at a time on its own thread, with status and progress that any thread may poll.
// The snapshot is published atomically by GenerateSnapshot, so readers never see a half one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arrow/result.h>

#include "jobs/generate_snapshot.h"
#include "lake/lake_storage.h"
#include "store/member_store.h"

namespace memberlake::jobs {

struct JobStatus {
  std::string id;
  std::string state = "queued";  // queued | running | succeeded | failed
  std::string requested_by;
  std::string as_of;
  std::string created_at, started_at, finished_at;  // ISO UTC
  std::string stage;                                // scan | write | publish
  int64_t done = 0, total = 0;
  std::string snapshot_id;  // succeeded
  int64_t members = 0, quarantined = 0, data_version = 0;
  bool checked = false;     // succeeded after the deep check of its files (GenerateOptions::deep_check)
  std::string error;        // failed
  double seconds = 0;       // wall time of the run (finished jobs)
  std::vector<std::string> pruned_snapshots;  // expired by the retention policy afterwards
  std::string retention_error;                // pruning failed (the snapshot stands)
  std::string lifecycle;                      // what the lifecycle hook reported (e.g. retention by status)
  std::string lifecycle_error;                // the lifecycle hook failed (the snapshot stands)
  std::string ToJson() const;
};

class GenerationJobs {
 public:
  using StoreOpener = std::function<arrow::Result<std::unique_ptr<store::MemberStore>>()>;
  // Called on the job thread when a job ends (succeeded or failed), e.g. to audit it.
  using FinishFn = std::function<void(const JobStatus&)>;
  // The rest of the lifecycle, run on the job thread after a generation succeeded (and its
  // pruning), before the job reads as finished, with the store the generation read: the
  // server applies its retention rules there (jobs/retention.h). Returns a short account for
  // JobStatus::lifecycle; an error is JobStatus::lifecycle_error (the snapshot stands).
  using LifecycleFn = std::function<arrow::Result<std::string>(store::MemberStore& store, const JobStatus& job)>;

  // Finished jobs kept for Get(); older ones are forgotten (a server runs for months, a
  // schedule submits a job every few minutes). The audit trail keeps every job for good.
  static constexpr size_t kDefaultKeepFinished = 100;

  // `lake` must outlive this object. Every generation runs with `base` (its retention, its
  // deep check, ...), each with its own reference date and progress.
  GenerationJobs(StoreOpener open_store, lake::LakeStorage* lake, FinishFn on_finish = {}, GenerateOptions base = {},
                 size_t keep_finished = kDefaultKeepFinished, LifecycleFn lifecycle = {});
  // Waits for a running job to finish (a graceful shutdown drains it); queued jobs are failed.
  ~GenerationJobs();

  // Queues a generation. Status::AlreadyExists naming the job when one is queued or running.
  arrow::Result<JobStatus> Submit(const std::string& requested_by, model::CivilDate as_of);
  // nullopt for an unknown id or a finished job beyond the newest `keep_finished`. Thread-safe.
  std::optional<JobStatus> Get(const std::string& id) const;
  // Blocks until the job is no longer queued or running (tests, CLI); nullopt for an unknown id
  // or one already dropped from the history.
  std::optional<JobStatus> Wait(const std::string& id) const;

 private:
  void Loop();
  void Run(const std::string& id, model::CivilDate as_of);

  StoreOpener open_store_;
  lake::LakeStorage* lake_;
  FinishFn on_finish_;
  LifecycleFn lifecycle_;
  GenerateOptions base_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  size_t keep_finished_;
  std::map<std::string, JobStatus> jobs_;
  std::deque<std::string> finished_;  // ids of finished jobs, oldest first
  std::deque<std::pair<std::string, model::CivilDate>> queue_;
  bool stopping_ = false;
  int64_t next_ = 1;
  std::thread worker_;
};

}  // namespace memberlake::jobs
