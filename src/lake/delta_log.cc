#include "lake/delta_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <arrow/type.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>

#include "lake/delta_checkpoint.h"
#include "model/text.h"

namespace memberlake::lake {
namespace {

using Json = nlohmann::json;

constexpr const char* kLogFolder = "_delta_log";
constexpr const char* kUserMetadataPrefix = "memberlake snapshot ";
constexpr int kCommitRounds = 8;

// What a commit of ours names: the snapshot, and its revision once an erasure revised it (the
// same snapshot id with other files).
std::string SnapshotTag(const SnapshotManifest& manifest) {
  return manifest.revision > 0 ? manifest.snapshot_id + " revision " + std::to_string(manifest.revision)
                               : manifest.snapshot_id;
}

std::string LogPath(const std::string& table_root, int64_t version) {
  char name[32];
  std::snprintf(name, sizeof name, "%020lld.json", static_cast<long long>(version));
  return table_root + "/" + kLogFolder + "/" + name;
}

// A commit file's version, or -1 for any other name (checkpoints, temporary files, ...).
int64_t CommitVersion(const std::string& name) {
  if (name.size() != 25 || name.compare(20, 5, ".json") != 0) return -1;
  int64_t version = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    version = version * 10 + (name[i] - '0');
  }
  return version;
}

// Delta paths are relative URIs: everything outside the unreserved set and '/' is
// percent-encoded (region slugs may hold UTF-8 letters).
std::string UriEncodePath(std::string_view path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string NewTableId() {
  std::random_device device;
  std::mt19937_64 rng{(static_cast<uint64_t>(device()) << 32) ^ device()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char text[40];
  std::snprintf(text, sizeof text, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return text;
}

arrow::Result<Json> DeltaType(const arrow::DataType& type, const std::string& column) {
  switch (type.id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING: return "string";
    case arrow::Type::DICTIONARY:
      return DeltaType(*static_cast<const arrow::DictionaryType&>(type).value_type(), column);
    case arrow::Type::INT64: return "long";
    case arrow::Type::INT32: return "integer";
    case arrow::Type::INT16: return "short";
    case arrow::Type::INT8: return "byte";
    case arrow::Type::DOUBLE: return "double";
    case arrow::Type::FLOAT: return "float";
    case arrow::Type::BOOL: return "boolean";
    case arrow::Type::DATE32: return "date";
    case arrow::Type::BINARY: return "binary";
    case arrow::Type::TIMESTAMP:
      // Delta's "timestamp" is an instant (UTC); without a zone it would be timestamp_ntz,
      // which needs a newer protocol. Our timestamps all carry UTC.
      if (static_cast<const arrow::TimestampType&>(type).timezone().empty()) break;
      return "timestamp";
    default: break;
  }
  return arrow::Status::Invalid("Delta log: column ", column, " has type ", type.ToString(),
                                ", which the table format cannot express");
}

struct Commit {
  std::vector<Json> actions;
};

arrow::Result<Commit> ReadCommit(const LakeStorage& lake, const std::string& table_root, int64_t version) {
  ARROW_ASSIGN_OR_RAISE(std::string text, lake.ReadAll(LogPath(table_root, version)));
  Commit commit;
  for (std::string_view line : model::SplitNonEmpty(text, '\n')) {
    Json action = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (action.is_discarded() || !action.is_object()) {
      return arrow::Status::IOError("Delta log ", LogPath(table_root, version), ": a line is not a JSON object");
    }
    commit.actions.push_back(std::move(action));
  }
  return commit;
}

// The snapshot id a commit of ours names in its commitInfo; empty for anyone else's commit.
std::string OwnSnapshotId(const Commit& commit) {
  for (const Json& action : commit.actions) {
    auto info = action.find("commitInfo");
    if (info == action.end() || !info->is_object()) continue;
    auto user = info->find("userMetadata");
    if (user == info->end() || !user->is_string()) continue;
    const std::string text = user->get<std::string>();
    if (text.rfind(kUserMetadataPrefix, 0) == 0) return text.substr(std::string(kUserMetadataPrefix).size());
  }
  return "";
}

struct TableFile {
  std::string path;  // table-relative, as the log spells it (URI-encoded)
  int64_t size = 0;
  int64_t rows = 0;
};

arrow::Result<std::shared_ptr<arrow::Schema>> FileSchema(const LakeStorage& lake, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto input, lake.OpenForRead(path));
  std::unique_ptr<parquet::arrow::FileReader> reader;
  ARROW_ASSIGN_OR_RAISE(reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader->GetSchema(&schema));
  return schema;
}

// One commit, and the table state after it (its checkpoint's actions: protocol, metaData, an
// add for every file shown, this commit's removes as tombstones).
struct PlannedCommit {
  std::string text;
  std::vector<Json> state;
};

PlannedCommit PlanCommit(const std::string& table_root, const DeltaTableState& state, const SnapshotManifest& manifest,
                         const std::vector<TableFile>& files, const std::string& schema_string,
                         const std::string& table_id) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  std::set<std::string> keep;
  for (const TableFile& file : files) keep.insert(file.path);
  PlannedCommit plan;
  const std::set<std::string> shown(state.files.begin(), state.files.end());
  // Every action but commitInfo is table state; an add of a file already shown is state only.
  auto line = [&](const Json& action, bool in_commit = true) {
    if (in_commit) plan.text += action.dump() + "\n";
    if (!action.contains("commitInfo")) plan.state.push_back(action);
  };
  line({{"commitInfo",
         {{"timestamp", now_ms},
          {"operation", "WRITE"},
          {"operationParameters", {{"mode", "Overwrite"}}},
          {"engineInfo", "memberlake/" MEMBERLAKE_VERSION},
          {"isBlindAppend", false},
          {"userMetadata", kUserMetadataPrefix + SnapshotTag(manifest)}}}});
  line({{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}});
  // Every commit restates the schema, so the newest commit of ours alone describes the table.
  line({{"metaData",
         {{"id", table_id},
          {"name", table_root},
          {"description", "memberlake snapshot " + manifest.snapshot_id + " (data_version " +
                              std::to_string(manifest.data_version) + ", as_of " + manifest.as_of + ")"},
          {"format", {{"provider", "parquet"}, {"options", Json::object()}}},
          {"schemaString", schema_string},
          {"partitionColumns", Json::array()},
          {"configuration", Json::object()},
          {"createdTime", now_ms}}}});
  for (const std::string& path : state.files) {
    if (keep.count(path)) continue;
    line({{"remove", {{"path", path}, {"deletionTimestamp", now_ms}, {"dataChange", true}}}});
  }
  for (const TableFile& file : files) {
    // Row counts only: min/max statistics would copy member data into a log erasure cannot rewrite.
    line({{"add",
           {{"path", file.path},
            {"partitionValues", Json::object()},
            {"size", file.size},
            {"modificationTime", now_ms},
            {"dataChange", true},
            {"stats", Json{{"numRecords", file.rows}}.dump()}}}},
         /*in_commit=*/!shown.count(file.path));
  }
  return plan;
}

arrow::Result<DeltaTableState> ReadState(const LakeStorage& lake, const std::string& table_root) {
  DeltaTableState state;
  ARROW_ASSIGN_OR_RAISE(auto names, lake.List(table_root + "/" + kLogFolder));
  std::vector<int64_t> versions;
  for (const std::string& name : names) {
    if (int64_t v = CommitVersion(name); v >= 0) versions.push_back(v);
  }
  if (versions.empty()) return state;
  std::sort(versions.begin(), versions.end());
  state.version = versions.back();
  // Newest first, back to the newest commit of ours (it replaced the whole table) or version 0.
  std::vector<Commit> newest_first;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    ARROW_ASSIGN_OR_RAISE(Commit commit, ReadCommit(lake, table_root, *it));
    const bool ours = !OwnSnapshotId(commit).empty();
    newest_first.push_back(std::move(commit));
    if (ours) break;
  }
  state.snapshot_id = OwnSnapshotId(newest_first.front());
  std::map<std::string, bool> live;  // path -> shown
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
    for (const Json& action : it->actions) {
      if (auto add = action.find("add"); add != action.end() && add->contains("path")) {
        live[(*add)["path"].get<std::string>()] = true;
      } else if (auto remove = action.find("remove"); remove != action.end() && remove->contains("path")) {
        live.erase((*remove)["path"].get<std::string>());
      } else if (auto meta = action.find("metaData"); meta != action.end() && meta->is_object()) {
        // Oldest to newest, so the newest metaData action wins.
        if (meta->contains("schemaString")) state.schema_string = (*meta)["schemaString"].get<std::string>();
        if (meta->contains("id") && (*meta)["id"].is_string()) state.table_id = (*meta)["id"].get<std::string>();
      }
    }
  }
  for (const auto& [path, shown] : live) state.files.push_back(path);
  return state;
}

