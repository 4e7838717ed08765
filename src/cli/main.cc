// memberlake: one binary for the command line (and, as the server and Lambda issues land,
// the HTTP server and the Lambda handler). Each subcommand is a thin edge over the core:
// parse options, call the library, map arrow::Status to an exit code (cli_support.h).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "jobs/generate_snapshot.h"
#include "server/api_keys.h"
#include "server/audit_log.h"
#include "server/http_server.h"
#include "server/lambda_runtime.h"
#include "server/server_config.h"
#include "lake/lake_storage.h"
#include "lake/snapshot_lifecycle.h"
#include "lake/snapshot_manifest.h"
#include "model/member_json.h"
#include "query/export.h"
#include "query/member_source.h"
#include "query/process_tuning.h"
#include "query/query.h"
#include "query/report_catalog.h"
#include "query/result_format.h"
#include "store/member_store.h"
#include "store/sample_members.h"
#include "transform/anonymisation.h"

namespace memberlake::cli {
namespace {

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), {});
}

arrow::Result<std::unique_ptr<store::MemberStore>> OpenStore(const GlobalOptions& global,
                                                            const std::string& uri, bool create) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  store::StoreOptions options;
  options.create_if_missing = create;
  return store::OpenMemberStore(uri, registry, options);
}

// ---- members ----------------------------------------------------------------------------

struct MembersOptions {
  std::string store_uri;
  std::string member_id;
  std::string json;  // "-" or empty: read stdin
  int64_t expected_version = -1;
  int64_t offset = 0;
  int64_t limit = 100;
};

arrow::Result<std::string> JsonArgument(const std::string& json) {
  return json.empty() || json == "-" ? ReadStdin() : json;
}

arrow::Status RunMembers(const GlobalOptions& global, const std::string& action,
                         const MembersOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenStore(global, o.store_uri, action == "add"));
  const auto& registry = *store->registry();
  auto print = [&](const store::StoredMember& member) {
    std::cout << model::MemberToJson(registry, member.record, member.version) << "\n";
  };
  if (action == "add") {
    ARROW_ASSIGN_OR_RAISE(std::string text, JsonArgument(o.json));
    ARROW_ASSIGN_OR_RAISE(auto fields, model::ParseMemberJson(text));
    ARROW_ASSIGN_OR_RAISE(auto member, store->Insert(fields));
    print(member);
  } else if (action == "get") {
    ARROW_ASSIGN_OR_RAISE(auto member, store->Get(o.member_id));
    print(member);
  } else if (action == "update") {
    ARROW_ASSIGN_OR_RAISE(std::string text, JsonArgument(o.json));
    ARROW_ASSIGN_OR_RAISE(auto fields, model::ParseMemberJson(text));
    ARROW_ASSIGN_OR_RAISE(auto member, store->Update(o.member_id, fields, o.expected_version));
    print(member);
  } else if (action == "delete") {
    ARROW_RETURN_NOT_OK(store->Delete(o.member_id, o.expected_version));
  } else if (action == "list") {
    ARROW_ASSIGN_OR_RAISE(auto members, store->List(o.offset, o.limit));
    std::cout << "[";
    for (size_t i = 0; i < members.size(); ++i) {
      std::cout << (i ? ",\n " : "") << model::MemberToJson(registry, members[i].record, members[i].version);
    }
    std::cout << "]\n";
  }
  return arrow::Status::OK();
}

// ---- seed / generate / snapshots / demo -------------------------------------------------

struct SeedOptions {
  std::string store_uri;
  int64_t members = 1500;
  uint64_t seed = 1;
  bool json = false;
};

arrow::Result<int64_t> Seed(const GlobalOptions& global, const SeedOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenStore(global, o.store_uri, /*create=*/true));
  store::SampleOptions sample;
  sample.members = o.members;
  sample.seed = o.seed;
  ARROW_ASSIGN_OR_RAISE(auto batches, store::MakeSampleMembers(store->registry(), sample));
  return store->ImportRaw(*batches);
}

struct GenerateCliOptions {
  std::string store_uri;
  std::string lake;
  std::string as_of;
  int keep = 0;  // 0: keep every snapshot
  int pause_before_publish_ms = 0;  // tests of racing generations
  bool json = false;
};

