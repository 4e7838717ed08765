#include "store/sqlite_scan.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <arrow/api.h>

namespace memberlake::store::sqlite {
namespace {

constexpr const char* kDataVersionSql = "SELECT COALESCE(MAX(data_version), 0) FROM changes";

// Steps `stmt` for up to `max_rows` rows into a batch of string columns; nullptr once the
// statement has no more rows. After a batch of fewer than `max_rows` rows the statement is done:
// the caller must not step it again (SQLite would reset it and start over).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadRows(Statement& stmt, const std::shared_ptr<arrow::Schema>& schema,
                                                            int64_t max_rows) {
  const int columns = schema->num_fields();
  std::vector<arrow::StringBuilder> builders(static_cast<size_t>(columns));
  for (auto& builder : builders) {
    ARROW_RETURN_NOT_OK(builder.Reserve(max_rows));
    ARROW_RETURN_NOT_OK(builder.ReserveData(max_rows * 12));
  }
  int64_t rows = 0;
  sqlite3_stmt* raw = stmt.get();
  while (rows < max_rows) {
    ARROW_ASSIGN_OR_RAISE(bool has_row, stmt.Step());
    if (!has_row) break;
    for (int c = 0; c < columns; ++c) {
      auto& builder = builders[static_cast<size_t>(c)];
      if (sqlite3_column_type(raw, c) == SQLITE_NULL) {
        builder.UnsafeAppendNull();
      } else {
        auto* data = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
        ARROW_RETURN_NOT_OK(builder.Append(data, sqlite3_column_bytes(raw, c)));
      }
    }
    ++rows;
  }
  if (rows == 0) return nullptr;
  arrow::ArrayVector arrays;
  for (auto& builder : builders) {
    ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
    arrays.push_back(std::move(array));
  }
  return arrow::RecordBatch::Make(schema, rows, std::move(arrays));
}

// One connection's read of the whole table, inside the read transaction the caller began;
// the transaction ends with the reader.
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
    ARROW_ASSIGN_OR_RAISE(*out, ReadRows(*stmt_, schema_, batch_rows_));
    if (*out == nullptr || (*out)->num_rows() < batch_rows_) Finish();
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

// A connection of its own, for one reading thread.
arrow::Result<std::shared_ptr<Connection>> OpenReader(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto conn = std::make_shared<Connection>(db, path);
  if (rc != SQLITE_OK) return conn->Error(rc, "cannot open SQLite store");
  sqlite3_busy_timeout(db, 2000);
  return conn;
}

arrow::Result<int64_t> QueryInt(Connection& conn, const std::string& sql, int column = 0) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(conn, sql));
  ARROW_ASSIGN_OR_RAISE(bool row, stmt->Step());
  return row ? stmt->Int(column) : 0;
}

// Chunks of rowids [first + i * width, first + (i + 1) * width - 1], read by `readers` threads
// (chunk i by thread i % readers), each a couple of batches ahead; ReadNext hands the batches
// out chunk by chunk, so in rowid order.
class ParallelScanReader : public arrow::RecordBatchReader {
 public:
  struct Reader {
    std::shared_ptr<Connection> conn;  // in a read transaction on the scan's snapshot
    std::unique_ptr<Statement> stmt;   // ... WHERE rowid BETWEEN ?1 AND ?2
  };

  ParallelScanReader(std::vector<Reader> readers, std::shared_ptr<arrow::Schema> schema, int64_t batch_rows,
                     int64_t first_rowid, int64_t chunk_width, int64_t chunks)
      : schema_(std::move(schema)), batch_rows_(batch_rows), first_(first_rowid), width_(chunk_width), chunks_(chunks) {
    lanes_.resize(readers.size());
    for (size_t i = 0; i < readers.size(); ++i) lanes_[i].reader = std::move(readers[i]);
  }
  ~ParallelScanReader() override { Finish(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    std::unique_lock<std::mutex> lock(mutex_);
    // The threads start with the first read: until then the readers hold their snapshot and
    // nothing else (and the tests can write in between, which the snapshot must not see).
    if (threads_.empty() && !finished_) {
      for (size_t i = 0; i < lanes_.size(); ++i) threads_.emplace_back([this, i] { Run(i); });
    }
    while (next_chunk_ < chunks_) {
      Lane& lane = lanes_[static_cast<size_t>(next_chunk_) % lanes_.size()];
      changed_.wait(lock, [&] { return !lane.items.empty() || !lane.status.ok(); });
      if (lane.items.empty()) {
        arrow::Status failed = lane.status;
        lock.unlock();
        Finish();
        return failed;
      }
      std::shared_ptr<arrow::RecordBatch> item = std::move(lane.items.front());
      lane.items.pop_front();
      changed_.notify_all();
      if (item == nullptr) {  // the end of this chunk
        ++next_chunk_;
        continue;
      }
      *out = std::move(item);
      return arrow::Status::OK();
    }
    lock.unlock();
    Finish();
    return arrow::Status::OK();
  }

 private:
  struct Lane {
    Reader reader;
    std::deque<std::shared_ptr<arrow::RecordBatch>> items;  // batches; nullptr ends a chunk
    arrow::Status status;
  };

  void Run(size_t index) {
    Lane& lane = lanes_[index];
    Statement& stmt = *lane.reader.stmt;
    arrow::Status status;
    for (int64_t chunk = static_cast<int64_t>(index); chunk < chunks_ && status.ok(); chunk += lanes_.size()) {
      stmt.Reset();
      stmt.BindInt(1, first_ + chunk * width_);
      stmt.BindInt(2, first_ + (chunk + 1) * width_ - 1);
      while (status.ok()) {
        auto batch = ReadRows(stmt, schema_, batch_rows_);
        if (!batch.ok()) {
          status = batch.status();
          break;
        }
        // A short batch is the chunk's last: stepping a finished statement would start it over.
        const bool last = *batch == nullptr || (*batch)->num_rows() < batch_rows_;
        if (*batch != nullptr && !Push(lane, *batch)) return;
        if (last) {
          if (!Push(lane, nullptr)) return;  // the end of the chunk
          break;
        }
      }
    }
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      lane.status = status;
      changed_.notify_all();
    }
  }