arrow::Status CommitTable(LakeStorage& lake, const std::string& table_root, const SnapshotManifest& manifest,
                          const std::vector<const SnapshotFile*>& files) {
  std::vector<TableFile> table_files;
  for (const SnapshotFile* file : files) {
    table_files.push_back({UriEncodePath(file->path.substr(table_root.size() + 1)), file->bytes, file->rows});
  }
  std::string schema_string;
  if (!files.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto schema, FileSchema(lake, files.front()->path));
    ARROW_ASSIGN_OR_RAISE(schema_string, DeltaSchemaString(*schema));
  }
  for (int round = 0; round < kCommitRounds; ++round) {
    ARROW_ASSIGN_OR_RAISE(DeltaTableState state, ReadState(lake, table_root));
    if (state.snapshot_id == SnapshotTag(manifest)) return arrow::Status::OK();  // already shown
    if (files.empty()) schema_string = state.schema_string;  // emptied: the schema stays
    const std::string table_id = state.table_id.empty() ? NewTableId() : state.table_id;
    PlannedCommit plan = PlanCommit(table_root, state, manifest, table_files, schema_string, table_id);
    const int64_t version = state.version + 1;
    ARROW_ASSIGN_OR_RAISE(bool created, lake.CreateIfAbsent(LogPath(table_root, version), plan.text));
    if (created) {
      // Committed; the checkpoint only spares readers the replay of the log (delta_checkpoint.h).
      if (DeltaCheckpointDue(version)) return WriteDeltaCheckpoint(lake, table_root, version, plan.state);
      return arrow::Status::OK();
    }
    // Another writer took this version: read what it committed and build on that.
  }
  return arrow::Status::IOError("Delta log of ", table_root, ": other writers kept taking the next version (",
                                kCommitRounds, " attempts)");
}

}  // namespace

