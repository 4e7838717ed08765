// Where query rows come from: the lake's current snapshot, the live store, or both.
//
// Hybrid (the default when both are given): the snapshot at data_version V, minus the members
// changed in the live store after V, plus those members' current rows read from the store and
// transformed exactly like generation does (MemberTransform, with the snapshot's as_of), so
// answers are current without regenerating. Fallback: when there is no snapshot, it cannot be
// read, a file it lists is missing or differs from the manifest (size; SHA-256 with
// verify_checksums), or it is older than max_snapshot_age_seconds, the answer comes from the
// live store alone, and QueryResult::fallback_reason says why.
#pragma once

#include <cstdint>
#include <memory>

#include <arrow/result.h>

#include "lake/lake_storage.h"
#include "model/calendar.h"
#include "model/field_registry.h"
#include "query/query.h"
#include "query/result_cache.h"
#include "store/member_store.h"

namespace memberlake::query {

enum class ReadMode { kHybrid, kSnapshotOnly, kLiveOnly };

struct ReadOptions {
  ReadMode mode = ReadMode::kHybrid;
  int64_t max_snapshot_age_seconds = 0;  // 0: any age
  bool verify_checksums = false;         // hash the snapshot's files before trusting them
  model::CivilDate as_of;                // reference date when answering from the live store only
};

class MemberSource {
 public:
  // `lake` and `store` may each be null (not both); the caller keeps them alive.
  // `cache` (optional, shared between sources) keeps answers per query, scope and data.
  MemberSource(const lake::LakeStorage* lake, store::MemberStore* store,
               std::shared_ptr<const model::FieldRegistry> registry, ReadOptions options,
               ResultCache* cache = nullptr)
      : lake_(lake), store_(store), registry_(std::move(registry)), options_(options), cache_(cache) {}

  arrow::Result<QueryResult> Run(const RegionalScope& scope, const QuerySpec& spec);

  // What an answer depends on besides the query and scope: the read mode, the current
  // snapshot id and the live data_version. Equal keys, equal answers (cache keys, ETags).
  arrow::Result<std::string> DataKey();

 private:
  arrow::Result<QueryResult> RunLive(const RegionalScope& scope, const QuerySpec& spec, std::string reason);
  arrow::Result<QueryResult> RunUncached(const RegionalScope& scope, const QuerySpec& spec);

  const lake::LakeStorage* lake_;
  store::MemberStore* store_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  ReadOptions options_;
  ResultCache* cache_;
};

// The live store's members changed after `since`, transformed for `as_of`. The rows reflect at
// least the returned data_version (a write during the read may show up too, never go missing).
arrow::Result<LiveRows> ReadLiveDelta(store::MemberStore& store, int64_t since, model::CivilDate as_of);
// Every live member, transformed for `as_of`.
arrow::Result<LiveRows> ReadLiveAll(store::MemberStore& store, model::CivilDate as_of);

}  // namespace memberlake::query
