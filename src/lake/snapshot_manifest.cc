#include "lake/snapshot_manifest.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <arrow/buffer.h>
#include <nlohmann/json.hpp>

#include "crypto/sha256.h"
#include "lake/delta_log.h"
#include "model/calendar.h"
#include "model/text.h"

namespace memberlake::lake {
namespace {

constexpr const char* kManifestFormat = "memberlake-snapshot/1";

const char* KindName(SnapshotFileKind kind) {
  switch (kind) {
    case SnapshotFileKind::kFull: return "full";
    case SnapshotFileKind::kRegional: return "regional";
    case SnapshotFileKind::kView: return "view";
  }
  return "?";
}

std::string DatePart(const std::string& snapshot_id) { return snapshot_id.substr(0, 8); }

}  // namespace

std::string RegionSlug(std::string_view region) {
  std::string slug;
  bool dash = false;
  for (unsigned char c : region) {
    if (std::isalnum(c)) {
      if (dash && !slug.empty()) slug.push_back('-');
      slug.push_back(static_cast<char>(std::tolower(c)));
      dash = false;
    } else if (c >= 0x80) {
      slug.push_back(static_cast<char>(c));  // keep UTF-8 letters as they are
      dash = false;
    } else {
      dash = true;
    }
  }
  return slug;
}

std::string NewSnapshotId() {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  static thread_local std::mt19937 rng{std::random_device{}()};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d-%02d%02d%02d%03d-%04x", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000), static_cast<unsigned>(rng() & 0xffff));
  return buf;
}

std::optional<std::chrono::system_clock::time_point> SnapshotIdTime(const std::string& id) {
  auto number = [&](size_t from, size_t count, int* out) {
    if (id.size() < from + count) return false;
    int value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (id[i] < '0' || id[i] > '9') return false;
      value = value * 10 + (id[i] - '0');
    }
    *out = value;
    return true;
  };
  model::CivilDate date;
  int hour = 0, minute = 0, second = 0;
  if (!number(0, 4, &date.year) || !number(4, 2, &date.month) || !number(6, 2, &date.day) || id.size() < 15 ||
      id[8] != '-' || !number(9, 2, &hour) || !number(11, 2, &minute) || !number(13, 2, &second) ||
      !model::IsValidDate(date)) {
    return std::nullopt;
  }
  const int64_t seconds = static_cast<int64_t>(model::DaysFromCivil(date)) * 86400 + hour * 3600 + minute * 60 + second;
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

std::string NewSnapshotIdAfter(const std::string& previous) {
  std::string id = NewSnapshotId();
  while (!previous.empty() && id <= previous) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    id = NewSnapshotId();
  }
  return id;
}

std::string SnapshotManifest::ManifestPath(const std::string& id) {
  return "manifests/snapshot-" + id + ".json";
}
std::string SnapshotManifest::FullDatasetPath(const std::string& id) {
  std::string date = DatePart(id);
  return "parquet/full-dataset/year=" + date.substr(0, 4) + "/month=" + date.substr(4, 2) +
         "/members-" + id + ".parquet";
}
std::string SnapshotManifest::RegionalPath(const std::string& region, const std::string& id) {
  return "parquet/regional/" + RegionSlug(region) + "/members-" + id + ".parquet";
}
std::string SnapshotManifest::ViewPath(const std::string& view, const std::string& id) {
  return "parquet/filtered-views/" + view + "/members-" + id + ".parquet";
}
std::string SnapshotManifest::QuarantinePath(const std::string& id) {
  return "quarantine/quarantine-" + id + ".json";
}

