// Where threads meet, for the ThreadSanitizer build (scripts/test.sh runs this file under TSan):
// generation jobs with readers of their status and of the lake, and the whole API service
// answering readers while it generates, then shutting down.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "jobs/generation_jobs.h"
#include "lake/lake_storage.h"
#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"
#include "query/query.h"
#include "server/api_keys.h"
#include "server/api_service.h"
#include "server/audit_log.h"
#include "server/server_config.h"
#include "store/member_store.h"
#include "store/sample_members.h"

namespace memberlake {
namespace {

namespace fs = std::filesystem;

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memberlake-concurrency-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    registry_ = *model::FieldRegistry::LoadDefault();
    store_uri_ = "sqlite:" + (dir_ / "members.db").string();
    store::StoreOptions create;
    create.create_if_missing = true;
    auto store = store::OpenMemberStore(store_uri_, registry_, create);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::SampleOptions sample;
    sample.members = 1500;
    auto batches = *store::MakeSampleMembers(registry_, sample);
    ASSERT_TRUE((*store)->ImportRaw(*batches).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  std::string store_uri_;
};

TEST_F(ConcurrencyTest, JobsStatusReadersAndLakeReadersTogether) {
  auto lake = *lake::LakeStorage::Open((dir_ / "lake").string(), /*create=*/true);
  std::atomic<int> finished{0};
  {
    jobs::GenerationJobs jobs([&] { return store::OpenMemberStore(store_uri_, registry_); }, lake.get(),
                              [&](const jobs::JobStatus&) { ++finished; });
    std::atomic<bool> done{false};
    std::vector<std::string> ids;
    std::thread submitter([&] {
      for (int i = 0; i < 3;) {
        auto job = jobs.Submit("test", model::CivilDate{2026, 1, 7});
        if (!job.ok()) {  // a reader's submission got in first
          EXPECT_TRUE(job.status().IsAlreadyExists()) << job.status().ToString();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        auto end = jobs.Wait(job->id);
        EXPECT_TRUE(end.has_value() && end->state == "succeeded") << (end ? end->error : "unknown job");
        ++i;
      }
      done = true;
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
      readers.emplace_back([&, r] {
        bool submitted = false;
        while (!done) {
          // Competing submissions are refused while one runs (one per reader gets through).
          if (!submitted) {
            auto job = jobs.Submit("reader", model::CivilDate{2026, 1, 7});
            submitted = job.ok();
            if (job.ok()) {
              EXPECT_TRUE(jobs.Get(job->id).has_value());
            }
          }
          auto manifest = lake::ReadCurrentManifest(*lake);
          if (!manifest.ok()) continue;
          auto scope = r == 0 ? query::RegionalScope::All()
                              : *query::RegionalScope::Regions(*registry_, {r == 1 ? "Utrecht" : "Oost"});
          query::QuerySpec spec;
          spec.aggregates.push_back(*query::ParseAggregate("count"));
          auto result = query::RunQuery(*lake, *registry_, scope, spec);
          // A pruning generation may remove a snapshot between reading CURRENT and its files.
          if (result.ok()) {
            EXPECT_EQ(result->table->num_rows(), 1);
          }
        }
      });
    }
    submitter.join();
    for (auto& reader : readers) reader.join();
  }
  EXPECT_GE(finished.load(), 3);
  EXPECT_TRUE(lake::ReadCurrentManifest(*lake).ok());
}

TEST_F(ConcurrencyTest, ApiServiceAnswersReadersWhileItGeneratesAndShutsDownCleanly) {
  auto key = *server::ApiKeyStore::Generate();
  std::ofstream(dir_ / "keys.toml") << *server::ApiKeyStore::TomlEntry("crud", key, {"Members_CRUD", "Regio_All"});
  auto config = server::ServerConfig::LoadString(
      "[data]\nstore = \"" + store_uri_ + "\"\nlake = \"lake\"\nas_of = \"2026-01-07\"\n[auth]\napi_keys_file = \"keys.toml\"\n",
      dir_.string());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto service = server::ApiService::Make(*config);
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  auto request = [&](const std::string& method, const std::string& path) {
    server::ApiRequest r;
    r.method = method;
    r.path = path;
    r.headers["x-api-key"] = key.key;
    return (*service)->Handle(r);
  };
  auto first = request("POST", "/api/generate");
  ASSERT_EQ(first.status, 202) << first.body;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      while (!done) {
        auto response = request("GET", r % 2 ? "/api/reports/regional-stats" : "/api/members");
        EXPECT_LT(response.status, 500) << response.body;
        (void)request("GET", "/metrics");
      }
    });
  }
  std::thread generator([&] {
    for (int i = 0; i < 2; ++i) {
      auto job = nlohmann::json::parse(request("POST", "/api/generate").body, nullptr, false);
      for (int poll = 0; poll < 600 && job.is_object() && job.contains("job_id"); ++poll) {
        auto status = nlohmann::json::parse(request("GET", "/api/jobs/" + job["job_id"].get<std::string>()).body,
                                            nullptr, false);
        if (status.value("state", "") != "queued" && status.value("state", "") != "running") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    done = true;
  });
  generator.join();
  for (auto& reader : readers) reader.join();
  // A generation may still run: shutting down waits for it and leaves the audit trail whole.
  (void)request("POST", "/api/generate");
  (*service)->Drain();
  service->reset();
  auto verified = server::AuditLog::Verify((dir_ / "audit" / "audit.log").string());
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->problem;
}

// The service destroyed while a generation runs, without Drain(): the job finishes and audits
// its end while the service's parts go away, so they must go in an order it cannot touch
// (under ASan a use of the destroyed audit log is an error; the log must end whole).
TEST_F(ConcurrencyTest, DestroyedWhileAGenerationRunsTheFinishingJobStillAudits) {
  auto key = *server::ApiKeyStore::Generate();
  std::ofstream(dir_ / "keys.toml") << *server::ApiKeyStore::TomlEntry("crud", key, {"Members_CRUD", "Regio_All"});
  auto config = *server::ServerConfig::LoadString(
      "[data]\nstore = \"" + store_uri_ + "\"\nlake = \"lake\"\nas_of = \"2026-01-07\"\n[auth]\napi_keys_file = \"keys.toml\"\n",
      dir_.string());
  {
    auto service = *server::ApiService::Make(config);
    server::ApiRequest generate;
    generate.method = "POST";
    generate.path = "/api/generate";
    generate.headers["x-api-key"] = key.key;
    auto accepted = service->Handle(generate);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    server::ApiRequest status;
    status.method = "GET";
    status.path = "/api/jobs/" + nlohmann::json::parse(accepted.body)["job_id"].get<std::string>();
    status.headers["x-api-key"] = key.key;
    for (int poll = 0; poll < 2000; ++poll) {  // until it runs (a queued job is failed at shutdown)
      if (nlohmann::json::parse(service->Handle(status).body).value("state", "") != "queued") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }  // destroyed at once: the generation is still running
  auto verified = server::AuditLog::Verify((dir_ / "audit" / "audit.log").string());
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok) << verified->problem;
  auto records = *(*server::AuditLog::Open((dir_ / "audit" / "audit.log").string()))->Read(0, 100);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().event.action, "generate.finish");
}

}  // namespace
}  // namespace memberlake
