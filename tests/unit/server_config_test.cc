#include "server/server_config.h"

#include <cstdlib>

#include <gtest/gtest.h>

namespace memberlake::server {
namespace {

const std::string kBase = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n";

TEST(ServerConfig, WrongTypedSettingsAreRefusedByName) {
  // Each of these was once ignored silently, leaving the default in force.
  for (const auto& [text, setting] : std::vector<std::pair<std::string, std::string>>{
           {"[server]\nport = \"8080\"\n", "server.port"},
           {"[server]\nthreads = 4.5\n", "server.threads"},
           {"[server]\nlisten = 127\n", "server.listen"},
           {"[data]\nkeep_snapshots = \"30\"\n", "data.keep_snapshots"},
           {"[auth]\nleeway_seconds = true\n", "auth.leeway_seconds"},
           {"[audit]\npath = [\"a\"]\n", "audit.path"},
           {"[triggers]\nevery_seconds = \"60\"\n", "triggers.every_seconds"}}) {
    std::string doc = kBase;
    // Put the setting in its own section without duplicating [data]/[auth].
    if (text.rfind("[data]", 0) == 0) doc = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n" + text.substr(7) +
                                            "[auth]\napi_keys_file = \"k.toml\"\n";
    else if (text.rfind("[auth]", 0) == 0) doc = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n" + text.substr(7);
    else doc += text;
    auto config = ServerConfig::LoadString(doc, "/tmp");
    ASSERT_FALSE(config.ok()) << setting;
    EXPECT_NE(config.status().message().find(setting), std::string::npos) << config.status().ToString();
  }
  EXPECT_TRUE(ServerConfig::LoadString(kBase + "[server]\nport = 8081\nthreads = 4\n", "/tmp").ok());
}

TEST(ServerConfig, EdgeLimitsAreReadAndMustBePositive) {
  auto config = ServerConfig::LoadString(kBase + "[server]\nio_threads = 2\nheader_timeout_seconds = 3\n"
                                                 "request_timeout_seconds = 7\nmax_connections = 50\n"
                                                 "max_connections_per_client = 5\n", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->io_threads, 2);
  EXPECT_EQ(config->header_timeout_seconds, 3);
  EXPECT_EQ(config->request_timeout_seconds, 7);
  EXPECT_EQ(config->max_connections, 50);
  EXPECT_EQ(config->max_connections_per_client, 5);
  auto defaults = ServerConfig::LoadString(kBase, "/tmp");
  ASSERT_TRUE(defaults.ok());
  EXPECT_GT(defaults->max_connections, defaults->max_connections_per_client);
  for (const char* key : {"io_threads", "header_timeout_seconds", "request_timeout_seconds", "max_connections",
                          "max_connections_per_client"}) {
    auto refused = ServerConfig::LoadString(kBase + "[server]\n" + key + " = 0\n", "/tmp");
    ASSERT_FALSE(refused.ok()) << key;
    EXPECT_NE(refused.status().message().find(std::string("server.") + key), std::string::npos)
        << refused.status().ToString();
  }
}

TEST(ServerConfig, GenerationsVerifyDeepUnlessSetToNone) {
  const std::string data = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n";
  const std::string auth = "[auth]\napi_keys_file = \"k.toml\"\n";
  auto defaults = ServerConfig::LoadString(kBase, "/tmp");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->verify, "deep");
  auto none = ServerConfig::LoadString(data + "verify = \"none\"\n" + auth, "/tmp");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->verify, "none");
  for (const std::string value : {"\"shallow\"", "\"\"", "false"}) {
    auto refused = ServerConfig::LoadString(data + "verify = " + value + "\n" + auth, "/tmp");
    ASSERT_FALSE(refused.ok()) << value;
    EXPECT_NE(refused.status().message().find("data.verify"), std::string::npos) << refused.status().ToString();
  }
}

TEST(ServerConfig, CacheEntryBoundIsReadAndNotNegative) {
  auto defaults = ServerConfig::LoadString(kBase, "/tmp");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->cache_entry_bytes, 4 << 20);
  const std::string data = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n";
  auto config = ServerConfig::LoadString(data + "cache_entry_bytes = 0\n[auth]\napi_keys_file = \"k.toml\"\n", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->cache_entry_bytes, 0);
  auto refused = ServerConfig::LoadString(data + "cache_entry_bytes = -1\n[auth]\napi_keys_file = \"k.toml\"\n", "/tmp");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("data.cache_entry_bytes"), std::string::npos);
}

