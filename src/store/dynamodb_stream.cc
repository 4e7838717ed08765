#include "store/dynamodb_stream.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "store/dynamodb_change_log.h"
#include "store/dynamodb_items.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

constexpr size_t kRecordsPerCommit = 20;  // + counter and state: within any TransactWriteItems limit
// Stream records live 24 hours: a follower that last caught up longer ago than this may have
// missed records of shards it never checkpointed (a shard born and trimmed in between).
constexpr int64_t kHorizonSeconds = 23 * 3600;
// An idle follower still notes that it was up to date, so quiet days are not taken for gaps.
constexpr int64_t kTouchSeconds = 3600;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Checkpoint {
  std::string seq;  // the last sequence number logged; empty: from the shard's start
  bool done = false;
};

bool Trimmed(const DynamoDbClient& client) {
  return client.last_error_type() == "TrimmedDataAccessException" || client.last_error_type() == "ResourceNotFoundException";
}

}  // namespace

struct DynamoDbStreamFollower::State {
  bool exists = false;
  std::string arn;
  int64_t rev = 0;
  int64_t at = 0;  // when the log was last known caught up (epoch seconds)
  std::map<std::string, Checkpoint> checkpoints;
  std::map<std::string, std::string> listed;  // shard id -> parent shard id ("" for none)
};

// What a commit does to the stream item.
struct DynamoDbStreamFollower::StateWrite {
  bool reset = false;  // a new stream: forget every checkpoint
  std::string shard;   // the checkpoint to set, if any
  Checkpoint checkpoint;
  std::vector<std::string> remove;  // checkpoints of shards no longer listed
};

DynamoDbStreamFollower::DynamoDbStreamFollower(std::string stream_arn, std::string changes_table, DynamoDbClient* tables,
                                               std::unique_ptr<DynamoDbClient> streams)
    : stream_arn_(std::move(stream_arn)), changes_table_(std::move(changes_table)), tables_(tables),
      streams_(std::move(streams)) {}
DynamoDbStreamFollower::~DynamoDbStreamFollower() = default;

arrow::Result<std::unique_ptr<DynamoDbStreamFollower>> DynamoDbStreamFollower::Make(const DynamoDbOptions& client,
                                                                                    std::string stream_arn,
                                                                                    std::string changes_table,
                                                                                    DynamoDbClient* tables) {
  DynamoDbOptions options = client;
  options.streams = true;
  ARROW_ASSIGN_OR_RAISE(auto streams, DynamoDbClient::Make(options));
  return std::unique_ptr<DynamoDbStreamFollower>(
      new DynamoDbStreamFollower(std::move(stream_arn), std::move(changes_table), tables, std::move(streams)));
}

