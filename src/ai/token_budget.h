// Tokens each caller used per day, for the daily limit of AI questions (docs/ai.md). Kept in
// memory, and optionally in a small JSON file rewritten after every change (a temporary file
// renamed over it), so that a restart of the server does not hand every caller a fresh budget.
// One process per file: two servers sharing a file would overwrite each other's counts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

namespace memberlake::ai {

// The day key of the budget: today in Europe/Amsterdam, YYYY-MM-DD.
std::string BudgetDay();

// Thread-safe: every method may be called from any thread; a save happens under the same lock
// as the change it records, so the file always holds a state the process had.
class TokenBudget {
 public:
  using DayClock = std::function<std::string()>;  // the day key now, YYYY-MM-DD

  // In memory only (the CLI, which resumes from its audit log instead).
  explicit TokenBudget(int64_t daily_limit, DayClock clock = {});
  // Kept in `path` as well: read now when it exists (IOError naming the file when it cannot be
  // read or is not a budget file), its folder created, and rewritten after every Add.
  static arrow::Result<std::unique_ptr<TokenBudget>> Open(int64_t daily_limit, std::string path, DayClock clock = {});

  int64_t limit() const { return limit_; }
  const std::string& path() const { return path_; }
  // The day a question asked now is charged to (the clock; BudgetDay() without one).
  std::string Today() const;
  // AiError(kBudget) when `actor` has used the day's tokens.
  arrow::Status Check(const std::string& actor, const std::string& day) const;
  // Counts `tokens` for `actor` on `day`; with a file, saves it (IOError when that fails: the
  // count in memory still holds).
  arrow::Status Add(const std::string& actor, const std::string& day, int64_t tokens);
  int64_t Used(const std::string& actor, const std::string& day) const;

 private:
  arrow::Status Load();
  arrow::Status SaveLocked(const std::string& day) const;

  int64_t limit_;
  DayClock clock_;
  std::string path_;  // empty: memory only
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<std::string, int64_t>> used_;  // actor -> (day, tokens)
};

}  // namespace memberlake::ai
