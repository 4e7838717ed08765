#include "jobs/generation_jobs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "model/calendar.h"
#include "model/no_throw.h"

namespace memberlake::jobs {

std::string JobStatus::ToJson() const {
  nlohmann::ordered_json doc = {{"job_id", id},           {"state", state},       {"requested_by", requested_by},
                                {"as_of", as_of},         {"created_at", created_at}, {"started_at", started_at},
                                {"finished_at", finished_at}, {"stage", stage},   {"done", done},
                                {"total", total},         {"snapshot_id", snapshot_id}, {"members", members},
                                {"quarantined", quarantined}, {"data_version", data_version}, {"error", error},
                                {"checked", checked},     {"pruned_snapshots", pruned_snapshots}};
  if (!retention_error.empty()) doc["retention_error"] = retention_error;
  if (!lifecycle.empty()) doc["lifecycle"] = lifecycle;
  if (!lifecycle_error.empty()) doc["lifecycle_error"] = lifecycle_error;
  return doc.dump();
}

GenerationJobs::GenerationJobs(StoreOpener open_store, lake::LakeStorage* lake, FinishFn on_finish,
                               GenerateOptions base, size_t keep_finished,
                               LifecycleFn lifecycle)
    : open_store_(std::move(open_store)),
      lake_(lake),
      on_finish_(std::move(on_finish)),
      lifecycle_(std::move(lifecycle)),
      base_(std::move(base)),
      keep_finished_(std::max<size_t>(keep_finished, 1)) {
  worker_ = std::thread([this] { Loop(); });
}

GenerationJobs::~GenerationJobs() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (const auto& [id, as_of] : queue_) {
      jobs_[id].state = "failed";
      jobs_[id].error = "shut down before it started";
    }
    queue_.clear();
  }
  changed_.notify_all();
  worker_.join();
}

arrow::Result<JobStatus> GenerationJobs::Submit(const std::string& requested_by, model::CivilDate as_of) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return arrow::Status::Invalid("shutting down");
  for (const auto& [id, job] : jobs_) {
    if (job.state == "queued" || job.state == "running") {
      return arrow::Status::AlreadyExists("a generation is already ", job.state, ": job ", id);
    }
  }
  JobStatus job;
  job.id = "gen-" + std::to_string(next_++) + "-" + model::UtcNowIso().substr(0, 19);
  job.requested_by = requested_by;
  job.as_of = model::FormatIsoDate(as_of);
  job.created_at = model::UtcNowIso();
  jobs_[job.id] = job;
  queue_.emplace_back(job.id, as_of);
  changed_.notify_all();
  return job;
}

std::optional<JobStatus> GenerationJobs::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second;
}

std::optional<JobStatus> GenerationJobs::Wait(const std::string& id) const {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<JobStatus> result;
  // Looked up on every wake-up: a finished job may be dropped from the history meanwhile.
  changed_.wait(lock, [&] {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return true;
    if (it->second.state == "queued" || it->second.state == "running") return false;
    result = it->second;
    return true;
  });
  return result;
}

void GenerationJobs::Loop() {
  // Generation is batch work next to interactive readers: let them go first. Threads the job
  // starts inherit the lower priority.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    auto [id, as_of] = queue_.front();
    queue_.pop_front();
    jobs_[id].state = "running";
    jobs_[id].started_at = model::UtcNowIso();
    lock.unlock();
    Run(id, as_of);
    lock.lock();
  }
}

void GenerationJobs::Run(const std::string& id, model::CivilDate as_of) {
  const auto started = std::chrono::steady_clock::now();
  GenerateOptions options = base_;
  options.as_of = as_of;
  options.progress = [&](std::string_view stage, int64_t done, int64_t total) {
    std::lock_guard<std::mutex> lock(mutex_);
    JobStatus& job = jobs_[id];
    job.stage = std::string(stage);
    job.done = done;
    job.total = total;
  };
  // An exception must not end the worker (and with it the server): it fails this job.
  std::unique_ptr<store::MemberStore> store;
  arrow::Result<GenerateSummary> summary = model::CatchAll("generation", [&]() -> arrow::Result<GenerateSummary> {
    ARROW_ASSIGN_OR_RAISE(store, open_store_());
    return GenerateSnapshot(*store, *lake_, options);
  });
  JobStatus finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished = jobs_[id];
  }
  finished.finished_at = model::UtcNowIso();
  finished.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (summary.ok()) {
    finished.state = "succeeded";
    finished.snapshot_id = summary->manifest.snapshot_id;
    finished.members = summary->manifest.members;
    finished.quarantined = summary->manifest.quarantined;
    finished.data_version = summary->manifest.data_version;
    finished.checked = summary->health.has_value();
    if (summary->retention) finished.pruned_snapshots = summary->retention->expired_snapshots;
    finished.retention_error = summary->retention_error;
    if (lifecycle_) {
      auto account = model::CatchAll("lifecycle", [&] { return lifecycle_(*store, finished); });
      if (account.ok()) {
        finished.lifecycle = *account;
      } else {
        finished.lifecycle_error = account.status().ToString();
      }
    }
  } else {
    finished.state = "failed";
    finished.error = summary.status().message();
  }
  // Before the job reads as finished, so a caller that waited sees its effects (the audit).
  if (on_finish_) {
    arrow::Status reported = model::CatchAll("job report", [&] {
      on_finish_(finished);
      return arrow::Status::OK();
    });
    if (!reported.ok()) std::fprintf(stderr, "memberlake: job %s: %s\n", id.c_str(), reported.ToString().c_str());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_[id] = finished;
    finished_.push_back(id);
    while (finished_.size() > keep_finished_) {
      jobs_.erase(finished_.front());
      finished_.pop_front();
    }
  }
  changed_.notify_all();
}

}  // namespace memberlake::jobs
