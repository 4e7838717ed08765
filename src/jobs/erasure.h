// The privacy rights across the whole lake (docs/privacy.md): erasure of a member from the live
// store and every kept snapshot, and the subject access export.
//
// An erasure is journaled in the lake (privacy/erasures/<erasure id>.json) before anything is
// changed, and every step is idempotent, so a process killed at any point (kill -9, a Lambda
// timeout) leaves a journal that ResumeErasures completes: `erase`, `generate` and server start
// call it. Steps: delete the member from the store; then per kept snapshot that holds them:
// record the planned replacement in the journal, write the new files, publish the new manifest
// revision (lake/snapshot_erasure.h), delete the old files with every S3 version; repeat over
// snapshots published meanwhile; then the member id is removed from the journal (only the
// pseudonym stays), the erasure is recorded (the audit entry), and the journal is deleted with
// every version. Without a recorder (generate) a completed journal waits, holding no personal
// data, for the next run that has one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"
#include "store/member_store.h"

namespace memberlake::jobs {

// The member's keyed pseudonym in the audit trail: "hmac-sha256:" and the first 32 hex digits
// of HMAC-SHA256(key, member_id). The same member gives the same pseudonym under one key, so
// erasures can be counted and matched to a request without the id; without the key it cannot
// be reversed by hashing every possible id.
std::string MemberPseudonym(std::string_view key, std::string_view member_id);

struct ErasureRequest {
  std::string member_id;
  std::string requested_by;  // the actor: JWT subject, API key name, OS user
  std::string auth;          // jwt | api_key | cli | retention
  std::string reason;        // e.g. "subject request", "retention: Opgezegd"
};

struct ErasureReport {
  std::string erasure_id;
  std::string member_pseudonym;
  std::string requested_by, auth, reason;
  std::string started_at, finished_at;  // ISO UTC
  bool resumed = false;         // completed by ResumeErasures after an interruption
  bool store_deleted = false;   // the member was in the live store (false: already gone)
  std::vector<std::string> revised_snapshots;
  int64_t files_replaced = 0;   // Parquet files and quarantine reports
  int64_t rows_removed = 0;     // over every replaced Parquet file
  int64_t versions_deleted = 0; // object versions of the old files (local disk: files)
  bool versioning_api = false;  // the S3 server answered ListObjectVersions
  double seconds = 0;
  std::string ToJson() const;
};

// A named step an erasure reached: journaled, store-erased, snapshot-planned, files-written,
// published, old-files-deleted, completed, recorded. Tests stop (kill -9) or pause there.
using ErasureStepHook = std::function<void(std::string_view step)>;

struct ErasureOptions {
  std::string pseudonym_key;  // required by EraseMember
  ErasureStepHook step;       // may be empty
  // Records a finished erasure (the audit entry); the journal goes only once it succeeded.
  // Empty: completed journals are kept for a later run with a recorder.
  std::function<arrow::Status(const ErasureReport&)> record;
};

// Erases the member (see above); finishes with the report. A member found neither in the store
// nor in any snapshot is not an error (erasure is idempotent): the report says what was done.
arrow::Result<ErasureReport> EraseMember(store::MemberStore& store, lake::LakeStorage& lake,
                                         const ErasureRequest& request, const ErasureOptions& options);

// Completes every journaled erasure (oldest first); the reports of those it finished.
arrow::Result<std::vector<ErasureReport>> ResumeErasures(store::MemberStore& store, lake::LakeStorage& lake,
                                                         const ErasureOptions& options);

// The subject access export: one JSON document with the live item, the member's rows in every
// kept snapshot (snapshot id, generated_at, as_of, revision, the files holding them), their
// quarantine entries, and `audit_entries` (JSON objects, already selected by the caller).
// KeyError when the member is held nowhere.
arrow::Result<std::string> SubjectExport(store::MemberStore& store, const lake::LakeStorage* lake,
                                         const std::string& member_id,
                                         const std::vector<std::string>& audit_entries);

}  // namespace memberlake::jobs
