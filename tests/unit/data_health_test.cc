// The deep data check (jobs/data_health.h) and its pieces: the vectorised column comparison,
// row hashes, schema evolution, the check on a generated lake (clean, and with its manifest
// doctored in memory), generation refusing to publish a failing snapshot, and the server's
// metrics, config and schedule for it.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "jobs/data_health.h"
#include "jobs/generate_snapshot.h"
#include "jobs/generation_triggers.h"
#include "jobs/snapshot_checks.h"
#include "model/arrow_compute.h"
#include "server/metrics.h"
#include "server/server_config.h"
#include "store/sample_members.h"
#include "sample_lake.h"

namespace memberlake::jobs {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<arrow::Array> Ints(const std::vector<std::optional<int64_t>>& values) {
  arrow::Int64Builder builder;
  for (const auto& v : values) {
    if (v) (void)builder.Append(*v);
    else (void)builder.AppendNull();
  }
  return *builder.Finish();
}

std::shared_ptr<arrow::Array> Texts(const std::vector<std::string>& values) {
  arrow::StringBuilder builder;
  (void)builder.AppendValues(values);
  return *builder.Finish();
}

TEST(DifferingRows, NullEqualsOnlyNull) {
  auto differ = *DifferingRows(Ints({1, std::nullopt, 3, std::nullopt}), Ints({1, 2, 4, std::nullopt}));
  EXPECT_EQ(differ->true_count(), 2);
  EXPECT_FALSE(differ->Value(0));
  EXPECT_TRUE(differ->Value(1));  // null vs 2
  EXPECT_TRUE(differ->Value(2));  // 3 vs 4
  EXPECT_FALSE(differ->Value(3));  // null vs null
}

TEST(DifferingRows, DictionaryColumnsCompareByValue) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());  // the test's own casts
  auto plain = Texts({"a", "b", "a"});
  auto dictionary = *arrow::compute::Cast(*Texts({"a", "b", "b"}), arrow::dictionary(arrow::int32(), arrow::utf8()));
  auto differ = *DifferingRows(plain, dictionary);
  EXPECT_EQ(differ->true_count(), 1);
  EXPECT_TRUE(differ->Value(2));
}

TEST(RowHashes, EqualValuesHashAlikeWhateverTheEncoding) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());  // the test's own casts
  auto plain = arrow::Table::Make(arrow::schema({arrow::field("m", arrow::utf8()), arrow::field("n", arrow::int64())}),
                                  {Texts({"x", "y"}), Ints({1, 2})});
  auto dict = *arrow::compute::Cast(*Texts({"x", "y"}), arrow::dictionary(arrow::int32(), arrow::utf8()));
  auto encoded = arrow::Table::Make(
      arrow::schema({arrow::field("m", dict->type()), arrow::field("n", arrow::int64())}), {dict, Ints({1, 2})});
  auto changed = arrow::Table::Make(plain->schema(), {Texts({"x", "y"}), Ints({1, 3})});
  auto a = *RowHashes(*plain, {"m", "n"});
  EXPECT_EQ(a, *RowHashes(*encoded, {"m", "n"}));
  auto c = *RowHashes(*changed, {"m", "n"});
  EXPECT_EQ(a[0], c[0]);
  EXPECT_NE(a[1], c[1]);
  EXPECT_NE(a, *RowHashes(*plain, {"n", "m"}));  // columns count in order
  EXPECT_FALSE(RowHashes(*plain, {"missing"}).ok());
}

