#include "server/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lake/sha256.h"
#include "model/calendar.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::ordered_json;
const std::string kGenesis(64, '0');

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The entry without its hash, members in their fixed order: the text that is hashed.
Json Unhashed(const AuditRecord& r) {
  const AuditEvent& e = r.event;
  return Json{{"seq", r.seq},           {"time", r.time},       {"actor", e.actor},   {"auth", e.auth},
              {"roles", e.roles},       {"action", e.action},   {"scope", e.scope},   {"rows", e.rows},
              {"data_version", e.data_version}, {"target", e.target}, {"outcome", e.outcome},
              {"detail", e.detail},     {"prev", r.prev}};
}

std::string Dump(const Json& json) { return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string HashOf(const std::string& prev, const Json& unhashed) {
  return lake::Sha256Hex(prev + "\n" + Dump(unhashed));
}

// Parses one stored line; Invalid naming what is wrong.
arrow::Result<AuditRecord> ParseLine(const std::string& line) {
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return arrow::Status::Invalid("not a JSON object");
  try {
    AuditRecord r;
    r.seq = json.at("seq").get<int64_t>();
    r.time = json.at("time").get<std::string>();
    AuditEvent& e = r.event;
    e.actor = json.at("actor").get<std::string>();
    e.auth = json.at("auth").get<std::string>();
    e.roles = json.at("roles").get<std::vector<std::string>>();
    e.action = json.at("action").get<std::string>();
    e.scope = json.at("scope").get<std::vector<std::string>>();
    e.rows = json.at("rows").get<int64_t>();
    e.data_version = json.at("data_version").get<std::string>();
    e.target = json.at("target").get<std::string>();
    e.outcome = json.at("outcome").get<std::string>();
    e.detail = json.at("detail").get<std::string>();
    r.prev = json.at("prev").get<std::string>();
    r.hash = json.at("hash").get<std::string>();
    // Members beyond the known ones would not be covered by the hash.
    if (json.size() != 14) return arrow::Status::Invalid("unexpected members");
    return r;
  } catch (const nlohmann::json::exception& error) {
    return arrow::Status::Invalid("missing or mistyped member (", error.what(), ")");
  }
}

std::vector<std::string> ReadLines(std::ifstream& file) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(file, line)) lines.push_back(line);
  return lines;
}

std::string AnchorPath(const std::string& path) { return path + ".head"; }

}  // namespace

std::string AuditLog::ToJson(const AuditRecord& record) {
  Json json = Unhashed(record);
  json["hash"] = record.hash;
  return Dump(json);
}

arrow::Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->path_ = path;
  log->last_hash_ = kGenesis;
  {
    std::ifstream file(path);
    if (file) {
      // Only the last line matters for continuing the chain (Verify checks the rest).
      std::string line, last;
      int64_t number = 0, last_number = 0;
      while (std::getline(file, line)) {
        ++number;
        if (!line.empty()) {
          last = line;
          last_number = number;
        }
      }
      if (!last.empty()) {
        auto record = ParseLine(last);
        if (!record.ok()) {
          return arrow::Status::Invalid("audit log ", path, " line ", last_number, ": ", record.status().message(),
                                        "; refusing to continue a broken chain");
        }
        log->seq_ = record->seq;
        log->last_hash_ = record->hash;
      }
    }
  }
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log->fd_ < 0) return arrow::Status::IOError("cannot open audit log ", path);
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    (void)WriteAnchorLocked();
    ::close(fd_);
  }
}

arrow::Status AuditLog::Append(const AuditEvent& event) { return Append(event, NowMs()); }

arrow::Status AuditLog::Append(const AuditEvent& event, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  AuditRecord record;
  record.seq = seq_ + 1;
  record.time = model::FormatTimestampMs(now_ms);
  record.event = event;
  record.prev = last_hash_;
  record.hash = HashOf(record.prev, Unhashed(record));
  std::string line = ToJson(record) + "\n";
  ssize_t written = ::write(fd_, line.data(), line.size());
  if (written != static_cast<ssize_t>(line.size())) {
    return arrow::Status::IOError("cannot append to audit log ", path_);
  }
  seq_ = record.seq;
  last_hash_ = record.hash;
  if (now_ms - anchor_written_ms_ >= 1000) {
    anchor_written_ms_ = now_ms;
    return WriteAnchorLocked();
  }
  return arrow::Status::OK();
}

