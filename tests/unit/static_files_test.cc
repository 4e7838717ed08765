#include "server/static_files.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <unistd.h>

#include <gtest/gtest.h>

#include "server/server_config.h"

namespace memberlake::server {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("static-files-" + std::to_string(::getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_ / "dist" / "assets");
    Write(base_ / "dist" / "index.html", "<p>index</p>");
    Write(base_ / "dist" / "assets" / "app-1.js", "js");
    Write(base_ / "dist" / ".env", "secret");
    Write(base_ / "outside.txt", "outside");
    fs::create_symlink(base_ / "outside.txt", base_ / "dist" / "link.txt");
    auto files = StaticFiles::Open((base_ / "dist").string());
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    files_ = std::move(*files);
  }
  void TearDown() override { fs::remove_all(base_); }
  static void Write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
  ApiResponse Get(const std::string& path, std::map<std::string, std::string> headers = {}) {
    ApiRequest request;
    request.method = "GET";
    request.path = path;
    request.headers = std::move(headers);
    return files_->Serve(request);
  }
  static std::string HeaderOf(const ApiResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return "";
  }
  fs::path base_;
  std::unique_ptr<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesFilesWithTypeCachingAndPolicy) {
  auto index = Get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<p>index</p>");
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(index, "Cache-Control"), "no-cache");
  EXPECT_NE(HeaderOf(index, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  auto js = Get("/assets/app-1.js");
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(HeaderOf(js, "Cache-Control").find("immutable"), std::string::npos);
  auto again = Get("/assets/app-1.js", {{"if-none-match", HeaderOf(js, "ETag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
}

TEST_F(StaticFilesTest, GzipCopyForClientsThatTakeIt) {
  Write(base_ / "dist" / "assets" / "app-1.js.gz", "GZ");
  fs::create_symlink(base_ / "outside.txt", base_ / "dist" / "index.html.gz");  // must not be followed out
  auto packed = Get("/assets/app-1.js", {{"accept-encoding", "gzip, br"}});
  EXPECT_EQ(packed.body, "GZ");
  EXPECT_EQ(HeaderOf(packed, "Content-Encoding"), "gzip");
  EXPECT_EQ(packed.content_type, "text/javascript; charset=utf-8");
  auto plain = Get("/assets/app-1.js");
  EXPECT_EQ(plain.body, "js");
  EXPECT_EQ(HeaderOf(plain, "Content-Encoding"), "");
  EXPECT_NE(HeaderOf(plain, "ETag"), HeaderOf(packed, "ETag"));
  auto index = Get("/", {{"accept-encoding", "gzip"}});
  EXPECT_EQ(index.body, "<p>index</p>");
  EXPECT_EQ(HeaderOf(index, "Content-Encoding"), "");
}

TEST_F(StaticFilesTest, RefusesTraversalDotfilesSymlinkEscapesAndFolders) {
  for (const char* path : {"/../outside.txt", "/assets/../../outside.txt", "/.env", "/assets/.", "/link.txt", "/assets",
                           "/assets/", "/nope.js", "relative", "/a\\..\\outside.txt", "/assets//app-1.js/"}) {
    auto response = Get(path);
    EXPECT_EQ(response.status, 404) << path;
    EXPECT_EQ(response.body.find("outside"), std::string::npos) << path;
    EXPECT_EQ(response.body.find("secret"), std::string::npos) << path;
  }
}

TEST_F(StaticFilesTest, ClaimsOnlyNonApiGets) {
  ApiRequest request;
  request.method = "GET";
  for (const char* path : {"/", "/index.html", "/assets/app-1.js", "/apiary"}) {
    request.path = path;
    EXPECT_TRUE(StaticFiles::Claims(request)) << path;
  }
  for (const char* path : {"/api", "/api/me", "/health", "/ready", "/metrics"}) {
    request.path = path;
    EXPECT_FALSE(StaticFiles::Claims(request)) << path;
  }
  request.path = "/";
  request.method = "POST";
  EXPECT_FALSE(StaticFiles::Claims(request));
}

TEST(StaticFilesConfig, ConnectOriginsExtendOnlyConnectSrc) {
  auto root = fs::temp_directory_path();
  auto files = StaticFiles::Open(root.string(), {"https://leden.auth.eu-west-1.amazoncognito.com"});
  ASSERT_TRUE(files.ok());
  EXPECT_NE((*files)->content_security_policy().find(
                "connect-src 'self' https://leden.auth.eu-west-1.amazoncognito.com;"),
            std::string::npos);
  EXPECT_NE((*files)->content_security_policy().find("script-src 'self';"), std::string::npos);
  for (const char* bad : {"https://a.nl; script-src *", "https://a.nl https://b.nl", "a.nl", "'unsafe-eval'"}) {
    auto refused = StaticFiles::Open(root.string(), {bad});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("web_connect_origins"), std::string::npos);
  }
  auto config = ServerConfig::LoadString("[server]\nweb_connect_origins = [\"https://x.nl/\"]\n[data]\nlake = \"l\"\n"
                                         "[auth]\napi_keys_file = \"k.toml\"\n", "/tmp");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("server.web_connect_origins"), std::string::npos);
}

TEST(StaticFilesConfig, WebRootIsRelativeToTheConfigAndMustExist) {
  auto config = ServerConfig::LoadString(
      "[server]\nweb_root = \"../web/dist\"\n[data]\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n", "/srv/ml/config");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->web_root, "/srv/ml/web/dist");
  auto missing = StaticFiles::Open("/nonexistent/web/dist");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("server.web_root"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::server
