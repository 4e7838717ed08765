// The audit trail: an append-only chain of JSON entries. Every generation, download, export,
// read of personal data and member mutation (and every denial of those) is one entry: who,
// roles, action, scope, rows, data_version, time.
//
// Each entry holds `prev` (the previous entry's hash) and `hash` over prev + "\n" + the entry's
// canonical JSON without `hash`, so editing, removing or reordering an entry breaks the chain.
// With a key (server config [audit] key_env) the hash is an HMAC-SHA256 under that key, which is
// not stored with the log: whoever rewrites the log and recomputes every hash without the key
// is found by `audit verify --key-env`. Without a key the chain is plain SHA-256 (it detects
// accidents and careless edits, not a forger).
//
// Where the entries go (the location given to Open):
//  - a file path: JSON Lines, one write(2) per entry on an O_APPEND descriptor under a mutex
//    (no fsync per entry; Sync() forces it). One process at a time: the file is flock'ed while
//    open. A torn last line (a short write, a crash mid-line) is cut off on open and the repair
//    is itself the next entry. Cutting whole entries off the end leaves a valid chain, so the
//    log keeps an anchor file (<path>.head: last seq and hash), rewritten atomically at most
//    once a second, on Sync() and on close; Verify fails when the log ends before its anchor.
//  - an s3:// location (the default for an S3 lake: <lake>/audit): immutable objects
//    <seq>.jsonl (12 digits), one per entry, named by its seq and created with a conditional
//    PUT (If-None-Match: *). Append returns once the object is stored, so an answer never
//    outruns its audit entry and a Lambda sandbox that disappears loses nothing. Several
//    processes can append to one chain: a writer that loses the race for a name chains its
//    entry again after the winner's and takes the next name, so the chain never forks. (One
//    PUT per audited request, serialised per process: fine for a club; batching would be next.)
//    Removing the newest objects is not detectable from the chain: protect the prefix with S3
//    Object Lock or versioning.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
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
  int64_t first_bad_line = 0;  // 1-based line (file) or entry number (objects); 0 when ok
  int64_t first_bad_seq = 0;   // the entry that broke the chain, when it has a seq
  std::string problem;
};

class AuditSink;

class AuditLog {
 public:
  // Opens the log at `location` (a file path, or s3://bucket/prefix with the lake's options;
  // see above), creating it if missing, and continues its chain. `key` (may be empty) keys the
  // chain's hashes. A log whose last complete entry does not parse is Invalid: the chain is
  // never silently restarted. A file held by another process is IOError.
  static arrow::Result<std::unique_ptr<AuditLog>> Open(const std::string& location, const std::string& key = "");
  ~AuditLog();  // writes the anchor (files)

  // Thread-safe. `now_ms`: Unix milliseconds (explicit for tests). Returns once the entry is
  // written (files: to the kernel; objects: stored).
  arrow::Status Append(const AuditEvent& event, int64_t now_ms);
  arrow::Status Append(const AuditEvent& event);
  // Forces the log to durable storage and rewrites the anchor. Thread-safe.
  arrow::Status Sync();
  // Entries with seq > after_seq, oldest first, at most `limit`. Thread-safe.
  arrow::Result<std::vector<AuditRecord>> Read(int64_t after_seq, int64_t limit) const;

  // Checks every entry: JSON, consecutive seq, prev links, hashes (keyed with `key` when it is
  // not empty), and the anchor. The first problem is reported in the result (ok = false),
  // naming the line or entry and its seq; IOError only when the log cannot be read at all.
  static arrow::Result<AuditVerification> Verify(const std::string& location, const std::string& key = "");
  // The record as stored (one JSON object).
  static std::string ToJson(const AuditRecord& record);

 private:
  AuditLog() = default;
  AuditRecord Chain(const AuditEvent& event, int64_t now_ms) const;

  std::unique_ptr<AuditSink> sink_;
  std::string key_;
  mutable std::mutex mutex_;
  int64_t seq_ = 0;
  std::string last_hash_;
};

}  // namespace memberlake::server
