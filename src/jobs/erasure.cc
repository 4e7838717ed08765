#include "jobs/erasure.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "crypto/sha256.h"
#include "lake/delta_log.h"
#include "lake/snapshot_erasure.h"
#include "lake/snapshot_manifest.h"
#include "model/calendar.h"
#include "model/member_json.h"
#include "query/result_format.h"

namespace memberlake::jobs {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kJournalDir = "privacy/erasures";
constexpr const char* kJournalFormat = "memberlake-erasure/1";

std::string JournalPath(const std::string& erasure_id) { return std::string(kJournalDir) + "/" + erasure_id + ".json"; }

std::string NewErasureId() {
  // Sorts by start time, like snapshot ids; the random tail keeps two erasures apart.
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::string id = lake::NewSnapshotId();
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", static_cast<unsigned>(rng() & 0xffff));
  return id + tail;
}

// The journal of one erasure: what EraseMember must still do, persisted at each step.
struct Journal {
  std::string member_id;  // emptied once the lake and store no longer hold the member
  ErasureReport report;
  // A snapshot replacement in flight: its new files may exist, its manifest may or may not
  // have been swapped. Recorded before the new files are written.
  std::string pending_snapshot;
  std::vector<std::string> pending_old, pending_new;

  std::string ToJson() const {
    Json doc;
    doc["format"] = kJournalFormat;
    doc["erasure_id"] = report.erasure_id;
    doc["member_id"] = member_id;
    doc["member_pseudonym"] = report.member_pseudonym;
    doc["requested_by"] = report.requested_by;
    doc["auth"] = report.auth;
    doc["reason"] = report.reason;
    doc["started_at"] = report.started_at;
    doc["store_deleted"] = report.store_deleted;
    doc["revised_snapshots"] = report.revised_snapshots;
    doc["files_replaced"] = report.files_replaced;
    doc["rows_removed"] = report.rows_removed;
    doc["versions_deleted"] = report.versions_deleted;
    doc["versioning_api"] = report.versioning_api;
    doc["pending"] = pending_snapshot.empty()
                         ? Json(nullptr)
                         : Json{{"snapshot_id", pending_snapshot}, {"old", pending_old}, {"new", pending_new}};
    return doc.dump(2) + "\n";
  }

  static arrow::Result<Journal> FromJson(const std::string& text) {
    auto doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != kJournalFormat) {
      return arrow::Status::Invalid("not a memberlake erasure journal");
    }
    try {
      Journal j;
      j.member_id = doc.value("member_id", "");
      ErasureReport& r = j.report;
      r.erasure_id = doc.at("erasure_id").get<std::string>();
      r.member_pseudonym = doc.at("member_pseudonym").get<std::string>();
      r.requested_by = doc.value("requested_by", "");
      r.auth = doc.value("auth", "");
      r.reason = doc.value("reason", "");
      r.started_at = doc.value("started_at", "");
      r.store_deleted = doc.value("store_deleted", false);
      r.revised_snapshots = doc.value("revised_snapshots", std::vector<std::string>{});
      r.files_replaced = doc.value("files_replaced", int64_t{0});
      r.rows_removed = doc.value("rows_removed", int64_t{0});
      r.versions_deleted = doc.value("versions_deleted", int64_t{0});
      r.versioning_api = doc.value("versioning_api", false);
      if (doc.contains("pending") && doc["pending"].is_object()) {
        j.pending_snapshot = doc["pending"].at("snapshot_id").get<std::string>();
        j.pending_old = doc["pending"].at("old").get<std::vector<std::string>>();
        j.pending_new = doc["pending"].at("new").get<std::vector<std::string>>();
      }
      return j;
    } catch (const nlohmann::json::exception& error) {
      return arrow::Status::Invalid("malformed erasure journal: ", error.what());
    }
  }
};

