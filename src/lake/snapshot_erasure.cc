#include "lake/snapshot_erasure.h"

#include <random>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/key_value_metadata.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/bloom_filter.h>
#include <parquet/bloom_filter_reader.h>
#include <parquet/file_reader.h>

#include "lake/delta_log.h"
#include "lake/lake_file_writer.h"
#include "model/arrow_compute.h"
#include "model/calendar.h"
#include "model/no_throw.h"

namespace memberlake::lake {
namespace {

constexpr const char* kIdColumn = "member_id";

// "dir/members-<id>[.rN-xxxx].parquet" -> "dir/members-<id>.r<revision>-<4 hex>.parquet".
std::string RevisedPath(const std::string& path, int64_t revision) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const size_t slash = path.rfind('/');
  const size_t name_start = slash == std::string::npos ? 0 : slash + 1;
  const size_t first_dot = path.find('.', name_start);
  const size_t last_dot = path.rfind('.');
  const std::string stem = path.substr(0, first_dot == std::string::npos ? path.size() : first_dot);
  const std::string extension = last_dot == std::string::npos || last_dot < name_start ? "" : path.substr(last_dot);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".r%lld-%04x", static_cast<long long>(revision),
                static_cast<unsigned>(rng() & 0xffff));
  return stem + suffix + extension;
}

struct OpenedParquet {
  std::unique_ptr<parquet::arrow::FileReader> reader;
  std::shared_ptr<arrow::Schema> schema;  // with the file's key-value metadata
  int id_column = -1;
};