TEST(CompareSchema, AddedRemovedAndRetypedFields) {
  auto registry = *model::FieldRegistry::LoadDefault();
  arrow::FieldVector fields = registry->lake_schema()->fields();
  fields.erase(fields.begin() + 1);                            // a field the registry added since
  fields.push_back(arrow::field("oud_veld", arrow::utf8()));   // one it removed
  const int bouwjaar = registry->lake_schema()->GetFieldIndex("bouwjaar");
  ASSERT_GE(bouwjaar, 1);
  fields[bouwjaar - 1] = arrow::field("bouwjaar", arrow::utf8());  // retyped (integer in the registry)
  SchemaDiff diff = CompareSchema(*arrow::schema(fields), *registry);
  EXPECT_EQ(diff.added, std::vector<std::string>{registry->lake_schema()->field(1)->name()});
  EXPECT_EQ(diff.removed, std::vector<std::string>{"oud_veld"});
  ASSERT_EQ(diff.retyped.size(), 1u);
  EXPECT_NE(diff.retyped[0].find("bouwjaar"), std::string::npos);
  EXPECT_TRUE(CompareSchema(*registry->lake_schema(), *registry).retyped.empty());
}

class DeepCheckTest : public SampleLakeTest {
 protected:
  void SetUp() override {
    MakeSampleLake("health", 1200);
    ASSERT_TRUE(summary_.health.has_value());
    EXPECT_TRUE(summary_.health->passed());
    manifest_ = summary_.manifest;
  }

