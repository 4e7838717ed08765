#include "server/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lake/lake_storage.h"
#include "crypto/sha256.h"
#include "model/calendar.h"
#include "model/local_file.h"

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

// SHA-256, or HMAC-SHA256 under `key`, of prev + "\n" + the canonical unhashed entry.
std::string HashOf(const std::string& key, const std::string& prev, const Json& unhashed) {
  const std::string text = prev + "\n" + Dump(unhashed);
  return key.empty() ? crypto::Sha256Hex(text) : crypto::HexLower(crypto::HmacSha256(key, text));
}

// Parses one stored entry; Invalid naming what is wrong.
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

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool IsObjectLocation(const std::string& location) { return location.rfind("s3://", 0) == 0; }

// An entry as stored: one JSON object on its own line.
std::string LineOf(const AuditRecord& record) { return AuditLog::ToJson(record) + "\n"; }

// The object that holds the entry `seq`: its number, zero-padded so names sort by it.
std::string ObjectName(int64_t first_seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%012lld.jsonl", static_cast<long long>(first_seq));
  return name;
}

}  // namespace

// Where entries are kept. Entries reach a sink already chained; the sink only stores them.
class AuditSink {
 public:
  struct Head {
    int64_t seq = 0;
    std::string hash = kGenesis;
  };
  // The head an entry makes; Invalid (the chain is never silently restarted) when it is broken.
  static arrow::Result<Head> HeadOf(const std::string& line, const std::string& where) {
    auto record = ParseLine(line);
    if (!record.ok()) {
      return arrow::Status::Invalid("audit log ", where, ": ", record.status().message(),
                                    "; refusing to continue a broken chain");
    }
    return Head{record->seq, record->hash};
  }
  // One stored entry and where it is, for verification ("line 7", "object 000000000012.jsonl").
  struct StoredLine {
    std::string text;
    std::string where;
    int64_t number = 0;
    bool misplaced = false;  // an object whose name is not its first entry's seq
  };
  virtual ~AuditSink() = default;
  // The chain's last entry as stored now.
  virtual arrow::Result<Head> ReadHead() = 0;
  // Stores the next entry. false: another writer stored an entry there first (the caller
  // chains it again after ReadHead() and tries again).
  virtual arrow::Result<bool> Write(const AuditRecord& record) = 0;
  virtual arrow::Status Sync(const Head& head) = 0;
  // After each stored entry (files: the anchor, at most once a second).
  virtual arrow::Status Appended(const Head& head, int64_t now_ms) { return arrow::Status::OK(); }
  virtual arrow::Result<std::vector<StoredLine>> ReadAll() const = 0;
  // A repair done on open, to be recorded as an entry ("" when none).
  std::string repair_note;
};

namespace {

// JSON Lines in one file, flock'ed by the process that has it open.
class FileSink : public AuditSink {
 public:
  static arrow::Result<std::unique_ptr<FileSink>> Open(const std::string& path, bool for_writing) {
    auto sink = std::unique_ptr<FileSink>(new FileSink(path));
    if (!for_writing) return sink;
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    sink->fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (sink->fd_ < 0) return arrow::Status::IOError("cannot open audit log ", path);
    // Two processes appending to one chain would fork it: the second is refused.
    if (::flock(sink->fd_, LOCK_EX | LOCK_NB) != 0) {
      return arrow::Status::IOError("audit log ", path, " is in use by another process (one writer at a time)");
    }
    ARROW_RETURN_NOT_OK(sink->RepairTornTail());
    return sink;
  }
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  arrow::Result<Head> ReadHead() override {
    ARROW_ASSIGN_OR_RAISE(auto lines, ReadAll());
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (!it->text.empty()) return HeadOf(it->text, path_ + " " + it->where);
    }
    return Head{};
  }

  arrow::Result<bool> Write(const AuditRecord& record) override {
    const std::string text = LineOf(record);
    ssize_t written = ::write(fd_, text.data(), text.size());
    if (written != static_cast<ssize_t>(text.size())) {
      if (written > 0) (void)::ftruncate(fd_, size_before_);  // no torn line left for the next entry
      return arrow::Status::IOError("cannot append to audit log ", path_);
    }
    size_before_ += static_cast<off_t>(text.size());
    return true;
  }

