// The query engine's parts, shared by its files (not a public interface): planning
// (query_plan.cc), dictionary codes and row masks (query_codes.cc), pruning (query_prune.cc),
// scanning (query_scan.cc), top-N by late materialisation (query_top_scan.cc, reading single
// pages: query_page_rows.cc), aggregation (query_aggregate.cc, query_group_codes.cc) and
// ordering (query_order.cc, query_sort_indices.cc). RunQuery (query.cc) ties them together.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/expression.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"
#include "query/query.h"

namespace memberlake::query::internal {

// ---- planning (query_plan.cc)
// `text` as a whole number, all of it; nullopt otherwise.
std::optional<int64_t> WholeNumber(std::string_view text);
arrow::Result<int64_t> ParseInteger(std::string_view text, const std::string& column);
// A filter value as a scalar of the column's lake type (enum values in canonical spelling).
arrow::Result<std::shared_ptr<arrow::Scalar>> ToScalar(const model::FieldSpec& spec, const std::string& text);
// The registry's field, or Invalid("unknown column 'x'").
arrow::Result<const model::FieldSpec*> Column(const model::FieldRegistry& registry, const std::string& name);
arrow::Result<arrow::compute::Expression> FilterExpression(const model::FieldRegistry& registry,
                                                           const FilterSpec& filter);
bool IsEnumEquality(const model::FieldRegistry& registry, const FilterSpec& filter);
// Filters evaluated on dictionary codes (once per dictionary entry, then a lookup per row):
// enum = / in, and prefixes of text and enum columns (text read as dictionaries for them).
bool RunsOnCodes(const model::FieldRegistry& registry, const FilterSpec& filter);
// The OR of `any`'s filters (Invalid for an empty group).
arrow::Result<arrow::compute::Expression> AnyExpression(const model::FieldRegistry& registry,
                                                        const std::vector<FilterSpec>& any);
// The query's filters and, for a regional scope, its region filter: every row is checked
// against the scope as well as only the scope's files being read (defence in depth).
std::vector<FilterSpec> FiltersWithScope(const model::FieldRegistry& registry, const RegionalScope& scope,
                                         const std::vector<FilterSpec>& where);
// The filters that run on dictionary codes (RunsOnCodes; the scope's among them).
std::vector<FilterSpec> CodeFilters(const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters);

// ---- dictionary codes (query_codes.cc)
// Decodes dictionary columns to plain strings, except the `keep_encoded` ones (group keys),
// which get one dictionary across all chunks: grouping on codes is far cheaper than on text;
// and the `keep_as_read` ones, left as they are (code filters judge each chunk's dictionary).
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const std::shared_ptr<arrow::Table>& table,
                                                                const std::vector<std::string>& keep_encoded = {},
                                                                const std::vector<std::string>& keep_as_read = {});
// No rows, with the lake's `columns` as a scan returns them (dictionaries decoded to text).
arrow::Result<std::shared_ptr<arrow::Table>> EmptyRows(const model::FieldRegistry& registry,
                                                       const std::vector<std::string>& columns);

// Calls `fn(codes)` with the raw indices of a dictionary array, whatever their integer width
// (a cast to one width would copy every column).
template <typename Fn>
arrow::Status VisitCodes(const arrow::DictionaryArray& encoded, Fn&& fn) {
  const arrow::Array& indices = *encoded.indices();
  switch (indices.type_id()) {
    case arrow::Type::INT8: fn(static_cast<const arrow::Int8Array&>(indices).raw_values()); break;
    case arrow::Type::UINT8: fn(static_cast<const arrow::UInt8Array&>(indices).raw_values()); break;
    case arrow::Type::INT16: fn(static_cast<const arrow::Int16Array&>(indices).raw_values()); break;
    case arrow::Type::UINT16: fn(static_cast<const arrow::UInt16Array&>(indices).raw_values()); break;
    case arrow::Type::INT32: fn(static_cast<const arrow::Int32Array&>(indices).raw_values()); break;
    case arrow::Type::UINT32: fn(static_cast<const arrow::UInt32Array&>(indices).raw_values()); break;
    case arrow::Type::INT64: fn(static_cast<const arrow::Int64Array&>(indices).raw_values()); break;
    case arrow::Type::UINT64: fn(static_cast<const arrow::UInt64Array&>(indices).raw_values()); break;
    default: return arrow::Status::TypeError("dictionary indices of type ", indices.type()->ToString());
  }
  return arrow::Status::OK();
}

// Whether a code filter admits `value`.
bool Admits(const FilterSpec& filter, std::string_view value);
// The codes a code filter admits, one flag per entry of `dictionary`.
std::vector<uint8_t> AllowedCodes(const arrow::Array& dictionary, const FilterSpec& filter);
// Clears keep[i] for every row of `batch` that some code filter rules out (nulls never match);
// a filter's column may be dictionary-encoded text or plain text.
arrow::Status ApplyCodeFilters(const arrow::RecordBatch& batch, const std::vector<FilterSpec>& filters,
                               std::vector<uint8_t>* keep);
