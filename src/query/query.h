// The query surface over a lake snapshot: select columns, filter, group and aggregate, order,
// limit, always inside a RegionalScope. The scope is applied before anything else (only the
// scope's regional files are opened, and the region predicate is added to every scan), and
// there is no way to run a query without one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"

namespace memberlake::query {

// The regions a caller may see: all, or a non-empty set of the registry's regions.
class RegionalScope {
 public:
  static RegionalScope All() { return RegionalScope(true, {}); }
  // Status::Invalid("unknown region 'X'") for a name that is not a region of the registry.
  static arrow::Result<RegionalScope> Regions(const model::FieldRegistry& registry,
                                              std::vector<std::string> regions);
  bool all() const { return all_; }
  const std::vector<std::string>& regions() const { return regions_; }
  // "all" or the regions joined by ','; part of cache keys and audit entries.
  std::string ToString() const;

 private:
  RegionalScope(bool all, std::vector<std::string> regions) : all_(all), regions_(std::move(regions)) {}
  bool all_;
  std::vector<std::string> regions_;
};

// The snapshot files a scope reads: the full dataset for all regions, else its regions' files.
std::vector<lake::SnapshotFile> FilesInScope(const lake::SnapshotManifest& manifest, const RegionalScope& scope);

enum class FilterOp { kEq, kNe, kIn, kLt, kLe, kGt, kGe, kIsNull, kNotNull, kPrefix, kMonth, kDay, kBetween };

struct FilterSpec {
  std::string column;
  FilterOp op = FilterOp::kEq;
  std::vector<std::string> values;  // text, converted to the column's type when the query runs
                                    // (kBetween: low and high, both included)
};

enum class AggregateFn { kCount, kCountAll, kMin, kMax, kAvg, kQuantile, kSum, kCountDistinct };

struct AggregateSpec {
  AggregateFn fn = AggregateFn::kCountAll;
  std::string column;     // empty for count(*)
  std::string name;       // output column name
  double quantile = 0.5;  // kQuantile: exact, interpolating linearly (DuckDB's quantile_cont)
};

struct OrderSpec {
  std::string column;
  bool descending = false;
};

struct QuerySpec {
  std::vector<std::string> select;  // empty: all columns (without group_by/aggregates)
  std::vector<FilterSpec> where;    // ANDed
  // One OR group: a row passes when it matches at least one of these (and every `where`
  // filter and the scope). Empty: no OR group.
  std::vector<FilterSpec> any;
  std::vector<std::string> group_by;
  std::vector<AggregateSpec> aggregates;
  // Filters on aggregate outputs (column = an aggregate's name: count, avg_leeftijd, ...),
  // ANDed, applied after grouping.
  std::vector<FilterSpec> having;
  // Ties are broken by the following keys, then by member_id (rows) or the group keys
  // (aggregates), so equal queries give equal answers.
  std::vector<OrderSpec> order_by;
  std::optional<int64_t> limit;
  bool count_pages = false;  // fill ScanStats' page counts (--explain): reads every offset index
};

// Text forms used by the CLI and the HTTP API:
//   filters: "col=v", "col!=v", "col<v", "col<=v", "col>v", "col>=v", "col in a|b|c",
//            "col is null", "col is not null", "col^=prefix", "col.month=9", "col.day=26",
//            "col between low and high" (numbers and dates, both ends included)
//   aggregates: "count", "count(col)", "count(distinct col)", "sum(col)", "min(col)",
//               "max(col)", "avg(col)", "median(col)", "quantile(col,0.25)"
//   having: a filter whose column is an aggregate's output name ("count>100")
//   order: "col" or "col:desc"
arrow::Result<FilterSpec> ParseFilter(std::string_view text);
arrow::Result<AggregateSpec> ParseAggregate(std::string_view text);
arrow::Result<OrderSpec> ParseOrder(std::string_view text);

// What the scan touched, for --explain.
struct ScanStats {
  int64_t files = 0;
  int64_t row_groups_total = 0;
  int64_t row_groups_pruned_by_statistics = 0;
  int64_t row_groups_pruned_by_bloom_filter = 0;  // equality on a lookup column, value absent
  int64_t row_groups_pruned_by_page_index = 0;    // no page's min/max admits the value
  int64_t row_groups_pruned_by_dictionary = 0;    // the value is not in the chunk's dictionary
  int64_t row_groups_pruned_by_top_n = 0;         // order + limit: statistics rule out entering the top
  int64_t pages_excluded_by_page_index = 0;       // pages of filter columns the index rules out
  int64_t row_groups_read = 0;
  int64_t pages_total = 0;  // data pages of the needed columns in all row groups (page index)
  int64_t pages_read = 0;   // data pages of the needed columns in the row groups read
  int64_t rows_read = 0;    // rows that passed the filter
};

struct QueryResult {
  std::shared_ptr<arrow::Table> table;  // enums decoded to plain strings
  std::string source = "snapshot";      // snapshot | hybrid | live
  std::string fallback_reason;          // why a hybrid read answered from the live store only
  std::string snapshot_id;              // empty when no snapshot was read
  int64_t data_version = 0;             // the snapshot's data_version
  std::string as_of;                    // reference date of the calculated fields
  int64_t live_data_version = 0;        // the live store's data_version, when it was read
  int64_t live_rows = 0;                // rows that came from the live store
  bool cached = false;                  // served from a ResultCache
  ScanStats stats;
};

// Rows read from the live store, already transformed like generation (lake schema), and the
// member ids whose snapshot rows they replace (changed or deleted since the snapshot).
struct LiveRows {
  std::shared_ptr<arrow::Table> rows;
  std::vector<std::string> replaced_ids;
  int64_t data_version = 0;
};

// One lake file's rows with only `columns` (in that order), enums decoded to plain strings:
// a snapshot file as a caller may download it. The caller has checked access to the file.
arrow::Result<std::shared_ptr<arrow::Table>> ReadLakeFile(const lake::LakeStorage& lake, const std::string& path,
                                                          const std::vector<std::string>& columns);

// Runs `spec` on the lake's current snapshot within `scope`. Errors name the problem: unknown
// column, a value of the wrong type for its column, an impossible date, an unknown enum value.
arrow::Result<QueryResult> RunQuery(const lake::LakeStorage& lake, const model::FieldRegistry& registry,
                                    const RegionalScope& scope, const QuerySpec& spec);
// The general form: the snapshot (if `lake`) without the rows `live` replaces, plus `live`'s
// rows (if `live`), filtered, scoped and aggregated as one table. `manifest` names the
// snapshot to read; null reads the lake's current one.
arrow::Result<QueryResult> RunQuery(const lake::LakeStorage* lake, const LiveRows* live,
                                    const model::FieldRegistry& registry, const RegionalScope& scope,
                                    const QuerySpec& spec, const lake::SnapshotManifest* manifest = nullptr);

}  // namespace memberlake::query