arrow::Result<jobs::GenerateSummary> Generate(const GlobalOptions& global, const GenerateCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(model::CivilDate as_of, ResolveAsOf(o.as_of));
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  TerminalProgress progress(!o.json);
  jobs::GenerateOptions options;
  options.as_of = as_of;
  options.progress = [&](std::string_view stage, int64_t done, int64_t total) {
    progress.Update(stage, done, total);
  };
  if (o.keep > 0) {
    options.retention = lake::RetentionPolicy{};
    options.retention->keep_last = o.keep;
  }
  options.pause_before_publish = std::chrono::milliseconds(o.pause_before_publish_ms);
  return jobs::GenerateFromUris(o.store_uri, o.lake, registry, options);
}

void PrintSummary(const jobs::GenerateSummary& s, const std::string& lake) {
  const auto& m = s.manifest;
  std::printf("snapshot %s  data_version %lld  as_of %s\n", m.snapshot_id.c_str(),
              static_cast<long long>(m.data_version), m.as_of.c_str());
  std::printf("members %lld  quarantined %lld (report: %s/%s)\n", static_cast<long long>(m.members),
              static_cast<long long>(m.quarantined), lake.c_str(), m.quarantine_path.c_str());
  for (const auto& f : m.files) {
    std::printf("  %8lld rows %10lld bytes  %s\n", static_cast<long long>(f.rows),
                static_cast<long long>(f.bytes), f.path.c_str());
  }
  std::printf("seconds: scan %.3f  transform %.3f  write %.3f  publish %.3f  total %.3f\n",
              s.scan_seconds, s.transform_seconds, s.write_seconds, s.publish_seconds, s.total_seconds);
  if (s.retention) {
    std::printf("pruned: %zu old snapshot(s), %zu file(s), %.1f MB\n", s.retention->expired_snapshots.size(),
                s.retention->removed_files.size(), static_cast<double>(s.retention->bytes_freed) / 1e6);
  }
  if (!s.retention_error.empty()) std::fprintf(stderr, "pruning old snapshots failed: %s\n", s.retention_error.c_str());
}

struct SnapshotsOptions {
  std::string lake;
  std::string snapshot_id;  // empty: current
  bool json = false;
};

arrow::Status RunSnapshots(const std::string& action, const SnapshotsOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto lake, lake::LakeStorage::Open(o.lake, /*create=*/false));
  if (action == "list") {
    ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(*lake));
    std::string current;
    if (auto manifest = lake::ReadCurrentManifest(*lake); manifest.ok()) current = manifest->snapshot_id;
    for (const auto& id : ids) std::printf("%s%s\n", id.c_str(), id == current ? "  (current)" : "");
    return arrow::Status::OK();
  }
  lake::SnapshotManifest manifest;
  if (o.snapshot_id.empty()) {
    ARROW_ASSIGN_OR_RAISE(manifest, lake::ReadCurrentManifest(*lake));
  } else {
    ARROW_ASSIGN_OR_RAISE(manifest, lake::ReadManifest(*lake, o.snapshot_id));
  }
  if (action == "show") {
    std::fputs(manifest.ToJson().c_str(), stdout);
    return arrow::Status::OK();
  }
  ARROW_RETURN_NOT_OK(lake::VerifySnapshot(*lake, manifest));
  std::printf("snapshot %s: %zu files verified\n", manifest.snapshot_id.c_str(), manifest.files.size());
  return arrow::Status::OK();
}

struct PruneOptions {
  std::string lake;
  lake::RetentionPolicy policy;
  int64_t grace_minutes = 60;
  bool dry_run = false;
  bool json = false;
};

