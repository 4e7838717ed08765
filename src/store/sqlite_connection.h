// The SQLite store's connection and statement wrappers (internal to src/store): errors become
// arrow::Status naming the database file, statements are finalised on destruction.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

namespace memberlake::store::sqlite {

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

}  // namespace memberlake::store::sqlite