arrow::Result<OpenedParquet> OpenParquet(const LakeStorage& lake, const std::string& path) {
  OpenedParquet out;
  ARROW_ASSIGN_OR_RAISE(auto input, lake.OpenForRead(path));
  ARROW_ASSIGN_OR_RAISE(out.reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  ARROW_RETURN_NOT_OK(out.reader->GetSchema(&out.schema));
  out.id_column = out.schema->GetFieldIndex(kIdColumn);
  if (out.id_column < 0) {
    return arrow::Status::Invalid("file ", path, " has no ", kIdColumn, " column: a member's rows cannot be found in it");
  }
  return out;
}

// Row groups whose member_id bloom filter rules the member out (most of them: a member is in
// one region's group), so their column is never decoded.
arrow::Result<std::vector<bool>> GroupsRuledOut(OpenedParquet& file, const std::string& member_id) {
  return model::CatchAll("bloom filters", [&]() -> arrow::Result<std::vector<bool>> {
    parquet::ParquetFileReader* reader = file.reader->parquet_reader();
    std::vector<bool> ruled_out(static_cast<size_t>(reader->metadata()->num_row_groups()), false);
    const int column = reader->metadata()->schema()->ColumnIndex(kIdColumn);
    if (column < 0) return ruled_out;
    auto& blooms = reader->GetBloomFilterReader();
    for (size_t group = 0; group < ruled_out.size(); ++group) {
      auto row_group = blooms.RowGroup(static_cast<int>(group));
      std::unique_ptr<parquet::BloomFilter> bloom = row_group ? row_group->GetColumnBloomFilter(column) : nullptr;
      ruled_out[group] = bloom != nullptr && !bloom->FindHash(bloom->Hash(std::string_view(member_id)));
    }
    return ruled_out;
  });
}

// Per row group: does it hold the member? (Only the member_id column is decoded, and only
// where the bloom filter admits the member.)
arrow::Result<std::vector<bool>> GroupsHolding(OpenedParquet& file, const std::string& member_id) {
  std::vector<bool> holding;
  ARROW_ASSIGN_OR_RAISE(auto ruled_out, GroupsRuledOut(file, member_id));
  for (int group = 0; group < file.reader->num_row_groups(); ++group) {
    if (ruled_out[static_cast<size_t>(group)]) {
      holding.push_back(false);
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto ids, file.reader->ReadRowGroup(group, {file.id_column}));
    bool found = false;
    for (const auto& chunk : ids->column(0)->chunks()) {
      if (chunk->type_id() != arrow::Type::STRING) return arrow::Status::Invalid(kIdColumn, " is not a string column");
      const auto& strings = static_cast<const arrow::StringArray&>(*chunk);
      for (int64_t row = 0; row < strings.length() && !found; ++row) {
        found = strings.IsValid(row) && strings.GetView(row) == member_id;
      }
    }
    holding.push_back(found);
  }
  return holding;
}

arrow::Result<bool> FileHolds(const LakeStorage& lake, const std::string& path, const std::string& member_id) {
  ARROW_ASSIGN_OR_RAISE(auto file, OpenParquet(lake, path));
  ARROW_ASSIGN_OR_RAISE(auto groups, GroupsHolding(file, member_id));
  for (bool held : groups) {
    if (held) return true;
  }
  return false;
}

// The quarantine report's problems split into the member's and everyone else's.
struct QuarantineSplit {
  nlohmann::ordered_json doc;
  nlohmann::ordered_json theirs = nlohmann::ordered_json::array();
  nlohmann::ordered_json others = nlohmann::ordered_json::array();
};

arrow::Result<QuarantineSplit> SplitQuarantine(const LakeStorage& lake, const std::string& path,
                                               const std::string& member_id) {
  QuarantineSplit split;
  ARROW_ASSIGN_OR_RAISE(std::string text, lake.ReadAll(path));
  split.doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (split.doc.is_discarded() || !split.doc.is_object()) {
    return arrow::Status::Invalid("quarantine report ", path, " is not JSON");
  }
  auto problems = split.doc.find("problems");
  if (problems == split.doc.end() || !problems->is_array()) return split;
  for (const auto& problem : *problems) {
    const bool theirs = problem.is_object() && problem.value(kIdColumn, "") == member_id;
    (theirs ? split.theirs : split.others).push_back(problem);
  }
  return split;
}

std::string LookupMetadata(const arrow::KeyValueMetadata* kv, const std::string& key) {
  if (kv == nullptr) return "";
  auto value = kv->Get(key);
  return value.ok() ? *value : "";
}

// Re-encodes `old_path` into `new_path` without the member's rows; `entry` is the manifest's
// entry of the old file (kind, region, view are kept).
arrow::Result<SnapshotFile> RewriteParquet(LakeStorage& lake, const model::FieldRegistry& registry,
                                           const SnapshotFile& entry, const std::string& new_path,
                                           const std::string& member_id) {
  ARROW_ASSIGN_OR_RAISE(auto file, OpenParquet(lake, entry.path));
  ARROW_ASSIGN_OR_RAISE(auto holding, GroupsHolding(file, member_id));
  const arrow::KeyValueMetadata* kv = file.schema->metadata().get();
  LakeFileMetadata meta;
  meta.snapshot_id = LookupMetadata(kv, "snapshot_id");
  meta.generated_at = LookupMetadata(kv, "generated_at");
  meta.as_of = LookupMetadata(kv, "as_of");
  meta.data_version = std::atoll(LookupMetadata(kv, "data_version").c_str());
  meta.schema_version = std::atoi(LookupMetadata(kv, "schema_version").c_str());
  SnapshotFile replacement = entry;
  replacement.path = new_path;
  replacement.rows = replacement.bytes = 0;
  replacement.sha256.clear();
  ARROW_ASSIGN_OR_RAISE(auto writer, LakeFileWriter::Open(lake, replacement, file.schema->RemoveMetadata(), registry, meta));
  arrow::Datum id_scalar(std::make_shared<arrow::StringScalar>(member_id));
  for (int group = 0; group < file.reader->num_row_groups(); ++group) {
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Table> rows, file.reader->ReadRowGroup(group));
    if (holding[group]) {
      ARROW_ASSIGN_OR_RAISE(auto keep, arrow::compute::CallFunction("not_equal", {rows->column(file.id_column), id_scalar}));
      // A null id is not the member: keep it (not_equal gives null there).
      ARROW_ASSIGN_OR_RAISE(keep, arrow::compute::CallFunction("coalesce", {keep, arrow::Datum(true)}));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(rows, keep));
      rows = filtered.table();
    }
    writer->StartRowGroup();  // the old file's row-group boundaries (never across a region)
    arrow::TableBatchReader batches(*rows);
    std::shared_ptr<arrow::RecordBatch> batch;
    while (true) {
      ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
      if (batch == nullptr) break;
      ARROW_RETURN_NOT_OK(writer->Append(*batch));
    }
  }
  return writer->Close();
}