arrow::Status AuditLog::WriteAnchorLocked() {
  if (seq_ == anchor_seq_) return arrow::Status::OK();
  std::string temp = AnchorPath(path_) + ".tmp";
  {
    std::ofstream file(temp, std::ios::trunc);
    file << Dump(Json{{"seq", seq_}, {"hash", last_hash_}}) << "\n";
    if (!file.good()) return arrow::Status::IOError("cannot write audit anchor ", temp);
  }
  std::error_code ec;
  std::filesystem::rename(temp, AnchorPath(path_), ec);
  if (ec) return arrow::Status::IOError("cannot write audit anchor ", AnchorPath(path_), ": ", ec.message());
  anchor_seq_ = seq_;
  return arrow::Status::OK();
}

arrow::Status AuditLog::Sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (::fsync(fd_) != 0) return arrow::Status::IOError("cannot sync audit log ", path_);
  return WriteAnchorLocked();
}

arrow::Result<std::vector<AuditRecord>> AuditLog::Read(int64_t after_seq, int64_t limit) const {
  std::vector<AuditRecord> records;
  std::ifstream file(path_);
  if (!file) return arrow::Status::IOError("cannot read audit log ", path_);
  std::string line;
  while (std::getline(file, line) && static_cast<int64_t>(records.size()) < limit) {
    if (line.empty()) continue;
    auto record = ParseLine(line);
    if (!record.ok()) {
      if (file.peek() == std::char_traits<char>::eof()) break;  // an append in progress
      return arrow::Status::Invalid("audit log ", path_, ": ", record.status().message());
    }
    if (record->seq > after_seq) records.push_back(std::move(*record));
  }
  return records;
}

arrow::Result<AuditVerification> AuditLog::Verify(const std::string& path) {
  std::ifstream file(path);
  if (!file) return arrow::Status::IOError("no audit log at ", path);
  AuditVerification result;
  auto fail = [&](int64_t line, std::string problem) {
    result.ok = false;
    result.first_bad_line = line;
    result.problem = "line " + std::to_string(line) + ": " + problem;
    return result;
  };
  std::string prev = kGenesis;
  int64_t expected_seq = 1;
  int64_t number = 0;
  std::vector<std::string> hashes;  // by seq - 1, for the anchor check
  for (const std::string& line : ReadLines(file)) {
    ++number;
    if (line.empty()) return fail(number, "empty line");
    auto record = ParseLine(line);
    if (!record.ok()) return fail(number, record.status().message());
    if (record->seq != expected_seq) {
      return fail(number, "seq " + std::to_string(record->seq) + " where " + std::to_string(expected_seq) +
                              " was expected (entry removed or reordered?)");
    }
    if (record->prev != prev) return fail(number, "entry " + std::to_string(record->seq) + " does not link to the previous entry (removed or reordered?)");
    if (HashOf(record->prev, Unhashed(*record)) != record->hash) {
      return fail(number, "entry " + std::to_string(record->seq) + ": hash mismatch (edited?)");
    }
    prev = record->hash;
    hashes.push_back(record->hash);
    ++expected_seq;
  }
  result.entries = static_cast<int64_t>(hashes.size());
  std::ifstream anchor_file(AnchorPath(path));
  if (anchor_file) {
    std::string text((std::istreambuf_iterator<char>(anchor_file)), {});
    Json anchor = Json::parse(text, nullptr, false);
    if (!anchor.is_object() || !anchor.contains("seq") || !anchor.contains("hash") ||
        !anchor["seq"].is_number_integer() || !anchor["hash"].is_string()) {
      return fail(number, "anchor " + AnchorPath(path) + " is unreadable");
    }
    int64_t seq = anchor["seq"].get<int64_t>();
    if (seq > result.entries) {
      return fail(number, "log ends at entry " + std::to_string(result.entries) + " but its anchor says " +
                              std::to_string(seq) + " (entries cut off?)");
    }
    if (seq > 0 && hashes[static_cast<size_t>(seq - 1)] != anchor["hash"].get<std::string>()) {
      return fail(number, "entry " + std::to_string(seq) + " does not match the anchor (rewritten?)");
    }
  }
  return result;
}

}  // namespace memberlake::server