arrow::Status RunPrune(PruneOptions o) {
  ARROW_ASSIGN_OR_RAISE(auto lake, lake::LakeStorage::Open(o.lake, /*create=*/false));
  o.policy.orphan_grace = std::chrono::minutes(o.grace_minutes);
  ARROW_ASSIGN_OR_RAISE(auto report, lake::ApplyRetention(*lake, o.policy, std::chrono::system_clock::now(), o.dry_run));
  if (o.json) {
    std::printf("%s\n", report.ToJson().c_str());
    return arrow::Status::OK();
  }
  const char* verb = o.dry_run ? "would remove" : "removed";
  for (const auto& path : report.removed_files) std::printf("%s %s\n", verb, path.c_str());
  std::printf("%zu snapshot(s) kept, %zu expired; %s %zu file(s), %lld of them orphaned, %.1f MB%s\n",
              report.kept_snapshots.size(), report.expired_snapshots.size(), verb, report.removed_files.size(),
              static_cast<long long>(report.orphan_files), static_cast<double>(report.bytes_freed) / 1e6,
              o.dry_run ? " (dry run: nothing was removed)" : "");
  return arrow::Status::OK();
}

// Where and how a query or report result goes: --format, --out, --csv-separator, --explain.
struct OutputOptions {
  std::string format = "table";
  std::string out;  // empty: stdout
  std::string csv_separator = ";";
  bool explain = false;

  void AddTo(CLI::App* cmd) {
    cmd->add_option("--format", format,
                    "table, json, ndjson, csv (Dutch Excel), xlsx, parquet, or pdf (address labels, 3 x 8 on A4)");
    cmd->add_option("--out", out, "Write to this file instead of stdout (required for xlsx, parquet and pdf on a terminal)");
    cmd->add_option("--csv-separator", csv_separator, "CSV field separator: ';' (default, Dutch Excel) or ','");
    cmd->add_flag("--explain", explain, "Report files and row groups read and pruned (stderr for file formats)");
  }
};

arrow::Status WriteOutput(const std::string& path, const std::string& bytes) {
  if (path.empty()) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return arrow::Status::OK();
  }
  // Write next to the target and rename, so a failed export never leaves half a file.
  std::string temp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream file(temp, std::ios::binary);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!file.good()) return arrow::Status::IOError("cannot write ", path);
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    return arrow::Status::IOError("cannot write ", path);
  }
  return arrow::Status::OK();
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

// Where rows come from: --lake, --store, --snapshot-only, --live-only, ...
struct SourceOptions {
  std::string lake;
  std::string store;
  bool snapshot_only = false;
  bool live_only = false;
  bool verify = false;
  int64_t max_age = 0;
  std::string as_of;

  void AddTo(CLI::App* cmd) {
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
};

// The lake, the store and the source built from them, alive together.
struct OpenSource {
  std::shared_ptr<lake::LakeStorage> lake;
  std::unique_ptr<store::MemberStore> store;
  std::unique_ptr<query::MemberSource> source;
  model::CivilDate today;
};

arrow::Result<OpenSource> OpenMemberSource(const GlobalOptions& global,
                                           const std::shared_ptr<const model::FieldRegistry>& registry,
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

struct QueryCliOptions {
  SourceOptions source;
  std::vector<std::string> regions;
  std::vector<std::string> select, where, group_by, aggregates, order_by;
  int64_t limit = -1;
  OutputOptions output;
};

arrow::Status RunQueryCommand(const GlobalOptions& global, const QueryCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  query::RegionalScope scope = query::RegionalScope::All();
  if (!o.regions.empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(*registry, o.regions));
  }
  query::QuerySpec spec;
  spec.select = o.select;
  spec.group_by = o.group_by;
  for (const auto& text : o.where) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.where.push_back(std::move(filter));
  }
  for (const auto& text : o.aggregates) {
    ARROW_ASSIGN_OR_RAISE(auto aggregate, query::ParseAggregate(text));
    spec.aggregates.push_back(std::move(aggregate));
  }
  for (const auto& text : o.order_by) {
    ARROW_ASSIGN_OR_RAISE(auto order, query::ParseOrder(text));
    spec.order_by.push_back(std::move(order));
  }
  if (o.limit >= 0) spec.limit = o.limit;
  spec.count_pages = o.output.explain;
  ARROW_RETURN_NOT_OK(query::ParseExportFormat(o.output.format).status());
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(global, registry, o.source));
  ARROW_ASSIGN_OR_RAISE(auto result, open.source->Run(scope, spec));
  return PrintResult(result, scope, o.output);
}

