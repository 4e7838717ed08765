// Scanning: the scope's snapshot files opened (footers cached), pruned, and read projected
// and filtered.
#include <algorithm>
#include <atomic>
#include <functional>
#include <numeric>
#include <optional>
#include <set>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/dataset/api.h>
#include <arrow/dataset/file_parquet.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "model/arrow_compute.h"
#include "query/lru_cache.h"
#include "query/query_internal.h"

namespace memberlake::query {
namespace internal {
namespace {

namespace cp = arrow::compute;
namespace ds = arrow::dataset;

// Lake files are written once under unique names and never changed, so a file's parsed footer
// is kept across queries, keyed by location and size: reading and parsing the full dataset's
// footer is a tenth of a point lookup.
LruCache<std::shared_ptr<parquet::FileMetaData>>& FooterCache() {
  static LruCache<std::shared_ptr<parquet::FileMetaData>> cache(64 << 20);
  return cache;
}

// One lake file as a fragment with its footer loaded, and a reader on it for the pruning passes.
struct OpenLakeFile {
  std::shared_ptr<ds::ParquetFileFragment> fragment;
  std::shared_ptr<parquet::arrow::FileReader> reader;
  // Another reader on the file, with the footer already parsed (FilePiece::reopen).
  std::function<arrow::Result<std::shared_ptr<parquet::arrow::FileReader>>()> reopen;
};

arrow::Result<OpenLakeFile> OpenSnapshotFile(const std::shared_ptr<ds::ParquetFileFormat>& format,
                                             const lake::LakeStorage& lake, const lake::SnapshotFile& file) {
  const std::string path = lake.FullPath(file.path);
  const std::string key = lake.filesystem()->type_name() + ":" + path + "#" + std::to_string(file.bytes);
  ds::FileSource source(path, lake.filesystem());
  ARROW_ASSIGN_OR_RAISE(auto fragment, format->MakeFragment(source));
  OpenLakeFile opened{std::static_pointer_cast<ds::ParquetFileFragment>(fragment), nullptr, nullptr};
  std::shared_ptr<parquet::FileMetaData> footer = FooterCache().Get(key).value_or(nullptr);
  ARROW_ASSIGN_OR_RAISE(opened.reader, format->GetReader(source, std::make_shared<ds::ScanOptions>(), footer));
  if (footer == nullptr) {
    footer = opened.reader->parquet_reader()->metadata();
    FooterCache().Put(key, footer, static_cast<int64_t>(footer->size()));
  }
  opened.reopen = [format, source, footer] { return format->GetReader(source, std::make_shared<ds::ScanOptions>(), footer); };
  ARROW_RETURN_NOT_OK(opened.fragment->EnsureCompleteMetadata(opened.reader.get()));
  return opened;
}


// The row groups of `fragment` that Arrow's statistics admit for `bound` (plain columns only:
// it cannot judge enums, read as dictionaries).
arrow::Result<std::set<int>> ArrowAdmits(ds::ParquetFileFragment& fragment, const cp::Expression& bound) {
  ARROW_ASSIGN_OR_RAISE(auto pieces, fragment.SplitByRowGroup(bound));
  std::set<int> admitted;
  for (const auto& piece : pieces) {
    for (int rg : std::static_pointer_cast<ds::ParquetFileFragment>(piece)->row_groups()) admitted.insert(rg);
  }
  return admitted;
}

}  // namespace

arrow::Result<std::optional<int64_t>> CountFromFooters(const lake::LakeStorage& lake,
                                                       const model::FieldRegistry& registry,
                                                       const std::vector<FilterSpec>& filters,
                                                       const RegionalScope& scope,
                                                       const lake::SnapshotManifest& manifest, QueryResult* result) {
  for (const FilterSpec& filter : filters) {
    if (!IsEnumEquality(registry, filter)) return std::nullopt;
  }
  auto format = std::make_shared<ds::ParquetFileFormat>();
  int64_t rows = 0;
  ScanStats stats;
  for (const lake::SnapshotFile& file : FilesInScope(manifest, scope)) {
    ARROW_ASSIGN_OR_RAISE(OpenLakeFile opened, OpenSnapshotFile(format, lake, file));
    const parquet::FileMetaData& metadata = *opened.fragment->metadata();
    const std::vector<int> possible = RowGroupsMatchingEnumFilters(metadata, registry, filters);
    if (!StatisticsProveAll(metadata, possible, registry, filters)) return std::nullopt;
    for (int rg : possible) rows += metadata.RowGroup(rg)->num_rows();
    stats.files += 1;
    stats.row_groups_total += metadata.num_row_groups();
    stats.row_groups_pruned_by_statistics += metadata.num_row_groups() - static_cast<int64_t>(possible.size());
  }
  result->snapshot_id = manifest.snapshot_id;
  result->data_version = manifest.data_version;
  result->as_of = manifest.as_of;
  result->stats = stats;
  return rows;
}

// The snapshot part of a query: only the scope's files, row groups pruned on enum statistics,
// Arrow's statistics and bloom filters, then a projected, filtered scan. Rows of members in
// `exclude_ids` (changed in the live store since the snapshot) are left out. Without
// `apply_code_filters` the caller applies CodeFilters (their columns must be in `needed`).
arrow::Result<std::shared_ptr<arrow::Table>> ScanSnapshot(const lake::LakeStorage& lake,
                                                          const model::FieldRegistry& registry,
                                                          const RegionalScope& scope, const QuerySpec& spec,
                                                          const ScanPlan& plan, const lake::SnapshotManifest& manifest,
                                                          QueryResult* result) {
  const std::vector<std::string>& needed = plan.needed;
  const std::vector<std::string>& exclude_ids = plan.exclude_ids;
  result->snapshot_id = manifest.snapshot_id;
  result->data_version = manifest.data_version;
  result->as_of = manifest.as_of;
  auto format = std::make_shared<ds::ParquetFileFormat>();
  // Text columns read as the files' dictionaries (set before any file is opened: a fragment's
  // schema follows the reader options it was opened with).
  std::shared_ptr<arrow::Schema> dataset_schema = registry.lake_schema();
  auto read_as_codes = [&](const std::string& name) -> arrow::Status {
    int index = dataset_schema->GetFieldIndex(name);
    if (index < 0 || dataset_schema->field(index)->type()->id() != arrow::Type::STRING) return arrow::Status::OK();
    format->reader_options.dict_columns.insert(name);
    ARROW_ASSIGN_OR_RAISE(dataset_schema, dataset_schema->SetField(index, dataset_schema->field(index)->WithType(
                                                                              arrow::dictionary(arrow::int32(), arrow::utf8()))));
    return arrow::Status::OK();
  };
  // Text group keys: hashed once per entry, not per row.
  for (const std::string& name : plan.as_dictionary) ARROW_RETURN_NOT_OK(read_as_codes(name));
  const std::vector<FilterSpec> filters = FiltersWithScope(registry, scope, spec.where);
  // Text columns under a prefix filter: the prefix is checked once per entry, then each row by
  // its code (RunsOnCodes).
  for (const std::vector<FilterSpec>* group : {&filters, &spec.any}) {
    for (const FilterSpec& f : *group) {
      if (RunsOnCodes(registry, f)) ARROW_RETURN_NOT_OK(read_as_codes(f.column));
    }
  }
  std::vector<std::shared_ptr<ds::FileFragment>> fragments;
  std::vector<FilePiece> pieces;
  std::vector<cp::Expression> other_clauses;
  for (const FilterSpec& f : filters) {
    if (RunsOnCodes(registry, f)) continue;
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, f));
    other_clauses.push_back(std::move(clause));
  }
  cp::Expression filter_without_enums = other_clauses.empty() ? cp::literal(true) : cp::and_(other_clauses);
  // Arrow's statistics pruning sees only these clauses: it cannot use enum statistics, and
  // simplifying the whole filter per row group costs more than reading a small group. The OR
  // group is pruned per alternative below; it runs after the scan, on codes where it can.
  ARROW_ASSIGN_OR_RAISE(auto bound_without_enums, filter_without_enums.Bind(*registry.lake_schema()));
  // Each alternative of the OR group bound alone: a row group is ruled out when the statistics
  // rule out every alternative, each by the statistics that can judge it (an enum's, or
  // Arrow's min/max of a number or date). Judged together, one enum alternative that Arrow
  // cannot judge kept every row group ("regio = Limburg or leeftijd >= 80" read them all).
  std::vector<cp::Expression> alternatives;
  for (const FilterSpec& alternative : spec.any) {
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, alternative));
    ARROW_ASSIGN_OR_RAISE(clause, clause.Bind(*registry.lake_schema()));
    alternatives.push_back(std::move(clause));
  }
  // Filters on codes that the statistics prove for every row group read (a region's own file
  // under its scope, row groups of one status) are not applied: a filter that keeps every row
  // still copied every row (a fifth of reading a region's rows).
  const std::vector<FilterSpec> all_code_filters = CodeFilters(registry, filters);
  bool codes_proven = true;
  for (const lake::SnapshotFile& file : FilesInScope(manifest, scope)) {
    ARROW_ASSIGN_OR_RAISE(OpenLakeFile opened, OpenSnapshotFile(format, lake, file));
    const auto& parquet_fragment = opened.fragment;
    parquet::ParquetFileReader* file_reader = opened.reader->parquet_reader();
    // Row groups that both Arrow (statistics of plain columns) and the enum check keep.
    std::vector<int> kept = RowGroupsMatchingEnumFilters(*parquet_fragment->metadata(), registry, filters);
    if (!other_clauses.empty()) {
      ARROW_ASSIGN_OR_RAISE(std::set<int> by_arrow, ArrowAdmits(*parquet_fragment, bound_without_enums));
      std::erase_if(kept, [&](int rg) { return by_arrow.count(rg) == 0; });
    }
    if (!alternatives.empty() && !kept.empty()) {
      std::set<int> by_any;  // admitted by some alternative
      for (size_t a = 0; a < alternatives.size(); ++a) {
        std::vector<int> admitted = RowGroupsMatchingEnumFilters(*parquet_fragment->metadata(), registry, {spec.any[a]});
        ARROW_ASSIGN_OR_RAISE(std::set<int> by_arrow, ArrowAdmits(*parquet_fragment, alternatives[a]));
        for (int rg : admitted) {
          if (by_arrow.count(rg) != 0) by_any.insert(rg);
        }
      }
      std::erase_if(kept, [&](int rg) { return by_any.count(rg) == 0; });
    }
    const int row_groups = parquet_fragment->metadata()->num_row_groups();
    ARROW_ASSIGN_OR_RAISE(auto after_bloom, RowGroupsPassingBloomFilters(*file_reader, registry, spec.where, kept));
    ScanStats& stats = result->stats;
    auto after_index = RowGroupsPassingPageIndex(*file_reader, registry, spec.where, after_bloom, spec.count_pages, &stats);
    ARROW_ASSIGN_OR_RAISE(auto after_dictionary, RowGroupsPassingDictionaries(*file_reader, registry, spec.where, after_index));
    std::vector<int> all(static_cast<size_t>(row_groups));
    for (int rg = 0; rg < row_groups; ++rg) all[static_cast<size_t>(rg)] = rg;
    stats.files += 1;
    stats.row_groups_total += row_groups;
    stats.row_groups_pruned_by_statistics += row_groups - static_cast<int64_t>(kept.size());
    stats.row_groups_pruned_by_bloom_filter += static_cast<int64_t>(kept.size() - after_bloom.size());
    stats.row_groups_pruned_by_page_index += static_cast<int64_t>(after_bloom.size() - after_index.size());
    stats.row_groups_pruned_by_dictionary += static_cast<int64_t>(after_index.size() - after_dictionary.size());
    kept = std::move(after_dictionary);
    if (plan.top != nullptr && exclude_ids.empty() && spec.any.empty()) {
      const size_t before = kept.size();
      kept = RowGroupsThatCanEnterTopN(*parquet_fragment->metadata(), registry, filters, spec.order_by.front(),
                                       *spec.limit, kept);
      stats.row_groups_pruned_by_top_n += static_cast<int64_t>(before - kept.size());
    }
    stats.row_groups_read += static_cast<int64_t>(kept.size());
    if (spec.count_pages) {
      stats.pages_total += CountPages(*file_reader, all, needed);
      stats.pages_read += CountPages(*file_reader, kept, needed);
    }
    if (kept.empty()) continue;
    codes_proven = codes_proven && StatisticsProveAll(*parquet_fragment->metadata(), kept, registry, all_code_filters);
    pieces.push_back({opened.reader, kept, opened.reopen});
    ARROW_ASSIGN_OR_RAISE(auto subset, parquet_fragment->Subset(kept));
    fragments.push_back(std::static_pointer_cast<ds::FileFragment>(subset));
  }
  if (plan.top != nullptr && exclude_ids.empty() && LateTopNApplies(registry, spec.order_by.front())) {
    ARROW_ASSIGN_OR_RAISE(RowFilter row_filter, RowFilter::Make(registry, filters, spec.any));
    ARROW_RETURN_NOT_OK(ScanTopNLate(pieces, row_filter, spec.order_by.front(), *spec.limit, needed, plan.top,
                                     &result->stats));
    return nullptr;
  }
  // The first rows in file order (a limit without an order): read no further than they lie.
  const bool first_rows = plan.top == nullptr && plan.first_rows && exclude_ids.empty() && !plan.mask_rows;
  const bool on_codes_only = other_clauses.empty() && spec.any.empty();
  const std::vector<FilterSpec> on_codes = codes_proven ? std::vector<FilterSpec>{} : all_code_filters;
  const std::vector<FilterSpec> code_filters = plan.apply_code_filters ? on_codes : std::vector<FilterSpec>{};
  if (first_rows && on_codes_only) {
    return ScanFirstRows(pieces, registry, code_filters, nullptr, needed, *plan.first_rows, &result->stats);
  }
  // Filters all proven by the statistics leave nothing to judge late.
  if (plan.filter_late && exclude_ids.empty() && !(on_codes_only && codes_proven)) {
    ARROW_ASSIGN_OR_RAISE(RowFilter row_filter, RowFilter::Make(registry, filters, spec.any));
    ARROW_ASSIGN_OR_RAISE(auto late, ScanFilteredLate(pieces, row_filter, needed,
                                                      first_rows ? plan.first_rows : std::nullopt, &result->stats));
    if (late && *late != nullptr) return *late;
    if (late) return EmptyRows(registry, needed);  // nothing passed
    if (first_rows) {  // too many pass for the late scan: the first of them, row group by row group
      return ScanFirstRows(pieces, registry, {}, &row_filter, needed, *plan.first_rows, &result->stats);
    }
  }
  if (!exclude_ids.empty()) {
    arrow::StringBuilder ids;
    ARROW_RETURN_NOT_OK(ids.AppendValues(exclude_ids));
    ARROW_ASSIGN_OR_RAISE(auto id_set, ids.Finish());
    filter_without_enums = cp::and_(filter_without_enums, cp::not_(cp::call("is_in", {cp::field_ref("member_id")},
                                                                            cp::SetLookupOptions(id_set))));
  }
  ARROW_ASSIGN_OR_RAISE(auto dataset, ds::FileSystemDataset::Make(dataset_schema, cp::literal(true), format,
                                                                   lake.filesystem(), std::move(fragments)));
  // Enum equalities (and the scope) run on dictionary codes after the scan, here or by the
  // caller; the scanner evaluates the rest. Their columns are read even when the result drops them.
  std::vector<std::string> projected = needed;
  for (const std::vector<FilterSpec>* group : {&on_codes, &spec.any}) {
    for (const FilterSpec& f : *group) {
      if (std::find(projected.begin(), projected.end(), f.column) == projected.end()) projected.push_back(f.column);
    }
  }
  std::optional<RowFilter> mask;
  if (plan.mask_rows) {
    if (!exclude_ids.empty()) return arrow::Status::Invalid("a masked scan cannot leave members out");
    ARROW_ASSIGN_OR_RAISE(mask, RowFilter::Make(registry, filters, spec.any));
    for (const std::string& column : mask->columns()) {
      if (std::find(projected.begin(), projected.end(), column) == projected.end()) projected.push_back(column);
    }
  }
  ds::ScannerBuilder builder(dataset);
  ARROW_RETURN_NOT_OK(builder.Project(projected));
  if (!mask) ARROW_RETURN_NOT_OK(builder.Filter(filter_without_enums));
  ARROW_RETURN_NOT_OK(builder.UseThreads(true));
  ARROW_ASSIGN_OR_RAISE(auto scanner, builder.Finish());
  auto only_needed = [&](const std::shared_ptr<arrow::Table>& rows) {
    std::vector<int> keep;
    for (const auto& name : needed) keep.push_back(rows->schema()->GetFieldIndex(name));
    return rows->SelectColumns(keep);
  };
  if (mask) {  // every row, with a column of which pass: counted without a filtered copy
    ARROW_ASSIGN_OR_RAISE(auto rows, scanner->ToTable());
    std::atomic<int64_t> passing{0};
    ARROW_ASSIGN_OR_RAISE(auto masked, MapBatches(*rows, [&](const std::shared_ptr<arrow::RecordBatch>& batch)
                                                             -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
      // One byte a row (not bits): set and read without bit twiddling.
      ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> bytes, arrow::AllocateBuffer(batch->num_rows()));
      std::vector<uint8_t> keep(static_cast<size_t>(batch->num_rows()), 1);
      ARROW_RETURN_NOT_OK(mask->Apply(*batch, &keep));
      std::copy(keep.begin(), keep.end(), bytes->mutable_data());
      passing += std::accumulate(keep.begin(), keep.end(), int64_t{0});
      std::vector<int> keep_columns;
      for (const auto& name : needed) keep_columns.push_back(batch->schema()->GetFieldIndex(name));
      ARROW_ASSIGN_OR_RAISE(auto selected, batch->SelectColumns(keep_columns));
      return selected->AddColumn(selected->num_columns(), arrow::field(kKeepColumn, arrow::uint8()),
                                 std::make_shared<arrow::UInt8Array>(batch->num_rows(), std::move(bytes)));
    }));
    result->stats.rows_read += passing.load();
    std::vector<int> schema_columns;
    for (const auto& name : needed) schema_columns.push_back(rows->schema()->GetFieldIndex(name));
    arrow::FieldVector fields;
    for (int i : schema_columns) fields.push_back(rows->schema()->field(i));
    fields.push_back(arrow::field(kKeepColumn, arrow::uint8()));
    return arrow::Table::FromRecordBatches(arrow::schema(fields), masked);
  }
  if (plan.top == nullptr && plan.first_rows) {  // the first rows in file order: read no further
    ARROW_ASSIGN_OR_RAISE(auto reader, scanner->ToRecordBatchReader());
    std::vector<std::shared_ptr<arrow::Table>> parts;
    int64_t rows_so_far = 0;
    while (rows_so_far < *plan.first_rows) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
      if (batch == nullptr) break;
      ARROW_ASSIGN_OR_RAISE(auto rows, arrow::Table::FromRecordBatches({batch}));
      ARROW_ASSIGN_OR_RAISE(rows, FilterOnAnyGroup(rows, registry, spec.any));
      if (plan.apply_code_filters) {
        ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, on_codes));
      }
      ARROW_ASSIGN_OR_RAISE(rows, only_needed(rows));
      rows_so_far += rows->num_rows();
      parts.push_back(std::move(rows));
    }
    ARROW_RETURN_NOT_OK(reader->Close());
    if (parts.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::Table::MakeEmpty(scanner->options()->projected_schema));
      return only_needed(empty);
    }
    return arrow::ConcatenateTables(parts);
  }
  if (plan.top == nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto rows, scanner->ToTable());
    ARROW_ASSIGN_OR_RAISE(rows, FilterOnAnyGroup(rows, registry, spec.any));
    if (plan.apply_code_filters) {
      ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, on_codes));
    }
    return only_needed(rows);
  }
  // Top-N: each batch's best rows are kept as it arrives; the rows are never all held.
  ARROW_ASSIGN_OR_RAISE(auto reader, scanner->ToRecordBatchReader());
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
    if (batch == nullptr) break;
    ARROW_ASSIGN_OR_RAISE(auto rows, arrow::Table::FromRecordBatches({batch}));
    ARROW_ASSIGN_OR_RAISE(rows, FilterOnAnyGroup(rows, registry, spec.any));
    ARROW_ASSIGN_OR_RAISE(rows, FilterOnCodes(rows, on_codes));
    ARROW_ASSIGN_OR_RAISE(rows, only_needed(rows));
    result->stats.rows_read += rows->num_rows();
    arrow::TableBatchReader batches(*rows);
    while (true) {
      std::shared_ptr<arrow::RecordBatch> piece;
      ARROW_RETURN_NOT_OK(batches.ReadNext(&piece));
      if (piece == nullptr) break;
      ARROW_RETURN_NOT_OK(plan.top->Add(piece));
    }
  }
  return nullptr;
}


}  // namespace internal

