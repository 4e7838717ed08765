#include "query/export.h"

#include <unistd.h>
#include <xlsxwriter.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numeric>
#include <utility>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include "model/calendar.h"
#include "query/address_labels.h"
#include "query/result_format.h"

namespace memberlake::query {
namespace {

constexpr int64_t kReadBufferBytes = 128 * 1024;  // per column read from a stored file

// The pool for streamed Parquet (reading a stored file a batch at a time, writing a row group a
// piece): jemalloc, else the system allocator. Arrow's default pool (mimalloc in the wheel) keeps
// several times what it hands out resident under this pattern of many short-lived column
// buffers: a restricted-column download of a 10 MB file peaked ~85 MB above the process's
// previous peak with it, while its largest allocation at once was ~12 MB (docs/benchmarks.md).
arrow::MemoryPool* StreamingPool() {
  static arrow::MemoryPool* const pool = [] {
    arrow::MemoryPool* jemalloc = nullptr;
    return arrow::jemalloc_memory_pool(&jemalloc).ok() ? jemalloc : arrow::system_memory_pool();
  }();
  return pool;
}

bool IsNumeric(const arrow::DataType& type) { return arrow::is_integer(type.id()) || arrow::is_floating(type.id()); }

bool IsNumericList(const arrow::DataType& type) {
  return type.id() == arrow::Type::LIST && IsNumeric(*static_cast<const arrow::ListType&>(type).value_type());
}

std::string CsvCell(std::string text, const arrow::DataType& type, char separator) {
  if (IsNumeric(type) || IsNumericList(type)) {  // a numeric list's items are a space apart
    if (separator == ';') std::replace(text.begin(), text.end(), '.', ',');  // decimal comma
    return text;
  }
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' ||
                        text[0] == '\t' || text[0] == '\r')) {
    text.insert(text.begin(), '\'');
  }
  if (text.find_first_of(std::string{separator, '"', '\r', '\n'}) == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  return quoted + "\"";
}

// The byte order mark and the header line.
std::string CsvHead(const arrow::Schema& schema, char separator) {
  std::string out = "\xEF\xBB\xBF";
  for (int c = 0; c < schema.num_fields(); ++c) {
    if (c) out.push_back(separator);
    out += CsvCell(schema.field(c)->name(), *arrow::utf8(), separator);
  }
  return out + "\r\n";
}

arrow::Status CsvLines(const arrow::RecordBatch& rows, char separator, std::string& out) {
  for (int64_t row = 0; row < rows.num_rows(); ++row) {
    for (int c = 0; c < rows.num_columns(); ++c) {
      if (c) out.push_back(separator);
      ARROW_ASSIGN_OR_RAISE(auto text, CellText(*rows.column(c), row));
      if (text) out += CsvCell(std::move(*text), *rows.column(c)->type(), separator);
    }
    out += "\r\n";
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> ToNdjson(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(std::string array, TableToJsonRows(table));
  auto rows = nlohmann::ordered_json::parse(array);
  std::string out;
  for (const auto& row : rows) out += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return out;
}

arrow::Status CheckCsvSeparator(char separator) {
  if (separator != ';' && separator != ',') return arrow::Status::Invalid("CSV separator must be ';' or ','");
  return arrow::Status::OK();
}

// A private folder (mkdtemp, mode 0700) that goes with everything in it.
class PrivateFolder {
 public:
  static arrow::Result<std::unique_ptr<PrivateFolder>> Make() {
    std::string path = (std::filesystem::temp_directory_path() / "memberlake-export-XXXXXX").string();
    if (mkdtemp(path.data()) == nullptr) return arrow::Status::IOError("cannot create a private temporary folder");
    return std::unique_ptr<PrivateFolder>(new PrivateFolder(std::move(path)));
  }
  ~PrivateFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit PrivateFolder(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes the workbook to `path`. Constant-memory mode: each row goes to the library's temporary
// file as soon as the next one starts, so memory does not grow with the rows (cells must come
// row by row, which they do; strings are stored inline instead of in a shared table).
arrow::Status WriteXlsx(const arrow::Table& table, const std::string& sheet_name, const std::string& folder,
                        const std::string& path) {
  lxw_workbook_options workbook_options = {};
  workbook_options.constant_memory = LXW_TRUE;
  workbook_options.tmpdir = const_cast<char*>(folder.c_str());
  lxw_workbook* workbook = workbook_new_opt(path.c_str(), &workbook_options);
  if (workbook == nullptr) return arrow::Status::IOError("cannot create an XLSX workbook");
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, sheet_name.c_str());
  lxw_format* header = workbook_add_format(workbook);
  format_set_bold(header);
  lxw_format* date = workbook_add_format(workbook);
  format_set_num_format(date, "yyyy-mm-dd");
  for (int c = 0; c < table.num_columns(); ++c) {
    worksheet_write_string(sheet, 0, static_cast<lxw_col_t>(c), table.schema()->field(c)->name().c_str(), header);
  }
  arrow::TableBatchReader batches(table);
  batches.set_chunksize(4096);
  int64_t first_row = 0;
  arrow::Status written;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> rows;
    written = batches.ReadNext(&rows);
    if (!written.ok() || rows == nullptr) break;
    for (int64_t row = 0; row < rows->num_rows() && written.ok(); ++row) {
      auto r = static_cast<lxw_row_t>(first_row + row + 1);
      for (int c = 0; c < rows->num_columns(); ++c) {
        const arrow::Array& column = *rows->column(c);
        auto col = static_cast<lxw_col_t>(c);
        if (column.IsNull(row)) continue;
        if (column.type_id() == arrow::Type::INT64) {
          worksheet_write_number(sheet, r, col, static_cast<double>(static_cast<const arrow::Int64Array&>(column).Value(row)), nullptr);
        } else if (column.type_id() == arrow::Type::DOUBLE) {
          worksheet_write_number(sheet, r, col, static_cast<const arrow::DoubleArray&>(column).Value(row), nullptr);
        } else if (column.type_id() == arrow::Type::DATE32) {
          model::CivilDate d = model::CivilFromDays(static_cast<const arrow::Date32Array&>(column).Value(row));
          lxw_datetime when = {d.year, d.month, d.day, 0, 0, 0.0};
          worksheet_write_datetime(sheet, r, col, &when, date);
        } else {
          // write_string never evaluates text as a formula
          auto text = CellText(column, row);
          if (!text.ok()) {
            written = text.status();
            break;
          }
          worksheet_write_string(sheet, r, col, (*text)->c_str(), nullptr);
        }
      }
    }
    if (!written.ok()) break;
    first_row += rows->num_rows();
  }
  lxw_error error = workbook_close(workbook);  // also frees it: always, on errors too
  ARROW_RETURN_NOT_OK(written);
  if (error != LXW_NO_ERROR) return arrow::Status::IOError("writing XLSX failed: ", lxw_strerror(error));
  return arrow::Status::OK();
}

// An arrow output stream that keeps what is written until `Take` hands it on: the Parquet
// writer's bytes, a row group at a time.
class PendingBytes : public arrow::io::OutputStream {
 public:
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (closed_) return arrow::Status::Invalid("write to a closed stream");
    pending_.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
    position_ += nbytes;
    return arrow::Status::OK();
  }
  std::string Take() { return std::exchange(pending_, std::string()); }

 private:
  std::string pending_;
  int64_t position_ = 0;
  bool closed_ = false;
};

class ParquetSource : public PieceSource {
 public:
  ParquetSource(std::shared_ptr<arrow::RecordBatchReader> batches, std::shared_ptr<void> keep_alive)
      : batches_(std::move(batches)), keep_alive_(std::move(keep_alive)), sink_(std::make_shared<PendingBytes>()) {}

  arrow::Result<std::optional<std::string>> Next() override {
    if (done_) return std::nullopt;
    if (!writer_) {
      auto properties = parquet::WriterProperties::Builder()
                            .compression(parquet::Compression::ZSTD)
                            ->memory_pool(StreamingPool())
                            ->build();
      ARROW_ASSIGN_OR_RAISE(writer_, parquet::arrow::FileWriter::Open(*batches_->schema(), StreamingPool(), sink_,
                                                                      properties));
    }
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(auto batch, batches_->Next());
      if (batch == nullptr) {
        ARROW_RETURN_NOT_OK(writer_->Close());
        done_ = true;
        return sink_->Take();  // the footer (and the magic, for a file without rows)
      }
      if (batch->num_rows() == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto rows, arrow::Table::FromRecordBatches(batches_->schema(), {batch}));
      ARROW_RETURN_NOT_OK(writer_->WriteTable(*rows, batch->num_rows()));  // one row group
      std::string piece = sink_->Take();
      if (!piece.empty()) return piece;
    }
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> batches_;
  std::shared_ptr<void> keep_alive_;
  std::shared_ptr<PendingBytes> sink_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  bool done_ = false;
};

class FileSource : public PieceSource {
 public:
  FileSource(std::shared_ptr<arrow::io::RandomAccessFile> input, int64_t piece_bytes)
      : input_(std::move(input)), piece_bytes_(piece_bytes) {}

  arrow::Result<std::optional<std::string>> Next() override {
    if (size_ < 0) {
      ARROW_ASSIGN_OR_RAISE(size_, input_->GetSize());
    }
    if (offset_ >= size_) return std::nullopt;
    // Read straight into the piece: no second copy of it.
    std::string piece(static_cast<size_t>(std::min(piece_bytes_, size_ - offset_)), '\0');
    ARROW_ASSIGN_OR_RAISE(int64_t read, input_->ReadAt(offset_, static_cast<int64_t>(piece.size()), piece.data()));
    if (read <= 0) return arrow::Status::IOError("file ended at byte ", offset_, " of ", size_, " while read");
    piece.resize(static_cast<size_t>(read));
    offset_ += read;
    return piece;
  }

 private:
  std::shared_ptr<arrow::io::RandomAccessFile> input_;
  const int64_t piece_bytes_;
  int64_t size_ = -1, offset_ = 0;
};

// XLSX: the workbook is written on the first call (libxlsxwriter writes to a named file), then
// read back a piece at a time. Personal data must not land where another user could predict,
// pre-create or read it: a folder of our own with an unpredictable name holds the file and the
// library's temporary files, and goes as soon as the finished file is open.
class XlsxSource : public PieceSource {
 public:
  XlsxSource(std::shared_ptr<arrow::Table> table, std::string sheet_name)
      : table_(std::move(table)), sheet_name_(std::move(sheet_name)) {}

  arrow::Result<std::optional<std::string>> Next() override {
    if (!file_) {
      ARROW_ASSIGN_OR_RAISE(auto folder, PrivateFolder::Make());
      std::string path = (std::filesystem::path(folder->path()) / "export.xlsx").string();
      ARROW_RETURN_NOT_OK(WriteXlsx(*table_, sheet_name_, folder->path(), path));
      ARROW_ASSIGN_OR_RAISE(auto input, arrow::io::ReadableFile::Open(path));
      table_.reset();
      file_ = std::make_unique<FileSource>(std::move(input), 256 * 1024);
    }  // the folder is removed here; the open file stays readable until the source goes
    return file_->Next();
  }

 private:
  std::shared_ptr<arrow::Table> table_;
  const std::string sheet_name_;
  std::unique_ptr<FileSource> file_;
};

// CSV, NDJSON and JSON rows, `rows_per_piece` at a time.
class TextRowsSource : public PieceSource {
 public:
  TextRowsSource(std::shared_ptr<arrow::Table> table, ExportFormat format, ExportOptions options, int64_t rows_per_piece)
      : table_(std::move(table)), format_(format), options_(std::move(options)), rows_per_piece_(rows_per_piece) {}

  arrow::Result<std::optional<std::string>> Next() override {
    if (done_) return std::nullopt;
    if (!started_) {
      started_ = true;
      if (format_ == ExportFormat::kCsv) return CsvHead(*table_->schema(), options_.csv_separator);
      if (format_ == ExportFormat::kJson && table_->num_rows() > 0) return std::string("[");
    }
    if (offset_ >= table_->num_rows()) {
      done_ = true;
      if (format_ == ExportFormat::kJson) return std::string(table_->num_rows() > 0 ? "]" : "[]");
      return std::nullopt;
    }
    std::shared_ptr<arrow::Table> slice = table_->Slice(offset_, rows_per_piece_);
    std::string piece;
    if (format_ == ExportFormat::kNdjson) {
      ARROW_ASSIGN_OR_RAISE(piece, ToNdjson(*slice));
    } else if (format_ == ExportFormat::kJson) {
      ARROW_ASSIGN_OR_RAISE(std::string array, TableToJsonRows(*slice));
      if (offset_ > 0) piece.push_back(',');
      piece.append(array, 1, array.size() - 2);  // without [ and ]
    } else {
      ARROW_ASSIGN_OR_RAISE(auto rows, slice->CombineChunksToBatch());
      ARROW_RETURN_NOT_OK(CsvLines(*rows, options_.csv_separator, piece));
    }
    offset_ += slice->num_rows();
    return piece;
  }

 private:
  std::shared_ptr<arrow::Table> table_;
  const ExportFormat format_;
  const ExportOptions options_;
  const int64_t rows_per_piece_;
  int64_t offset_ = 0;
  bool started_ = false, done_ = false;
};

// A body made whole (the table text), handed out in one piece.
class WholeSource : public PieceSource {
 public:
  explicit WholeSource(std::function<arrow::Result<std::string>()> make) : make_(std::move(make)) {}
  arrow::Result<std::optional<std::string>> Next() override {
    if (!make_) return std::nullopt;
    auto make = std::exchange(make_, nullptr);
    ARROW_ASSIGN_OR_RAISE(std::string whole, make());
    if (whole.empty()) return std::nullopt;
    return whole;
  }

 private:
  std::function<arrow::Result<std::string>()> make_;
};

// Captured (export.h). Pieces are kept as they came and joined once at the end, so a capture
// never holds more than `limit` plus, while joining, the body once more.
class CapturingSource : public PieceSource {
 public:
  CapturingSource(std::unique_ptr<PieceSource> inner, int64_t limit, std::function<void(std::string)> complete)
      : inner_(std::move(inner)), limit_(limit), complete_(std::move(complete)) {}

  arrow::Result<std::optional<std::string>> Next() override {
    ARROW_ASSIGN_OR_RAISE(auto piece, inner_->Next());
    if (!capturing_) return piece;
    if (!piece) {
      std::string whole;
      whole.reserve(static_cast<size_t>(size_));
      for (const auto& kept : pieces_) whole += kept;
      Drop();
      complete_(std::move(whole));
      return piece;
    }
    size_ += static_cast<int64_t>(piece->size());
    if (size_ > limit_) {
      Drop();
    } else {
      pieces_.push_back(*piece);
    }
    return piece;
  }

 private:
  void Drop() {
    capturing_ = false;
    std::vector<std::string>().swap(pieces_);
  }

  std::unique_ptr<PieceSource> inner_;
  const int64_t limit_;
  std::function<void(std::string)> complete_;
  std::vector<std::string> pieces_;
  int64_t size_ = 0;
  bool capturing_ = true;
};

class FramedSource : public PieceSource {
 public:
  FramedSource(std::string prefix, std::unique_ptr<PieceSource> inner, std::string suffix)
      : prefix_(std::move(prefix)), inner_(std::move(inner)), suffix_(std::move(suffix)) {}
  arrow::Result<std::optional<std::string>> Next() override {
    if (!prefix_.empty()) return std::exchange(prefix_, std::string());
    if (inner_) {
      ARROW_ASSIGN_OR_RAISE(auto piece, inner_->Next());
      if (piece) return piece;
      inner_.reset();
    }
    if (!suffix_.empty()) return std::exchange(suffix_, std::string());
    return std::nullopt;
  }

 private:
  std::string prefix_;
  std::unique_ptr<PieceSource> inner_;
  std::string suffix_;
};

}  // namespace

arrow::Result<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "table") return ExportFormat::kTable;
  if (name == "json") return ExportFormat::kJson;
  if (name == "ndjson") return ExportFormat::kNdjson;
  if (name == "csv") return ExportFormat::kCsv;
  if (name == "xlsx") return ExportFormat::kXlsx;
  if (name == "parquet") return ExportFormat::kParquet;
  if (name == "pdf") return ExportFormat::kPdf;
  return arrow::Status::Invalid("unknown format '", name, "' (table, json, ndjson, csv, xlsx, parquet, pdf)");
}