std::string DeltaTableRoot(const SnapshotFile& file) {
  if (file.kind == SnapshotFileKind::kFull) return "parquet/full-dataset";
  auto slash = file.path.rfind('/');
  return slash == std::string::npos ? std::string() : file.path.substr(0, slash);
}

arrow::Status SyncDeltaTablesToCurrent(LakeStorage& lake) {
  ARROW_ASSIGN_OR_RAISE(bool has_tables, lake.Exists(std::string("parquet/full-dataset/") + kLogFolder));
  if (!has_tables) return arrow::Status::OK();
  auto current = ReadCurrentManifest(lake);
  if (!current.ok() && current.status().IsKeyError()) return arrow::Status::OK();  // no snapshot yet
  ARROW_RETURN_NOT_OK(current.status());
  return CommitSnapshotToDeltaTables(lake, *current);
}

arrow::Result<std::string> DeltaSchemaString(const arrow::Schema& schema) {
  Json fields = Json::array();
  for (const auto& field : schema.fields()) {
    ARROW_ASSIGN_OR_RAISE(Json type, DeltaType(*field->type(), field->name()));
    fields.push_back({{"name", field->name()}, {"type", type}, {"nullable", field->nullable()},
                      {"metadata", Json::object()}});
  }
  return Json{{"type", "struct"}, {"fields", fields}}.dump();
}

arrow::Result<DeltaTableState> ReadDeltaTableState(const LakeStorage& lake, const std::string& table_root) {
  return ReadState(lake, table_root);
}

arrow::Status CommitSnapshotToDeltaTables(LakeStorage& lake, const SnapshotManifest& manifest) {
  std::map<std::string, std::vector<const SnapshotFile*>> tables;
  for (const SnapshotFile& file : manifest.files) {
    const std::string root = DeltaTableRoot(file);
    if (root.empty() || file.path.size() <= root.size()) continue;
    tables[root].push_back(&file);
  }
  // A region or view this snapshot has no file for still has a table from earlier snapshots:
  // it is emptied, or it would go on showing members the current snapshot no longer has there.
  for (const char* parent : {"parquet/regional", "parquet/filtered-views"}) {
    ARROW_ASSIGN_OR_RAISE(auto names, lake.List(parent));
    for (const std::string& name : names) {
      const std::string root = std::string(parent) + "/" + name;
      if (tables.count(root)) continue;
      ARROW_ASSIGN_OR_RAISE(bool has_log, lake.Exists(root + "/" + kLogFolder));
      if (has_log) tables[root];
    }
  }
  for (const auto& [root, files] : tables) ARROW_RETURN_NOT_OK(CommitTable(lake, root, manifest, files));
  return arrow::Status::OK();
}

}  // namespace memberlake::lake
