#include "store/sqlite_member_store.h"

#include "store/record_edits.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_scan.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <arrow/api.h>

namespace memberlake::store {
namespace {

using sqlite::Connection;
using sqlite::Statement;

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// Change capture for every writer (memberlake, the sqlite3 shell, the club's own programs):
// each insert, update and delete of a members row appends to `changes` (whose rowid is the
// data_version) and stamps the row's `_version` with it, so hybrid reads, /api/members, the
// on-change triggers and the snapshot's data_version see edits memberlake did not make.
// memberlake's inserts, updates and deletes go through the same triggers and log nothing
// themselves. A write that sets `_version` to the newest data_version itself was logged by its
// writer (ImportRaw's bulk load, memberlake before change capture, or a trigger's own stamp,
// which fires the update trigger, and with recursive_triggers on the stamping one too) and is
// not logged again. An update that changes member_id is the delete of the old id and the insert
// of the new one.
constexpr const char* kChangeCaptureTriggers = R"sql(
CREATE TRIGGER IF NOT EXISTS memberlake_capture_insert AFTER INSERT ON members
WHEN NOT (NEW._version IS NOT NULL AND NEW._version IS (SELECT MAX(data_version) FROM changes))
BEGIN
  INSERT INTO changes (member_id, op, at)
    VALUES (COALESCE(NEW.member_id, ''), 'insert', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
  UPDATE members SET _version = (SELECT MAX(data_version) FROM changes) WHERE member_id = NEW.member_id;
END;
CREATE TRIGGER IF NOT EXISTS memberlake_capture_update AFTER UPDATE ON members
WHEN NOT (NEW._version IS NOT OLD._version AND NEW._version IS (SELECT MAX(data_version) FROM changes))
BEGIN
  INSERT INTO changes (member_id, op, at)
    SELECT COALESCE(OLD.member_id, ''), 'delete', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE OLD.member_id IS NOT NEW.member_id;
  INSERT INTO changes (member_id, op, at)
    VALUES (COALESCE(NEW.member_id, ''), CASE WHEN OLD.member_id IS NEW.member_id THEN 'update' ELSE 'insert' END,
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
  UPDATE members SET _version = (SELECT MAX(data_version) FROM changes) WHERE member_id = NEW.member_id;
END;
CREATE TRIGGER IF NOT EXISTS memberlake_capture_delete AFTER DELETE ON members
BEGIN
  INSERT INTO changes (member_id, op, at)
    VALUES (COALESCE(OLD.member_id, ''), 'delete', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
)sql";

class SqliteMemberStore : public MemberStore {
 public:
  SqliteMemberStore(std::shared_ptr<Connection> conn, std::shared_ptr<const model::FieldRegistry> registry,
                    int scan_threads)
      : conn_(std::move(conn)), registry_(std::move(registry)), normalizer_(registry_), scan_threads_(scan_threads) {
    for (const auto& field : registry_->stored_fields()) {
      if (!column_list_.empty()) column_list_ += ", ";
      column_list_ += QuoteIdent(field.name);
    }
  }

  arrow::Status Init() {
    std::string create = "CREATE TABLE IF NOT EXISTS members (";
    for (const auto& field : registry_->stored_fields()) {
      create += QuoteIdent(field.name) + (field.name == "member_id" ? " TEXT PRIMARY KEY, " : " TEXT, ");
    }
    create += "_version INTEGER)";  // NULL for rows written before the triggers: version 0
    ARROW_RETURN_NOT_OK(conn_->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE; " + create +
        "; CREATE TABLE IF NOT EXISTS changes (data_version INTEGER PRIMARY KEY AUTOINCREMENT, "
        "member_id TEXT NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT OR IGNORE INTO meta VALUES ('format', 'memberlake-sqlite/1');"));
    // Upgrade an existing database: a registry that grew a field gets its column (old rows read
    // it as missing), a table another program made gets `_version`, and every writer's changes
    // are captured by triggers.
    auto status = AddMissingColumns();
    if (status.ok()) status = AllowRowsWithoutVersion();
    if (status.ok()) status = conn_->Exec(kChangeCaptureTriggers);
    if (!status.ok()) {
      (void)conn_->Exec("ROLLBACK");
      return status;
    }
    return conn_->Exec("COMMIT");
  }

  const std::shared_ptr<const model::FieldRegistry>& registry() const override { return registry_; }

  arrow::Result<int64_t> DataVersion() override {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "SELECT COALESCE(MAX(data_version), 0) FROM changes"));
    ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
    return row ? stmt->Int(0) : 0;
  }