// Enum columns as plain strings (an export shows values, not dictionary indices).
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const arrow::Table& table) {
  arrow::FieldVector fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table.num_columns(); ++i) {
    auto field = table.schema()->field(i);
    auto column = table.column(i);
    if (field->type()->id() == arrow::Type::DICTIONARY) {
      const auto& value_type = static_cast<const arrow::DictionaryType&>(*field->type()).value_type();
      ARROW_ASSIGN_OR_RAISE(arrow::Datum plain, arrow::compute::Cast(column, value_type));
      column = plain.chunked_array();
      field = field->WithType(value_type);
    }
    fields.push_back(field);
    columns.push_back(column);
  }
  return arrow::Table::Make(arrow::schema(fields), columns, table.num_rows());
}

arrow::Status WriteText(LakeStorage& lake, const std::string& path, const std::string& text) {
  ARROW_ASSIGN_OR_RAISE(auto out, lake.OpenForWrite(path));
  ARROW_RETURN_NOT_OK(out->Write(text.data(), static_cast<int64_t>(text.size())));
  return out->Close();
}

}  // namespace

arrow::Result<SnapshotErasurePlan> PlanSnapshotErasure(const LakeStorage& lake, const std::string& snapshot_id,
                                                       const std::string& member_id) {
  SnapshotErasurePlan plan;
  plan.snapshot_id = snapshot_id;
  auto text = lake.ReadAll(SnapshotManifest::ManifestPath(snapshot_id));
  if (!text.ok()) return arrow::Status::KeyError("snapshot '", snapshot_id, "' has no manifest");
  plan.manifest_text = std::move(*text);
  ARROW_ASSIGN_OR_RAISE(plan.manifest, SnapshotManifest::FromJson(plan.manifest_text));
  const int64_t revision = plan.manifest.revision + 1;
  for (const SnapshotFile& file : plan.manifest.files) {
    ARROW_ASSIGN_OR_RAISE(bool holds, FileHolds(lake, file.path, member_id));
    if (!holds) continue;
    plan.old_paths.push_back(file.path);
    plan.new_paths.push_back(RevisedPath(file.path, revision));
  }
  const std::string& quarantine = plan.manifest.quarantine_path;
  if (!quarantine.empty()) {
    ARROW_ASSIGN_OR_RAISE(bool exists, lake.Exists(quarantine));
    if (exists) {
      ARROW_ASSIGN_OR_RAISE(auto split, SplitQuarantine(lake, quarantine, member_id));
      if (!split.theirs.empty()) {
        plan.old_paths.push_back(quarantine);
        plan.new_paths.push_back(RevisedPath(quarantine, revision));
      }
    }
  }
  return plan;
}