namespace {

arrow::Status LoadState(DynamoDbClient& tables, const std::string& changes_table, DynamoDbStreamFollower::State* state) {
  ARROW_ASSIGN_OR_RAISE(Json answer, tables.Call("GetItem", {{"TableName", changes_table},
                                                             {"Key", StreamStateKey()},
                                                             {"ConsistentRead", true}}));
  const Json* item = JsonMember(answer, "Item");
  state->exists = item != nullptr;
  if (!state->exists) return arrow::Status::OK();
  state->arn = StringAttribute(*item, "arn");
  ARROW_ASSIGN_OR_RAISE(auto rev, IntegerAttribute(*item, "rev"));
  state->rev = rev.value_or(0);
  ARROW_ASSIGN_OR_RAISE(auto at, IntegerAttribute(*item, "at"));
  state->at = at.value_or(0);
  const Json* shards = JsonMember(*item, "shards");
  const Json* map = shards ? JsonMember(*shards, "M") : nullptr;
  if (map == nullptr || !map->is_object()) return arrow::Status::OK();
  for (const auto& [shard, value] : map->items()) {
    const Json* fields = JsonMember(value, "M");
    if (fields == nullptr) continue;
    Checkpoint checkpoint;
    checkpoint.seq = StringAttribute(*fields, "seq");
    const Json* done = JsonMember(*fields, "done");
    const Json* flag = done ? JsonMember(*done, "BOOL") : nullptr;
    checkpoint.done = flag && flag->is_boolean() && flag->get<bool>();
    state->checkpoints[shard] = checkpoint;
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status DynamoDbStreamFollower::CatchUp() {
  try {
    for (int pass = 0; pass < 10000; ++pass) {
      bool progressed = false;
      State state;
      arrow::Status status = Pass(state, &progressed);
      if (status.IsAlreadyExists()) continue;  // another follower moved the state: read it again
      ARROW_RETURN_NOT_OK(status);
      if (progressed) continue;
      if (NowSeconds() - state.at < kTouchSeconds) return arrow::Status::OK();
      status = Commit(state, StateWrite{}, {}, /*gap=*/false);  // caught up: note when
      if (!status.IsAlreadyExists()) return status;
    }
    return arrow::Status::IOError("DynamoDB stream ", stream_arn_, ": the change log does not catch up");
  } catch (const std::exception& e) {
    return arrow::Status::UnknownError("DynamoDB stream: ", e.what());
  }
}

// One pass over the shards; `progressed` when something was logged or the state changed.
arrow::Status DynamoDbStreamFollower::Pass(State& state, bool* progressed) {
  ARROW_RETURN_NOT_OK(LoadState(*tables_, changes_table_, &state));
  if (!state.exists || state.arn != stream_arn_) {
    // First follow, or a new stream: what happened before is not in the log.
    *progressed = true;
    StateWrite reset;
    reset.reset = true;
    return Commit(state, reset, {}, /*gap=*/true);
  }
  if (NowSeconds() - state.at > kHorizonSeconds) {
    // Not caught up for longer than the stream keeps records: some may be lost.
    *progressed = true;
    return Commit(state, StateWrite{}, {}, /*gap=*/true);
  }
  Json request = {{"StreamArn", stream_arn_}};
  while (true) {
    ARROW_ASSIGN_OR_RAISE(Json answer, streams_->Call("DescribeStream", request));
    const Json* description = JsonMember(answer, "StreamDescription");
    ARROW_ASSIGN_OR_RAISE(const Json* shards, JsonObjects(description ? *description : EmptyJson(), "Shards", "DynamoDB DescribeStream"));
    for (const Json& shard : *shards) {
      const std::string id = JsonString(shard, "ShardId");
      if (!id.empty()) state.listed[id] = JsonString(shard, "ParentShardId");
    }
    const std::string last = description ? JsonString(*description, "LastEvaluatedShardId") : "";
    if (last.empty()) break;
    request["ExclusiveStartShardId"] = last;
  }
  StateWrite cleanup;
  bool lost = false;
  for (const auto& [shard, checkpoint] : state.checkpoints) {
    if (state.listed.count(shard)) continue;
    cleanup.remove.push_back(shard);
    lost = lost || !checkpoint.done;  // trimmed away before we read it to its end
  }
  if (!cleanup.remove.empty()) {
    *progressed = true;
    return Commit(state, cleanup, {}, lost);
  }
  for (const auto& [shard, parent] : state.listed) {
    auto checkpoint = state.checkpoints.find(shard);
    if (checkpoint != state.checkpoints.end() && checkpoint->second.done) continue;
    auto parent_checkpoint = state.checkpoints.find(parent);
    const bool parent_pending = !parent.empty() && state.listed.count(parent) &&
                                (parent_checkpoint == state.checkpoints.end() || !parent_checkpoint->second.done);
    if (parent_pending) continue;  // a split: the parent's records come first
    ARROW_RETURN_NOT_OK(FollowShard(state, shard, progressed));
  }
  return arrow::Status::OK();
}

arrow::Status DynamoDbStreamFollower::FollowShard(State& state, const std::string& shard, bool* progressed) {
  Checkpoint checkpoint = state.checkpoints.count(shard) ? state.checkpoints[shard] : Checkpoint{};
  auto trimmed = [&]() {
    // The records after our checkpoint are gone: log the gap and read on from what is left.
    *progressed = true;
    StateWrite restart;
    restart.shard = shard;
    return Commit(state, restart, {}, /*gap=*/true);
  };
  Json request = {{"StreamArn", stream_arn_}, {"ShardId", shard}};
  if (checkpoint.seq.empty()) {
    request["ShardIteratorType"] = "TRIM_HORIZON";
  } else {
    request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER";
    request["SequenceNumber"] = checkpoint.seq;
  }
  auto iterator_answer = streams_->Call("GetShardIterator", request);
  if (!iterator_answer.ok()) return Trimmed(*streams_) ? trimmed() : iterator_answer.status();
  std::string iterator = JsonString(*iterator_answer, "ShardIterator");
  for (int empty_pages = 0; !iterator.empty();) {
    auto page = streams_->Call("GetRecords", {{"ShardIterator", iterator}, {"Limit", 1000}});
    if (!page.ok()) {
      if (Trimmed(*streams_)) return trimmed();
      if (streams_->last_error_type() == "ExpiredIteratorException") {
        *progressed = true;  // a fresh iterator next pass
        return arrow::Status::OK();
      }
      return page.status();
    }
    ARROW_ASSIGN_OR_RAISE(const Json* records, JsonObjects(*page, "Records", "DynamoDB GetRecords"));
    iterator = JsonString(*page, "NextShardIterator");
    std::vector<std::pair<std::string, std::string>> changes;  // (member_id, op)
    std::string last_seq = checkpoint.seq;
    for (size_t i = 0; i < records->size(); ++i) {
      const Json* body = JsonMember((*records)[i], "dynamodb");
      const Json* keys = body ? JsonMember(*body, "Keys") : nullptr;
      const std::string seq = body ? JsonString(*body, "SequenceNumber") : "";
      if (seq.empty()) return arrow::Status::Invalid("DynamoDB GetRecords: a record without SequenceNumber");
      last_seq = seq;
      const std::string id = keys ? StringAttribute(*keys, "member_id") : "";
      const std::string event = JsonString((*records)[i], "eventName");
      // A record without a member_id key cannot name a member: skipped, the checkpoint moves on.
      if (!id.empty()) changes.emplace_back(id, event == "INSERT" ? "insert" : event == "REMOVE" ? "delete" : "update");
      const bool chunk_full = changes.size() == kRecordsPerCommit;
      const bool page_end = i + 1 == records->size();
      if (chunk_full || page_end) {
        StateWrite advance;
        advance.shard = shard;
        advance.checkpoint = {last_seq, page_end && iterator.empty()};
        ARROW_RETURN_NOT_OK(Commit(state, advance, changes, /*gap=*/false));
        checkpoint = advance.checkpoint;
        changes.clear();
        *progressed = true;
      }
    }
    if (iterator.empty() && !checkpoint.done) {  // closed and drained: done
      StateWrite finish;
      finish.shard = shard;
      finish.checkpoint = {checkpoint.seq, true};
      *progressed = true;
      return Commit(state, finish, {}, /*gap=*/false);
    }
    // An open shard answers empty pages once read to its end; a few in a row: caught up.
    empty_pages = records->empty() ? empty_pages + 1 : 0;
    if (empty_pages >= 2) return arrow::Status::OK();
  }
  return arrow::Status::OK();
}

// One batch, all or nothing: the data_version counter from the value read to the next (and
// gap_version when changes were lost), a change entry per record, the stream item's new state
// under a condition on its `rev`. A racing memberlake writer (the counter moved) means another
// try; a racing follower (rev moved) is AlreadyExists, and the caller reads the state again.
arrow::Status DynamoDbStreamFollower::Commit(State& state, const StateWrite& write,
                                             const std::vector<std::pair<std::string, std::string>>& changes, bool gap) {
  std::minstd_rand rng(std::random_device{}());
  for (int attempt = 0; attempt < 25; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (5 << std::min(attempt, 5))));
    ARROW_ASSIGN_OR_RAISE(Json answer, tables_->Call("GetItem", {{"TableName", changes_table_},
                                                                 {"Key", ChangesCounterKey()},
                                                                 {"ConsistentRead", true}}));
    const Json* counter = JsonMember(answer, "Item");
    ARROW_ASSIGN_OR_RAISE(auto read, IntegerAttribute(counter ? *counter : Json(), "data_version"));
    const int64_t current = read.value_or(0);
    const int64_t next = current + static_cast<int64_t>(changes.size()) + (gap && changes.empty() ? 1 : 0);
    Json items = Json::array();
    if (next > current) {
      Json values = {{":next", NumberValue(next)}, {":current", NumberValue(current)}};
      std::string update = "SET data_version = :next";
      if (gap) {
        update += ", gap_version = :gap";
        values[":gap"] = NumberValue(current + 1);
      }
      items.push_back({{"Update", {{"TableName", changes_table_},
                                   {"Key", ChangesCounterKey()},
                                   {"UpdateExpression", update},
                                   {"ConditionExpression", "attribute_not_exists(data_version) OR data_version = :current"},
                                   {"ExpressionAttributeValues", values}}}});
    }
    for (size_t i = 0; i < changes.size(); ++i) {
      items.push_back({{"Put", {{"TableName", changes_table_},
                                {"Item", ChangeLogItem(current + 1 + static_cast<int64_t>(i), changes[i].first, changes[i].second)},
                                {"ConditionExpression", "attribute_not_exists(p)"}}}});
    }
    Json names = Json::object();
    const int64_t now = NowSeconds();
    Json values = {{":rev", NumberValue(state.rev)}, {":next_rev", NumberValue(state.rev + 1)}, {":at", NumberValue(now)}};
    std::string update = "SET rev = :next_rev, #at = :at";
    names["#at"] = "at";
    if (write.reset) {
      update += ", arn = :arn, shards = :none";
      values[":arn"] = {{"S", stream_arn_}};
      values[":none"] = {{"M", Json::object()}};
    }
    if (!write.shard.empty()) {
      update += ", shards.#s = :checkpoint";
      names["#s"] = write.shard;
      Json fields = {{"seq", {{"S", write.checkpoint.seq}}}, {"done", {{"BOOL", write.checkpoint.done}}}};
      values[":checkpoint"] = {{"M", fields}};
    }
    for (size_t i = 0; i < write.remove.size(); ++i) {
      update += (i == 0 ? " REMOVE " : ", ") + std::string("shards.#r") + std::to_string(i);
      names["#r" + std::to_string(i)] = write.remove[i];
    }
    Json state_update = {{"TableName", changes_table_},
                         {"Key", StreamStateKey()},
                         {"UpdateExpression", update},
                         {"ConditionExpression", state.exists ? "rev = :rev" : "attribute_not_exists(p) OR rev = :rev"},
                         {"ExpressionAttributeValues", values}};
    if (!names.empty()) state_update["ExpressionAttributeNames"] = names;
    items.push_back({{"Update", state_update}});
    std::vector<std::string> reasons;
    arrow::Status status = tables_->TransactWrite(items, &reasons);
    if (status.ok()) {
      records_logged_ += static_cast<int64_t>(changes.size());
      state.exists = true;
      state.rev += 1;
      state.at = now;
      if (write.reset) state.checkpoints.clear();
      if (!write.shard.empty()) state.checkpoints[write.shard] = write.checkpoint;
      for (const auto& shard : write.remove) state.checkpoints.erase(shard);
      return arrow::Status::OK();
    }
    if (!status.IsAlreadyExists()) return status;
    auto failed = [&](size_t i) { return i < reasons.size() && reasons[i] == "ConditionalCheckFailed"; };
    if (failed(items.size() - 1)) return arrow::Status::AlreadyExists("stream state moved");
  }
  return arrow::Status::IOError("DynamoDB stream: the change log kept colliding with other writers");
}

}  // namespace memberlake::store