  HealthReport Check(const lake::SnapshotManifest& manifest, store::MemberStore* store = nullptr) {
    DeepCheckOptions options;
    options.store = store;
    auto report = DeepCheck(*lake_, manifest, registry_, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return *report;
  }

  lake::SnapshotManifest manifest_;
};

TEST_F(DeepCheckTest, ACleanSnapshotPassesWithItsFigures) {
  HealthReport report = Check(manifest_, store_.get());
  EXPECT_TRUE(report.passed()) << report.ToText();
  EXPECT_TRUE(report.ToStatus().ok());
  EXPECT_EQ(report.Find("calculated_fields")->rows_checked, manifest_.members);
  int64_t rows = 0;
  for (const auto& file : manifest_.files) rows += file.rows;
  EXPECT_EQ(report.Find("integrity")->rows_checked, rows);
  EXPECT_EQ(report.Find("schema_evolution")->rows_checked, 1);
}

TEST_F(DeepCheckTest, AnotherAsOfChangesTheRecomputedAges) {
  lake::SnapshotManifest moved = manifest_;
  moved.as_of = "2027-07-07";  // half a year on: every age with a birthday in between differs
  HealthReport report = Check(moved);
  const CheckResult* calculated = report.Find("calculated_fields");
  EXPECT_FALSE(calculated->passed);
  EXPECT_GT(calculated->mismatches, 100);
  EXPECT_NE(calculated->problems.front().find("2027-07-07"), std::string::npos);
  EXPECT_TRUE(report.Find("completeness")->passed);
  EXPECT_NE(report.ToStatus().message().find("calculated_fields"), std::string::npos);
}

TEST_F(DeepCheckTest, CountsThatDisagreeAndAMissingRegionalFileFailCompleteness) {
  lake::SnapshotManifest doctored = manifest_;
  doctored.members += 1;
  auto regional = std::find_if(doctored.files.begin(), doctored.files.end(),
                               [](const auto& f) { return f.kind == lake::SnapshotFileKind::kRegional; });
  const std::string region = regional->region;
  doctored.files.erase(regional);
  HealthReport report = Check(doctored, store_.get());
  const CheckResult* completeness = report.Find("completeness");
  EXPECT_FALSE(completeness->passed);
  std::string problems;
  for (const auto& p : completeness->problems) problems += p + "\n";
  EXPECT_NE(problems.find("no regional file"), std::string::npos) << problems;
  EXPECT_NE(problems.find(region), std::string::npos) << problems;
  EXPECT_NE(problems.find("live store"), std::string::npos) << problems;
}

TEST_F(DeepCheckTest, AStoreThatMovedOnIsNotedNotFailed) {
  store::FieldValues fields = {{"voornaam", "Nieuw"}, {"achternaam", "Lid"}, {"email", "nieuw@example.nl"},
                               {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Utrecht"}};
  auto inserted = store_->Insert(fields);
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  HealthReport report = Check(manifest_, store_.get());
  EXPECT_TRUE(report.passed()) << report.ToText();
  std::string notes;
  for (const auto& note : report.Find("completeness")->notes) notes += note;
  EXPECT_NE(notes.find("moved on"), std::string::npos) << notes;
}

TEST_F(DeepCheckTest, AFailingCheckNeverPublishes) {
  const std::string before = *lake::ReadCurrentSnapshotId(*lake_);
  const auto files_before = *lake_->ListTree("parquet");
  GenerateOptions generate;
  generate.as_of = {2026, 1, 7};
  generate.inject_fault_for_test = true;
  auto summary = GenerateSnapshot(*store_, *lake_, generate);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("not published"), std::string::npos);
  EXPECT_NE(summary.status().message().find("completeness"), std::string::npos);
  EXPECT_EQ(*lake::ReadCurrentSnapshotId(*lake_), before);
  EXPECT_EQ(lake_->ListTree("parquet")->size(), files_before.size());  // its files were removed
}

TEST_F(DeepCheckTest, ARegistryThatRetypesAKeptFieldIsRefused) {
  EXPECT_TRUE(CheckRegistryAgainstLake(*lake_, *registry_).ok());
  auto path = std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml";
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("name = \"bouwjaar\"");
  ASSERT_NE(at, std::string::npos);
  const size_t type = text.find("type = \"integer\"", at);
  text.replace(type, std::string("type = \"integer\"").size(), "type = \"string\"");
  auto retyped = *model::FieldRegistry::LoadString(text, "retyped.toml");
  arrow::Status refused = CheckRegistryAgainstLake(*lake_, *retyped);
  ASSERT_TRUE(refused.IsInvalid());
  EXPECT_NE(refused.message().find("bouwjaar"), std::string::npos) << refused.message();
}

TEST(DataCheckMetrics, PerCheckSeriesAndSizesOnlyForTrustedScrapers) {
  server::Metrics metrics;
  metrics.RecordDataCheck("completeness", false, 1200, 3, 1700000000);
  metrics.RecordDataCheck("integrity", true, 5000, 0, 1700000000);
  const std::string text = metrics.Render({});
  EXPECT_NE(text.find("memberlake_data_check_passed{check=\"completeness\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("memberlake_data_check_passed{check=\"integrity\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("memberlake_data_check_mismatches{check=\"completeness\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("memberlake_data_check_failures_total{check=\"completeness\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("memberlake_data_check_last_run_timestamp_seconds{check=\"integrity\"} 1700000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("memberlake_data_check_rows_checked{check=\"integrity\"} 5000\n"), std::string::npos);
  EXPECT_EQ(metrics.Render({}, /*sizes=*/false).find("rows_checked"), std::string::npos);
  EXPECT_EQ(server::RouteTemplate("/api/health/data"), "/api/health/data");
}

TEST(HealthConfig, IntervalAndWebhookAreChecked) {
  const std::string base = "[data]\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n";
  auto ok = server::ServerConfig::LoadString(
      base + "[health]\ndeep_check_interval_seconds = 3600\nwebhook_url = \"https://hooks.example.nl/x\"\n", "/tmp");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->deep_check_interval_seconds, 3600);
  EXPECT_EQ(ok->health_webhook_url, "https://hooks.example.nl/x");
  auto bad_url = server::ServerConfig::LoadString(base + "[health]\nwebhook_url = \"ftp://x\"\n", "/tmp");
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.status().message().find("health.webhook_url"), std::string::npos);
  auto negative = server::ServerConfig::LoadString(base + "[health]\ndeep_check_interval_seconds = -1\n", "/tmp");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("deep_check_interval_seconds"), std::string::npos);
  EXPECT_FALSE(server::ServerConfig::LoadString(base + "[health]\nsurprise = 1\n", "/tmp").ok());
}

TEST(PeriodicTask, RunsEveryIntervalUntilDestroyed) {
  std::atomic<int> runs{0};
  {
    PeriodicTask task(std::chrono::seconds(1), [&] { ++runs; });
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  }
  const int seen = runs.load();
  EXPECT_GE(seen, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(runs.load(), seen);  // stopped
}

}  // namespace
}  // namespace memberlake::jobs
