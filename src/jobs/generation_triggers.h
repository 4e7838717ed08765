// Automatic generation for a long-running server: on a schedule (every day at a wall-clock time
// in Europe/Amsterdam, and/or every N seconds) and on change: when at least `min_changes` live
// changes are not yet in a snapshot, and either no write came for `quiet` seconds (a burst of
// edits gives one generation, not one per edit) or the oldest waiting change is `max_delay`
// old (a steady trickle still gets published). Jobs go through GenerationJobs, so they are
// one at a time, audited by its finish hook, and named "trigger:schedule" / "trigger:on-change".
// (On Lambda the same roles are played by an EventBridge schedule and a DynamoDB stream.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <arrow/result.h>

#include "jobs/generation_jobs.h"
#include "model/calendar.h"

namespace memberlake::jobs {

struct TriggerConfig {
  std::optional<std::pair<int, int>> daily_at;  // hour, minute in Europe/Amsterdam
  int64_t every_seconds = 0;                    // 0: off
  int64_t on_change_min_changes = 0;            // 0: off
  int64_t on_change_quiet_seconds = 60;
  int64_t on_change_max_delay_seconds = 900;
  bool enabled() const { return daily_at || every_seconds > 0 || on_change_min_changes > 0; }
};

// "03:00" -> {3, 0}; Invalid naming the text otherwise.
arrow::Result<std::pair<int, int>> ParseClockTime(const std::string& text);

// The on-change rule as a pure function of what the trigger has seen (for tests and the loop).
struct ChangeWatch {
  int64_t last_live_version = -1;
  std::chrono::steady_clock::time_point last_write_seen{};     // when the live version last moved
  std::chrono::steady_clock::time_point first_pending_seen{};  // when changes started waiting
  bool pending = false;
  // Feeds one observation; true when a generation is due.
  bool Observe(int64_t live_version, int64_t snapshot_version, std::chrono::steady_clock::time_point now,
               const TriggerConfig& config);
};

class GenerationTriggers {
 public:
  // (live data_version, current snapshot's data_version or 0 without one).
  using VersionProbe = std::function<arrow::Result<std::pair<int64_t, int64_t>>()>;
  using Today = std::function<model::CivilDate()>;

  // Starts the trigger thread; `jobs` must outlive this object.
  GenerationTriggers(TriggerConfig config, GenerationJobs* jobs, VersionProbe probe, Today today);
  ~GenerationTriggers();  // stops the thread (a running generation is GenerationJobs' to finish)

 private:
  void Loop();
  void Submit(const std::string& trigger);

  TriggerConfig config_;
  GenerationJobs* jobs_;
  VersionProbe probe_;
  Today today_;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::thread thread_;
};

// Runs `task` every `interval` on its own thread, first after one interval, until destroyed
// (the server's scheduled deep data check, [health] deep_check_interval_seconds). A run in
// progress finishes before the destructor returns.
class PeriodicTask {
 public:
  PeriodicTask(std::chrono::seconds interval, std::function<void()> task);
  ~PeriodicTask();

 private:
  std::chrono::seconds interval_;
  std::function<void()> task_;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace memberlake::jobs