struct AnonymiseCliOptions {
  SourceOptions source;
  std::string out;
  std::string format = "parquet";
  int k = 5;
  std::string pseudonym_key_env;
  bool json = false;
};

// An anonymised dataset of all members (transform/anonymisation.h), for AI and external analytics.
arrow::Status RunAnonymise(const GlobalOptions& global, const AnonymiseCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(query::ExportFormat format, query::ParseExportFormat(o.format));
  if (format == query::ExportFormat::kPdf || format == query::ExportFormat::kTable) {
    return arrow::Status::Invalid("--format: ", o.format, " is not a dataset format (parquet, csv, json, ndjson, xlsx)");
  }
  transform::AnonymiseOptions options;
  options.k = o.k;
  if (!o.pseudonym_key_env.empty()) {
    const char* key = std::getenv(o.pseudonym_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      return arrow::Status::Invalid("--pseudonym-key-env: ", o.pseudonym_key_env, " is not set");
    }
    options.pseudonym_key = key;
  }
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(global, registry, o.source));
  ARROW_ASSIGN_OR_RAISE(auto result, open.source->Run(query::RegionalScope::All(), query::QuerySpec{}));
  ARROW_ASSIGN_OR_RAISE(auto dataset, transform::Anonymise(*result.table, *registry, options));
  ARROW_ASSIGN_OR_RAISE(std::string bytes, query::ExportTable(*dataset.rows, format));
  ARROW_RETURN_NOT_OK(WriteOutput(o.out, bytes));
  nlohmann::ordered_json summary = {{"out", o.out},
                                    {"k", o.k},
                                    {"rows_in", dataset.rows_in},
                                    {"rows_out", dataset.rows->num_rows()},
                                    {"suppressed", dataset.suppressed},
                                    {"quasi_identifiers", dataset.quasi_identifiers},
                                    {"columns", dataset.rows->schema()->field_names()},
                                    {"dropped", dataset.dropped},
                                    {"snapshot_id", result.snapshot_id},
                                    {"source", result.source}};
  if (o.json) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::fprintf(stderr, "%lld of %lld members written to %s (k = %d: %lld in smaller groups suppressed); %zu fields dropped\n",
                 static_cast<long long>(dataset.rows->num_rows()), static_cast<long long>(dataset.rows_in),
                 o.out.c_str(), o.k, static_cast<long long>(dataset.suppressed), dataset.dropped.size());
  }
  return arrow::Status::OK();
}

struct ReportCliOptions {
  std::string name;
  SourceOptions source;
  std::vector<std::string> regions;
  std::vector<std::string> params;  // name=value
  std::string year;                 // shorthand for --param year=Y
  OutputOptions output;
  bool list = false;
};

arrow::Status RunReportCommand(const GlobalOptions& global, const ReportCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(auto catalog, query::ReportCatalog::LoadDefault(*registry));
  if (o.list || o.name.empty()) {
    for (const auto& report : catalog->reports()) {
      std::printf("%-18s %s\n", report.name.c_str(), report.description.c_str());
    }
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(const query::ReportSpec* report, catalog->Find(o.name));
  std::map<std::string, std::string> params;
  for (const auto& text : o.params) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) return arrow::Status::Invalid("--param '", text, "': expected name=value");
    params[text.substr(0, eq)] = text.substr(eq + 1);
  }
  if (!o.year.empty()) params["year"] = o.year;
  query::RegionalScope scope = query::RegionalScope::All();
  if (!o.regions.empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(*registry, o.regions));
  }
  ARROW_RETURN_NOT_OK(query::ParseExportFormat(o.output.format).status());
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(global, registry, o.source));
  auto run = [&](const query::QuerySpec& spec) {
    query::QuerySpec counted = spec;
    counted.count_pages = o.output.explain;
    return open.source->Run(scope, counted);
  };
  ARROW_ASSIGN_OR_RAISE(auto result, query::ReportCatalog::Run(run, *report, params, open.today));
  return PrintResult(result, scope, o.output);
}