// Keeps the rows of `table` every code filter admits.
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnCodes(const std::shared_ptr<arrow::Table>& table,
                                                           const std::vector<FilterSpec>& filters);

// fn(batch) for every batch of `table`, on both cores (Arrow's CPU pool); the results in the
// batches' order. `fn` must be safe to call from several threads at once.
arrow::Result<arrow::RecordBatchVector> MapBatches(
    const arrow::Table& table,
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>(const std::shared_ptr<arrow::RecordBatch>&)>& fn);

// Keeps the rows matching at least one filter of the OR group `any`: its enum = / in
// alternatives on dictionary codes, the others as one Arrow expression (Arrow's set lookup
// would decode every row of an enum to text).
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnAnyGroup(const std::shared_ptr<arrow::Table>& table,
                                                              const model::FieldRegistry& registry,
                                                              const std::vector<FilterSpec>& any);

// A query's filters (ANDed) and OR group as flags per row, without copying rows: the code
// filters on codes, the rest as Arrow expressions bound to each batch. For scans that rank or
// count under a mask instead of materialising the filtered rows.
class RowFilter {
 public:
  static arrow::Result<RowFilter> Make(const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters,
                                       const std::vector<FilterSpec>& any);
  // Clears keep[i] for every row of `batch` that fails; the batch holds columns().
  arrow::Status Apply(const arrow::RecordBatch& batch, std::vector<uint8_t>* keep) const;
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::vector<std::string> columns_;
  std::vector<FilterSpec> on_codes_, any_on_codes_;
  std::optional<arrow::compute::Expression> rest_, any_rest_;
  bool has_any_ = false;
};

// ---- aggregation (query_aggregate.cc)
// The exact q-quantile of `values` (not empty), interpolating linearly between order
// statistics like DuckDB's quantile_cont; found by selection, so `values` is reordered.
double QuantileOf(std::vector<double>& values, double q);
// Whether every aggregate can run on dictionary codes (count, count(col), sum, min, max, avg,
// quantiles): then the code filters are applied while aggregating.
bool AggregatesOnCodes(const QuerySpec& spec);
// The aggregates per combination of group-key codes (query_group_codes.cc); nullopt when the
// rows do not have that shape (a key not dictionary-encoded with one dictionary, a value
// column that is not int64, too many combinations): Acero then does the work.
arrow::Result<std::optional<std::shared_ptr<arrow::Table>>> AggregateByCodes(
    const arrow::Table& rows, const QuerySpec& spec, const std::vector<FilterSpec>& code_filters);
// Groups and aggregates `rows`, first keeping only the rows `code_filters` admit.
arrow::Result<std::shared_ptr<arrow::Table>> Aggregate(std::shared_ptr<arrow::Table> rows, const QuerySpec& spec,
                                                       const std::vector<FilterSpec>& code_filters);

// Invalid, naming the problem, unless every having filter compares an aggregate output.
arrow::Status CheckHaving(const QuerySpec& spec);
// The aggregated rows that pass every `having` filter.
arrow::Result<std::shared_ptr<arrow::Table>> ApplyHaving(std::shared_ptr<arrow::Table> rows,
                                                         const std::vector<FilterSpec>& having);

// ---- pruning (query_prune.cc): each returns the subset of `row_groups` that may match
// Row groups whose enum statistics admit every enum = / in filter (an OR group is pruned per
// alternative by ScanSnapshot, each alternative through this and Arrow's statistics).
std::vector<int> RowGroupsMatchingEnumFilters(const parquet::FileMetaData& metadata,
                                              const model::FieldRegistry& registry,
                                              const std::vector<FilterSpec>& filters);
// True when the statistics prove every row of row group `rg` passes `filter`: an enum = / in
// whose chunk holds one value, no nulls, and that value among the filter's.
bool StatisticsProveAllMatch(const parquet::FileMetaData& metadata, int rg, const model::FieldRegistry& registry,
                             const FilterSpec& filter);
// StatisticsProveAllMatch for every filter in every one of `row_groups`.
bool StatisticsProveAll(const parquet::FileMetaData& metadata, const std::vector<int>& row_groups,
                        const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters);
// Order by a number or date column with a limit of k: row groups whose statistics prove at
// least k rows (all passing `filters`) at or before a threshold make every row group that
// starts after it useless. Conservative: anything unproven is kept.
std::vector<int> RowGroupsThatCanEnterTopN(const parquet::FileMetaData& metadata, const model::FieldRegistry& registry,
                                           const std::vector<FilterSpec>& filters, const OrderSpec& first, int64_t k,
                                           const std::vector<int>& row_groups);