std::string_view FileExtension(ExportFormat format) {
  switch (format) {
    case ExportFormat::kTable: return "txt";
    case ExportFormat::kJson: return "json";
    case ExportFormat::kNdjson: return "ndjson";
    case ExportFormat::kCsv: return "csv";
    case ExportFormat::kXlsx: return "xlsx";
    case ExportFormat::kParquet: return "parquet";
    case ExportFormat::kPdf: return "pdf";
  }
  return "bin";
}

std::string_view ContentType(ExportFormat format) {
  switch (format) {
    case ExportFormat::kTable: return "text/plain; charset=utf-8";
    case ExportFormat::kJson: return "application/json";
    case ExportFormat::kNdjson: return "application/x-ndjson";
    case ExportFormat::kCsv: return "text/csv; charset=utf-8";
    case ExportFormat::kXlsx: return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    case ExportFormat::kParquet: return "application/vnd.apache.parquet";
    case ExportFormat::kPdf: return "application/pdf";
  }
  return "application/octet-stream";
}

bool IsBinary(ExportFormat format) {
  return format == ExportFormat::kXlsx || format == ExportFormat::kParquet || format == ExportFormat::kPdf;
}

arrow::Result<std::string> ExportTable(const arrow::Table& table, ExportFormat format, const ExportOptions& options) {
  // The caller holds the table for the whole call: a non-owning pointer to it will do.
  std::shared_ptr<arrow::Table> borrowed(std::shared_ptr<arrow::Table>(), const_cast<arrow::Table*>(&table));
  ARROW_ASSIGN_OR_RAISE(auto source, OpenTableSource(std::move(borrowed), format, options));
  return Collect(*source);
}

