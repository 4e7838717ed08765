// Micro-benchmarks of the generation pipeline's stages on sample data (Google Benchmark).
// Items/s is members/s. The end-to-end figure is bench/generate_bench.py.
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <arrow/api.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include "store/member_store.h"
#include "store/sample_members.h"
#include "transform/member_transform.h"

namespace {

using namespace memberlake;

constexpr int64_t kMembers = 200000;

std::shared_ptr<const model::FieldRegistry> Registry() {
  static auto registry = *model::FieldRegistry::LoadDefault();
  return registry;
}

std::vector<std::shared_ptr<arrow::RecordBatch>> SampleBatches() {
  static std::vector<std::shared_ptr<arrow::RecordBatch>> batches = [] {
    store::SampleOptions options;
    options.members = kMembers;
    auto reader = *store::MakeSampleMembers(Registry(), options);
    return *reader->ToRecordBatches();
  }();
  return batches;
}

void BM_SampleMembers(benchmark::State& state) {
  for (auto _ : state) {
    store::SampleOptions options;
    options.members = kMembers;
    auto reader = *store::MakeSampleMembers(Registry(), options);
    benchmark::DoNotOptimize(*reader->ToRecordBatches());
  }
  state.SetItemsProcessed(state.iterations() * kMembers);
}
BENCHMARK(BM_SampleMembers)->Unit(benchmark::kMillisecond);

void BM_Transform(benchmark::State& state) {
  auto batches = SampleBatches();
  auto transform = *transform::MemberTransform::Make(Registry(), model::CivilDate{2026, 1, 7});
  for (auto _ : state) {
    for (const auto& batch : batches) benchmark::DoNotOptimize(*transform.Apply(*batch));
  }
  state.SetItemsProcessed(state.iterations() * kMembers);
}
BENCHMARK(BM_Transform)->Unit(benchmark::kMillisecond);

// The store's full scan on 1 and on 2 connections (store/sqlite_scan.h), wall time (the
// readers are threads of their own). A store of kMembers sample members, or the SQLite file
// MEMBERLAKE_BENCH_STORE names (e.g. one `memberlake seed --members 1000000` made).
std::string ScanStorePath() {
  static std::string path = [] {
    if (const char* given = std::getenv("MEMBERLAKE_BENCH_STORE")) return std::string(given);
    auto made = std::filesystem::temp_directory_path() / ("memberlake-bench-" + std::to_string(getpid()) + ".db");
    std::filesystem::remove(made);
    store::StoreOptions options;
    options.create_if_missing = true;
    auto store = *store::OpenMemberStore("sqlite:" + made.string(), Registry(), options);
    auto reader = *arrow::RecordBatchReader::Make(SampleBatches(), Registry()->raw_schema());
    (void)*store->ImportRaw(*reader);
    static auto* remove_at_exit = new std::string(made.string());  // outlives the statics
    std::atexit([] { std::filesystem::remove(*remove_at_exit); });
    return made.string();
  }();
  return path;
}

void BM_SqliteScan(benchmark::State& state) {
  store::StoreOptions options;
  options.scan_threads = static_cast<int>(state.range(0));
  auto store = *store::OpenMemberStore("sqlite:" + ScanStorePath(), Registry(), options);
  int64_t rows = 0;
  for (auto _ : state) {
    auto scan = *store->Scan();
    std::shared_ptr<arrow::RecordBatch> batch;
    while (scan.reader->ReadNext(&batch).ok() && batch) rows += batch->num_rows();
  }
  state.SetItemsProcessed(rows);
  state.counters["members"] = static_cast<double>(rows / state.iterations());
}
BENCHMARK(BM_SqliteScan)->ArgName("connections")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