arrow::Result<std::vector<int>> RowGroupsPassingBloomFilters(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups);
std::vector<int> RowGroupsPassingPageIndex(parquet::ParquetFileReader& reader, const model::FieldRegistry& registry,
                                           const std::vector<FilterSpec>& filters, const std::vector<int>& row_groups,
                                           bool count_pages, ScanStats* stats);
arrow::Result<std::vector<int>> RowGroupsPassingDictionaries(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups);
// Data pages of `columns` in `row_groups`, from the offset index.
int64_t CountPages(parquet::ParquetFileReader& reader, const std::vector<int>& row_groups,
                   const std::vector<std::string>& columns);

// ---- scanning (query_scan.cc)
// The snapshot part of a query: only the scope's files, pruned, then a projected, filtered
// scan. Rows of members in `exclude_ids` are left out. Without `apply_code_filters` the
// caller applies CodeFilters (their columns must be in `needed`).
class TopRows;
inline constexpr const char* kKeepColumn = "__keep";
struct ScanPlan {
  std::vector<std::string> needed;       // the columns returned, in this order
  std::vector<std::string> exclude_ids;  // members whose snapshot rows are left out
  bool apply_code_filters = true;        // false: the caller applies CodeFilters
  std::vector<std::string> as_dictionary;  // text columns read dictionary-encoded (group keys)
  // Order + limit: the rows go to `top` (spec.order_by / spec.limit) and the scan returns
  // null; row groups whose statistics cannot enter the top are skipped.
  TopRows* top = nullptr;
  // Count under a mask: no row is filtered out; a uint8 column kKeepColumn (1/0) tells which rows
  // pass every filter (the scope, the OR group, the code filters among them).
  bool mask_rows = false;
  // Rows without an order, with a limit: the scan stops once this many rows have passed.
  std::optional<int64_t> first_rows;
  // Filtered rows, late: per row group the filter's columns first, then the selected columns of
  // the rows that pass only (ScanFilteredLate). Not with exclude_ids, top or mask_rows.
  bool filter_late = false;
};
arrow::Result<std::shared_ptr<arrow::Table>> ScanSnapshot(const lake::LakeStorage& lake,
                                                          const model::FieldRegistry& registry,
                                                          const RegionalScope& scope, const QuerySpec& spec,
                                                          const ScanPlan& plan, const lake::SnapshotManifest& manifest,
                                                          QueryResult* result);
// The rows of the scope's files that pass `filters` (the scope's among them), from the
// footers alone: when every row group is either ruled out by its enum statistics or proven to
// pass every filter (StatisticsProveAllMatch), their rows are counted without reading a value.
// nullopt when some row group is neither: it has to be read.
arrow::Result<std::optional<int64_t>> CountFromFooters(const lake::LakeStorage& lake,
                                                       const model::FieldRegistry& registry,
                                                       const std::vector<FilterSpec>& filters,
                                                       const RegionalScope& scope,
                                                       const lake::SnapshotManifest& manifest, QueryResult* result);

// ---- top-N by late materialisation (query_top_scan.cc)
// A lake file's reader and the row groups of it that pruning kept. `reopen` gives another
// reader on the same file with the same footer: a FileReader pre-buffers its reads and is not
// safe to share between threads, so each thread of ForEachRowGroup reads through its own.
struct FilePiece {
  std::shared_ptr<parquet::arrow::FileReader> reader;
  std::vector<int> row_groups;
  std::function<arrow::Result<std::shared_ptr<parquet::arrow::FileReader>>()> reopen;
};
// One row group of one piece.
struct RowGroupRef {
  size_t piece;
  int row_group;
};
// Every kept row group of `pieces`, in file order.
std::vector<RowGroupRef> RowGroupsOf(const std::vector<FilePiece>& pieces);
// How many workers ForEachRowGroup runs for `items` row groups (per-worker state is sized so).
int RowGroupWorkers(size_t items);
// Runs `work(worker, reader, i)` for every items[i] on Arrow's CPU pool (both cores), each
// worker through its own readers and taking the next item as it finishes one (row groups differ
// in cost). `work` keeps per-worker state by `worker` (< RowGroupWorkers) or writes slot i;
// the first error stops the others and is returned.
arrow::Status ForEachRowGroup(
    const std::vector<FilePiece>& pieces, const std::vector<RowGroupRef>& items,
    const std::function<arrow::Status(int worker, parquet::arrow::FileReader& reader, size_t item)>& work);
// Whether the first order key suits ScanTopNLate (numbers, dates, timestamps).
bool LateTopNApplies(const model::FieldRegistry& registry, const OrderSpec& first);
// Adds to `top` the rows of `pieces` passing `filter` that can be among the best `k` by
// `first` (ties on it included), with the `needed` columns: the key and filter columns are
// read for every row group, `needed` only for row groups holding such rows.
arrow::Status ScanTopNLate(const std::vector<FilePiece>& pieces, const RowFilter& filter, const OrderSpec& first,
                           int64_t k, const std::vector<std::string>& needed, TopRows* top, ScanStats* stats);

