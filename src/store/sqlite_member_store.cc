#include "store/sqlite_member_store.h"

#include "store/record_edits.h"

#include "model/calendar.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <arrow/api.h>

namespace memberlake::store {
namespace {

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// One connection, shared by the store and any scan reader still running on it.
class Connection {
 public:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~Connection() { sqlite3_close_v2(db_); }
  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }

  arrow::Status Error(int rc, std::string_view context) const {
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      return arrow::Status::IOError("database is locked: ", path_);
    }
    if (primary == SQLITE_NOTADB) return arrow::Status::IOError(path_, " is not a SQLite database");
    if (primary == SQLITE_CORRUPT) return arrow::Status::IOError("SQLite database ", path_, " is corrupt");
    return arrow::Status::IOError(context, " (", path_, "): ", sqlite3_errmsg(db_));
  }

  arrow::Status Exec(const std::string& sql) {
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? arrow::Status::OK() : Error(rc, sql.substr(0, 60));
  }

 private:
  sqlite3* db_;
  std::string path_;
};

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  static arrow::Result<std::unique_ptr<Statement>> Prepare(Connection& conn, const std::string& sql) {
    auto out = std::make_unique<Statement>();
    out->conn_ = &conn;
    int rc = sqlite3_prepare_v2(conn.get(), sql.c_str(), static_cast<int>(sql.size()), &out->stmt_, nullptr);
    if (rc != SQLITE_OK) return conn.Error(rc, "prepare");
    return out;
  }
  sqlite3_stmt* get() const { return stmt_; }
  void BindText(int index, std::optional<std::string_view> text) {
    if (text) {
      sqlite3_bind_text(stmt_, index, text->data(), static_cast<int>(text->size()), SQLITE_STATIC);
    } else {
      sqlite3_bind_null(stmt_, index);
    }
  }
  void BindInt(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  // SQLITE_ROW -> true, SQLITE_DONE -> false, otherwise an error.
  arrow::Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return conn_->Error(rc, "step");
  }
  arrow::Status Run() {
    ARROW_ASSIGN_OR_RAISE(bool row, Step());
    (void)row;
    sqlite3_reset(stmt_);
    return arrow::Status::OK();
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::optional<std::string> Text(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return std::string(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  Connection* conn_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// Streams `SELECT <stored fields> FROM members` inside one read transaction, so the scan
// sees one snapshot however long it runs; the transaction ends with the reader.
class ScanReader : public arrow::RecordBatchReader {
 public:
  ScanReader(std::shared_ptr<Connection> conn, std::unique_ptr<Statement> stmt,
             std::shared_ptr<arrow::Schema> schema, int64_t batch_rows)
      : conn_(std::move(conn)), stmt_(std::move(stmt)), schema_(std::move(schema)), batch_rows_(batch_rows) {}
  ~ScanReader() override { Finish(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (done_) return arrow::Status::OK();
    const int columns = schema_->num_fields();
    std::vector<arrow::StringBuilder> builders(static_cast<size_t>(columns));
    for (auto& builder : builders) {
      ARROW_RETURN_NOT_OK(builder.Reserve(batch_rows_));
      ARROW_RETURN_NOT_OK(builder.ReserveData(batch_rows_ * 12));
    }
    int64_t rows = 0;
    sqlite3_stmt* stmt = stmt_->get();
    while (rows < batch_rows_) {
      ARROW_ASSIGN_OR_RAISE(bool has_row, stmt_->Step());
      if (!has_row) {
        Finish();
        break;
      }
      for (int c = 0; c < columns; ++c) {
        auto& builder = builders[static_cast<size_t>(c)];
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          builder.UnsafeAppendNull();
        } else {
          auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          int size = sqlite3_column_bytes(stmt, c);
          ARROW_RETURN_NOT_OK(builder.Append(data, size));
        }
      }
      ++rows;
    }
    if (rows == 0) return arrow::Status::OK();
    arrow::ArrayVector arrays;
    for (auto& builder : builders) {
      ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
      arrays.push_back(std::move(array));
    }
    *out = arrow::RecordBatch::Make(schema_, rows, std::move(arrays));
    return arrow::Status::OK();
  }

 private:
  void Finish() {
    if (done_) return;
    done_ = true;
    stmt_.reset();
    (void)conn_->Exec("COMMIT");
  }

  std::shared_ptr<Connection> conn_;
  std::unique_ptr<Statement> stmt_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t batch_rows_;
  bool done_ = false;
};

class SqliteMemberStore : public MemberStore {
 public:
  SqliteMemberStore(std::shared_ptr<Connection> conn, std::shared_ptr<const model::FieldRegistry> registry)
      : conn_(std::move(conn)), registry_(std::move(registry)), normalizer_(registry_) {
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
    create += "_version INTEGER NOT NULL)";
    ARROW_RETURN_NOT_OK(conn_->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE; " + create +
        "; CREATE TABLE IF NOT EXISTS changes (data_version INTEGER PRIMARY KEY AUTOINCREMENT, "
        "member_id TEXT NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT OR IGNORE INTO meta VALUES ('format', 'memberlake-sqlite/1');"));
    // A registry that grew a field: add its column; old rows read it as missing.
    auto status = AddMissingColumns();
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
    ARROW_RETURN_NOT_OK(conn_->Exec("BEGIN"));
    StoreScan scan;
    auto status = [&]() -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(scan.data_version, DataVersion());  // first read pins the snapshot
      ARROW_ASSIGN_OR_RAISE(auto count, Statement::Prepare(*conn_, "SELECT COUNT(*) FROM members"));
      ARROW_ASSIGN_OR_RAISE(bool row, count->Step());
      scan.row_count = row ? count->Int(0) : 0;
      ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "SELECT " + column_list_ + " FROM members"));
      scan.reader = std::make_shared<ScanReader>(conn_, std::move(stmt), registry_->raw_schema(),
                                                 std::max<int64_t>(1, batch_rows));
      return arrow::Status::OK();
    }();
    if (!status.ok()) {
      (void)conn_->Exec("ROLLBACK");
      return status;
    }
    return scan;
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
      ARROW_ASSIGN_OR_RAISE(int64_t version, LogChange(id, "insert"));
      ARROW_RETURN_NOT_OK(WriteRow("INSERT INTO members (" + column_list_ + ", _version) VALUES (" +
                                       Placeholders(registry_->stored_fields().size() + 1) + ")",
                                   record, version, std::nullopt));
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
      ARROW_ASSIGN_OR_RAISE(int64_t version, LogChange(member_id, "update"));
      std::string sql = "UPDATE members SET ";
      for (size_t i = 0; i < specs.size(); ++i) sql += QuoteIdent(specs[i].name) + " = ?, ";
      sql += "_version = ? WHERE member_id = ?";
      ARROW_RETURN_NOT_OK(WriteRow(sql, record, version, member_id));
      return StoredMember{std::move(record), version};
    });
  }

  arrow::Status Delete(const std::string& member_id, int64_t expected_version) override {
    return InTransaction<bool>([&]() -> arrow::Result<bool> {
             ARROW_RETURN_NOT_OK(CheckVersion(member_id, expected_version).status());
             ARROW_RETURN_NOT_OK(LogChange(member_id, "delete").status());
             ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "DELETE FROM members WHERE member_id = ?"));
             stmt->BindText(1, member_id);
             ARROW_RETURN_NOT_OK(stmt->Run());
             return true;
           })
        .status();
  }

  arrow::Result<std::vector<StoredMember>> List(int64_t offset, int64_t limit) override {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(
        *conn_, "SELECT " + column_list_ + ", _version FROM members "
                "ORDER BY CAST(lidnummer AS INTEGER), member_id LIMIT ? OFFSET ?"));
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
      ARROW_ASSIGN_OR_RAISE(auto log, Statement::Prepare(
          *conn_, "INSERT INTO changes (member_id, op, at) VALUES (?, 'insert', ?)"));
      ARROW_ASSIGN_OR_RAISE(auto insert, Statement::Prepare(
          *conn_, "INSERT INTO members (" + column_list_ + ", _version) VALUES (" +
                      Placeholders(specs.size() + 1) + ")"));
      const std::string now = model::UtcNowIso();
      int64_t loaded = 0;
      while (true) {
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_ASSIGN_OR_RAISE(auto columns, ImportColumns(*registry_, *batch));
        for (int64_t row = 0; row < batch->num_rows(); ++row) {
          auto value = [&](size_t field) -> std::optional<std::string_view> {
            const auto& column = columns[field];
            if (column == nullptr || column->IsNull(row)) return std::nullopt;
            return column->GetView(row);
          };
          std::string generated_id;
          std::optional<std::string_view> id = value(static_cast<size_t>(id_index));
          if (!id || id->empty()) id = generated_id = NewMemberId();
          log->BindText(1, id);
          log->BindText(2, now);
          ARROW_RETURN_NOT_OK(log->Run());
          int64_t version = sqlite3_last_insert_rowid(conn_->get());
          for (size_t f = 0; f < specs.size(); ++f) {
            insert->BindText(static_cast<int>(f) + 1, static_cast<int>(f) == id_index ? id : value(f));
          }
          insert->BindInt(static_cast<int>(specs.size()) + 1, version);
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
        *conn_, "SELECT " + column_list_ + ", _version FROM members WHERE member_id = ?"));
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

  arrow::Result<int64_t> LogChange(const std::string& member_id, const char* op) {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, "INSERT INTO changes (member_id, op, at) VALUES (?, ?, ?)"));
    std::string now = model::UtcNowIso();
    stmt->BindText(1, member_id);
    stmt->BindText(2, std::string_view(op));
    stmt->BindText(3, now);
    ARROW_RETURN_NOT_OK(stmt->Run());
    return sqlite3_last_insert_rowid(conn_->get());
  }

  // Binds the record's fields, then the version, then (for UPDATE) the key.
  arrow::Status WriteRow(const std::string& sql, const model::MemberRecord& record, int64_t version,
                         std::optional<std::string> key) {
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn_, sql));
    int index = 1;
    for (const auto& value : record) {
      stmt->BindText(index++, value ? std::optional<std::string_view>(*value) : std::nullopt);
    }
    stmt->BindInt(index++, version);
    if (key) stmt->BindText(index, *key);
    return stmt->Run();
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

  arrow::Status AddMissingColumns() {
    ARROW_ASSIGN_OR_RAISE(auto info, Statement::Prepare(*conn_, "PRAGMA table_info(members)"));
    std::vector<std::string> existing;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool row, info->Step());
      if (!row) break;
      existing.push_back(info->Text(1).value_or(""));
    }
    for (const auto& field : registry_->stored_fields()) {
      if (std::find(existing.begin(), existing.end(), field.name) == existing.end()) {
        ARROW_RETURN_NOT_OK(conn_->Exec("ALTER TABLE members ADD COLUMN " + QuoteIdent(field.name) + " TEXT"));
      }
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<Connection> conn_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  model::MemberNormalizer normalizer_;
  std::string column_list_;
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
  auto store = std::make_unique<SqliteMemberStore>(conn, std::move(registry));
  ARROW_RETURN_NOT_OK(store->Init());
  return std::unique_ptr<MemberStore>(std::move(store));
}

}  // namespace memberlake::store
