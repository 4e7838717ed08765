#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "server/api_service.h"

namespace memberlake::server {
namespace {

namespace fs = std::filesystem;

std::string HeaderOf(const ApiResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

class ApiCorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memberlake-cors-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "lake");
    std::ofstream(dir_ / "keys.toml") << "# memberlake API keys (hashes only)\n";
    ServerConfig config;
    config.lake = (dir_ / "lake").string();
    config.api_keys_file = (dir_ / "keys.toml").string();
    config.audit_log = (dir_ / "audit" / "audit.log").string();
    config.cors_origins = {"https://leden.example.nl"};
    auto service = ApiService::Make(config);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(*service);
  }
  void TearDown() override {
    service_.reset();
    fs::remove_all(dir_);
  }
  ApiResponse Send(const std::string& method, const std::string& origin, const std::string& wanted = "GET",
                   const std::string& path = "/api/members") {
    ApiRequest request;
    request.method = method;
    request.path = path;
    if (!origin.empty()) request.headers["origin"] = origin;
    if (method == "OPTIONS") request.headers["access-control-request-method"] = wanted;
    return service_->Handle(request);
  }

  fs::path dir_;
  std::unique_ptr<ApiService> service_;
};

TEST_F(ApiCorsTest, PreflightFromAListedOriginIsAnsweredWithoutCredentials) {
  ApiResponse response = Send("OPTIONS", "https://leden.example.nl", "PATCH", "/api/members/m-1");
  EXPECT_EQ(response.status, 204);
  EXPECT_EQ(HeaderOf(response, "Access-Control-Allow-Origin"), "https://leden.example.nl");
  EXPECT_NE(HeaderOf(response, "Access-Control-Allow-Methods").find("PATCH"), std::string::npos);
  EXPECT_NE(HeaderOf(response, "Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_NE(HeaderOf(response, "Access-Control-Allow-Headers").find("If-Match"), std::string::npos);
  EXPECT_EQ(HeaderOf(response, "Access-Control-Max-Age"), "600");
  EXPECT_EQ(HeaderOf(response, "Vary"), "Origin");
}

TEST_F(ApiCorsTest, OtherOriginsGetNoAllowOrigin) {
  ApiResponse preflight = Send("OPTIONS", "https://evil.example.com");
  EXPECT_EQ(preflight.status, 403);
  EXPECT_EQ(HeaderOf(preflight, "Access-Control-Allow-Origin"), "");
  EXPECT_EQ(HeaderOf(preflight, "Vary"), "Origin");
  // A look-alike is not the listed origin.
  EXPECT_EQ(HeaderOf(Send("OPTIONS", "https://leden.example.nl.evil.com"), "Access-Control-Allow-Origin"), "");
  ApiResponse get = Send("GET", "https://evil.example.com");
  EXPECT_EQ(get.status, 401);
  EXPECT_EQ(HeaderOf(get, "Access-Control-Allow-Origin"), "");
  EXPECT_EQ(HeaderOf(get, "Vary"), "Origin");
  EXPECT_EQ(Send("OPTIONS", "https://leden.example.nl", "TRACE").status, 403);
}

TEST_F(ApiCorsTest, ActualRequestsFromAListedOriginMayReadTheAnswer) {
  ApiResponse get = Send("GET", "https://leden.example.nl");
  EXPECT_EQ(get.status, 401);  // still authenticated like any other request
  EXPECT_EQ(HeaderOf(get, "Access-Control-Allow-Origin"), "https://leden.example.nl");
  EXPECT_NE(HeaderOf(get, "Access-Control-Expose-Headers").find("X-Total-Count"), std::string::npos);
}

TEST_F(ApiCorsTest, OptionsAnswersTheMethodsOfThePathAskedAbout) {
  for (const auto& [path, allowed] : std::vector<std::pair<std::string, std::string>>{
           {"/health", "GET, HEAD, OPTIONS"},
           {"/metrics", "GET, HEAD, OPTIONS"},
           {"/api/openapi.json", "GET, HEAD, OPTIONS"},
           {"/api/members", "GET, HEAD, POST, OPTIONS"},
           {"/api/members/m-1", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
           {"/api/generate", "POST, OPTIONS"},
           {"/api/snapshots/s/files/regional/x.parquet", "GET, HEAD, OPTIONS"}}) {
    ApiResponse plain = Send("OPTIONS", "", "", path);
    EXPECT_EQ(plain.status, 204) << path;
    EXPECT_EQ(HeaderOf(plain, "Allow"), allowed) << path;
    ApiResponse preflight = Send("OPTIONS", "https://leden.example.nl", "GET", path);
    EXPECT_EQ(HeaderOf(preflight, "Access-Control-Allow-Methods"), preflight.status == 204 ? allowed : "") << path;
  }
  EXPECT_EQ(Send("OPTIONS", "", "", "/no/such/path").status, 404);
  // A preflight for a method the path does not have is refused.
  EXPECT_EQ(Send("OPTIONS", "https://leden.example.nl", "DELETE", "/api/members").status, 403);
  EXPECT_EQ(Send("OPTIONS", "https://leden.example.nl", "GET", "/api/generate").status, 403);
  EXPECT_EQ(Send("OPTIONS", "https://leden.example.nl", "POST", "/api/generate").status, 204);
}

TEST_F(ApiCorsTest, OtherMethodsOnTheOpenRoutesAre405WithAllow) {
  for (const char* path : {"/health", "/ready", "/metrics", "/api/openapi.json"}) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
      ApiResponse response = Send(method, "", "", path);
      EXPECT_EQ(response.status, 405) << method << " " << path;
      EXPECT_EQ(HeaderOf(response, "Allow"), "GET, HEAD, OPTIONS") << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace memberlake::server
