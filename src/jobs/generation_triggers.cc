#include "jobs/generation_triggers.h"

#include <algorithm>
#include <cstdio>

#include "model/no_throw.h"

namespace memberlake::jobs {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

arrow::Result<std::pair<int, int>> ParseClockTime(const std::string& text) {
  auto digit = [&](size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
    return arrow::Status::Invalid("'", text, "' is not a time of day (HH:MM)");
  }
  const int hour = (text[0] - '0') * 10 + (text[1] - '0');
  const int minute = (text[3] - '0') * 10 + (text[4] - '0');
  if (hour > 23 || minute > 59) return arrow::Status::Invalid("'", text, "' is not a time of day (00:00 to 23:59)");
  return std::make_pair(hour, minute);
}

bool ChangeWatch::Observe(int64_t live_version, int64_t snapshot_version, SteadyClock::time_point now,
                          const TriggerConfig& config) {
  if (config.on_change_min_changes <= 0) return false;
  if (live_version != last_live_version) {  // a write since the last look (or the first look)
    last_live_version = live_version;
    last_write_seen = now;
  }
  if (live_version - snapshot_version < config.on_change_min_changes) {
    pending = false;
    return false;
  }
  if (!pending) {
    pending = true;
    first_pending_seen = now;
  }
  return now - last_write_seen >= std::chrono::seconds(config.on_change_quiet_seconds) ||
         now - first_pending_seen >= std::chrono::seconds(config.on_change_max_delay_seconds);
}

GenerationTriggers::GenerationTriggers(TriggerConfig config, GenerationJobs* jobs, VersionProbe probe, Today today)
    : config_(std::move(config)), jobs_(jobs), probe_(std::move(probe)), today_(std::move(today)) {
  thread_ = std::thread([this] { Loop(); });
}

GenerationTriggers::~GenerationTriggers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  thread_.join();
}

void GenerationTriggers::Submit(const std::string& trigger) {
  auto submitted = model::CatchAll("trigger", [&] { return jobs_->Submit(trigger, today_()); });
  // AlreadyExists: a generation is queued or running, and it will publish the same changes.
  if (!submitted.ok() && !submitted.status().IsAlreadyExists()) {
    std::fprintf(stderr, "memberlake: %s could not start a generation: %s\n", trigger.c_str(),
                 submitted.status().ToString().c_str());
  }
}

void GenerationTriggers::Loop() {
  std::optional<SystemClock::time_point> next_daily;
  if (config_.daily_at) next_daily = model::NextAmsterdamTime(SystemClock::now(), config_.daily_at->first, config_.daily_at->second);
  std::optional<SteadyClock::time_point> next_every;
  if (config_.every_seconds > 0) next_every = SteadyClock::now() + std::chrono::seconds(config_.every_seconds);
  ChangeWatch watch;
  SteadyClock::time_point change_allowed{};  // after a submission, give it time before the next
  const auto change_pause = std::chrono::seconds(std::max<int64_t>(config_.on_change_quiet_seconds, 10));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    stop_signal_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    const auto now = SteadyClock::now();
    if (next_daily && SystemClock::now() >= *next_daily) {
      Submit("trigger:schedule");
      next_daily = model::NextAmsterdamTime(SystemClock::now(), config_.daily_at->first, config_.daily_at->second);
    }
    if (next_every && now >= *next_every) {
      Submit("trigger:schedule");
      next_every = now + std::chrono::seconds(config_.every_seconds);
    }
    if (config_.on_change_min_changes > 0) {
      // The probe reads the store: an exception there must not end the trigger thread.
      auto versions = model::CatchAll("change probe", [&] { return probe_(); });
      if (versions.ok() && watch.Observe(versions->first, versions->second, now, config_) && now >= change_allowed) {
        Submit("trigger:on-change");
        change_allowed = now + change_pause;
      }
    }
    lock.lock();
  }
}

PeriodicTask::PeriodicTask(std::chrono::seconds interval, std::function<void()> task)
    : interval_(interval), task_(std::move(task)) {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_signal_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      task_();
      lock.lock();
    }
  });
}

PeriodicTask::~PeriodicTask() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  thread_.join();
}

}  // namespace memberlake::jobs
