// Change capture from the members table's DynamoDB Stream, so every writer's changes (the
// club's admin screens, workflows, imports; not only memberlake's) reach the change log that
// hybrid reads, triggers and data_version follow.
//
// CatchUp() reads the stream over its own API (DescribeStream, GetShardIterator, GetRecords on
// the DynamoDB Streams endpoint) from a durable checkpoint per shard, kept in the change log
// table's stream item (p = "stream": arn, rev, shards = {shard id: {seq, done}}), and appends
// one change entry per stream record. Each batch is one TransactWriteItems: the data_version
// counter moves from the value read, the entries are put, and the checkpoint advances under a
// condition on `rev`, so two followers (processes, Lambdas) never log a record twice in a row
// and never skip one; the loser re-reads the state. Parents are read to their end before their
// children (shard splits), closed shards are marked done once drained.
//
// Lost changes. Stream records live 24 hours. When a checkpoint's shard has been trimmed away,
// GetShardIterator answers TrimmedDataAccessException, the stream was replaced (another ARN),
// the log was last caught up more than 23 hours ago (the state's `at`, refreshed hourly even
// when idle), or memberlake follows the stream for the first time, changes may be missing: the
// follower sets `gap_version` on the counter item to the next data_version, and the store's
// ChangesSince(after < gap_version) answers ChangeLogGap, so readers answer from a full scan
// and say so, until a snapshot generated after the gap replaces the old one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "store/dynamodb_client.h"

namespace memberlake::store {

class DynamoDbStreamFollower {
 public:
  // `tables` (not owned) writes the change log in `changes_table`; the follower opens its own
  // streams client from `client` (same region, credentials and endpoint override).
  static arrow::Result<std::unique_ptr<DynamoDbStreamFollower>> Make(const DynamoDbOptions& client, std::string stream_arn,
                                                                     std::string changes_table, DynamoDbClient* tables);
  ~DynamoDbStreamFollower();

  // Logs every record the stream holds beyond the checkpoints. Safe to run in several
  // processes at once. Never throws.
  arrow::Status CatchUp();

  int64_t records_logged() const { return records_logged_; }
  const std::string& stream_arn() const { return stream_arn_; }

  struct State;
  struct StateWrite;

 private:
  DynamoDbStreamFollower(std::string stream_arn, std::string changes_table, DynamoDbClient* tables,
                         std::unique_ptr<DynamoDbClient> streams);
  arrow::Status Pass(State& state, bool* progressed);
  arrow::Status FollowShard(State& state, const std::string& shard, bool* progressed);
  arrow::Status Commit(State& state, const StateWrite& write,
                       const std::vector<std::pair<std::string, std::string>>& changes, bool gap);

  std::string stream_arn_;
  std::string changes_table_;
  DynamoDbClient* tables_;
  std::unique_ptr<DynamoDbClient> streams_;
  int64_t records_logged_ = 0;
};

}  // namespace memberlake::store
