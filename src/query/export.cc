#include "query/export.h"

#include <unistd.h>
#include <xlsxwriter.h>

#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/writer.h>

#include "model/calendar.h"
#include "query/address_labels.h"
#include "query/result_format.h"

namespace memberlake::query {
namespace {

bool IsNumeric(const arrow::DataType& type) { return arrow::is_integer(type.id()) || arrow::is_floating(type.id()); }

std::string CsvCell(std::string text, const arrow::DataType& type, char separator) {
  if (IsNumeric(type)) {
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

arrow::Result<std::string> ToCsv(const arrow::RecordBatch& rows, char separator) {
  std::string out = CsvHead(*rows.schema(), separator);
  ARROW_RETURN_NOT_OK(CsvLines(rows, separator, out));
  return out;
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

arrow::Result<std::string> ToParquet(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  auto properties = parquet::WriterProperties::Builder().compression(parquet::Compression::ZSTD)->build();
  ARROW_RETURN_NOT_OK(parquet::arrow::WriteTable(table, arrow::default_memory_pool(), sink, 64 * 1024, properties));
  ARROW_ASSIGN_OR_RAISE(auto buffer, sink->Finish());
  return buffer->ToString();
}

arrow::Result<std::string> ToXlsx(const arrow::RecordBatch& rows, const std::string& sheet_name) {
  // libxlsxwriter (1.1.4) writes to a named file. Personal data must not land where another
  // user could predict, pre-create or read it: a folder of our own with an unpredictable name
  // (mkdtemp, mode 0700) holds the file and the library's own temporary files, and goes when
  // the bytes are read.
  std::string folder = (std::filesystem::temp_directory_path() / "memberlake-export-XXXXXX").string();
  if (mkdtemp(folder.data()) == nullptr) return arrow::Status::IOError("cannot create a private folder for XLSX");
  struct RemoveFolder {
    std::string path;
    ~RemoveFolder() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{folder};
  std::filesystem::path path = std::filesystem::path(folder) / "export.xlsx";
  lxw_workbook_options workbook_options = {};
  workbook_options.tmpdir = folder.data();
  lxw_workbook* workbook = workbook_new_opt(path.c_str(), &workbook_options);
  if (workbook == nullptr) return arrow::Status::IOError("cannot create an XLSX workbook");
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, sheet_name.c_str());
  lxw_format* header = workbook_add_format(workbook);
  format_set_bold(header);
  lxw_format* date = workbook_add_format(workbook);
  format_set_num_format(date, "yyyy-mm-dd");
  for (int c = 0; c < rows.num_columns(); ++c) {
    worksheet_write_string(sheet, 0, static_cast<lxw_col_t>(c), rows.schema()->field(c)->name().c_str(), header);
  }
  for (int64_t row = 0; row < rows.num_rows(); ++row) {
    auto r = static_cast<lxw_row_t>(row + 1);
    for (int c = 0; c < rows.num_columns(); ++c) {
      const arrow::Array& column = *rows.column(c);
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
        ARROW_ASSIGN_OR_RAISE(auto text, CellText(column, row));
        worksheet_write_string(sheet, r, col, text->c_str(), nullptr);
      }
    }
  }
  lxw_error error = workbook_close(workbook);
  if (error != LXW_NO_ERROR) return arrow::Status::IOError("writing XLSX failed: ", lxw_strerror(error));
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in.good() && !in.eof()) return arrow::Status::IOError("reading the XLSX back failed");
  return bytes.str();
}

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
  if (format == ExportFormat::kParquet) return ToParquet(table);
  if (format == ExportFormat::kJson) return TableToJsonRows(table);
  if (format == ExportFormat::kNdjson) return ToNdjson(table);
  if (format == ExportFormat::kTable) return TableToText(table);
  ARROW_ASSIGN_OR_RAISE(auto rows, table.CombineChunksToBatch());
  if (format == ExportFormat::kPdf) return AddressLabelsPdf(*rows);
  if (format == ExportFormat::kCsv) {
    ARROW_RETURN_NOT_OK(CheckCsvSeparator(options.csv_separator));
    return ToCsv(*rows, options.csv_separator);
  }
  return ToXlsx(*rows, options.sheet_name);
}

bool Streams(ExportFormat format) { return format == ExportFormat::kCsv || format == ExportFormat::kNdjson; }

arrow::Status StreamTable(const arrow::Table& table, ExportFormat format, const ExportOptions& options,
                          const std::function<arrow::Status(std::string_view)>& write, int64_t rows_per_piece) {
  if (!Streams(format)) {
    ARROW_ASSIGN_OR_RAISE(std::string whole, ExportTable(table, format, options));
    return write(whole);
  }
  if (format == ExportFormat::kCsv) {
    ARROW_RETURN_NOT_OK(CheckCsvSeparator(options.csv_separator));
    ARROW_RETURN_NOT_OK(write(CsvHead(*table.schema(), options.csv_separator)));
  }
  for (int64_t offset = 0; offset < table.num_rows(); offset += rows_per_piece) {
    std::shared_ptr<arrow::Table> slice = table.Slice(offset, rows_per_piece);
    std::string piece;
    if (format == ExportFormat::kNdjson) {
      ARROW_ASSIGN_OR_RAISE(piece, ToNdjson(*slice));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto rows, slice->CombineChunksToBatch());
      ARROW_RETURN_NOT_OK(CsvLines(*rows, options.csv_separator, piece));
    }
    ARROW_RETURN_NOT_OK(write(piece));
  }
  return arrow::Status::OK();
}

}  // namespace memberlake::query
