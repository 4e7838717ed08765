// anonymise: an anonymised dataset of all members (transform/anonymisation.h), for AI and
// external analytics.
#include "cli/commands.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/query_output.h"
#include "query/export.h"
#include "transform/anonymisation.h"
#include "transform/anonymisation_summary.h"

namespace memberlake::cli {
namespace {

struct AnonymiseCliOptions {
  SourceOptions source;
  std::string out;
  std::string format = "parquet";
  int k = 5;
  int l = 0;
  double max_suppression = -1;
  std::vector<std::string> columns;
  std::string pseudonym_key_env;
  std::string policy;
  bool json = false;
};

arrow::Status RunAnonymise(const GlobalOptions& global, const AnonymiseCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(query::ExportFormat format, query::ParseExportFormat(o.format));
  if (format == query::ExportFormat::kPdf || format == query::ExportFormat::kTable) {
    return arrow::Status::Invalid("--format: ", o.format, " is not a dataset format (parquet, csv, json, ndjson, xlsx)");
  }
  ARROW_ASSIGN_OR_RAISE(auto policy, transform::AnonymisationPolicy::Load(o.policy, *registry));
  transform::AnonymiseOptions options;
  options.k = o.k;
  options.l = o.l;
  options.max_suppression = o.max_suppression;
  options.columns = o.columns;
  // Refused before any data is read: a bad column costs no scan.
  auto chosen = policy->Choose(options.columns, *registry);
  if (!chosen.ok()) return arrow::Status::Invalid("--columns: ", chosen.status().message());
  if (!o.pseudonym_key_env.empty()) {
    const char* key = std::getenv(o.pseudonym_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      return arrow::Status::Invalid("--pseudonym-key-env: ", o.pseudonym_key_env, " is not set");
    }
    options.pseudonym_key = key;
  }
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(registry, o.source));
  query::QuerySpec read;
  read.select = transform::AnonymisationPolicy::InputColumns(*chosen, !options.pseudonym_key.empty());
  ARROW_ASSIGN_OR_RAISE(auto result, open.source->Run(query::RegionalScope::All(), read));
  ARROW_ASSIGN_OR_RAISE(auto dataset, transform::Anonymise(*result.table, *registry, *policy, options));
  ARROW_ASSIGN_OR_RAISE(std::string bytes, query::ExportTable(*dataset.rows, format));
  ARROW_RETURN_NOT_OK(WriteOutput(o.out, bytes));
  if (o.json) {
    auto summary = transform::AnonymisationSummary(dataset);
    summary["out"] = o.out;
    summary["snapshot_id"] = result.snapshot_id;
    summary["source"] = result.source;
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::fprintf(stderr,
                 "%lld of %lld members written to %s: k = %d over %zu quasi-identifiers, %lld suppressed, "
                 "information loss (NCP) %.3f\n",
                 static_cast<long long>(dataset.rows->num_rows()), static_cast<long long>(dataset.rows_in),
                 o.out.c_str(), o.k, dataset.quasi_identifiers.size(), static_cast<long long>(dataset.suppressed),
                 dataset.ncp);
  }
  return arrow::Status::OK();
}

}  // namespace

void AddAnonymiseCommands(CLI::App& app, const CommandContext& context) {
  auto ao = std::make_shared<AnonymiseCliOptions>();
  auto* anonymise = app.add_subcommand(
      "anonymise",
      "An anonymised dataset for AI and analytics: identifiers dropped, every released column generalised "
      "(config/anonymisation.toml) until k-anonymous over all of them together, status l-diverse");
  ao->source.AddTo(anonymise);
  anonymise->add_option("--out", ao->out, "The file to write")->required();
  anonymise->add_option("--format", ao->format, "parquet (default), csv, json, ndjson or xlsx");
  anonymise->add_option("--k", ao->k, "Every combination of the released quasi-identifiers is shared by at least k rows")
      ->capture_default_str()->check(CLI::Range(2, 1000000));
  anonymise->add_option("--l", ao->l, "Distinct values of each sensitive column (status) per class (default: the policy's, 2)")
      ->check(CLI::Range(1, 64));
  anonymise->add_option("--max-suppression", ao->max_suppression,
                        "Fraction of rows that may be suppressed before generalising further (default: the policy's, 0.05)")
      ->check(CLI::Range(0.0, 1.0));
  anonymise->add_option("--columns", ao->columns,
                        "Columns to release (comma-separated; default: the policy's). Identifiers are refused")
      ->delimiter(',');
  anonymise->add_option("--pseudonym-key-env", ao->pseudonym_key_env,
                        "Add a stable pseudonym per member: HMAC-SHA256 of member_id under the key in this variable");
  anonymise->add_option("--policy", ao->policy,
                        "Anonymisation policy TOML (roles, hierarchies; default: the built-in config/anonymisation.toml)");
  anonymise->add_flag("--json", ao->json, "Print a JSON summary (levels chosen, information lost)");
  anonymise->callback([=] { context.Finish(RunAnonymise(*context.global, *ao)); });
}

}  // namespace memberlake::cli