arrow::Result<std::unique_ptr<PieceSource>> OpenTableSource(std::shared_ptr<arrow::Table> table, ExportFormat format,
                                                             const ExportOptions& options, int64_t rows_per_piece) {
  if (rows_per_piece <= 0) return arrow::Status::Invalid("rows_per_piece must be positive");
  switch (format) {
    case ExportFormat::kCsv:
      ARROW_RETURN_NOT_OK(CheckCsvSeparator(options.csv_separator));
      [[fallthrough]];
    case ExportFormat::kNdjson:
    case ExportFormat::kJson:
      return std::make_unique<TextRowsSource>(std::move(table), format, options, rows_per_piece);
    case ExportFormat::kParquet: {
      auto batches = std::make_shared<arrow::TableBatchReader>(table);
      batches->set_chunksize(64 * 1024);
      return OpenParquetSource(std::move(batches), table);
    }
    case ExportFormat::kXlsx:
      return std::make_unique<XlsxSource>(std::move(table), options.sheet_name);
    case ExportFormat::kTable:
      return std::make_unique<WholeSource>([table] { return TableToText(*table); });
    case ExportFormat::kPdf:
      return OpenAddressLabels(std::move(table));
  }
  return arrow::Status::Invalid("unknown export format");
}

std::unique_ptr<PieceSource> OpenParquetSource(std::shared_ptr<arrow::RecordBatchReader> batches,
                                               std::shared_ptr<void> keep_alive) {
  return std::make_unique<ParquetSource>(std::move(batches), std::move(keep_alive));
}