  arrow::Status Sync(const Head& head) override {
    if (::fsync(fd_) != 0) return arrow::Status::IOError("cannot sync audit log ", path_);
    return WriteAnchor(head);
  }

  arrow::Status Appended(const Head& head, int64_t now_ms) override {
    if (now_ms - anchor_written_ms_ < 1000) return arrow::Status::OK();
    anchor_written_ms_ = now_ms;
    return WriteAnchor(head);
  }

  arrow::Status WriteAnchor(const Head& head) {
    if (head.seq == anchor_seq_) return arrow::Status::OK();
    auto written = model::ReplaceFile(AnchorPath(), Dump(Json{{"seq", head.seq}, {"hash", head.hash}}) + "\n");
    if (!written.ok()) return arrow::Status::IOError("audit anchor: ", written.message());
    anchor_seq_ = head.seq;
    return arrow::Status::OK();
  }

  arrow::Result<std::vector<StoredLine>> ReadAll() const override {
    std::ifstream file(path_, std::ios::binary);
    if (!file) return arrow::Status::IOError("no audit log at ", path_);
    std::string text((std::istreambuf_iterator<char>(file)), {});
    std::vector<StoredLine> lines;
    int64_t number = 0;
    for (std::string& line : SplitLines(text)) {
      ++number;
      lines.push_back({std::move(line), "line " + std::to_string(number), number});
    }
    return lines;
  }

  std::string AnchorPath() const { return path_ + ".head"; }

 private:
  explicit FileSink(std::string path) : path_(std::move(path)) {}

  // A last line without its newline is a write that never finished (a crash, a full disk):
  // it is cut off, and the repair becomes the next entry. A complete last line that does not
  // parse is no accident, and ReadHead refuses it.
  arrow::Status RepairTornTail() {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) return arrow::Status::IOError("cannot read audit log ", path_);
    size_before_ = info.st_size;
    if (info.st_size == 0) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto lines, ReadAll());
    std::ifstream file(path_, std::ios::binary);
    file.seekg(-1, std::ios::end);
    if (file.get() == '\n') return arrow::Status::OK();
    const std::string& torn = lines.back().text;
    const off_t keep = info.st_size - static_cast<off_t>(torn.size());
    if (::ftruncate(fd_, keep) != 0) return arrow::Status::IOError("cannot repair audit log ", path_);
    size_before_ = keep;
    repair_note = "cut off a torn last line (" + std::to_string(torn.size()) + " bytes, " + lines.back().where +
                  ") left by an interrupted write";
    return arrow::Status::OK();
  }

  std::string path_;
  int fd_ = -1;
  off_t size_before_ = 0;
  int64_t anchor_seq_ = -1;
  int64_t anchor_written_ms_ = 0;
};

// Immutable objects in a lake-like store, one per entry, each created only if its name is free
// (reading accepts objects of several consecutive entries too; a name must be its first seq).
class ObjectSink : public AuditSink {
 public:
  static arrow::Result<std::unique_ptr<ObjectSink>> Open(const std::string& location, bool for_writing) {
    auto sink = std::unique_ptr<ObjectSink>(new ObjectSink());
    ARROW_ASSIGN_OR_RAISE(sink->storage_, lake::LakeStorage::Open(location, /*create=*/for_writing));
    return sink;
  }