arrow::Status RunDemo(const GlobalOptions& global, const std::string& dir, int64_t members) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return arrow::Status::IOError("cannot create ", dir, ": ", ec.message());
  std::string db = (fs::path(dir) / "members.db").string();
  std::string lake = (fs::path(dir) / "lake").string();
  if (!fs::exists(db)) {
    SeedOptions seed;
    seed.store_uri = "sqlite:" + db;
    seed.members = members;
    ARROW_ASSIGN_OR_RAISE(int64_t loaded, Seed(global, seed));
    std::printf("created sample store %s with %lld members\n", db.c_str(), static_cast<long long>(loaded));
  } else {
    std::printf("using existing store %s\n", db.c_str());
  }
  GenerateCliOptions generate;
  generate.store_uri = "sqlite:" + db;
  generate.lake = lake;
  ARROW_ASSIGN_OR_RAISE(auto summary, Generate(global, generate));
  PrintSummary(summary, lake);
  std::printf("\nstore:    sqlite:%s\nlake:     %s\nmanifest: %s/%s\n", db.c_str(), lake.c_str(),
              lake.c_str(), lake::SnapshotManifest::ManifestPath(summary.manifest.snapshot_id).c_str());
  return arrow::Status::OK();
}

// ---- serve / audit / apikey ---------------------------------------------------------------

arrow::Status RunServe(const std::string& config_path, int port_override) {
  ARROW_ASSIGN_OR_RAISE(auto config, server::ServerConfig::LoadFile(config_path));
  if (port_override >= 0) config.port = port_override;
  return server::Serve(config, [&](int port) {
    std::printf("memberlake listening on http://%s:%d\n", config.listen.c_str(), port);
    std::fflush(stdout);
  });
}

arrow::Status RunAuditVerify(const std::string& path, const std::string& key_env, bool json) {
  std::string key;
  if (!key_env.empty()) {
    const char* value = std::getenv(key_env.c_str());
    if (value == nullptr || *value == '\0') return arrow::Status::Invalid("--key-env: ", key_env, " is not set");
    key = value;
  }
  ARROW_ASSIGN_OR_RAISE(auto result, server::AuditLog::Verify(path, key));
  if (json) {
    std::printf("%s\n", nlohmann::json{{"log", path}, {"entries", result.entries}, {"ok", result.ok},
                                       {"keyed", !key.empty()}, {"first_bad_seq", result.first_bad_seq},
                                       {"problem", result.problem}}.dump().c_str());
  } else if (result.ok) {
    std::printf("audit log %s: %lld entries, chain intact\n", path.c_str(), static_cast<long long>(result.entries));
  }
  if (!result.ok) return arrow::Status::IOError("audit log ", path, " failed verification: ", result.problem);
  return arrow::Status::OK();
}

arrow::Status RunApiKeyCreate(const std::string& name, const std::vector<std::string>& groups, const std::string& file) {
  ARROW_ASSIGN_OR_RAISE(auto key, server::ApiKeyStore::Generate());
  auto entry_or = server::ApiKeyStore::TomlEntry(name, key, groups);
  if (!entry_or.ok()) return arrow::Status::Invalid("--", entry_or.status().message());
  const std::string& entry = *entry_or;
  if (file.empty()) {
    std::printf("%s\n# add to the api_keys_file:\n%s", key.key.c_str(), entry.c_str());
    return arrow::Status::OK();
  }
  // Check the file with the new entry before touching it, so a failure leaves it as it was.
  std::string existing;
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    existing.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string updated = existing + (existing.empty() || existing.back() == '\n' ? "" : "\n") + "\n" + entry;
  ARROW_RETURN_NOT_OK(server::ApiKeyStore::LoadString(updated, file).status());
  ARROW_RETURN_NOT_OK(WriteOutput(file, updated));
  std::printf("%s\n", key.key.c_str());
  return arrow::Status::OK();
}