class Eraser {
 public:
  Eraser(store::MemberStore& store, lake::LakeStorage& lake, const ErasureOptions& options, Journal journal)
      : store_(store), lake_(lake), options_(options), journal_(std::move(journal)) {}

  arrow::Result<ErasureReport> Run() {
    const auto started = std::chrono::steady_clock::now();
    if (!journal_.member_id.empty()) {
      ARROW_RETURN_NOT_OK(SettlePending());
      ARROW_RETURN_NOT_OK(EraseFromStore());
      ARROW_RETURN_NOT_OK(EraseFromSnapshots());
      journal_.member_id.clear();  // from here on the journal holds no personal data
      ARROW_RETURN_NOT_OK(Save());
      Step("completed");
    }
    ErasureReport& report = journal_.report;
    report.finished_at = model::UtcNowIso();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!options_.record) return report;  // the journal waits for a run that can record it
    ARROW_RETURN_NOT_OK(options_.record(report));
    Step("recorded");
    ARROW_RETURN_NOT_OK(lake_.DeleteAllVersions(JournalPath(report.erasure_id)).status());
    return report;
  }

 private:
  void Step(std::string_view name) const {
    if (options_.step) options_.step(name);
  }
  arrow::Status Save() { return lake_.PutAtomic(JournalPath(journal_.report.erasure_id), journal_.ToJson()); }

  // A replacement interrupted after it was journaled: if the manifest names the new files, the
  // swap happened and the old files go; otherwise the new files were never published and go.
  arrow::Status SettlePending() {
    if (journal_.pending_snapshot.empty()) return arrow::Status::OK();
    auto text = lake_.ReadAll(lake::SnapshotManifest::ManifestPath(journal_.pending_snapshot));
    bool swapped = false;
    if (text.ok()) {
      ARROW_ASSIGN_OR_RAISE(auto manifest, lake::SnapshotManifest::FromJson(*text));
      std::set<std::string> named;
      for (const auto& file : manifest.files) named.insert(file.path);
      named.insert(manifest.quarantine_path);
      swapped = !journal_.pending_new.empty() &&
                std::all_of(journal_.pending_new.begin(), journal_.pending_new.end(),
                            [&](const std::string& path) { return named.count(path) > 0; });
    }
    ARROW_RETURN_NOT_OK(Purge(swapped ? journal_.pending_old : journal_.pending_new));
    journal_.pending_snapshot.clear();
    journal_.pending_old.clear();
    journal_.pending_new.clear();
    return Save();
  }

  arrow::Status Purge(const std::vector<std::string>& paths) {
    bool api = false;
    ARROW_ASSIGN_OR_RAISE(int64_t versions, lake::PurgeFiles(lake_, paths, &api));
    journal_.report.versions_deleted += versions;
    journal_.report.versioning_api = journal_.report.versioning_api || api;
    return arrow::Status::OK();
  }

  arrow::Status EraseFromStore() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto member = store_.Get(journal_.member_id);
      if (!member.ok()) {
        if (member.status().IsKeyError()) break;  // gone (now, or in an earlier run)
        return member.status();
      }
      arrow::Status deleted = store_.Delete(journal_.member_id, member->version);
      if (deleted.ok()) {
        journal_.report.store_deleted = true;
        break;
      }
      if (!deleted.IsAlreadyExists()) return deleted;  // a version conflict retries
    }
    ARROW_RETURN_NOT_OK(Save());
    Step("store-erased");
    return arrow::Status::OK();
  }

  // Every kept snapshot; then again over those published meanwhile (a generation that read
  // the store before the delete) and those whose manifest changed under the swap.
  arrow::Status EraseFromSnapshots() {
    std::set<std::string> done;
    for (int pass = 0; pass < 8; ++pass) {
      ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(lake_));
      bool pending = false;
      for (const std::string& id : ids) {
        if (done.count(id)) continue;
        ARROW_ASSIGN_OR_RAISE(bool finished, EraseFromSnapshot(id));
        if (finished) {
          done.insert(id);
        } else {
          pending = true;
        }
      }
      if (!pending) {
        ARROW_ASSIGN_OR_RAISE(auto again, lake::ListSnapshotIds(lake_));
        if (std::all_of(again.begin(), again.end(), [&](const std::string& id) { return done.count(id) > 0; })) {
          // A run resumed after a kill between a revision and its table commit repairs it here.
          return lake::SyncDeltaTablesToCurrent(lake_);
        }
      }
    }
    return arrow::Status::IOError("the lake's snapshots kept changing during the erasure; run it again");
  }

  // true when the snapshot no longer holds the member (or is gone); false when its manifest
  // changed under the swap and it must be looked at again.
  arrow::Result<bool> EraseFromSnapshot(const std::string& id) {
    auto plan = lake::PlanSnapshotErasure(lake_, id, journal_.member_id);
    if (!plan.ok() && plan.status().IsKeyError()) return true;  // removed by lifecycle meanwhile
    ARROW_RETURN_NOT_OK(plan.status());
    if (plan->empty()) return true;
    Step("snapshot-planned");
    journal_.pending_snapshot = id;
    journal_.pending_old = plan->old_paths;
    journal_.pending_new = plan->new_paths;
    ARROW_RETURN_NOT_OK(Save());
    ARROW_ASSIGN_OR_RAISE(auto revised, lake::WriteErasedFiles(lake_, *store_.registry(), *plan, journal_.member_id));
    Step("files-written");
    ARROW_ASSIGN_OR_RAISE(bool published, lake::PublishRevision(lake_, *plan, revised));
    if (published) {
      Step("published");
      ARROW_RETURN_NOT_OK(Purge(plan->old_paths));
      Step("old-files-deleted");
      ErasureReport& report = journal_.report;
      report.revised_snapshots.push_back(id);
      report.files_replaced += static_cast<int64_t>(plan->old_paths.size());
      for (const auto& before : plan->manifest.files) {
        for (const auto& after : revised.files) {
          if (before.path != after.path && before.kind == after.kind && before.region == after.region &&
              before.view == after.view) {
            report.rows_removed += before.rows - after.rows;
          }
        }
      }
    } else {
      ARROW_RETURN_NOT_OK(Purge(plan->new_paths));
    }
    journal_.pending_snapshot.clear();
    journal_.pending_old.clear();
    journal_.pending_new.clear();
    ARROW_RETURN_NOT_OK(Save());
    return published;
  }

  store::MemberStore& store_;
  lake::LakeStorage& lake_;
  const ErasureOptions& options_;
  Journal journal_;
};

}  // namespace

