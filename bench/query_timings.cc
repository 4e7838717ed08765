// Times query cases in process (median of repeated runs) and prints one JSON object:
//   memberlake_query_timings --lake L --email E --region R --month M [--runs N]
//   memberlake_query_timings --lake L --cases FILE [--runs N]
// FILE: a JSON array of {"name", "region": [..], "where", "any", "select", "group_by", "agg",
// "having", "order_by": [text forms as for `memberlake query`], "limit"}; the answer maps each
// name to its median ms (cold: no result cache). bench/query_bench.py runs it next to DuckDB.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// One case of a --cases file as a query and its scope.
arrow::Result<std::pair<query::QuerySpec, query::RegionalScope>> CaseSpec(const model::FieldRegistry& registry,
                                                                          const nlohmann::json& c) {
  auto texts = [&](const char* key) {
    return c.contains(key) ? c[key].get<std::vector<std::string>>() : std::vector<std::string>{};
  };
  query::QuerySpec spec;
  spec.select = texts("select");
  spec.group_by = texts("group_by");
  for (const auto& t : texts("where")) { ARROW_ASSIGN_OR_RAISE(auto f, query::ParseFilter(t)); spec.where.push_back(f); }
  for (const auto& t : texts("any")) { ARROW_ASSIGN_OR_RAISE(auto f, query::ParseFilter(t)); spec.any.push_back(f); }
  for (const auto& t : texts("having")) { ARROW_ASSIGN_OR_RAISE(auto f, query::ParseFilter(t)); spec.having.push_back(f); }
  for (const auto& t : texts("agg")) { ARROW_ASSIGN_OR_RAISE(auto a, query::ParseAggregate(t)); spec.aggregates.push_back(a); }
  for (const auto& t : texts("order_by")) { ARROW_ASSIGN_OR_RAISE(auto o, query::ParseOrder(t)); spec.order_by.push_back(o); }
  if (c.contains("limit")) spec.limit = c["limit"].get<int64_t>();
  query::RegionalScope scope = query::RegionalScope::All();
  if (!texts("region").empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(registry, texts("region")));
  }
  return std::make_pair(std::move(spec), std::move(scope));
}

int RunCases(const std::string& lake_path, const std::string& file, int runs) {
  auto registry = *model::FieldRegistry::LoadDefault();
  auto lake = *lake::LakeStorage::Open(lake_path, false);
  query::ReadOptions options;
  options.mode = query::ReadMode::kSnapshotOnly;
  query::MemberSource cold(lake.get(), nullptr, registry, options);  // no result cache
  std::ifstream in(file);
  nlohmann::json cases = nlohmann::json::parse(in);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& c : cases) {
    auto parsed = CaseSpec(*registry, c);
    if (!parsed.ok()) {
      std::fprintf(stderr, "case %s: %s\n", c["name"].get<std::string>().c_str(), parsed.status().ToString().c_str());
      return 1;
    }
    const auto& [spec, scope] = *parsed;
    (void)cold.Run(scope, spec);  // warm the footer cache and the page cache, like DuckDB's first run
    out[c["name"].get<std::string>()] = MedianMs(runs, [&] { return cold.Run(scope, spec).status(); });
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int main(int argc, char** argv) {
  memberlake::query::TuneProcessAllocator();  // as the memberlake binary does
  std::string lake_path, email, region = "Utrecht", month = "9";
  int runs = 15;
  std::string only, cases;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--lake") lake_path = value;
    else if (flag == "--email") email = value;
    else if (flag == "--region") region = value;
    else if (flag == "--month") month = value;
    else if (flag == "--runs") runs = std::stoi(value);
    else if (flag == "--only") only = value;  // one case, for profiling: regional | point | birthdays
    else if (flag == "--cases") cases = value;
  }
  if (!cases.empty()) return RunCases(lake_path, cases, runs);
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
