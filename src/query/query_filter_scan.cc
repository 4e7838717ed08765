// Filtered rows by late materialisation. Arrow's scanner decodes every projected column of
// every row it reads and filters afterwards; for a selective filter that is mostly text
// decoded and copied for rows that are dropped (the birthday list of a region: 6% of its rows
// pass, and its five text columns were three quarters of the time). Here the filter's columns
// of a row group are read and judged first, and the selected columns are read for the rows
// that pass only: from just their pages, without copying the other rows' values, while they
// are a quarter of the row group or fewer. A filter that lets more than a quarter of all rows
// through is left to the scanner, which reads the row groups on both cores.
#include <optional>

#include <arrow/api.h>
#include <parquet/arrow/reader.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace {

// Below this share of a row group's rows, the passing rows are read from their pages; above
// this share of all rows, the late scan gives way to Arrow's scanner (both cores, no take).
constexpr int kFewRowsDivisor = 4;
constexpr int kSelectiveDivisor = 4;

}  // namespace

arrow::Result<std::optional<std::shared_ptr<arrow::Table>>> ScanFilteredLate(const std::vector<FilePiece>& pieces,
                                                                             const RowFilter& filter,
                                                                             const std::vector<std::string>& needed,
                                                                             ScanStats* stats) {
  int64_t total = 0;
  for (const FilePiece& piece : pieces) {
    for (int rg : piece.row_groups) total += piece.reader->parquet_reader()->metadata()->RowGroup(rg)->num_rows();
  }
  // Phase 1: the rows of every row group that pass.
  struct Passing {
    const FilePiece* piece;
    int row_group;
    std::vector<int64_t> rows;
  };
  std::vector<Passing> passing;
  int64_t passed = 0;
  std::vector<uint8_t> keep;
  for (const FilePiece& piece : pieces) {
    for (int rg : piece.row_groups) {
      ARROW_ASSIGN_OR_RAISE(auto judged, ReadColumns(*piece.reader, rg, filter.columns()));
      keep.assign(static_cast<size_t>(judged->num_rows()), 1);
      ARROW_RETURN_NOT_OK(filter.Apply(*judged, &keep));
      Passing group{&piece, rg, {}};
      for (size_t i = 0; i < keep.size(); ++i) {
        if (keep[i]) group.rows.push_back(static_cast<int64_t>(i));
      }
      passed += static_cast<int64_t>(group.rows.size());
      if (passed * kSelectiveDivisor > total) return std::nullopt;
      if (!group.rows.empty()) passing.push_back(std::move(group));
    }
  }
  // Phase 2: the selected columns of those rows.
  stats->rows_read += passed;
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (const Passing& group : passing) {
    ARROW_ASSIGN_OR_RAISE(auto selected, ReadRowsOfRowGroup(*group.piece->reader, group.row_group, needed, group.rows,
                                                            kFewRowsDivisor));
    ARROW_ASSIGN_OR_RAISE(auto part, arrow::Table::FromRecordBatches({selected}));
    // Rows read from their pages hold enums as text, rows read whole as dictionaries: alike.
    ARROW_ASSIGN_OR_RAISE(part, DecodeDictionaries(part));
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return std::shared_ptr<arrow::Table>();
  arrow::ConcatenateTablesOptions options;
  options.unify_schemas = true;  // nullability may differ between the two reads
  return arrow::ConcatenateTables(parts, options);
}

}  // namespace memberlake::query::internal