std::string SnapshotManifest::ToJson() const {
  nlohmann::ordered_json doc;
  doc["format"] = kManifestFormat;
  doc["snapshot_id"] = snapshot_id;
  doc["previous_snapshot_id"] = previous_snapshot_id;
  doc["data_version"] = data_version;
  doc["schema_version"] = schema_version;
  doc["generated_at"] = generated_at;
  doc["as_of"] = as_of;
  doc["members"] = members;
  doc["quarantined"] = quarantined;
  doc["quarantine_path"] = quarantine_path;
  if (revision > 0) {
    doc["revision"] = revision;
    doc["revised_at"] = revised_at;
  }
  auto& files_json = doc["files"] = nlohmann::ordered_json::array();
  for (const SnapshotFile& f : files) {
    nlohmann::ordered_json entry;
    entry["path"] = f.path;
    entry["kind"] = KindName(f.kind);
    if (!f.region.empty()) entry["region"] = f.region;
    if (!f.view.empty()) entry["view"] = f.view;
    entry["rows"] = f.rows;
    entry["bytes"] = f.bytes;
    entry["sha256"] = f.sha256;
    files_json.push_back(std::move(entry));
  }
  return doc.dump(2) + "\n";
}

arrow::Result<SnapshotManifest> SnapshotManifest::FromJson(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != kManifestFormat) {
    return arrow::Status::Invalid("not a memberlake snapshot manifest");
  }
  try {
    SnapshotManifest m;
    m.snapshot_id = doc.at("snapshot_id").get<std::string>();
    m.previous_snapshot_id = doc.value("previous_snapshot_id", "");
    m.data_version = doc.at("data_version").get<int64_t>();
    m.schema_version = doc.at("schema_version").get<int>();
    m.generated_at = doc.at("generated_at").get<std::string>();
    m.as_of = doc.at("as_of").get<std::string>();
    m.members = doc.at("members").get<int64_t>();
    m.quarantined = doc.at("quarantined").get<int64_t>();
    m.quarantine_path = doc.value("quarantine_path", "");
    m.revision = doc.value("revision", int64_t{0});
    m.revised_at = doc.value("revised_at", "");
    for (const auto& entry : doc.at("files")) {
      SnapshotFile f;
      f.path = entry.at("path").get<std::string>();
      std::string kind = entry.at("kind").get<std::string>();
      f.kind = kind == "full" ? SnapshotFileKind::kFull
               : kind == "regional" ? SnapshotFileKind::kRegional
                                    : SnapshotFileKind::kView;
      f.region = entry.value("region", "");
      f.view = entry.value("view", "");
      f.rows = entry.at("rows").get<int64_t>();
      f.bytes = entry.at("bytes").get<int64_t>();
      f.sha256 = entry.at("sha256").get<std::string>();
      m.files.push_back(std::move(f));
    }
    return m;
  } catch (const nlohmann::json::exception& error) {
    return arrow::Status::Invalid("malformed snapshot manifest: ", error.what());
  }
}

arrow::Result<SnapshotManifest> ReadManifest(const LakeStorage& storage, const std::string& id) {
  auto text = storage.ReadAll(SnapshotManifest::ManifestPath(id));
  if (!text.ok()) {
    return arrow::Status::KeyError("snapshot '", id, "' not found in lake ", storage.location());
  }
  auto manifest = SnapshotManifest::FromJson(*text);
  if (!manifest.ok()) {
    return arrow::Status::Invalid("snapshot '", id, "': ", manifest.status().message());
  }
  return manifest;
}

arrow::Result<std::string> ReadCurrentSnapshotId(const LakeStorage& storage) {
  ARROW_ASSIGN_OR_RAISE(bool exists, storage.Exists(kCurrentPointer));
  if (!exists) return arrow::Status::KeyError("no snapshot in lake ", storage.location());
  ARROW_ASSIGN_OR_RAISE(std::string pointer, storage.ReadAll(kCurrentPointer));
  return std::string(model::Trim(pointer));
}

arrow::Result<SnapshotManifest> ReadCurrentManifest(const LakeStorage& storage) {
  ARROW_ASSIGN_OR_RAISE(std::string id, ReadCurrentSnapshotId(storage));
  return ReadManifest(storage, id);
}

