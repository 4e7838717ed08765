#include <filesystem>
#include <fstream>
#include <string>

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
  ApiResponse Send(const std::string& method, const std::string& origin, const std::string& wanted = "GET") {
    ApiRequest request;
    request.method = method;
    request.path = "/api/members";
    if (!origin.empty()) request.headers["origin"] = origin;
    if (method == "OPTIONS") request.headers["access-control-request-method"] = wanted;
    return service_->Handle(request);
  }

  fs::path dir_;
  std::unique_ptr<ApiService> service_;
};

TEST_F(ApiCorsTest, PreflightFromAListedOriginIsAnsweredWithoutCredentials) {
  ApiResponse response = Send("OPTIONS", "https://leden.example.nl", "PATCH");
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

}  // namespace
}  // namespace memberlake::server