int Main(int argc, char** argv) {
  CLI::App app{"memberlake: a fast, secure, columnar reporting layer over a club's member table.\n"
               "Exit codes: 0 ok, 1 runtime/storage error, 2 bad input, 3 not found, 4 version conflict."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "memberlake " MEMBERLAKE_VERSION);
  GlobalOptions global;
  app.add_option("--registry", global.registry_path,
                 "Field registry TOML (default: $MEMBERLAKE_REGISTRY or the built-in club registry)");
  int exit_code = 0;
  auto finish = [&](const arrow::Status& status) { exit_code = status.ok() ? 0 : Fail(status); };

  // members
  auto* members_cmd = app.add_subcommand("members", "Live member CRUD (JSON in and out)");
  members_cmd->require_subcommand(1);
  MembersOptions mo;
  auto add_store = [&](CLI::App* cmd) {
    cmd->add_option("--store", mo.store_uri, "Store URI, e.g. sqlite:var/members.db")->required();
  };
  auto* add = members_cmd->add_subcommand("add", "Validate and insert a member; prints it with its _version");
  add_store(add);
  add->add_option("--json", mo.json, "Member JSON object (default: read stdin)");
  auto* get = members_cmd->add_subcommand("get", "Print one member");
  add_store(get);
  get->add_option("member_id", mo.member_id, "Member id")->required();
  auto* update = members_cmd->add_subcommand("update", "Change fields of a member (optimistic concurrency)");
  add_store(update);
  update->add_option("member_id", mo.member_id, "Member id")->required();
  update->add_option("--expected-version", mo.expected_version, "The _version last read")->required();
  update->add_option("--json", mo.json, "JSON object with the fields to change (null clears; default: stdin)");
  auto* del = members_cmd->add_subcommand("delete", "Delete a member (optimistic concurrency)");
  add_store(del);
  del->add_option("member_id", mo.member_id, "Member id")->required();
  del->add_option("--expected-version", mo.expected_version, "The _version last read")->required();
  auto* list = members_cmd->add_subcommand("list", "List members by lidnummer as a JSON array");
  add_store(list);
  list->add_option("--offset", mo.offset, "Skip this many")->check(CLI::NonNegativeNumber);
  list->add_option("--limit", mo.limit, "At most this many")->check(CLI::PositiveNumber);
  for (auto* cmd : {add, get, update, del, list}) {
    cmd->callback([&, cmd] { finish(RunMembers(global, cmd->get_name(), mo)); });
  }

  // seed
  SeedOptions so;
  auto* seed = app.add_subcommand("seed", "Load realistic sample members (with some dirty legacy rows) into a store");
  seed->add_option("--store", so.store_uri, "Store URI, e.g. sqlite:var/members.db (created if missing)")->required();
  seed->add_option("--members", so.members, "How many members")->check(CLI::PositiveNumber);
  seed->add_option("--seed", so.seed, "Random seed (same seed, same members)");
  seed->add_flag("--json", so.json, "Print a JSON summary");
  seed->callback([&] {
    auto loaded = Seed(global, so);
    if (!loaded.ok()) return finish(loaded.status());
    if (so.json) {
      std::printf("{\"store\": \"%s\", \"members\": %lld}\n", so.store_uri.c_str(), static_cast<long long>(*loaded));
    } else {
      std::printf("loaded %lld members into %s\n", static_cast<long long>(*loaded), so.store_uri.c_str());
    }
  });

  // generate
  GenerateCliOptions go;
  auto* generate = app.add_subcommand("generate", "Generate a Parquet snapshot of the store and publish it atomically");
  generate->add_option("--store", go.store_uri, "Store URI, e.g. sqlite:var/members.db")->required();
  generate->add_option("--lake", go.lake, "Lake folder or file:// URI")->required();
  generate->add_option("--as-of", go.as_of, "Reference date YYYY-MM-DD for calculated fields (default: today, Europe/Amsterdam)");
  generate->add_option("--keep", go.keep, "After publishing, prune to the newest N snapshots (see snapshots prune; 0: keep all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  generate->add_flag("--json", go.json, "Print a JSON summary");
  generate->add_option("--pause-before-publish-ms", go.pause_before_publish_ms)
      ->group("")  // hidden: for tests of racing generations
      ->check(CLI::Range(0, 600000));
  generate->callback([&] {
    auto summary = Generate(global, go);
    if (!summary.ok()) return finish(summary.status());
    if (go.json) std::printf("%s\n", summary->ToJson().c_str());
    else PrintSummary(*summary, go.lake);
  });

  // snapshots
  SnapshotsOptions sno;
  auto* snapshots = app.add_subcommand("snapshots", "Inspect the lake's snapshots and prune old ones");
  snapshots->require_subcommand(1);
  auto* sn_list = snapshots->add_subcommand("list", "List snapshot ids, oldest first");
  auto* sn_show = snapshots->add_subcommand("show", "Print a snapshot's manifest");
  auto* sn_verify = snapshots->add_subcommand("verify", "Check every file of a snapshot against its checksum");
  for (auto* cmd : {sn_list, sn_show, sn_verify}) {
    cmd->add_option("--lake", sno.lake, "Lake folder or file:// URI")->required();
    if (cmd != sn_list) cmd->add_option("--snapshot", sno.snapshot_id, "Snapshot id (default: current)");
    cmd->callback([&, cmd] { finish(RunSnapshots(cmd->get_name(), sno)); });
  }
  PruneOptions prune;
  auto* sn_prune = snapshots->add_subcommand(
      "prune", "Lifecycle: remove old snapshots (manifest first, then the files only they use) and files no manifest names");
  sn_prune->add_option("--lake", prune.lake, "Lake folder, file:// or s3:// URI")->required();
  sn_prune->add_option("--keep", prune.policy.keep_last, "Keep the newest N snapshots (the current one always)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sn_prune->add_option("--keep-days", prune.policy.keep_days, "Also keep snapshots generated in the last D days")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sn_prune->add_option("--orphan-grace-minutes", prune.grace_minutes,
                       "Leave unreferenced files younger than this (a running generation writes them before its manifest)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sn_prune->add_flag("--dry-run", prune.dry_run, "Only report what would be removed");
  sn_prune->add_flag("--json", prune.json, "Print the report as JSON");
  sn_prune->callback([&] { finish(RunPrune(prune)); });

  // query
  QueryCliOptions qo;
  auto* query_cmd = app.add_subcommand("query", "Query the current snapshot (scoped, with pushdown)");
  qo.source.AddTo(query_cmd);
  query_cmd->add_option("--region", qo.regions, "Limit the scope to this region (repeatable; default: all)");
  query_cmd->add_option("--select", qo.select, "Columns to return (repeatable or comma-separated)")->delimiter(',');
  query_cmd->add_option("--where", qo.where,
                        "Filter, ANDed (repeatable): col=v, col!=v, col<v, col<=v, col>v, col>=v, "
                        "'col in a|b', 'col is null', 'col is not null', col^=prefix, col.month=9, col.day=26");
  query_cmd->add_option("--group-by", qo.group_by, "Group by these columns")->delimiter(',');
  query_cmd->add_option("--agg", qo.aggregates, "Aggregate (repeatable): count, count(col), min(col), max(col), avg(col)");
  query_cmd->add_option("--order-by", qo.order_by, "Order by col or col:desc (repeatable)");
  query_cmd->add_option("--limit", qo.limit, "At most this many rows")->check(CLI::NonNegativeNumber);
  qo.output.AddTo(query_cmd);
  query_cmd->callback([&] { finish(RunQueryCommand(global, qo)); });

  // report
  ReportCliOptions ro;
  auto* report_cmd = app.add_subcommand("report", "Run a named report (without a name: list the reports)");
  report_cmd->add_option("name", ro.name, "Report name");
  ro.source.AddTo(report_cmd);
  report_cmd->add_option("--region", ro.regions, "Limit the scope to this region (repeatable; default: all)");
  report_cmd->add_option("--param", ro.params, "Report parameter name=value (repeatable), e.g. month=9");
  report_cmd->add_option("--year", ro.year, "ALV year for alv-candidates (reference year -3 .. +3)");
  ro.output.AddTo(report_cmd);
  report_cmd->add_flag("--list", ro.list, "List the reports");
  report_cmd->callback([&] { finish(RunReportCommand(global, ro)); });

  // demo
  std::string demo_dir = "var";
  int64_t demo_members = 1500;
  auto* demo = app.add_subcommand("demo", "The main job on the embedded default: sample store if missing, generate the lake, print where everything is");
  demo->add_option("--dir", demo_dir, "Working folder for the store and the lake");
  demo->add_option("--members", demo_members, "Sample size when the store is created")->check(CLI::PositiveNumber);
  demo->callback([&] { finish(RunDemo(global, demo_dir, demo_members)); });

  // serve
  std::string serve_config;
  int serve_port = -1;
  auto* serve = app.add_subcommand("serve", "Run the HTTP API (JWT/API-key auth, regional isolation, audit trail)");
  serve->add_option("--config", serve_config, "Server config TOML (see docs/server.md)")->required();
  serve->add_option("--port", serve_port, "Listen on this port instead of the config's (0: any free port)");
  serve->callback([&] { finish(RunServe(serve_config, serve_port)); });

  // lambda
  int64_t lambda_invocations = 0;
  auto* lambda = app.add_subcommand(
      "lambda", "Run as an AWS Lambda custom runtime (env: AWS_LAMBDA_RUNTIME_API, MEMBERLAKE_STORE, MEMBERLAKE_LAKE, "
                "MEMBERLAKE_SERVER_CONFIG); scheduled and on-demand generation, API Gateway requests");
  lambda->add_option("--max-invocations", lambda_invocations, "Stop after this many invocations (0: never)")
      ->check(CLI::NonNegativeNumber);
  lambda->callback([&] {
    auto options = server::LambdaOptionsFromEnvironment();
    if (!options.ok()) return finish(options.status());
    options->max_invocations = lambda_invocations;
    finish(server::RunLambda(*options));
  });

  // audit
  std::string audit_path, audit_key_env;
  bool audit_json = false;
  auto* audit = app.add_subcommand("audit", "The hash-chained audit trail");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand("verify", "Check that no entry was edited, removed or reordered");
  audit_verify->add_option("--log", audit_path, "Audit log: a file, or the s3:// location of its objects")->required();
  audit_verify->add_option("--key-env", audit_key_env,
                           "Variable holding the chain's HMAC key ([audit] key_env): finds a log rewritten without it");
  audit_verify->add_flag("--json", audit_json, "Print the result as JSON");
  audit_verify->callback([&] { finish(RunAuditVerify(audit_path, audit_key_env, audit_json)); });

  // anonymise
  AnonymiseCliOptions ao;
  auto* anonymise = app.add_subcommand(
      "anonymise", "An anonymised dataset for AI and analytics: identifiers dropped, quasi-identifiers coarsened, k-anonymous");
  ao.source.AddTo(anonymise);
  anonymise->add_option("--out", ao.out, "The file to write")->required();
  anonymise->add_option("--format", ao.format, "parquet (default), csv, json, ndjson or xlsx");
  anonymise->add_option("--k", ao.k, "Suppress rows whose quasi-identifiers fewer than k members share")
      ->capture_default_str()->check(CLI::Range(2, 1000000));
  anonymise->add_option("--pseudonym-key-env", ao.pseudonym_key_env,
                        "Add a stable pseudonym per member: HMAC-SHA256 of member_id under the key in this variable");
  anonymise->add_flag("--json", ao.json, "Print a JSON summary");
  anonymise->callback([&] { finish(RunAnonymise(global, ao)); });

  // apikey
  std::string key_name, key_file;
  std::vector<std::string> key_groups;
  auto* apikey = app.add_subcommand("apikey", "Local API keys for scripts (stored hashed)");
  apikey->require_subcommand(1);
  auto* apikey_create = apikey->add_subcommand("create", "Make a key: prints it once; the file keeps only its hash");
  apikey_create->add_option("--name", key_name, "Who or what uses the key (audit actor)")->required();
  apikey_create->add_option("--group", key_groups, "Role, e.g. Members_Export, Regio_Utrecht (repeatable)")->required();
  apikey_create->add_option("--file", key_file, "Append the hashed entry to this api_keys_file");
  apikey_create->callback([&] { finish(RunApiKeyCreate(key_name, key_groups, key_file)); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  } catch (const std::exception& error) {  // a bug, but one that reports instead of aborting
    std::fprintf(stderr, "memberlake: unexpected error: %s\n", error.what());
    return 1;
  }
  return exit_code;
}

}  // namespace
}  // namespace memberlake::cli

int main(int argc, char** argv) {
  memberlake::query::TuneProcessAllocator();
  int code = memberlake::cli::Main(argc, argv);
  memberlake::lake::ShutdownLakeStorage();
  return code;
}
