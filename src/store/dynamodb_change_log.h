// The items of memberlake's change log table (<table>-changes, key p (S), v (N)), shared by
// the member store, its member numbers and the stream follower (docs/aws.md):
//   p = "counter", v = 0: data_version (and lidnummer, memberlake's own number counter;
//                         gap_version, the first version after changes were lost);
//   p = "changes", v = data_version: one change (member_id, op);
//   p = "lidnummer", v = number: a claim (member_id);
//   p = "stream", v = 0: the stream follower's state (arn, rev, shards: checkpoints).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace memberlake::store {

inline nlohmann::json NumberValue(int64_t value) { return {{"N", std::to_string(value)}}; }

inline nlohmann::json ChangesCounterKey() { return {{"p", {{"S", "counter"}}}, {"v", NumberValue(0)}}; }

inline nlohmann::json StreamStateKey() { return {{"p", {{"S", "stream"}}}, {"v", NumberValue(0)}}; }

inline nlohmann::json ChangeLogItem(int64_t version, const std::string& member_id, const std::string& op) {
  return {{"p", {{"S", "changes"}}}, {"v", NumberValue(version)}, {"member_id", {{"S", member_id}}}, {"op", {{"S", op}}}};
}

}  // namespace memberlake::store
