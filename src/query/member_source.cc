#include "query/member_source.h"

#include <chrono>
#include <set>

#include <arrow/api.h>

#include "lake/snapshot_manifest.h"
#include "transform/member_transform.h"

namespace memberlake::query {
namespace {

arrow::Result<std::shared_ptr<arrow::Table>> Transform(const model::FieldRegistry& registry,
                                                       const std::shared_ptr<const model::FieldRegistry>& shared,
                                                       const arrow::RecordBatchVector& raw, model::CivilDate as_of) {
  ARROW_ASSIGN_OR_RAISE(auto transform, transform::MemberTransform::Make(shared, as_of));
  arrow::RecordBatchVector rows;
  for (const auto& batch : raw) {
    ARROW_ASSIGN_OR_RAISE(auto transformed, transform.Apply(*batch));
    rows.push_back(transformed.rows);  // rejected records stay out, as in generation
  }
  return arrow::Table::FromRecordBatches(registry.lake_schema(), rows);
}

// Seconds since an ISO UTC timestamp "YYYY-MM-DDTHH:MM:SS..." (the manifest's generated_at).
arrow::Result<int64_t> AgeSeconds(const std::string& generated_at) {
  auto date = model::ParseIsoDate(generated_at.substr(0, 10));
  if (!date.ok() || generated_at.size() < 19) return arrow::Status::Invalid("bad generated_at");
  int64_t seconds = static_cast<int64_t>(model::DaysFromCivil(*date)) * 86400 +
                    std::stoi(generated_at.substr(11, 2)) * 3600 + std::stoi(generated_at.substr(14, 2)) * 60 +
                    std::stoi(generated_at.substr(17, 2));
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  return now - seconds;
}

// Why the snapshot cannot be trusted for `scope`, or "" when it can.
arrow::Result<std::string> SnapshotProblem(const lake::LakeStorage& lake, const RegionalScope& scope,
                                           const ReadOptions& options, lake::SnapshotManifest* manifest) {
  auto current = lake::ReadCurrentManifest(lake);
  if (!current.ok()) return "snapshot unavailable: " + current.status().message();
  *manifest = *current;
  if (options.max_snapshot_age_seconds > 0) {
    ARROW_ASSIGN_OR_RAISE(int64_t age, AgeSeconds(manifest->generated_at));
    if (age > options.max_snapshot_age_seconds) {
      return "snapshot is " + std::to_string(age) + " s old (limit " +
             std::to_string(options.max_snapshot_age_seconds) + " s)";
    }
  }
  lake::SnapshotManifest touched = *manifest;
  touched.files = FilesInScope(*manifest, scope);
  for (const auto& file : touched.files) {
    auto info = lake.filesystem()->GetFileInfo(lake.FullPath(file.path));
    if (!info.ok() || info->size() != file.bytes) {
      return "snapshot file " + file.path + " is missing or does not match its manifest";
    }
  }
  if (options.verify_checksums) {
    auto verified = lake::VerifySnapshot(lake, touched);
    if (!verified.ok()) return verified.message();
  }
  return std::string();
}

}  // namespace

arrow::Result<LiveRows> ReadLiveDelta(store::MemberStore& store, int64_t since, model::CivilDate as_of) {
  const auto& registry = store.registry();
  LiveRows live;
  // The version first: everything up to it is then in the changes and rows read after it
  // (which may hold newer ones too), so data_version is a floor the answer never falls below.
  ARROW_ASSIGN_OR_RAISE(live.data_version, store.DataVersion());
  ARROW_ASSIGN_OR_RAISE(auto changes, store.ChangesSince(since));
  std::set<std::string> ids;
  for (const auto& change : changes) ids.insert(change.member_id);
  live.replaced_ids.assign(ids.begin(), ids.end());
  std::vector<arrow::StringBuilder> builders(registry->stored_fields().size());
  int64_t rows = 0;
  for (const std::string& id : live.replaced_ids) {
    auto member = store.Get(id);
    if (member.status().IsKeyError()) continue;  // deleted since the snapshot
    ARROW_RETURN_NOT_OK(member.status());
    for (size_t f = 0; f < builders.size(); ++f) {
      const auto& value = member->record[f];
      ARROW_RETURN_NOT_OK(value ? builders[f].Append(*value) : builders[f].AppendNull());
    }
    ++rows;
  }
  arrow::ArrayVector arrays;
  for (auto& builder : builders) {
    ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
    arrays.push_back(array);
  }
  auto raw = arrow::RecordBatch::Make(registry->raw_schema(), rows, arrays);
  ARROW_ASSIGN_OR_RAISE(live.rows, Transform(*registry, registry, {raw}, as_of));
  return live;
}

arrow::Result<LiveRows> ReadLiveAll(store::MemberStore& store, model::CivilDate as_of) {
  ARROW_ASSIGN_OR_RAISE(auto scan, store.Scan());
  LiveRows live;
  live.data_version = scan.data_version;
  ARROW_ASSIGN_OR_RAISE(auto raw, scan.reader->ToRecordBatches());
  scan.reader.reset();
  ARROW_ASSIGN_OR_RAISE(live.rows, Transform(*store.registry(), store.registry(), raw, as_of));
  return live;
}

arrow::Result<QueryResult> MemberSource::RunLive(const RegionalScope& scope, const QuerySpec& spec,
                                                 std::string reason) {
  if (store_ == nullptr) return arrow::Status::Invalid("reading the live store needs --store");
  ARROW_ASSIGN_OR_RAISE(LiveRows live, ReadLiveAll(*store_, options_.as_of));
  ARROW_ASSIGN_OR_RAISE(QueryResult result, RunQuery(nullptr, &live, *registry_, scope, spec));
  result.source = "live";
  result.fallback_reason = std::move(reason);
  result.as_of = model::FormatIsoDate(options_.as_of);
  return result;
}

arrow::Result<std::string> MemberSource::DataKey() {
  std::string key = std::to_string(static_cast<int>(options_.mode)) + "/" +
                    std::to_string(options_.max_snapshot_age_seconds) + "/" + model::FormatIsoDate(options_.as_of);
  if (lake_ != nullptr && options_.mode != ReadMode::kLiveOnly) {
    auto pointer = lake_->ReadAll(lake::kCurrentPointer);  // the current snapshot id
    key += "/snapshot:" + (pointer.ok() ? *pointer : std::string("none"));
  }
  if (store_ != nullptr && options_.mode != ReadMode::kSnapshotOnly) {
    ARROW_ASSIGN_OR_RAISE(int64_t version, store_->DataVersion());
    key += "/live:" + std::to_string(version);
  }
  return key;
}

arrow::Result<QueryResult> MemberSource::Run(const RegionalScope& scope, const QuerySpec& spec) {
  // Age limits and checksum checks depend on more than the data: never cache those answers.
  if (cache_ == nullptr || options_.max_snapshot_age_seconds > 0 || options_.verify_checksums) {
    return RunUncached(scope, spec);
  }
  ARROW_ASSIGN_OR_RAISE(std::string data, DataKey());
  std::string key = CanonicalQueryText(spec, scope) + "@" + data;
  if (auto hit = cache_->Get(key)) {
    hit->cached = true;
    return *hit;
  }
  ARROW_ASSIGN_OR_RAISE(QueryResult result, RunUncached(scope, spec));
  cache_->Put(key, result);
  return result;
}

arrow::Result<QueryResult> MemberSource::RunUncached(const RegionalScope& scope, const QuerySpec& spec) {
  if (options_.mode == ReadMode::kLiveOnly) return RunLive(scope, spec, "");
  if (lake_ == nullptr) {
    if (options_.mode == ReadMode::kSnapshotOnly) return arrow::Status::Invalid("--snapshot-only needs --lake");
    return RunLive(scope, spec, "no lake given");
  }
  if (options_.mode == ReadMode::kSnapshotOnly || store_ == nullptr) {
    return RunQuery(lake_, nullptr, *registry_, scope, spec);
  }
  lake::SnapshotManifest manifest;
  ARROW_ASSIGN_OR_RAISE(std::string problem, SnapshotProblem(*lake_, scope, options_, &manifest));
  if (!problem.empty()) return RunLive(scope, spec, problem);
  auto as_of = model::ParseIsoDate(manifest.as_of);
  ARROW_RETURN_NOT_OK(as_of.status());
  auto read_delta = ReadLiveDelta(*store_, manifest.data_version, *as_of);
  if (!read_delta.ok() && store::IsChangeLogGap(read_delta.status())) {
    return RunLive(scope, spec, "changes since the snapshot incomplete: " + read_delta.status().message());
  }
  ARROW_ASSIGN_OR_RAISE(LiveRows delta, std::move(read_delta));
  auto result = RunQuery(lake_, &delta, *registry_, scope, spec, &manifest);  // the snapshot checked above
  if (!result.ok() && result.status().IsIOError()) {  // a file that reads wrong: answer live
    return RunLive(scope, spec, "snapshot unreadable: " + result.status().message());
  }
  ARROW_RETURN_NOT_OK(result.status());
  result->source = delta.replaced_ids.empty() ? "snapshot" : "hybrid";
  return result;
}

}  // namespace memberlake::query
