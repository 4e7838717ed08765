// The audit trail: an append-only, hash-chained JSON Lines file. Every generation, download,
// export, read of personal data and member mutation (and every denial of those) is one entry:
// who, roles, action, scope, rows, data_version, time.
//
// Each entry holds `prev` (the previous entry's hash) and `hash` = SHA-256 of prev + "\n" +
// the entry's canonical JSON without `hash`, so editing, removing or reordering an entry
// breaks the chain. Cutting entries off the end leaves a valid chain, so the log also keeps an
// anchor file (<path>.head: the last seq and hash), rewritten atomically at most once a second,
// on Sync() and on close; Verify fails when the log ends before its anchor.
//
// Appends are one write(2) on an O_APPEND descriptor under a mutex (no fsync per entry:
// thousands of reads per second are audited); Sync() forces both files to disk.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

namespace memberlake::server {

struct AuditEvent {
  std::string actor;                // JWT subject or API key name
  std::string auth;                 // jwt | api_key | job | cli
  std::vector<std::string> roles;
  std::string action;               // e.g. report.export, member.update, snapshot.download, generate
  std::vector<std::string> scope;   // region names, or {"*"} for all
  int64_t rows = -1;                // -1: not applicable
  std::string data_version;
  std::string target;               // report name, member id, file, job id
  std::string outcome = "ok";       // ok | denied | error
  std::string detail;
};

struct AuditRecord {
  int64_t seq = 0;
  std::string time;  // ISO-8601 UTC with milliseconds
  AuditEvent event;
  std::string prev;
  std::string hash;
};

struct AuditVerification {
  int64_t entries = 0;
  bool ok = true;
  int64_t first_bad_line = 0;  // 1-based; 0 when ok
  std::string problem;
};

class AuditLog {
 public:
  // Opens the log (creating it and its folders) and continues its chain. A log whose last
  // line does not parse is Invalid: the chain is never silently restarted.
  static arrow::Result<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();  // writes the anchor

  // Thread-safe. `now_ms`: Unix milliseconds (explicit for tests).
  arrow::Status Append(const AuditEvent& event, int64_t now_ms);
  arrow::Status Append(const AuditEvent& event);
  // Forces the log to disk and rewrites the anchor. Thread-safe.
  arrow::Status Sync();
  // Entries with seq > after_seq, oldest first, at most `limit`. Thread-safe.
  arrow::Result<std::vector<AuditRecord>> Read(int64_t after_seq, int64_t limit) const;

  // Checks every line: JSON, consecutive seq, prev links, hashes, and the anchor. The first
  // problem is reported in the result (ok = false), naming the line; IOError only when the
  // file cannot be read at all.
  static arrow::Result<AuditVerification> Verify(const std::string& path);
  // The record as stored (one JSON object).
  static std::string ToJson(const AuditRecord& record);

 private:
  AuditLog() = default;
  arrow::Status WriteAnchorLocked();

  std::string path_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  int64_t seq_ = 0;
  std::string last_hash_;
  int64_t anchor_written_ms_ = 0;
  int64_t anchor_seq_ = -1;
};

}  // namespace memberlake::server