  // Queues an item once the lane has room; false when the scan was stopped.
  bool Push(Lane& lane, std::shared_ptr<arrow::RecordBatch> item) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return lane.items.size() < kAhead || stopped_; });
    if (stopped_) return false;
    lane.items.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }

  // Stops and joins the threads, then ends every read transaction.
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (finished_) return;
      finished_ = stopped_ = true;
      next_chunk_ = chunks_;
    }
    changed_.notify_all();
    for (auto& thread : threads_) thread.join();
    for (auto& lane : lanes_) {
      lane.items.clear();
      lane.reader.stmt.reset();
      (void)lane.reader.conn->Exec("COMMIT");
      lane.reader.conn.reset();
    }
  }

  static constexpr size_t kAhead = 2;
  std::shared_ptr<arrow::Schema> schema_;
  const int64_t batch_rows_, first_, width_, chunks_;
  std::vector<Lane> lanes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t next_chunk_ = 0;
  bool stopped_ = false, finished_ = false;
  std::vector<std::thread> threads_;
};

arrow::Result<StoreScan> SequentialScan(const std::shared_ptr<Connection>& conn, const std::string& columns,
                                        std::shared_ptr<arrow::Schema> schema, int64_t batch_rows) {
  ARROW_RETURN_NOT_OK(conn->Exec("BEGIN"));
  StoreScan scan;
  auto status = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(scan.data_version, QueryInt(*conn, kDataVersionSql));  // first read pins the snapshot
    ARROW_ASSIGN_OR_RAISE(scan.row_count, QueryInt(*conn, "SELECT COUNT(*) FROM members"));
    ARROW_ASSIGN_OR_RAISE(auto stmt, Statement::Prepare(*conn, "SELECT " + columns + " FROM members"));
    scan.reader = std::make_shared<ScanReader>(conn, std::move(stmt), std::move(schema), batch_rows);
    return arrow::Status::OK();
  }();
  if (!status.ok()) {
    (void)conn->Exec("ROLLBACK");
    return status;
  }
  return scan;
}

}  // namespace

arrow::Result<StoreScan> ScanMembers(const std::shared_ptr<Connection>& conn, const std::string& columns,
                                     std::shared_ptr<arrow::Schema> schema, int64_t batch_rows, int threads) {
  batch_rows = std::max<int64_t>(1, batch_rows);
  if (threads <= 1 || !conn->Exec("BEGIN IMMEDIATE").ok()) {
    return SequentialScan(conn, columns, std::move(schema), batch_rows);
  }
  // The write lock is held from here to the ROLLBACK below: every read transaction begun in
  // between sees the same, newest commit.
  StoreScan scan;
  std::vector<ParallelScanReader::Reader> readers;
  int64_t first = 0, last = 0;
  auto status = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(scan.data_version, QueryInt(*conn, kDataVersionSql));
    ARROW_ASSIGN_OR_RAISE(auto counts, Statement::Prepare(*conn, "SELECT COUNT(*), MIN(rowid), MAX(rowid) FROM members"));
    ARROW_ASSIGN_OR_RAISE(bool row, counts->Step());
    if (!row) return arrow::Status::IOError("no row count from ", conn->path());
    scan.row_count = counts->Int(0);
    first = counts->Int(1);
    last = counts->Int(2);
    if (scan.row_count < 2 * batch_rows) return arrow::Status::OK();  // not worth more connections
    for (int i = 0; i < threads; ++i) {
      ParallelScanReader::Reader reader;
      ARROW_ASSIGN_OR_RAISE(reader.conn, OpenReader(conn->path()));
      ARROW_RETURN_NOT_OK(reader.conn->Exec("BEGIN"));
      // The first read starts the transaction's snapshot; under the lock it is the same for all.
      ARROW_ASSIGN_OR_RAISE(int64_t version, QueryInt(*reader.conn, kDataVersionSql));
      if (version != scan.data_version) {
        return arrow::Status::IOError("SQLite scan of ", conn->path(), ": reader saw data_version ", version,
                                      " instead of ", scan.data_version);
      }
      ARROW_ASSIGN_OR_RAISE(reader.stmt, Statement::Prepare(*reader.conn, "SELECT " + columns +
                                                                            " FROM members WHERE rowid BETWEEN ?1 AND ?2"));
      readers.push_back(std::move(reader));
    }
    return arrow::Status::OK();
  }();
  (void)conn->Exec("ROLLBACK");  // nothing was written: this only releases the lock
  if (!status.ok() || readers.empty()) {
    // A small table, or one the readers cannot cut by rowid (a WITHOUT ROWID table another
    // program made): one connection reads it, and reports any error that is not about that.
    readers.clear();
    return SequentialScan(conn, columns, std::move(schema), batch_rows);
  }
  // Chunks of about batch_rows rows where rowids are dense; a chunk with more rows (rowids
  // packed unevenly) simply yields more than one batch.
  const int64_t span = last - first + 1;
  const int64_t chunks = std::max<int64_t>(1, (scan.row_count + batch_rows - 1) / batch_rows);
  const int64_t width = (span + chunks - 1) / chunks;
  scan.reader = std::make_shared<ParallelScanReader>(std::move(readers), std::move(schema), batch_rows, first,
                                                     width, chunks);
  return scan;
}

}  // namespace memberlake::store::sqlite