arrow::Result<SnapshotManifest> WriteErasedFiles(LakeStorage& lake, const model::FieldRegistry& registry,
                                                 const SnapshotErasurePlan& plan, const std::string& member_id) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  SnapshotManifest revised = plan.manifest;
  revised.revision = plan.manifest.revision + 1;
  revised.revised_at = model::UtcNowIso();
  for (size_t i = 0; i < plan.old_paths.size(); ++i) {
    const std::string& old_path = plan.old_paths[i];
    const std::string& new_path = plan.new_paths[i];
    if (old_path == plan.manifest.quarantine_path) {
      ARROW_ASSIGN_OR_RAISE(auto split, SplitQuarantine(lake, old_path, member_id));
      split.doc["problems"] = split.others;
      // The member's record was rejected (that is what a problem entry means): one record fewer.
      const int64_t quarantined = std::max<int64_t>(0, revised.quarantined - 1);
      if (split.doc.contains("quarantined_records")) split.doc["quarantined_records"] = quarantined;
      ARROW_RETURN_NOT_OK(WriteText(lake, new_path,
                                    split.doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
      revised.quarantined = quarantined;
      revised.quarantine_path = new_path;
      continue;
    }
    for (SnapshotFile& file : revised.files) {
      if (file.path != old_path) continue;
      ARROW_ASSIGN_OR_RAISE(file, RewriteParquet(lake, registry, file, new_path, member_id));
      if (file.kind == SnapshotFileKind::kFull) revised.members = file.rows;
    }
  }
  return revised;
}

arrow::Result<bool> PublishRevision(LakeStorage& lake, const SnapshotErasurePlan& plan,
                                    const SnapshotManifest& revised) {
  ARROW_ASSIGN_OR_RAISE(bool swapped,
                        lake.ReplaceIf(SnapshotManifest::ManifestPath(plan.snapshot_id), plan.manifest_text, revised.ToJson()));
  if (swapped) ARROW_RETURN_NOT_OK(SyncDeltaTablesToCurrent(lake));  // before the old files go
  return swapped;
}

arrow::Result<int64_t> PurgeFiles(LakeStorage& lake, const std::vector<std::string>& paths, bool* versioning_api) {
  int64_t removed = 0;
  for (const std::string& path : paths) {
    bool api = false;
    ARROW_ASSIGN_OR_RAISE(int64_t versions, lake.DeleteAllVersions(path, &api));
    if (versioning_api != nullptr) *versioning_api = *versioning_api || api;
    removed += versions;
  }
  return removed;
}

arrow::Result<MemberRows> ReadMemberRows(const LakeStorage& lake, const SnapshotManifest& manifest,
                                         const std::string& member_id) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  MemberRows out;
  arrow::Datum id_scalar(std::make_shared<arrow::StringScalar>(member_id));
  for (const SnapshotFile& entry : manifest.files) {
    ARROW_ASSIGN_OR_RAISE(auto file, OpenParquet(lake, entry.path));
    ARROW_ASSIGN_OR_RAISE(auto holding, GroupsHolding(file, member_id));
    bool any = false;
    for (int group = 0; group < static_cast<int>(holding.size()); ++group) {
      if (!holding[group]) continue;
      any = true;
      if (entry.kind != SnapshotFileKind::kFull) continue;  // the other files hold copies or projections
      ARROW_ASSIGN_OR_RAISE(auto rows, file.reader->ReadRowGroup(group));
      ARROW_ASSIGN_OR_RAISE(auto match, arrow::compute::CallFunction("equal", {rows->column(file.id_column), id_scalar}));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(rows, match));
      auto table = filtered.table()->ReplaceSchemaMetadata(nullptr);
      ARROW_ASSIGN_OR_RAISE(table, DecodeDictionaries(*table));
      if (out.rows == nullptr) {
        out.rows = table;
      } else {
        ARROW_ASSIGN_OR_RAISE(out.rows, arrow::ConcatenateTables({out.rows, table}));
      }
    }
    if (any) out.files.push_back(entry.path);
  }
  return out;
}

arrow::Result<std::vector<std::string>> ReadQuarantineEntries(const LakeStorage& lake,
                                                              const SnapshotManifest& manifest,
                                                              const std::string& member_id) {
  std::vector<std::string> out;
  if (manifest.quarantine_path.empty()) return out;
  ARROW_ASSIGN_OR_RAISE(bool exists, lake.Exists(manifest.quarantine_path));
  if (!exists) return out;
  ARROW_ASSIGN_OR_RAISE(auto split, SplitQuarantine(lake, manifest.quarantine_path, member_id));
  for (const auto& entry : split.theirs) out.push_back(entry.dump());
  return out;
}

}  // namespace memberlake::lake
