// Times query cases in process (median of repeated runs) and prints one JSON object:
//   memberlake_query_timings --lake L --email E --region R --month M [--runs N]
// bench/query_bench.py runs it next to DuckDB on the same files.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "query/member_source.h"
#include "query/process_tuning.h"
#include "query/report_catalog.h"

using namespace memberlake;

namespace {

double MedianMs(int runs, const std::function<arrow::Status()>& body) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    arrow::Status status = body();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!status.ok()) {
      std::fprintf(stderr, "query failed: %s\n", status.ToString().c_str());
      std::exit(1);
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  memberlake::query::TuneProcessAllocator();  // as the memberlake binary does
  std::string lake_path, email, region = "Utrecht", month = "9";
  int runs = 15;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--lake") lake_path = value;
    else if (flag == "--email") email = value;
    else if (flag == "--region") region = value;
    else if (flag == "--month") month = value;
    else if (flag == "--runs") runs = std::stoi(value);
    else if (flag == "--only") only = value;  // one case, for profiling: regional | point | birthdays
  }
  auto registry = *model::FieldRegistry::LoadDefault();
  auto catalog = *query::ReportCatalog::LoadDefault(*registry);
  auto lake = *lake::LakeStorage::Open(lake_path, false);
  query::ReadOptions options;
  options.mode = query::ReadMode::kSnapshotOnly;
  auto all = query::RegionalScope::All();
  auto regional = *query::RegionalScope::Regions(*registry, {region});
  auto report = [&](const std::string& name, const query::RegionalScope& scope, query::MemberSource& source,
                    std::map<std::string, std::string> params = {}) -> arrow::Status {
    auto run = [&](const query::QuerySpec& spec) { return source.Run(scope, spec); };
    return query::ReportCatalog::Run(run, **catalog->Find(name), params, {2026, 1, 7}).status();
  };
  query::MemberSource cold(lake.get(), nullptr, registry, options);  // no result cache
  query::ResultCache cache(256 << 20);
  query::MemberSource cached(lake.get(), nullptr, registry, options, &cache);

  query::QuerySpec lookup;
  lookup.where.push_back(*query::ParseFilter("email=" + email));
  lookup.select = {"member_id", "korte_naam", "regio"};
  if (!only.empty()) {
    double ms = only == "regional"  ? MedianMs(runs, [&] { return report("regional-stats", all, cold); })
                : only == "point"   ? MedianMs(runs, [&] { return cold.Run(all, lookup).status(); })
                                    : MedianMs(runs, [&] { return report("birthdays", regional, cold, {{"month", month}}); });
    std::printf("{\"%s_ms\": %.3f}\n", only.c_str(), ms);
    return 0;
  }
  double regional_cold = MedianMs(runs, [&] { return report("regional-stats", all, cold); });
  (void)report("regional-stats", all, cached);  // fill the cache
  double regional_cached = MedianMs(runs * 20, [&] { return report("regional-stats", all, cached); });
  double point = MedianMs(runs, [&] { return cold.Run(all, lookup).status(); });
  double birthdays = MedianMs(runs, [&] { return report("birthdays", regional, cold, {{"month", month}}); });
  std::printf("{\"regional_stats_cold_ms\": %.3f, \"regional_stats_cached_ms\": %.4f, \"point_lookup_ms\": %.3f, "
              "\"regional_birthdays_ms\": %.3f}\n",
              regional_cold, regional_cached, point, birthdays);
  return 0;
}