namespace cp = arrow::compute;
namespace ds = arrow::dataset;

arrow::Result<std::shared_ptr<arrow::Table>> ReadLakeFile(const lake::LakeStorage& lake, const std::string& path,
                                                          const std::vector<std::string>& columns) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  auto format = std::make_shared<ds::ParquetFileFormat>();
  ARROW_ASSIGN_OR_RAISE(auto fragment, format->MakeFragment(ds::FileSource(lake.FullPath(path), lake.filesystem())));
  ARROW_ASSIGN_OR_RAISE(auto schema, fragment->ReadPhysicalSchema());
  ARROW_ASSIGN_OR_RAISE(auto dataset, ds::FileSystemDataset::Make(schema, cp::literal(true), format,
                                                                   lake.filesystem(), {std::static_pointer_cast<ds::FileFragment>(fragment)}));
  ds::ScannerBuilder builder(dataset);
  std::vector<std::string> present;
  for (const auto& column : columns) {
    if (schema->GetFieldIndex(column) >= 0) present.push_back(column);  // views hold fewer columns
  }
  ARROW_RETURN_NOT_OK(builder.Project(present));
  ARROW_ASSIGN_OR_RAISE(auto scanner, builder.Finish());
  ARROW_ASSIGN_OR_RAISE(auto table, scanner->ToTable());
  return internal::DecodeDictionaries(table);
}

}  // namespace memberlake::query
