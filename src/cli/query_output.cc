#include "cli/query_output.h"

#include <unistd.h>

#include <cstdio>

#include "query/export.h"
#include "query/result_format.h"

namespace memberlake::cli {

void OutputOptions::AddTo(CLI::App* cmd) {
  cmd->add_option("--format", format,
                  "table, json, ndjson, csv (Dutch Excel), xlsx, parquet, or pdf (address labels, 3 x 8 on A4)");
  cmd->add_option("--out", out, "Write to this file instead of stdout (required for xlsx, parquet and pdf on a terminal)");
  cmd->add_option("--csv-separator", csv_separator, "CSV field separator: ';' (default, Dutch Excel) or ','");
  cmd->add_flag("--explain", explain, "Report files and row groups read and pruned (stderr for file formats)");
}


void SourceOptions::AddTo(CLI::App* cmd) {
  cmd->add_option("--lake", lake, "Lake folder or file:// URI");
  cmd->add_option("--store", store,
                  "Live store URI: answers are the snapshot plus the store's changes since it (hybrid)");
  auto* snapshot = cmd->add_flag("--snapshot-only", snapshot_only, "Ignore the live store's changes");
  auto* live = cmd->add_flag("--live-only", live_only, "Answer from the live store alone (needs --store)");
  snapshot->excludes(live);
  cmd->add_flag("--verify", verify, "Check the snapshot's checksums first; fall back to the live store if bad");
  cmd->add_option("--max-snapshot-age", max_age, "Seconds after which a snapshot is too old (fall back to live)");
  cmd->add_option("--as-of", as_of, "Reference date YYYY-MM-DD for live rows (default: today, Europe/Amsterdam)");
}

arrow::Result<OpenSource> OpenMemberSource(const std::shared_ptr<const model::FieldRegistry>& registry,
                                           const SourceOptions& o) {
  OpenSource open;
  if (o.lake.empty() && o.store.empty()) return arrow::Status::Invalid("give --lake, --store or both");
  if (!o.lake.empty()) {
    ARROW_ASSIGN_OR_RAISE(open.lake, lake::LakeStorage::Open(o.lake, /*create=*/false));
  }
  if (!o.store.empty()) {
    ARROW_ASSIGN_OR_RAISE(open.store, store::OpenMemberStore(o.store, registry));
  }
  query::ReadOptions options;
  options.mode = o.live_only ? query::ReadMode::kLiveOnly
                             : o.snapshot_only ? query::ReadMode::kSnapshotOnly : query::ReadMode::kHybrid;
  options.verify_checksums = o.verify;
  options.max_snapshot_age_seconds = o.max_age;
  ARROW_ASSIGN_OR_RAISE(open.today, ResolveAsOf(o.as_of));
  options.as_of = open.today;
  open.source = std::make_unique<query::MemberSource>(open.lake.get(), open.store.get(), registry, options);
  return open;
}

arrow::Status PrintResult(const query::QueryResult& result, const query::RegionalScope& scope,
                          const OutputOptions& o) {
  ARROW_ASSIGN_OR_RAISE(query::ExportFormat format, query::ParseExportFormat(o.format));
  if (o.csv_separator != ";" && o.csv_separator != ",") {
    return arrow::Status::Invalid("--csv-separator must be ';' or ','");
  }
  const auto& stats = result.stats;
  char explain[900];
  std::snprintf(explain, sizeof explain,
                "-- snapshot %s (data_version %lld), scope %s: %lld file(s); row groups: %lld of %lld read "
                "(%lld pruned on statistics, %lld by bloom filters, %lld by page indexes, %lld by dictionaries); "
                "pages: %lld of %lld read (%lld excluded by page indexes); %lld rows matched\n",
                result.snapshot_id.c_str(), static_cast<long long>(result.data_version), scope.ToString().c_str(),
                static_cast<long long>(stats.files), static_cast<long long>(stats.row_groups_read),
                static_cast<long long>(stats.row_groups_total),
                static_cast<long long>(stats.row_groups_pruned_by_statistics),
                static_cast<long long>(stats.row_groups_pruned_by_bloom_filter),
                static_cast<long long>(stats.row_groups_pruned_by_page_index),
                static_cast<long long>(stats.row_groups_pruned_by_dictionary),
                static_cast<long long>(stats.pages_read), static_cast<long long>(stats.pages_total),
                static_cast<long long>(stats.pages_excluded_by_page_index), static_cast<long long>(stats.rows_read));
  if (format == query::ExportFormat::kJson) {
    // JSON carries the result's provenance next to the rows.
    ARROW_ASSIGN_OR_RAISE(std::string doc, query::ResultToJsonDocument(result, scope.ToString(), o.explain));
    return WriteOutput(o.out, doc + "\n");
  }
  if (query::IsBinary(format) && o.out.empty() && isatty(STDOUT_FILENO)) {
    return arrow::Status::Invalid("--format ", o.format, " is binary: give --out FILE or redirect stdout");
  }
  query::ExportOptions options;
  options.csv_separator = o.csv_separator[0];
  ARROW_ASSIGN_OR_RAISE(std::string bytes, query::ExportTable(*result.table, format, options));
  ARROW_RETURN_NOT_OK(WriteOutput(o.out, bytes));
  if (o.explain) std::fputs(explain, format == query::ExportFormat::kTable ? stdout : stderr);
  return arrow::Status::OK();
}

}  // namespace memberlake::cli