arrow::Result<std::vector<std::string>> ListSnapshotIds(const LakeStorage& storage) {
  ARROW_ASSIGN_OR_RAISE(auto names, storage.List("manifests"));
  std::vector<std::string> ids;
  for (const std::string& name : names) {
    const std::string prefix = "snapshot-", suffix = ".json";
    if (name.size() > prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ids.push_back(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
    }
  }
  return ids;  // List() sorts, and ids start with the generation time
}

arrow::Status PublishManifest(LakeStorage& storage, SnapshotManifest& manifest, const PublishOptions& options) {
  // Each round reads CURRENT, decides on what it read, and swaps only if CURRENT still holds
  // exactly that; a writer that cut in between makes the swap fail and the round repeat.
  constexpr int kRounds = 16;
  for (int round = 0; round < kRounds; ++round) {
    std::optional<std::string> pointer;
    ARROW_ASSIGN_OR_RAISE(bool exists, storage.Exists(kCurrentPointer));
    if (exists) {
      ARROW_ASSIGN_OR_RAISE(pointer, storage.ReadAll(kCurrentPointer));
    }
    const std::string current_id = pointer ? std::string(model::Trim(*pointer)) : std::string();
    if (current_id != manifest.previous_snapshot_id) {
      // Another generation published while this one ran. Going on top of it is right only when
      // this snapshot is the newer one in both data and id, so CURRENT's data_version never
      // goes down and a new id always sorts after the current one.
      auto current = ReadManifest(storage, current_id);
      const int64_t current_version = current.ok() ? current->data_version : 0;
      if (current_id >= manifest.snapshot_id || current_version > manifest.data_version) {
        // An earlier round may have committed this snapshot to the Delta tables: point them back
        // at the one that is current, before its files are removed.
        if (options.open_table_format && current.ok()) {
          ARROW_RETURN_NOT_OK(CommitSnapshotToDeltaTables(storage, *current));
        }
        return arrow::Status::Cancelled("superseded: snapshot ", current_id, " (data_version ", current_version,
                                        ") was published while this generation ran; snapshot ", manifest.snapshot_id,
                                        " (data_version ", manifest.data_version, ") is not newer and was not published");
      }
      manifest.previous_snapshot_id = current_id;
    }
    ARROW_RETURN_NOT_OK(storage.PutAtomic(SnapshotManifest::ManifestPath(manifest.snapshot_id), manifest.ToJson()));
    // The open table format's commit comes before CURRENT moves (lake/delta_log.h).
    if (options.open_table_format) ARROW_RETURN_NOT_OK(CommitSnapshotToDeltaTables(storage, manifest));
    ARROW_ASSIGN_OR_RAISE(bool swapped, storage.ReplaceIf(kCurrentPointer, pointer, manifest.snapshot_id + "\n"));
    if (swapped) return arrow::Status::OK();
  }
  return arrow::Status::IOError("CURRENT kept changing under snapshot ", manifest.snapshot_id, " (", kRounds,
                                " attempts to publish): giving up");
}

arrow::Status VerifySnapshot(const LakeStorage& storage, const SnapshotManifest& manifest) {
  for (const SnapshotFile& file : manifest.files) {
    auto input = storage.OpenForRead(file.path);
    if (!input.ok()) {
      return arrow::Status::IOError("snapshot ", manifest.snapshot_id, ": file ", file.path,
                                    " is missing");
    }
    crypto::Sha256 hash;
    int64_t bytes = 0;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, (*input)->Read(1 << 20));
      if (chunk->size() == 0) break;
      hash.Update(chunk->data(), chunk->size());
      bytes += chunk->size();
    }
    if (bytes != file.bytes || hash.HexDigest() != file.sha256) {
      return arrow::Status::IOError("snapshot ", manifest.snapshot_id, ": file ", file.path,
                                    " does not match its checksum");
    }
  }
  return arrow::Status::OK();
}

}  // namespace memberlake::lake
