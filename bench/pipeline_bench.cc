// Micro-benchmarks of the generation pipeline's stages on sample data (Google Benchmark).
// Items/s is members/s. The end-to-end figure is bench/generate_bench.py.
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

void BM_SqliteScan(benchmark::State& state) {
  auto path = std::filesystem::temp_directory_path() / ("memberlake-bench-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  store::StoreOptions options;
  options.create_if_missing = true;
  auto store = *store::OpenMemberStore("sqlite:" + path.string(), Registry(), options);
  auto batches = SampleBatches();
  auto reader = *arrow::RecordBatchReader::Make(batches, Registry()->raw_schema());
  (void)*store->ImportRaw(*reader);
  for (auto _ : state) {
    auto scan = *store->Scan();
    benchmark::DoNotOptimize(*scan.reader->ToRecordBatches());
  }
  state.SetItemsProcessed(state.iterations() * kMembers);
  store.reset();
  std::filesystem::remove(path);
}
BENCHMARK(BM_SqliteScan)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
