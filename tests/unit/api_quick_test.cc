// ApiService::HandleIfQuick: what the HTTP edge answers on its event loop. Answers only what is
// cheap (probes, cached answers), gives exactly what Handle gives for them (audit entry and
// metrics included), and leaves no trace for what it does not answer.
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "sample_lake.h"
#include "server/api_keys.h"
#include "server/api_service.h"

namespace memberlake::server {
namespace {

class ApiQuickTest : public SampleLakeTest {
 protected:
  void SetUp() override {
    MakeSampleLake("quick", 300);
    auto key = *ApiKeyStore::Generate();
    key_ = key.key;
    std::ofstream(dir_ / "keys.toml") << *ApiKeyStore::TomlEntry("board", key, {"Members_CRUD", "Regio_All"});
    config_.store = "sqlite:" + (dir_ / "m.db").string();
    config_.lake = (dir_ / "lake").string();
    config_.api_keys_file = (dir_ / "keys.toml").string();
    config_.audit_log = (dir_ / "audit" / "audit.log").string();
    config_.as_of = "2026-01-07";
  }
  void Start() {
    auto service = ApiService::Make(config_);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(*service);
  }
  ApiRequest Get(const std::string& path, const std::string& query_name = "", const std::string& query_value = "") {
    ApiRequest request;
    request.method = "GET";
    request.path = path;
    request.headers["x-api-key"] = key_;
    if (!query_name.empty()) request.params.emplace(query_name, query_value);
    return request;
  }
  // The log is the service's while it runs (one writer): its lines are read as a reader would.
  int64_t AuditEntries() {
    std::ifstream log(config_.audit_log);
    int64_t lines = 0;
    for (std::string line; std::getline(log, line);) lines += !line.empty();
    return lines;
  }
  std::string Metrics() {
    ApiRequest request;
    request.method = "GET";
    request.path = "/metrics";
    return service_->Handle(request).body;
  }

  ServerConfig config_;
  std::string key_;
  std::unique_ptr<ApiService> service_;
};

TEST_F(ApiQuickTest, ACachedAnswerIsGivenQuicklyAndAuditedLikeHandlesAnswer) {
  Start();
  ApiRequest list = Get("/api/members", "limit", "5");
  const int64_t before = AuditEntries();
  // Not cached yet: nothing answered, nothing audited, nothing counted.
  EXPECT_FALSE(service_->HandleIfQuick(list).has_value());
  EXPECT_EQ(AuditEntries(), before);
  EXPECT_EQ(Metrics().find("route=\"/api/members\""), std::string::npos) << Metrics();

  ApiResponse computed = service_->Handle(list);
  ASSERT_EQ(computed.status, 200) << computed.body;
  EXPECT_EQ(AuditEntries(), before + 1);  // member.list

  auto quick = service_->HandleIfQuick(list);
  ASSERT_TRUE(quick.has_value());
  EXPECT_EQ(quick->status, 200);
  EXPECT_EQ(quick->body, computed.body);
  EXPECT_FALSE(static_cast<bool>(quick->producer));
  EXPECT_EQ(quick->actor, "board");
  EXPECT_EQ(AuditEntries(), before + 2);  // every read of member data is audited, however it is answered
  EXPECT_NE(Metrics().find("route=\"/api/members\""), std::string::npos);

  // Another page is another answer: not cached, so not quick.
  EXPECT_FALSE(service_->HandleIfQuick(Get("/api/members", "limit", "6")).has_value());
  // A refusal is as quick as the answer it refuses, and audited the same way.
  ApiRequest stranger = list;
  stranger.headers["x-api-key"] = "mlk_00000000_nope";
  auto refused = service_->HandleIfQuick(stranger);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
}

TEST_F(ApiQuickTest, NewDataMakesTheCachedAnswerStaleSoItIsComputedAgain) {
  Start();
  ApiRequest report = Get("/api/reports/regional-stats");
  ASSERT_EQ(service_->Handle(report).status, 200);
  ASSERT_TRUE(service_->HandleIfQuick(report).has_value());
  Generate();  // a new snapshot: the rendered answer's data key no longer matches
  EXPECT_FALSE(service_->HandleIfQuick(report).has_value());
}

TEST_F(ApiQuickTest, ProbesAreQuickAndWorkIsNot) {
  Start();
  ApiRequest health;
  health.method = "GET";
  health.path = "/health";
  auto probe = service_->HandleIfQuick(health);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->status, 200);
  ASSERT_TRUE(service_->HandleIfQuick(Get("/api/me")).has_value());

  ApiRequest ready = health;
  ready.path = "/ready";
  EXPECT_FALSE(service_->HandleIfQuick(ready).has_value());  // reads the lake and the store
  ApiRequest generate = Get("/api/generate");
  generate.method = "POST";
  EXPECT_FALSE(service_->HandleIfQuick(generate).has_value());
  EXPECT_FALSE(service_->HandleIfQuick(Get("/api/snapshots")).has_value());
  EXPECT_FALSE(service_->HandleIfQuick(Get("/api/members/" + std::string(36, 'a'))).has_value());
  EXPECT_FALSE(service_->HandleIfQuick(Get("/api/query", "group_by", "regio")).has_value());
}

TEST_F(ApiQuickTest, SwitchedOffNothingIsQuick) {
  config_.quick_answers = false;
  Start();
  ApiRequest health;
  health.method = "GET";
  health.path = "/health";
  EXPECT_FALSE(service_->HandleIfQuick(health).has_value());
  ApiRequest report = Get("/api/reports/regional-stats");
  ASSERT_EQ(service_->Handle(report).status, 200);
  EXPECT_FALSE(service_->HandleIfQuick(report).has_value());
}

}  // namespace
}  // namespace memberlake::server
