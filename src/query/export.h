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
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/table.h>

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

// Whether StreamTable writes `format` piece by piece (CSV, NDJSON); the other formats are
// written whole in one piece (XLSX, Parquet and PDF are built as a whole file).
bool Streams(ExportFormat format);

// The same bytes as ExportTable, handed to `write` in pieces of `rows_per_piece` rows (CSV: the
// header first), so the text of the whole file is never held at once.
arrow::Status StreamTable(const arrow::Table& table, ExportFormat format, const ExportOptions& options,
                          const std::function<arrow::Status(std::string_view)>& write,
                          int64_t rows_per_piece = 4096);

}  // namespace memberlake::query
