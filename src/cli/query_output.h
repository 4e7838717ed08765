// Where a command's rows come from (--lake, --store, hybrid reads) and where its answer goes
// (--format, --out, --explain): shared by every command that answers with rows.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <arrow/result.h>

#include "cli/cli_support.h"
#include "lake/lake_storage.h"
#include "query/member_source.h"
#include "query/query.h"
#include "store/member_store.h"

namespace memberlake::cli {

// Where and how a query or report result goes: --format, --out, --csv-separator, --explain.
struct OutputOptions {
  std::string format = "table";
  std::string out;  // empty: stdout
  std::string csv_separator = ";";
  bool explain = false;

  void AddTo(CLI::App* cmd);
};

// Where rows come from: --lake, --store, --snapshot-only, --live-only, ...
struct SourceOptions {
  std::string lake;
  std::string store;
  bool snapshot_only = false;
  bool live_only = false;
  bool verify = false;
  int64_t max_age = 0;
  std::string as_of;

  void AddTo(CLI::App* cmd);
};

// The lake, the store and the source built from them, alive together.
struct OpenSource {
  std::shared_ptr<lake::LakeStorage> lake;
  std::unique_ptr<store::MemberStore> store;
  std::unique_ptr<query::MemberSource> source;
  model::CivilDate today;
};

arrow::Result<OpenSource> OpenMemberSource(const std::shared_ptr<const model::FieldRegistry>& registry,
                                           const SourceOptions& o);

// Writes the result in the chosen format to --out (atomically) or stdout; the --explain figures
// go to stdout for the table format, else to stderr.
arrow::Status PrintResult(const query::QueryResult& result, const query::RegionalScope& scope,
                          const OutputOptions& o);

}  // namespace memberlake::cli