TEST(ServerConfig, WriteStallAndMetricsAllowlist) {
  auto defaults = ServerConfig::LoadString(kBase, "/tmp");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->write_stall_seconds, 30);
  EXPECT_TRUE(defaults->metrics_allow.empty());
  auto config = ServerConfig::LoadString(
      kBase + "[server]\nwrite_stall_seconds = 2\nmetrics_allow = [\"127.0.0.1/32\", \"10.0.0.0/8\", \"fd00::/8\"]\n", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->write_stall_seconds, 2);
  EXPECT_EQ(config->metrics_allow.size(), size_t{3});
  EXPECT_FALSE(ServerConfig::LoadString(kBase + "[server]\nwrite_stall_seconds = 0\n", "/tmp").ok());
  for (const char* bad : {"[\"10.0.0.0/33\"]", "[\"::1/129\"]", "[\"localhost\"]", "[\"10.0.0.0/\"]", "\"10.0.0.0/8\"", "[8]"}) {
    auto refused = ServerConfig::LoadString(kBase + "[server]\nmetrics_allow = " + bad + "\n", "/tmp");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("server.metrics_allow"), std::string::npos) << refused.status().ToString();
  }
}

TEST(ServerConfig, AuditTrailOfAnS3LakeLivesInTheLake) {
  auto on_s3 = ServerConfig::LoadString(
      "[data]\nlake = \"s3://club/lake?endpoint_override=127.0.0.1:9000&scheme=http\"\n[auth]\napi_keys_file = \"k.toml\"\n",
      "/srv/memberlake");
  ASSERT_TRUE(on_s3.ok()) << on_s3.status().ToString();
  EXPECT_EQ(on_s3->audit_log, "s3://club/lake/audit?endpoint_override=127.0.0.1:9000&scheme=http");
  auto on_disk = ServerConfig::LoadString(kBase, "/srv/memberlake");
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(on_disk->audit_log, "/srv/memberlake/audit/audit.log");
}

TEST(ServerConfig, AuditKeyComesFromTheEnvironment) {
  const std::string doc = kBase + "[audit]\nkey_env = \"MEMBERLAKE_TEST_AUDIT_KEY\"\n";
  ::unsetenv("MEMBERLAKE_TEST_AUDIT_KEY");
  auto missing = ServerConfig::LoadString(doc, "/tmp");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("audit.key_env"), std::string::npos);
  ::setenv("MEMBERLAKE_TEST_AUDIT_KEY", "short", 1);
  EXPECT_FALSE(ServerConfig::LoadString(doc, "/tmp").ok());
  ::setenv("MEMBERLAKE_TEST_AUDIT_KEY", "a-key-of-sufficient-length", 1);
  auto loaded = ServerConfig::LoadString(doc, "/tmp");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->audit_key, "a-key-of-sufficient-length");
  ::unsetenv("MEMBERLAKE_TEST_AUDIT_KEY");
}

TEST(ServerConfig, OpenIdSignInSettingsAreCheckedTogether) {
  const std::string data = "[data]\nstore = \"sqlite:m.db\"\n[auth]\n";
  const std::string issuer = "issuer = \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x\"\n";
  const std::string sign_in = issuer + "oidc_client_id = \"app\"\noidc_redirect_uri = \"https://leden.example.nl/\"\n";
  auto config = ServerConfig::LoadString(data + sign_in + "jwks_refetch_seconds = 5\n", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->audience, "app");  // the ID token's aud is the client id
  EXPECT_EQ(config->oidc_scopes, "openid email");
  EXPECT_EQ(config->jwks_refetch_seconds, 5);
  auto refused = [&](const std::string& auth, const std::string& reason) {
    auto result = ServerConfig::LoadString(data + auth, "/tmp");
    ASSERT_FALSE(result.ok()) << auth;
    EXPECT_NE(result.status().message().find(reason), std::string::npos) << result.status().ToString();
  };
  refused(sign_in + "audience = \"other\"\n", "auth.audience must equal auth.oidc_client_id");
  refused(issuer + "oidc_client_id = \"app\"\n", "needs auth.oidc_redirect_uri");
  refused("oidc_client_id = \"app\"\noidc_redirect_uri = \"https://leden.example.nl/\"\n", "needs auth.issuer");
  refused(issuer + "audience = \"a\"\noidc_redirect_uri = \"https://leden.example.nl/\"\n", "needs auth.oidc_client_id");
  refused(sign_in + "oidc_scopes = \"email profile\"\n", "must include openid");
  refused(issuer + "oidc_client_id = \"app\"\noidc_redirect_uri = \"http://leden.example.nl/\"\n",
          "auth.oidc_redirect_uri must be an https:// URL");
  refused(sign_in + "jwks_uri = \"http://keys.example.org/jwks.json\"\n", "auth.jwks_uri must be an https:// URL");
  refused(sign_in + "jwks_uri = \"https://k/jwks.json\"\njwks_file = \"j.json\"\n", "not both");
  refused(sign_in + "jwks_refetch_seconds = 0\n", "auth.jwks_refetch_seconds");
  EXPECT_TRUE(ServerConfig::LoadString(data + issuer + "oidc_client_id = \"app\"\n"
                                       "oidc_redirect_uri = \"http://127.0.0.1:8080/\"\n", "/tmp").ok());
}

}  // namespace
}  // namespace memberlake::server