// Filtered rows by late materialisation (query_filter_scan.cc): per row group the filter's
// columns are read and judged first, then `needed` of the rows that pass only (from their pages
// when they are few). Rows in file order, text and enums as plain strings; null when none pass.
// nullopt, with nothing counted, when more than half of the rows pass (scan them whole).
// With `wanted`, only the first that many rows that pass are read.
arrow::Result<std::optional<std::shared_ptr<arrow::Table>>> ScanFilteredLate(const std::vector<FilePiece>& pieces,
                                                                             const RowFilter& filter,
                                                                             const std::vector<std::string>& needed,
                                                                             std::optional<int64_t> wanted,
                                                                             ScanStats* stats);
// The first `wanted` rows in file order, with the `needed` columns, reading no further. With
// `filter` null the rows pass `code_filters` (enum equalities and prefixes: the scope among
// them) and only the rows still wanted are read, from the pages holding them. With a filter
// (any other clause, an OR group), row group after row group is judged on its own columns and
// `needed` read for the rows that pass. Text and enums as plain strings.
arrow::Result<std::shared_ptr<arrow::Table>> ScanFirstRows(const std::vector<FilePiece>& pieces,
                                                           const model::FieldRegistry& registry,
                                                           const std::vector<FilterSpec>& code_filters,
                                                           const RowFilter* filter,
                                                           const std::vector<std::string>& needed, int64_t wanted,
                                                           ScanStats* stats);

// ---- reading parts of row groups (query_page_rows.cc)
// `columns` of a whole row group, as the reader's Arrow schema has them.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadColumns(parquet::arrow::FileReader& reader, int row_group,
                                                               const std::vector<std::string>& columns);
// `needed` (in that order) of `rows` (ascending) of a row group: from only the pages holding
// them while rows * few_divisor <= the row group's rows (enums then come as plain text), else
// the row group's columns read whole and taken.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadRowsOfRowGroup(parquet::arrow::FileReader& reader, int row_group,
                                                                      const std::vector<std::string>& needed,
                                                                      const std::vector<int64_t>& rows, int few_divisor);
// The values of `rows` (ascending rows of row group `rg`) of the column `field`, decoding only
// the data pages that hold them (query_page_rows.cc); enums come back as plain text. Null when
// the file has no offset index or the column's type is not handled (read the row group then).
arrow::Result<std::shared_ptr<arrow::Array>> ReadRowsOfColumn(parquet::ParquetFileReader& file, int rg,
                                                              const arrow::Field& field,
                                                              const std::vector<int64_t>& rows);

// ---- ordering (query_order.cc)
// `rows` ordered by `order_by` (Invalid when a key is not a column) and cut to `limit`.
arrow::Result<std::shared_ptr<arrow::Table>> OrderAndLimit(std::shared_ptr<arrow::Table> rows,
                                                           const std::vector<OrderSpec>& order_by,
                                                           std::optional<int64_t> limit);

// The permutation that orders `batch` as arrow::compute::SortIndices(batch, options) does
// (stable; each key's null placement), faster when the first key is an integer or a date
// (query_sort_indices.cc). UInt32 or UInt64 indices.
arrow::Result<std::shared_ptr<arrow::Array>> SortIndicesOf(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                           const arrow::compute::SortOptions& options);

// Order + limit up to this many rows takes the top-N path; above it a full sort is cheaper.
inline constexpr int64_t kMaxTopN = 10000;
// spec.order_by followed by the tie breakers: member_id for rows, the group keys for
// aggregates (those not ordered on already). Empty when the query has no order.
std::vector<OrderSpec> WithTieBreak(const QuerySpec& spec, bool aggregating);

// The best `k` rows under `order_by` of everything added, batch by batch: each batch's best
// k are selected (select_k, no sort) and the candidates merged when they outgrow a few
// times k. Keys should end in a unique column for a deterministic answer.
class TopRows {
 public:
  TopRows(std::vector<OrderSpec> order_by, int64_t k);
  arrow::Status Add(const std::shared_ptr<arrow::RecordBatch>& batch);
  // The best k rows, ordered, dictionaries decoded; `empty_schema` when nothing was added.
  arrow::Result<std::shared_ptr<arrow::Table>> Finish(const std::shared_ptr<arrow::Schema>& empty_schema);

 private:
  arrow::Status Merge(bool sort);
  std::vector<OrderSpec> order_by_;
  int64_t k_;
  std::vector<std::shared_ptr<arrow::Table>> pending_;
  int64_t pending_rows_ = 0;
};

}  // namespace memberlake::query::internal