std::string MemberPseudonym(std::string_view key, std::string_view member_id) {
  return "hmac-sha256:" + crypto::HexLower(crypto::HmacSha256(key, member_id)).substr(0, 32);
}

std::string ErasureReport::ToJson() const {
  Json doc;
  doc["erasure_id"] = erasure_id;
  doc["member_pseudonym"] = member_pseudonym;
  doc["requested_by"] = requested_by;
  doc["auth"] = auth;
  doc["reason"] = reason;
  doc["started_at"] = started_at;
  doc["finished_at"] = finished_at;
  doc["resumed"] = resumed;
  doc["store_deleted"] = store_deleted;
  doc["revised_snapshots"] = revised_snapshots;
  doc["files_replaced"] = files_replaced;
  doc["rows_removed"] = rows_removed;
  doc["versions_deleted"] = versions_deleted;
  doc["versioning_api"] = versioning_api;
  doc["seconds"] = seconds;
  return doc.dump(2);
}

arrow::Result<ErasureReport> EraseMember(store::MemberStore& store, lake::LakeStorage& lake,
                                         const ErasureRequest& request, const ErasureOptions& options) {
  if (request.member_id.empty()) return arrow::Status::Invalid("member: the member id is empty");
  if (options.pseudonym_key.empty()) {
    return arrow::Status::Invalid("pseudonym key: not configured (the audit trail names erased members by it)");
  }
  Journal journal;
  journal.member_id = request.member_id;
  ErasureReport& report = journal.report;
  report.erasure_id = NewErasureId();
  report.member_pseudonym = MemberPseudonym(options.pseudonym_key, request.member_id);
  report.requested_by = request.requested_by;
  report.auth = request.auth;
  report.reason = request.reason;
  report.started_at = model::UtcNowIso();
  ARROW_RETURN_NOT_OK(lake.PutAtomic(JournalPath(report.erasure_id), journal.ToJson()));
  if (options.step) options.step("journaled");
  return Eraser(store, lake, options, std::move(journal)).Run();
}

