#include "ai/token_budget.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "ai/chat_client.h"
#include "model/calendar.h"
#include "model/local_file.h"

namespace memberlake::ai {

std::string BudgetDay() { return model::FormatIsoDate(model::TodayInAmsterdam(std::chrono::system_clock::now())); }

TokenBudget::TokenBudget(int64_t daily_limit, DayClock clock) : limit_(daily_limit), clock_(std::move(clock)) {}

arrow::Result<std::unique_ptr<TokenBudget>> TokenBudget::Open(int64_t daily_limit, std::string path, DayClock clock) {
  auto budget = std::make_unique<TokenBudget>(daily_limit, std::move(clock));
  budget->path_ = std::move(path);
  std::error_code ec;
  const auto folder = std::filesystem::path(budget->path_).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  if (ec) return arrow::Status::IOError("token budget: cannot create ", folder.string(), ": ", ec.message());
  ARROW_RETURN_NOT_OK(budget->Load());
  return budget;
}

std::string TokenBudget::Today() const { return clock_ ? clock_() : BudgetDay(); }

// The file: {"version": 1, "used": {"<actor>": {"day": "YYYY-MM-DD", "tokens": n}}}.
arrow::Status TokenBudget::Load() {
  std::ifstream file(path_, std::ios::binary);
  if (!file) {
    if (!std::filesystem::exists(path_)) return arrow::Status::OK();  // the first start
    return arrow::Status::IOError("token budget: cannot read ", path_);
  }
  const std::string text((std::istreambuf_iterator<char>(file)), {});
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_object() || doc.value("version", 0) != 1 || !doc.contains("used") || !doc["used"].is_object()) {
    return arrow::Status::IOError("token budget: ", path_, " is not a token budget file (version 1)");
  }
  for (const auto& [actor, entry] : doc["used"].items()) {
    if (!entry.is_object() || !entry.contains("day") || !entry["day"].is_string() || !entry.contains("tokens") ||
        !entry["tokens"].is_number_integer()) {
      return arrow::Status::IOError("token budget: ", path_, ": the entry of ", actor, " needs day and tokens");
    }
    used_[actor] = {entry["day"].get<std::string>(), entry["tokens"].get<int64_t>()};
  }
  return arrow::Status::OK();
}

// Entries of days before `day` count for nothing any more and are left out, so the file holds
// at most one entry per caller of the current day.
arrow::Status TokenBudget::SaveLocked(const std::string& day) const {
  Json used = Json::object();
  for (const auto& [actor, entry] : used_) {
    if (entry.first >= day) used[actor] = Json{{"day", entry.first}, {"tokens", entry.second}};
  }
  const std::string text = Json{{"version", 1}, {"used", std::move(used)}}.dump() + "\n";
  // Replaced whole: a crash leaves the old day's counts or the new ones.
  if (auto written = model::ReplaceFile(path_, text); !written.ok()) {
    return arrow::Status::IOError("token budget: ", written.message());
  }
  return arrow::Status::OK();
}

arrow::Status TokenBudget::Check(const std::string& actor, const std::string& day) const {
  const int64_t used = Used(actor, day);
  if (used < limit_) return arrow::Status::OK();
  return AiError(AiErrorKind::kBudget, "the daily limit of " + std::to_string(limit_) + " tokens for " + actor +
                                           " is used up (" + std::to_string(used) +
                                           " used today; it resets at midnight, Europe/Amsterdam)");
}

arrow::Status TokenBudget::Add(const std::string& actor, const std::string& day, int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& [entry_day, used] = used_[actor];
  if (entry_day != day) {
    entry_day = day;
    used = 0;
  }
  used += tokens;
  return path_.empty() ? arrow::Status::OK() : SaveLocked(day);
}

int64_t TokenBudget::Used(const std::string& actor, const std::string& day) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(actor);
  return it == used_.end() || it->second.first != day ? 0 : it->second.second;
}

}  // namespace memberlake::ai
