// seed, generate, snapshots list|show|verify|prune, demo: filling the store and publishing the lake.
#include "cli/commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "jobs/data_health.h"
#include "jobs/generate_snapshot.h"
#include "lake/lake_storage.h"
#include "lake/snapshot_lifecycle.h"
#include "lake/snapshot_manifest.h"
#include "store/member_store.h"
#include "store/sample_members.h"

namespace memberlake::cli {
namespace {

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
  bool inject_fault = false;        // tests: a fault only the deep check sees
  std::string verify = "deep";      // deep | none: the deep data check before publishing
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
  options.inject_fault_for_test = o.inject_fault;
  options.deep_check = o.verify == "deep";
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
  std::printf("seconds: scan %.3f  transform %.3f  write %.3f  check %.3f  publish %.3f  total %.3f\n",
              s.scan_seconds, s.transform_seconds, s.write_seconds, s.check_seconds, s.publish_seconds, s.total_seconds);
  if (s.health) std::printf("deep data check: %s\n", s.health->passed() ? "passed" : "FAILED");
  if (s.retention) {
    std::printf("pruned: %zu old snapshot(s), %zu file(s), %.1f MB\n", s.retention->expired_snapshots.size(),
                s.retention->removed_files.size(), static_cast<double>(s.retention->bytes_freed) / 1e6);
  }
  if (!s.retention_error.empty()) std::fprintf(stderr, "pruning old snapshots failed: %s\n", s.retention_error.c_str());
}

struct SnapshotsOptions {
  std::string lake;
  std::string snapshot_id;  // empty: current
  bool deep = false;        // verify: the deep data check (jobs/data_health.h)
  std::string store_uri;    // verify --deep: completeness against the live store
  bool json = false;
};

// verify --deep: every check named with its figures; fails (exit code) when any check fails.
arrow::Status RunDeepVerify(const GlobalOptions& global, const lake::LakeStorage& lake,
                            const lake::SnapshotManifest& manifest, const SnapshotsOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  jobs::DeepCheckOptions options;
  std::shared_ptr<store::MemberStore> store;
  if (!o.store_uri.empty()) {
    ARROW_ASSIGN_OR_RAISE(store, OpenStore(global, o.store_uri, /*create=*/false));
    options.store = store.get();
  }
  ARROW_ASSIGN_OR_RAISE(auto report, jobs::DeepCheck(lake, manifest, registry, options));
  std::fputs(o.json ? (report.ToJson() + "\n").c_str() : report.ToText().c_str(), stdout);
  std::fflush(stdout);
  return report.ToStatus();
}

arrow::Status RunSnapshots(const GlobalOptions& global, const std::string& action, const SnapshotsOptions& o) {
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
  if (o.deep) return RunDeepVerify(global, *lake, manifest, o);
  if (!o.store_uri.empty() || o.json) return arrow::Status::Invalid("verify: --store and --json go with --deep");
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

struct DemoOptions {
  std::string dir = "var";
  int64_t members = 1500;
};

arrow::Status RunDemo(const GlobalOptions& global, const DemoOptions& o) {
  const std::string& dir = o.dir;
  const int64_t members = o.members;
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

}  // namespace

void AddLakeCommands(CLI::App& app, const CommandContext& context) {
  // seed
  auto so = std::make_shared<SeedOptions>();
  auto* seed = app.add_subcommand("seed", "Load realistic sample members (with some dirty legacy rows) into a store");
  seed->add_option("--store", so->store_uri, "Store URI, e.g. sqlite:var/members.db (created if missing)")->required();
  seed->add_option("--members", so->members, "How many members")->check(CLI::PositiveNumber);
  seed->add_option("--seed", so->seed, "Random seed (same seed, same members)");
  seed->add_flag("--json", so->json, "Print a JSON summary");
  seed->callback([=] {
    auto loaded = Seed(*context.global, *so);
    if (!loaded.ok()) return context.Finish(loaded.status());
    if (so->json) {
      std::printf("{\"store\": \"%s\", \"members\": %lld}\n", so->store_uri.c_str(), static_cast<long long>(*loaded));
    } else {
      std::printf("loaded %lld members into %s\n", static_cast<long long>(*loaded), so->store_uri.c_str());
    }
  });

  // generate
  auto go = std::make_shared<GenerateCliOptions>();
  auto* generate = app.add_subcommand("generate", "Generate a Parquet snapshot of the store and publish it atomically");
  generate->add_option("--store", go->store_uri, "Store URI, e.g. sqlite:var/members.db")->required();
  generate->add_option("--lake", go->lake, "Lake folder or file:// URI")->required();
  generate->add_option("--as-of", go->as_of, "Reference date YYYY-MM-DD for calculated fields (default: today, Europe/Amsterdam)");
  generate->add_option("--keep", go->keep, "After publishing, prune to the newest N snapshots (see snapshots prune; 0: keep all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  generate->add_flag("--json", go->json, "Print a JSON summary");
  generate->add_option("--verify", go->verify,
                       "deep: check the written files against the rows before publishing (a failing check is "
                       "never published; ~1/3 of a generation's time); none: publish unchecked")
      ->capture_default_str()->check(CLI::IsMember({"deep", "none"}));
  generate->add_option("--pause-before-publish-ms", go->pause_before_publish_ms)
      ->group("")  // hidden: for tests of racing generations
      ->check(CLI::Range(0, 600000));
  generate->add_flag("--inject-fault-for-test", go->inject_fault)->group("");  // hidden: tests of the deep check
  generate->callback([=] {
    auto summary = Generate(*context.global, *go);
    if (!summary.ok()) return context.Finish(summary.status());
    if (go->json) std::printf("%s\n", summary->ToJson().c_str());
    else PrintSummary(*summary, go->lake);
  });

  // snapshots
  auto sno = std::make_shared<SnapshotsOptions>();
  auto* snapshots = app.add_subcommand("snapshots", "Inspect the lake's snapshots and prune old ones");
  snapshots->require_subcommand(1);
  auto* sn_list = snapshots->add_subcommand("list", "List snapshot ids, oldest first");
  auto* sn_show = snapshots->add_subcommand("show", "Print a snapshot's manifest");
  auto* sn_verify = snapshots->add_subcommand(
      "verify", "Check every file of a snapshot against its checksum; --deep: prove the data right (docs/health.md)");
  sn_verify->add_flag("--deep", sno->deep,
                      "Recompute calculated fields, compare regional files and views with the full dataset, read "
                      "every page, check statistics, bloom filters and schema evolution");
  sn_verify->add_option("--store", sno->store_uri,
                        "With --deep: compare rows + quarantined with this live store's member count");
  sn_verify->add_flag("--json", sno->json, "With --deep: print the report as JSON");
  for (auto* cmd : {sn_list, sn_show, sn_verify}) {
    cmd->add_option("--lake", sno->lake, "Lake folder or file:// URI")->required();
    if (cmd != sn_list) cmd->add_option("--snapshot", sno->snapshot_id, "Snapshot id (default: current)");
    cmd->callback([=] { context.Finish(RunSnapshots(*context.global, cmd->get_name(), *sno)); });
  }
  auto prune = std::make_shared<PruneOptions>();
  auto* sn_prune = snapshots->add_subcommand(
      "prune", "Lifecycle: remove old snapshots (manifest first, then the files only they use) and files no manifest names");
  sn_prune->add_option("--lake", prune->lake, "Lake folder, file:// or s3:// URI")->required();
  sn_prune->add_option("--keep", prune->policy.keep_last, "Keep the newest N snapshots (the current one always)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sn_prune->add_option("--keep-days", prune->policy.keep_days, "Also keep snapshots generated in the last D days")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sn_prune->add_option("--orphan-grace-minutes", prune->grace_minutes,
                       "Leave unreferenced files younger than this (a running generation writes them before its manifest)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sn_prune->add_flag("--dry-run", prune->dry_run, "Only report what would be removed");
  sn_prune->add_flag("--json", prune->json, "Print the report as JSON");
  sn_prune->callback([=] { context.Finish(RunPrune(*prune)); });

  // demo
  auto demo_options = std::make_shared<DemoOptions>();
  auto* demo = app.add_subcommand("demo", "The main job on the embedded default: sample store if missing, generate the lake, print where everything is");
  demo->add_option("--dir", demo_options->dir, "Working folder for the store and the lake");
  demo->add_option("--members", demo_options->members, "Sample size when the store is created")->check(CLI::PositiveNumber);
  demo->callback([=] { context.Finish(RunDemo(*context.global, *demo_options)); });
}

}  // namespace memberlake::cli