arrow::Result<std::vector<ErasureReport>> ResumeErasures(store::MemberStore& store, lake::LakeStorage& lake,
                                                         const ErasureOptions& options) {
  std::vector<ErasureReport> finished;
  ARROW_ASSIGN_OR_RAISE(auto names, lake.List(kJournalDir));
  for (const std::string& name : names) {
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    ARROW_ASSIGN_OR_RAISE(std::string text, lake.ReadAll(std::string(kJournalDir) + "/" + name));
    ARROW_ASSIGN_OR_RAISE(Journal journal, Journal::FromJson(text));
    journal.report.resumed = true;
    ARROW_ASSIGN_OR_RAISE(auto report, Eraser(store, lake, options, std::move(journal)).Run());
    finished.push_back(std::move(report));
  }
  return finished;
}

arrow::Result<std::string> SubjectExport(store::MemberStore& store, const lake::LakeStorage* lake,
                                         const std::string& member_id,
                                         const std::vector<std::string>& audit_entries) {
  Json doc;
  doc["member_id"] = member_id;
  doc["exported_at"] = model::UtcNowIso();
  bool held = false;
  auto live = store.Get(member_id);
  if (live.ok()) {
    doc["live"] = Json::parse(model::MemberToJson(*store.registry(), live->record, live->version));
    held = true;
  } else if (live.status().IsKeyError()) {
    doc["live"] = nullptr;
  } else {
    return live.status();
  }
  // Built apart and moved in at the end: references into an ordered_json object dangle once
  // another key is added (its members live in a vector).
  Json snapshots = Json::array(), quarantine = Json::array(), audit = Json::array();
  if (lake != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(*lake));
    for (const std::string& id : ids) {
      auto manifest = lake::ReadManifest(*lake, id);
      if (!manifest.ok()) continue;  // removed by lifecycle while we read
      ARROW_ASSIGN_OR_RAISE(auto rows, lake::ReadMemberRows(*lake, *manifest, member_id));
      if (rows.rows != nullptr && rows.rows->num_rows() > 0) {
        ARROW_ASSIGN_OR_RAISE(std::string json_rows, query::TableToJsonRows(*rows.rows));
        snapshots.push_back({{"snapshot_id", id},
                             {"generated_at", manifest->generated_at},
                             {"as_of", manifest->as_of},
                             {"data_version", manifest->data_version},
                             {"revision", manifest->revision},
                             {"files", rows.files},
                             {"rows", Json::parse(json_rows)}});
        held = true;
      }
      ARROW_ASSIGN_OR_RAISE(auto entries, lake::ReadQuarantineEntries(*lake, *manifest, member_id));
      for (const std::string& entry : entries) {
        quarantine.push_back({{"snapshot_id", id}, {"entry", Json::parse(entry)}});
        held = true;
      }
    }
  }
  for (const std::string& entry : audit_entries) audit.push_back(Json::parse(entry, nullptr, false));
  if (!held && audit_entries.empty()) return arrow::Status::KeyError("member ", member_id, " is not held anywhere");
  doc["snapshots"] = std::move(snapshots);
  doc["quarantine"] = std::move(quarantine);
  doc["audit"] = std::move(audit);
  return doc.dump(2);
}

}  // namespace memberlake::jobs