  arrow::Result<StoreScan> Scan(int64_t batch_rows) override {
    return sqlite::ScanMembers(conn_, column_list_, registry_->raw_schema(), batch_rows, scan_threads_);
  }

  arrow::Result<StoredMember> Get(const std::string& member_id) override {
    ARROW_ASSIGN_OR_RAISE(auto found, Find(member_id));
    if (!found) return arrow::Status::KeyError("member not found: ", member_id);
    return *found;
  }

  arrow::Result<StoredMember> Insert(const FieldValues& fields) override {
    return InTransaction<StoredMember>([&]() -> arrow::Result<StoredMember> {
      ARROW_ASSIGN_OR_RAISE(FieldValues values, PrepareInsert(*registry_, fields, [&]() -> arrow::Result<int64_t> {
        ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
            *conn_, "SELECT COALESCE(MAX(CAST(lidnummer AS INTEGER)), 0) + 1 FROM members"));
        ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
        return row ? stmt->Int(0) : int64_t{1};
      }));
      ARROW_ASSIGN_OR_RAISE(model::MemberRecord record, normalizer_.NormalizeRecord(values));
      const std::string& id = *record[static_cast<size_t>(registry_->StoredIndex("member_id"))];
      ARROW_ASSIGN_OR_RAISE(auto existing, Find(id));
      if (existing) return arrow::Status::AlreadyExists("member ", id, " already exists");
      ARROW_RETURN_NOT_OK(CheckLidnummerFree(record, id));
      ARROW_ASSIGN_OR_RAISE(auto insert, Statement::Prepare(*conn_, "INSERT INTO members (" + column_list_ + ") VALUES (" +
                                                                        Placeholders(record.size()) + ")"));
      for (size_t i = 0; i < record.size(); ++i) insert->BindText(static_cast<int>(i) + 1, Optional(record[i]));
      ARROW_RETURN_NOT_OK(insert->Run());
      ARROW_ASSIGN_OR_RAISE(int64_t version, VersionOf(id));  // stamped by the trigger
      return StoredMember{std::move(record), version};
    });
  }

  arrow::Result<StoredMember> Update(const std::string& member_id, const FieldValues& changes,
                                     int64_t expected_version) override {
    return InTransaction<StoredMember>([&]() -> arrow::Result<StoredMember> {
      ARROW_ASSIGN_OR_RAISE(StoredMember current, CheckVersion(member_id, expected_version));
      ARROW_ASSIGN_OR_RAISE(FieldValues values, MergeUpdate(*registry_, member_id, current.record, changes));
      const auto& specs = registry_->stored_fields();
      ARROW_ASSIGN_OR_RAISE(model::MemberRecord record, normalizer_.NormalizeRecord(values));
      if (LidnummerOf(*registry_, record) != LidnummerOf(*registry_, current.record)) {
        ARROW_RETURN_NOT_OK(CheckLidnummerFree(record, member_id));
      }
      // Only the columns whose value changes are written: stored text that already means the
      // new value (a legacy spelling, a number stored as INTEGER) and every column outside the
      // registry stay as they are, byte for byte.
      std::vector<size_t> changed = ChangedFields(current.record, record);
      if (changed.empty()) return StoredMember{std::move(record), current.version};
      std::string sql = "UPDATE members SET ";
      for (size_t i : changed) sql += QuoteIdent(specs[i].name) + (i == changed.back() ? " = ?" : " = ?, ");
      ARROW_ASSIGN_OR_RAISE(auto update, Statement::Prepare(*conn_, sql + " WHERE member_id = ?"));
      int index = 1;
      for (size_t i : changed) update->BindText(index++, Optional(record[i]));
      update->BindText(index, member_id);
      ARROW_RETURN_NOT_OK(update->Run());
      ARROW_ASSIGN_OR_RAISE(int64_t version, VersionOf(member_id));  // stamped by the trigger
      return StoredMember{std::move(record), version};
    });
  }

  arrow::Status Delete(const std::string& member_id, int64_t expected_version) override {
    return InTransaction<bool>([&]() -> arrow::Result<bool> {
             ARROW_RETURN_NOT_OK(CheckVersion(member_id, expected_version).status());
             ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "DELETE FROM members WHERE member_id = ?"));
             stmt->BindText(1, member_id);
             ARROW_RETURN_NOT_OK(stmt->Run());
             return true;
           })
        .status();
  }

  // By member number; members without one (empty, "Donateur", an invalid one) last.
  arrow::Result<std::vector<StoredMember>> List(int64_t offset, int64_t limit) override {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
        *conn_, "SELECT " + column_list_ + ", COALESCE(_version, 0) FROM members "
                "ORDER BY COALESCE(CAST(lidnummer AS INTEGER), 0) <= 0, CAST(lidnummer AS INTEGER), member_id "
                "LIMIT ? OFFSET ?"));
    stmt->BindInt(1, limit);
    stmt->BindInt(2, offset);
    std::vector<StoredMember> out;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
      if (!row) break;
      out.push_back(ReadMember(*stmt));
    }
    return out;
  }

  arrow::Result<std::vector<ChangeEntry>> ChangesSince(int64_t after) override {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
        *conn_, "SELECT data_version, member_id, op FROM changes WHERE data_version > ? ORDER BY data_version"));
    stmt->BindInt(1, after);
    std::vector<ChangeEntry> out;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
      if (!row) break;
      std::string op = stmt->Text(2).value_or("");
      out.push_back({stmt->Int(0), stmt->Text(1).value_or(""),
                     op == "insert" ? ChangeOp::kInsert : op == "update" ? ChangeOp::kUpdate : ChangeOp::kDelete});
    }
    return out;
  }

  arrow::Result<int64_t> ImportRaw(arrow::RecordBatchReader& batches) override {
    return InTransaction<int64_t>([&]() -> arrow::Result<int64_t> {
      const auto& specs = registry_->stored_fields();
      const int id_index = registry_->StoredIndex("member_id");
      // Stale copies of calculated fields go into columns of their own, as in the club's table,
      // where nothing reads them: the lake computes them afresh.
      std::vector<int> stale;
      std::string columns = column_list_;
      auto schema = batches.schema();
      for (int c = 0; c < schema->num_fields(); ++c) {
        const model::FieldSpec* spec = registry_->Find(schema->field(c)->name());
        if (spec == nullptr || !spec->calculated) continue;
        ARROW_RETURN_NOT_OK(AddColumnIfMissing(spec->name));
        stale.push_back(c);
        columns += ", " + QuoteIdent(spec->name);
      }
      // A bulk load logs each row itself and inserts it with that data_version, which the
      // capture trigger takes as already logged: twice as fast as a trigger's log and stamp
      // per row (the stamp rewrites the row), and still one change per row.
      ARROW_ASSIGN_OR_RAISE(auto log, Statement::Prepare(
          *conn_, "INSERT INTO changes (member_id, op, at) VALUES (?, 'insert', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"));
      ARROW_ASSIGN_OR_RAISE(auto insert, Statement::Prepare(
          *conn_, "INSERT INTO members (" + columns + ", _version) VALUES (" +
                      Placeholders(specs.size() + stale.size() + 1) + ")"));
      int64_t loaded = 0;
      while (true) {
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_ASSIGN_OR_RAISE(auto stored, ImportColumns(*registry_, *batch));
        std::vector<std::shared_ptr<arrow::StringArray>> stale_columns;
        for (int c : stale) stale_columns.push_back(std::dynamic_pointer_cast<arrow::StringArray>(batch->column(c)));
        for (int64_t row = 0; row < batch->num_rows(); ++row) {
          auto value = [&](const std::shared_ptr<arrow::StringArray>& column) -> std::optional<std::string_view> {
            if (column == nullptr || column->IsNull(row)) return std::nullopt;
            return column->GetView(row);
          };
          std::string generated_id;
          std::optional<std::string_view> id = value(stored[static_cast<size_t>(id_index)]);
          if (!id || id->empty()) id = generated_id = NewMemberId();
          for (size_t f = 0; f < specs.size(); ++f) {
            insert->BindText(static_cast<int>(f) + 1, static_cast<int>(f) == id_index ? id : value(stored[f]));
          }
          for (size_t k = 0; k < stale_columns.size(); ++k) {
            insert->BindText(static_cast<int>(specs.size() + k) + 1, value(stale_columns[k]));
          }
          log->BindText(1, id);
          ARROW_RETURN_NOT_OK(log->Run());
          insert->BindInt(static_cast<int>(specs.size() + stale_columns.size()) + 1, sqlite3_last_insert_rowid(conn_->get()));
          auto status = insert->Run();
          if (!status.ok()) {
            if (sqlite3_extended_errcode(conn_->get()) == SQLITE_CONSTRAINT_PRIMARYKEY) {
              return arrow::Status::Invalid("member_id: duplicate '", *id, "' in import");
            }
            return status;
          }
          ++loaded;
        }
      }
      return loaded;
    });
  }

 private:
  static std::string Placeholders(size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
    return out;
  }

  StoredMember ReadMember(const Statement& stmt) const {
    StoredMember member;
    const size_t n = registry_->stored_fields().size();
    for (size_t i = 0; i < n; ++i) member.record.push_back(stmt.Text(static_cast<int>(i)));
    member.version = stmt.Int(static_cast<int>(n));
    return member;
  }

  arrow::Result<std::optional<StoredMember>> Find(const std::string& member_id) {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
        *conn_, "SELECT " + column_list_ + ", COALESCE(_version, 0) FROM members WHERE member_id = ?"));
    stmt->BindText(1, member_id);
    ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
    if (!row) return std::optional<StoredMember>();
    return std::optional<StoredMember>(ReadMember(*stmt));
  }

  // Inside the write transaction, so no other writer can take the number in between.
  arrow::Status CheckLidnummerFree(const model::MemberRecord& record, const std::string& member_id) {
    std::optional<int64_t> lidnummer = LidnummerOf(*registry_, record);
    if (!lidnummer) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
        *conn_, "SELECT 1 FROM members WHERE CAST(lidnummer AS INTEGER) = ? AND member_id <> ? LIMIT 1"));
    stmt->BindInt(1, *lidnummer);
    stmt->BindText(2, member_id);
    ARROW_ASSIGN_OR_RAISE(bool taken, stmt->Step());
    return taken ? LidnummerInUse(*lidnummer) : arrow::Status::OK();
  }

  arrow::Result<StoredMember> CheckVersion(const std::string& member_id, int64_t expected) {
    ARROW_ASSIGN_OR_RAISE(StoredMember current, Get(member_id));
    if (current.version != expected) {
      return arrow::Status::AlreadyExists("version conflict for member ", member_id, ": expected ", expected,
                                          ", current ", current.version);
    }
    return current;
  }

  // The version the change-capture trigger stamped on a member's row (0 if none).
  arrow::Result<int64_t> VersionOf(const std::string& member_id) {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "SELECT COALESCE(_version, 0) FROM members WHERE member_id = ?"));
    stmt->BindText(1, member_id);
    ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
    return row ? stmt->Int(0) : 0;
  }

  static std::optional<std::string_view> Optional(const std::optional<std::string>& value) {
    return value ? std::optional<std::string_view>(*value) : std::nullopt;
  }

  // Indexes of the fields whose value `next` changes. A stored text differs from its canonical
  // form when written in a legacy form ("29-11-1971", "1234 Donateur"): compared canonically,
  // so that an edit of one field does not rewrite the others. When the stored row itself is not
  // valid, the raw text is compared.
  std::vector<size_t> ChangedFields(const model::MemberRecord& stored, const model::MemberRecord& next) const {
    const auto& specs = registry_->stored_fields();
    FieldValues raw;
    for (size_t i = 0; i < specs.size(); ++i) raw.emplace_back(specs[i].name, stored[i]);
    auto canonical = normalizer_.NormalizeRecord(raw);
    const model::MemberRecord& before = canonical.ok() ? *canonical : stored;
    std::vector<size_t> changed;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (next[i] != before[i] && next[i] != stored[i]) changed.push_back(i);
    }
    return changed;
  }

  // Runs `body` in a write transaction: committed on success, rolled back on any error.
  template <typename T, typename Body>
  arrow::Result<T> InTransaction(Body body) {
    ARROW_RETURN_NOT_OK(conn_->Exec("BEGIN IMMEDIATE"));
    arrow::Result<T> result = body();
    if (!result.ok()) {
      (void)conn_->Exec("ROLLBACK");
      return result;
    }
    auto commit = conn_->Exec("COMMIT");
    if (!commit.ok()) {
      (void)conn_->Exec("ROLLBACK");
      return commit;
    }
    return result;
  }

  arrow::Result<std::vector<std::string>> MemberColumns() {
    ARROW_ASSIGN_OR_RAISE(auto info, Statement::Prepare(*conn_, "PRAGMA table_info(members)"));
    std::vector<std::string> existing;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool row, info->Step());
      if (!row) break;
      existing.push_back(info->Text(1).value_or(""));
    }
    return existing;
  }

  arrow::Status AddColumnIfMissing(const std::string& name, const char* type = "TEXT") {
    ARROW_ASSIGN_OR_RAISE(auto existing, MemberColumns());
    if (std::find(existing.begin(), existing.end(), name) != existing.end()) return arrow::Status::OK();
    return conn_->Exec("ALTER TABLE members ADD COLUMN " + QuoteIdent(name) + " " + type);
  }

  arrow::Status AddMissingColumns() {
    for (const auto& field : registry_->stored_fields()) ARROW_RETURN_NOT_OK(AddColumnIfMissing(field.name));
    return AddColumnIfMissing("_version", "INTEGER");
  }

  // Databases made before change capture declared `_version INTEGER NOT NULL`, which refuses
  // rows other programs insert. SQLite cannot drop a constraint in place: the table is copied
  // into one declared without it (same columns, including any other program's).
  arrow::Status AllowRowsWithoutVersion() {
    ARROW_ASSIGN_OR_RAISE(auto info, Statement::Prepare(*conn_, "SELECT \"notnull\" FROM pragma_table_info('members') WHERE name = '_version'"));
    ARROW_ASSIGN_OR_RAISE(bool row, info->Step());
    if (!row || info->Int(0) == 0) return arrow::Status::OK();
    info.reset();
    ARROW_ASSIGN_OR_RAISE(auto schema, Statement::Prepare(*conn_, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'members'"));
    ARROW_ASSIGN_OR_RAISE(row, schema->Step());
    std::string sql = row ? schema->Text(0).value_or("") : "";
    schema.reset();
    const std::string constrained = "_version INTEGER NOT NULL";
    size_t at = sql.find(constrained), open = sql.find('(');
    if (at == std::string::npos || open == std::string::npos) {
      return arrow::Status::IOError("cannot upgrade the members table of ", conn_->path(), ": unexpected schema");
    }
    sql.replace(at, constrained.size(), "_version INTEGER");
    return conn_->Exec("CREATE TABLE memberlake_members_upgrade " + sql.substr(open) +
                       "; INSERT INTO memberlake_members_upgrade SELECT * FROM members; DROP TABLE members;"
                       " ALTER TABLE memberlake_members_upgrade RENAME TO members;");
  }

  std::shared_ptr<Connection> conn_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  model::MemberNormalizer normalizer_;
  std::string column_list_;
  int scan_threads_;
};

}  // namespace

arrow::Result<std::unique_ptr<MemberStore>> OpenSqliteMemberStore(
    const std::string& path, std::shared_ptr<const model::FieldRegistry> registry,
    const StoreOptions& options) {
  std::error_code ec;
  if (!options.create_if_missing && !std::filesystem::exists(path, ec)) {
    return arrow::Status::IOError("store not found: ", path, " (no such SQLite file)");
  }
  if (options.create_if_missing) {
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  auto conn = std::make_shared<Connection>(db, path);
  if (rc != SQLITE_OK) return conn->Error(rc, "cannot open SQLite store");
  sqlite3_busy_timeout(db, 2000);
  auto store = std::make_unique<SqliteMemberStore>(conn, std::move(registry), options.scan_threads);
  ARROW_RETURN_NOT_OK(store->Init());
  return std::unique_ptr<MemberStore>(std::move(store));
}

}  // namespace memberlake::store