arrow::Result<std::unique_ptr<PieceSource>> OpenProjectedParquet(std::shared_ptr<arrow::io::RandomAccessFile> input,
                                                                 const std::vector<std::string>& columns,
                                                                 int64_t batch_rows) {
  // Memory stays near a batch: column chunks are read through a small buffer instead of whole
  // (buffered stream), nothing is read ahead for later row groups (no pre-buffering, which
  // coalesces and keeps the selected chunks of every row group), and pages are decoded
  // `batch_rows` rows at a time on this thread.
  parquet::ReaderProperties reading(StreamingPool());
  reading.enable_buffered_stream();
  reading.set_buffer_size(kReadBufferBytes);
  auto properties = parquet::default_arrow_reader_properties();
  properties.set_batch_size(batch_rows);
  properties.set_pre_buffer(false);
  properties.set_use_threads(false);
  parquet::arrow::FileReaderBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Open(std::move(input), reading));
  builder.memory_pool(StreamingPool());
  builder.properties(properties);
  std::unique_ptr<parquet::arrow::FileReader> opened;
  ARROW_ASSIGN_OR_RAISE(opened, builder.Build());
  std::shared_ptr<parquet::arrow::FileReader> reader = std::move(opened);
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader->GetSchema(&schema));
  std::vector<int> indices;  // top-level fields; the file's order
  for (int field = 0; field < schema->num_fields(); ++field) {
    if (std::find(columns.begin(), columns.end(), schema->field(field)->name()) != columns.end()) {
      indices.push_back(field);
    }
  }
  std::vector<int> row_groups(static_cast<size_t>(reader->num_row_groups()));
  std::iota(row_groups.begin(), row_groups.end(), 0);
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<arrow::RecordBatchReader> batches,
                        reader->GetRecordBatchReader(row_groups, indices));
  return OpenParquetSource(std::shared_ptr<arrow::RecordBatchReader>(std::move(batches)), reader);
}

std::unique_ptr<PieceSource> OpenFileSource(std::shared_ptr<arrow::io::RandomAccessFile> input, int64_t piece_bytes) {
  return std::make_unique<FileSource>(std::move(input), piece_bytes);
}

std::unique_ptr<PieceSource> Framed(std::string prefix, std::unique_ptr<PieceSource> inner, std::string suffix) {
  return std::make_unique<FramedSource>(std::move(prefix), std::move(inner), std::move(suffix));
}

std::unique_ptr<PieceSource> Captured(std::unique_ptr<PieceSource> inner, int64_t limit,
                                      std::function<void(std::string)> complete) {
  return std::make_unique<CapturingSource>(std::move(inner), limit, std::move(complete));
}

arrow::Result<std::string> Collect(PieceSource& source) {
  std::string whole;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto piece, source.Next());
    if (!piece) return whole;
    whole += *piece;
  }
}

}  // namespace memberlake::query
