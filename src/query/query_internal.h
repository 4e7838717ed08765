// The query engine's parts, shared by its files (not a public interface): planning
// (query_plan.cc), dictionary codes (query_codes.cc), pruning (query_prune.cc), scanning
// (query_scan.cc), aggregation (query_aggregate.cc) and ordering (query_order.cc). RunQuery
// (query.cc) ties them together.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/expression.h>
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
// The query's filters and, for a regional scope, its region filter: every row is checked
// against the scope as well as only the scope's files being read (defence in depth).
std::vector<FilterSpec> FiltersWithScope(const model::FieldRegistry& registry, const RegionalScope& scope,
                                         const std::vector<FilterSpec>& where);
// The filters that run on dictionary codes: the enum = / in ones (the scope's among them).
std::vector<FilterSpec> CodeFilters(const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters);

// ---- dictionary codes (query_codes.cc)
// Decodes dictionary columns to plain strings, except the `keep_encoded` ones (group keys),
// which get one dictionary across all chunks: grouping on codes is far cheaper than on text.
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const std::shared_ptr<arrow::Table>& table,
                                                                const std::vector<std::string>& keep_encoded = {});

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

// A filter's values as the set of codes it admits, one flag per entry of `dictionary`.
std::vector<uint8_t> AllowedCodes(const arrow::Array& dictionary, const std::vector<std::string>& values);
// Clears keep[i] for every row of `batch` that some code filter rules out (nulls never match).
arrow::Status ApplyCodeFilters(const arrow::RecordBatch& batch, const std::vector<FilterSpec>& filters,
                               std::vector<uint8_t>* keep);
// Keeps the rows of `table` every code filter admits.
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnCodes(const std::shared_ptr<arrow::Table>& table,
                                                           const std::vector<FilterSpec>& filters);

// ---- aggregation (query_aggregate.cc)
// Groups and aggregates `rows`, first keeping only the rows `code_filters` admit.
arrow::Result<std::shared_ptr<arrow::Table>> Aggregate(std::shared_ptr<arrow::Table> rows, const QuerySpec& spec,
                                                       const std::vector<FilterSpec>& code_filters);

// ---- pruning (query_prune.cc): each returns the subset of `row_groups` that may match
std::vector<int> RowGroupsMatchingEnumFilters(const parquet::FileMetaData& metadata,
                                              const model::FieldRegistry& registry,
                                              const std::vector<FilterSpec>& filters);
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
arrow::Result<std::shared_ptr<arrow::Table>> ScanSnapshot(
    const lake::LakeStorage& lake, const model::FieldRegistry& registry, const RegionalScope& scope,
    const QuerySpec& spec, const std::vector<std::string>& needed, const std::vector<std::string>& exclude_ids,
    bool apply_code_filters, const lake::SnapshotManifest& manifest, QueryResult* result);

// ---- ordering (query_order.cc)
// `rows` ordered by `order_by` (Invalid when a key is not a column) and cut to `limit`.
arrow::Result<std::shared_ptr<arrow::Table>> OrderAndLimit(std::shared_ptr<arrow::Table> rows,
                                                           const std::vector<OrderSpec>& order_by,
                                                           std::optional<int64_t> limit);

}  // namespace memberlake::query::internal