  arrow::Result<Head> ReadHead() override {
    ARROW_ASSIGN_OR_RAISE(auto names, storage_->List(""));
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
      if (!IsEntryObjectName(*it)) continue;
      ARROW_ASSIGN_OR_RAISE(std::string text, storage_->ReadAll(*it));
      auto lines = SplitLines(text);
      if (lines.empty()) return arrow::Status::Invalid("audit object ", *it, " is empty");
      return HeadOf(lines.back(), "object " + *it);
    }
    return Head{};
  }

  arrow::Result<bool> Write(const AuditRecord& record) override {
    return storage_->ReplaceIf(ObjectName(record.seq), std::nullopt, LineOf(record));
  }

  arrow::Status Sync(const Head&) override { return arrow::Status::OK(); }  // every entry is stored when written

  arrow::Result<std::vector<StoredLine>> ReadAll() const override {
    ARROW_ASSIGN_OR_RAISE(auto names, storage_->List(""));
    std::vector<StoredLine> lines;
    int64_t number = 0;
    for (const std::string& name : names) {
      if (!IsEntryObjectName(name)) continue;
      ARROW_ASSIGN_OR_RAISE(std::string text, storage_->ReadAll(name));
      auto batch = SplitLines(text);
      for (size_t i = 0; i < batch.size(); ++i) {
        // An object is named by its first entry's seq: a renamed or re-cut one breaks the chain.
        bool misplaced = false;
        if (i == 0) {
          auto first = ParseLine(batch[0]);
          misplaced = first.ok() && ObjectName(first->seq) != name;
        }
        lines.push_back({std::move(batch[i]), "object " + name + " entry " + std::to_string(i + 1), ++number, misplaced});
      }
    }
    return lines;
  }

 private:
  ObjectSink() = default;
  static bool IsEntryObjectName(const std::string& name) {
    return name.size() == 18 && name.compare(12, 6, ".jsonl") == 0 &&
           name.find_first_not_of("0123456789") == 12;
  }
  std::shared_ptr<lake::LakeStorage> storage_;
};

arrow::Result<std::unique_ptr<AuditSink>> OpenSink(const std::string& location, bool for_writing) {
  if (location.empty()) return arrow::Status::Invalid("audit log location is empty");
  if (IsObjectLocation(location)) {
    ARROW_ASSIGN_OR_RAISE(auto sink, ObjectSink::Open(location, for_writing));
    return std::unique_ptr<AuditSink>(std::move(sink));
  }
  ARROW_ASSIGN_OR_RAISE(auto sink, FileSink::Open(location, for_writing));
  return std::unique_ptr<AuditSink>(std::move(sink));
}

}  // namespace

std::string AuditLog::ToJson(const AuditRecord& record) {
  Json json = Unhashed(record);
  json["hash"] = record.hash;
  return Dump(json);
}

arrow::Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& location, const std::string& key) {
  auto log = std::unique_ptr<AuditLog>(new AuditLog());
  log->key_ = key;
  ARROW_ASSIGN_OR_RAISE(log->sink_, OpenSink(location, /*for_writing=*/true));
  ARROW_ASSIGN_OR_RAISE(auto head, log->sink_->ReadHead());
  log->seq_ = head.seq;
  log->last_hash_ = head.hash;
  if (!log->sink_->repair_note.empty()) {
    AuditEvent repair;
    repair.actor = "memberlake";
    repair.auth = "system";
    repair.action = "audit.repair";
    repair.target = location;
    repair.detail = log->sink_->repair_note;
    ARROW_RETURN_NOT_OK(log->Append(repair));
    std::fprintf(stderr, "memberlake: audit log %s: %s\n", location.c_str(), log->sink_->repair_note.c_str());
  }
  return log;
}

AuditLog::~AuditLog() {
  if (sink_) {
    std::lock_guard<std::mutex> lock(mutex_);
    (void)sink_->Sync({seq_, last_hash_});
  }
}

AuditRecord AuditLog::Chain(const AuditEvent& event, int64_t now_ms) const {
  AuditRecord record;
  record.seq = seq_ + 1;
  record.time = model::FormatTimestampMs(now_ms);
  record.event = event;
  record.prev = last_hash_;
  record.hash = HashOf(key_, record.prev, Unhashed(record));
  return record;
}

arrow::Status AuditLog::Append(const AuditEvent& event) { return Append(event, NowMs()); }

arrow::Status AuditLog::Append(const AuditEvent& event, int64_t now_ms) {
  // One entry at a time under the lock: the chain and the stored order are the same. On a
  // conflict (another process took the name) the entry is chained again after the new head.
  std::lock_guard<std::mutex> lock(mutex_);
  for (int attempt = 0; attempt < 64; ++attempt) {
    AuditRecord record = Chain(event, now_ms);
    ARROW_ASSIGN_OR_RAISE(bool stored, sink_->Write(record));
    if (stored) {
      seq_ = record.seq;
      last_hash_ = record.hash;
      return sink_->Appended({seq_, last_hash_}, now_ms);
    }
    ARROW_ASSIGN_OR_RAISE(auto head, sink_->ReadHead());
    seq_ = head.seq;
    last_hash_ = head.hash;
  }
  return arrow::Status::IOError("audit log: could not place an entry after 64 attempts (busy writers)");
}

