#include "jobs/retention_statistics.h"

#include <algorithm>
#include <array>
#include <map>

#include <nlohmann/json.hpp>

namespace memberlake::jobs {

std::string AgeBand(std::optional<int> age) {
  if (!age) return "unknown";
  if (*age < 30) return "<30";
  if (*age >= 70) return "70+";
  const int low = *age / 10 * 10;
  return std::to_string(low) + "-" + std::to_string(low + 9);
}

std::vector<RetentionStatisticsGroup> AggregateRetentionStatistics(const std::vector<RetentionStatisticsInput>& members,
                                                                   int k) {
  // Which dimensions each level keeps: year, regio, age band, status.
  static constexpr std::array<std::array<bool, 4>, 4> kLevels = {{{true, true, true, true},
                                                                   {true, true, false, true},
                                                                   {true, false, false, true},
                                                                   {false, false, false, true}}};
  k = std::max(k, 2);
  std::vector<const RetentionStatisticsInput*> left;
  for (const auto& member : members) left.push_back(&member);
  std::vector<RetentionStatisticsGroup> out;
  for (const auto& keep : kLevels) {
    using Key = std::array<std::string, 4>;
    std::map<Key, std::vector<const RetentionStatisticsInput*>> groups;
    for (const auto* member : left) {
      Key key = {member->leave_year > 0 ? std::to_string(member->leave_year) : "unknown",
                 member->regio.empty() ? "unknown" : member->regio, AgeBand(member->age), member->status};
      for (size_t i = 0; i < key.size(); ++i) {
        if (!keep[i]) key[i] = "*";
      }
      groups[key].push_back(member);
    }
    left.clear();
    for (const auto& [key, inside] : groups) {
      if (static_cast<int>(inside.size()) >= k) {
        out.push_back({key[0], key[1], key[2], key[3], static_cast<int64_t>(inside.size())});
      } else {
        left.insert(left.end(), inside.begin(), inside.end());  // generalised at the next level
      }
    }
  }
  if (!left.empty()) out.push_back({"*", "*", "*", "*", static_cast<int64_t>(left.size())});
  return out;
}

arrow::Result<std::string> WriteRetentionStatistics(lake::LakeStorage& lake, const std::string& run_id,
                                                    const std::string& as_of, int k,
                                                    const std::vector<RetentionStatisticsGroup>& groups) {
  std::string text;
  for (const auto& group : groups) {
    nlohmann::ordered_json row = {{"run_id", run_id},         {"as_of", as_of},         {"k", k},
                                  {"leave_year", group.leave_year}, {"regio", group.regio},
                                  {"age_band", group.age_band}, {"status", group.status}, {"members", group.members}};
    text += row.dump() + "\n";
  }
  const std::string path = std::string(kRetentionStatisticsDir) + "/" + run_id + ".jsonl";
  ARROW_RETURN_NOT_OK(lake.PutAtomic(path, text));
  return path;
}

}  // namespace memberlake::jobs
