// Query results as files: table (terminal), JSON, NDJSON, CSV for Dutch Excel, XLSX, Parquet.
// Every format carries the same rows and columns; PDF is the exception: address labels, one
// per row, for results with address columns (query/address_labels.h).
//
// CSV: UTF-8 with a byte order mark (Excel then reads é, ë, ö, ij correctly), ';' between
// fields by default (Dutch Excel's list separator; ',' on request) and a decimal comma with ';',
// CRLF line ends, RFC 4180 quoting. A text cell starting with = + - @ tab or carriage return is
// prefixed with an apostrophe so Excel shows it as text instead of running it as a formula.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "query/piece_source.h"

namespace memberlake::query {

enum class ExportFormat { kTable, kJson, kNdjson, kCsv, kXlsx, kParquet, kPdf };

// Status::Invalid naming the format and the supported ones.
arrow::Result<ExportFormat> ParseExportFormat(std::string_view name);
std::string_view FileExtension(ExportFormat format);
std::string_view ContentType(ExportFormat format);
bool IsBinary(ExportFormat format);

struct ExportOptions {
  char csv_separator = ';';
  std::string sheet_name = "memberlake";
};

// The file content.
arrow::Result<std::string> ExportTable(const arrow::Table& table, ExportFormat format,
                                       const ExportOptions& options = {});

// The same bytes as ExportTable, as pieces made on demand, so neither the file nor its text is
// ever held whole (the rows of `table` are, as the caller holds them already): CSV, NDJSON and
// JSON `rows_per_piece` rows a piece (CSV: the header first); Parquet a row group of 65,536 rows
// a piece, written through an output stream that hands on what the writer produced; XLSX written
// in libxlsxwriter's constant-memory mode to a private temporary file, which is unlinked as soon
// as it is open and then read 256 KiB a piece; PDF 16 sheets of labels a piece
// (query/address_labels.h); the table text in one piece.
arrow::Result<std::unique_ptr<PieceSource>> OpenTableSource(std::shared_ptr<arrow::Table> table, ExportFormat format,
                                                             const ExportOptions& options = {},
                                                             int64_t rows_per_piece = 4096);

// Parquet (ZSTD) of every batch `batches` yields, one row group per batch, a row group a piece.
// `keep_alive` is held as long as the source (what `batches` reads from).
std::unique_ptr<PieceSource> OpenParquetSource(std::shared_ptr<arrow::RecordBatchReader> batches,
                                               std::shared_ptr<void> keep_alive = nullptr);

// The Parquet file `input` with only those of `columns` it holds (in the file's order), read
// `batch_rows` rows at a time and written as streamed Parquet (OpenParquetSource, a row group a
// batch): a snapshot file without the columns a caller may not see. Memory is bounded by a
// batch and by Arrow's decoding of one stored row group, not by the file.
arrow::Result<std::unique_ptr<PieceSource>> OpenProjectedParquet(std::shared_ptr<arrow::io::RandomAccessFile> input,
                                                                 const std::vector<std::string>& columns,
                                                                 int64_t batch_rows = 4096);

// The bytes of `input`, `piece_bytes` a piece; a file that ends before its size said is an error.
// 256 KiB: large enough that a piece costs little to hand between threads, small enough that
// what each thread's allocator keeps of the pieces it made stays small.
std::unique_ptr<PieceSource> OpenFileSource(std::shared_ptr<arrow::io::RandomAccessFile> input,
                                            int64_t piece_bytes = 256 * 1024);

// `prefix`, the pieces of `inner`, then `suffix` (a JSON document around streamed rows).
std::unique_ptr<PieceSource> Framed(std::string prefix, std::unique_ptr<PieceSource> inner, std::string suffix);

// The pieces of `inner`, with a copy kept while they fit `limit` bytes (dropped as soon as they
// do not); after the last piece `complete` gets the whole body. A source that fails or is
// destroyed before its end (an aborted stream) never calls it: no partial body is handed on.
std::unique_ptr<PieceSource> Captured(std::unique_ptr<PieceSource> inner, int64_t limit,
                                      std::function<void(std::string)> complete);

// Every piece, joined (for files written whole, and tests).
arrow::Result<std::string> Collect(PieceSource& source);

}  // namespace memberlake::query