arrow::Status AuditLog::Sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  return sink_->Sync({seq_, last_hash_});
}

arrow::Result<std::vector<AuditRecord>> AuditLog::Read(int64_t after_seq, int64_t limit) const {
  ARROW_ASSIGN_OR_RAISE(auto lines, sink_->ReadAll());
  std::vector<AuditRecord> records;
  for (size_t i = 0; i < lines.size() && static_cast<int64_t>(records.size()) < limit; ++i) {
    if (lines[i].text.empty()) continue;
    auto record = ParseLine(lines[i].text);
    if (!record.ok()) {
      if (i + 1 == lines.size()) break;  // an append in progress
      return arrow::Status::Invalid("audit log ", lines[i].where, ": ", record.status().message());
    }
    if (record->seq > after_seq) records.push_back(std::move(*record));
  }
  return records;
}

arrow::Result<AuditVerification> AuditLog::Verify(const std::string& location, const std::string& key) {
  ARROW_ASSIGN_OR_RAISE(auto sink, OpenSink(location, /*for_writing=*/false));
  ARROW_ASSIGN_OR_RAISE(auto lines, sink->ReadAll());
  AuditVerification result;
  auto fail = [&](const AuditSink::StoredLine& line, int64_t seq, std::string problem) {
    result.ok = false;
    result.first_bad_line = line.number;
    result.first_bad_seq = seq;
    result.problem = line.where + ": " + problem;
    return result;
  };
  std::string prev = kGenesis;
  int64_t expected_seq = 1;
  std::vector<std::string> hashes;  // by seq - 1, for the anchor check
  for (const auto& line : lines) {
    if (line.text.empty()) return fail(line, expected_seq, "empty line");
    auto record = ParseLine(line.text);
    if (!record.ok()) return fail(line, expected_seq, record.status().message());
    const std::string entry = "entry " + std::to_string(record->seq);
    if (line.misplaced) return fail(line, record->seq, "the object's name is not its first entry's seq (renamed?)");
    if (record->seq != expected_seq) {
      return fail(line, expected_seq, "seq " + std::to_string(record->seq) + " where " + std::to_string(expected_seq) +
                                          " was expected (entry removed or reordered?)");
    }
    if (record->prev != prev) return fail(line, record->seq, entry + " does not link to the previous entry (removed or reordered?)");
    if (HashOf(key, record->prev, Unhashed(*record)) != record->hash) {
      return fail(line, record->seq,
                  entry + ": hash mismatch (edited" + (key.empty() ? "?" : ", or rewritten without the key?") + ")");
    }
    prev = record->hash;
    hashes.push_back(record->hash);
    ++expected_seq;
  }
  result.entries = static_cast<int64_t>(hashes.size());
  if (IsObjectLocation(location)) return result;
  const AuditSink::StoredLine end{"", "end of log", static_cast<int64_t>(lines.size()), false};
  std::ifstream anchor_file(location + ".head");
  if (anchor_file) {
    std::string text((std::istreambuf_iterator<char>(anchor_file)), {});
    Json anchor = Json::parse(text, nullptr, false);
    if (!anchor.is_object() || !anchor.contains("seq") || !anchor.contains("hash") ||
        !anchor["seq"].is_number_integer() || !anchor["hash"].is_string()) {
      return fail(end, 0, "anchor " + location + ".head is unreadable");
    }
    int64_t seq = anchor["seq"].get<int64_t>();
    if (seq > result.entries) {
      return fail(end, result.entries + 1, "log ends at entry " + std::to_string(result.entries) +
                                               " but its anchor says " + std::to_string(seq) + " (entries cut off?)");
    }
    if (seq > 0 && hashes[static_cast<size_t>(seq - 1)] != anchor["hash"].get<std::string>()) {
      return fail(end, seq, "entry " + std::to_string(seq) + " does not match the anchor (rewritten?)");
    }
  }
  return result;
}

}  // namespace memberlake::server
