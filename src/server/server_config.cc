#include "server/server_config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace memberlake::server {
namespace {

// Reads settings into their variables; a setting of the wrong type is an error naming it
// (never silently the default), the first one kept in `status`.
struct Reader {
  const toml::table& doc;
  arrow::Status status;

  template <typename T>
  void Get(std::string_view section, std::string_view key, T* out) {
    const toml::node* node = doc[section][key].node();
    if (node == nullptr) return;
    bool right_type = false;
    if constexpr (std::is_same_v<T, std::string>) {
      right_type = node->is_string();
    } else if constexpr (std::is_same_v<T, bool>) {
      right_type = node->is_boolean();
    } else if constexpr (std::is_integral_v<T>) {
      right_type = node->is_integer();
    } else {
      right_type = node->is_number();
    }
    if (right_type) {
      if (auto value = node->value<T>()) {
        *out = *value;
        return;
      }
    }
    if (status.ok()) {
      const char* wanted = std::is_same_v<T, std::string> ? "a string"
                           : std::is_same_v<T, bool>      ? "true or false"
                           : std::is_integral_v<T>        ? "a whole number"
                                                          : "a number";
      status = arrow::Status::Invalid("server config: ", section, ".", key, " must be ", wanted);
    }
  }
};

// The lake location with `/audit` added to its path: "s3://b/lake?x=1" -> "s3://b/lake/audit?x=1".
std::string AuditPrefixOf(const std::string& lake) {
  const size_t query = lake.find('?');
  std::string path = lake.substr(0, query);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path + "/audit" + (query == std::string::npos ? "" : lake.substr(query));
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty() || path.find("://") != std::string::npos || path.rfind("sqlite:", 0) == 0 ||
      std::filesystem::path(path).is_absolute()) {
    return path;
  }
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

}  // namespace

arrow::Result<ServerConfig> ServerConfig::LoadString(std::string_view toml_text, const std::string& base_dir) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("server config: ", error.description(), " (line ",
                                  error.source().begin.line, ")");
  }
  static const std::map<std::string, std::vector<std::string>> kKnown = {
      {"server", {"listen", "port", "threads", "max_body_bytes", "read_timeout_seconds", "write_timeout_seconds",
                  "keep_alive_seconds", "keep_alive_max_requests", "access_log", "metrics_token_env", "cors_origins",
                  "io_threads", "header_timeout_seconds", "request_timeout_seconds", "max_connections",
                  "max_connections_per_client"}},
      {"data", {"store", "lake", "registry", "access_policy", "cache_bytes", "max_snapshot_age_seconds", "as_of",
                "keep_snapshots"}},
      {"auth", {"issuer", "audience", "hs256_secret", "hs256_secret_env", "jwks_file", "api_keys_file",
                "leeway_seconds"}},
      {"audit", {"path", "key_env"}},
      {"privacy", {"pseudonym_key_env"}},
      {"triggers", {"daily_at", "every_seconds", "on_change_min_changes", "on_change_quiet_seconds",
                    "on_change_max_delay_seconds"}},
  };
  for (const auto& [section, node] : doc) {
    auto known = kKnown.find(std::string(section.str()));
    if (known == kKnown.end() || !node.is_table()) {
      return arrow::Status::Invalid("server config: unknown section [", std::string(section.str()), "]");
    }
    for (const auto& [key, value] : *node.as_table()) {
      if (std::find(known->second.begin(), known->second.end(), key.str()) == known->second.end()) {
        return arrow::Status::Invalid("server config: unknown key ", known->first, ".", std::string(key.str()));
      }
    }
  }
  ServerConfig c;
  Reader r{doc, arrow::Status::OK()};
  int64_t port = c.port, threads = c.threads, read_timeout = c.read_timeout_seconds,
          write_timeout = c.write_timeout_seconds, keep_alive = c.keep_alive_seconds,
          keep_alive_max = c.keep_alive_max_requests;
  r.Get("server", "listen", &c.listen);
  r.Get("server", "port", &port);
  r.Get("server", "threads", &threads);
  r.Get("server", "max_body_bytes", &c.max_body_bytes);
  r.Get("server", "read_timeout_seconds", &read_timeout);
  r.Get("server", "write_timeout_seconds", &write_timeout);
  r.Get("server", "keep_alive_seconds", &keep_alive);
  r.Get("server", "keep_alive_max_requests", &keep_alive_max);
  r.Get("server", "access_log", &c.access_log);
  std::string metrics_token_env;
  r.Get("server", "metrics_token_env", &metrics_token_env);
  if (const toml::node* origins = doc["server"]["cors_origins"].node()) {
    const toml::array* list = origins->as_array();
    if (list == nullptr) return arrow::Status::Invalid("server config: server.cors_origins must be a list of origins");
    for (const auto& origin : *list) {
      auto text = origin.value<std::string>();
      if (!text || text->empty() || text->back() == '/' || text->find("://") == std::string::npos) {
        return arrow::Status::Invalid("server config: server.cors_origins: each origin is scheme://host[:port], "
                                      "like \"https://leden.h-dcn.nl\"");
      }
      c.cors_origins.push_back(*text);
    }
  }
  // The edge's limits (server/http_server.h): each must be positive.
  for (auto [key, field] : {std::pair{"io_threads", &c.io_threads},
                            std::pair{"header_timeout_seconds", &c.header_timeout_seconds},
                            std::pair{"request_timeout_seconds", &c.request_timeout_seconds},
                            std::pair{"max_connections", &c.max_connections},
                            std::pair{"max_connections_per_client", &c.max_connections_per_client}}) {
    int64_t value = *field;
    r.Get("server", key, &value);
    if (value < 1 || value > 1000000) return arrow::Status::Invalid("server config: server.", key, " must be 1..1000000");
    *field = static_cast<int>(value);
  }
  r.Get("data", "store", &c.store);
  r.Get("data", "lake", &c.lake);
  r.Get("data", "registry", &c.registry);
  r.Get("data", "access_policy", &c.access_policy);
  r.Get("data", "cache_bytes", &c.cache_bytes);
  r.Get("data", "max_snapshot_age_seconds", &c.max_snapshot_age_seconds);
  r.Get("data", "as_of", &c.as_of);
  r.Get("data", "keep_snapshots", &c.keep_snapshots);
  r.Get("auth", "issuer", &c.issuer);
  r.Get("auth", "audience", &c.audience);
  r.Get("auth", "hs256_secret", &c.hs256_secret);
  r.Get("auth", "hs256_secret_env", &c.hs256_secret_env);
  r.Get("auth", "jwks_file", &c.jwks_file);
  r.Get("auth", "api_keys_file", &c.api_keys_file);
  r.Get("auth", "leeway_seconds", &c.leeway_seconds);
  r.Get("audit", "path", &c.audit_log);
  r.Get("audit", "key_env", &c.audit_key_env);
  r.Get("privacy", "pseudonym_key_env", &c.pseudonym_key_env);
  std::string daily_at;
  jobs::TriggerConfig& t = c.triggers;
  r.Get("triggers", "daily_at", &daily_at);
  r.Get("triggers", "every_seconds", &t.every_seconds);
  r.Get("triggers", "on_change_min_changes", &t.on_change_min_changes);
  r.Get("triggers", "on_change_quiet_seconds", &t.on_change_quiet_seconds);
  r.Get("triggers", "on_change_max_delay_seconds", &t.on_change_max_delay_seconds);
  ARROW_RETURN_NOT_OK(r.status);
  if (port < 0 || port > 65535) return arrow::Status::Invalid("server config: server.port must be 0..65535");
  if (threads < 1 || threads > 1024) return arrow::Status::Invalid("server config: server.threads must be 1..1024");
  if (c.max_body_bytes < 1024) return arrow::Status::Invalid("server config: server.max_body_bytes must be >= 1024");
  c.port = static_cast<int>(port);
  c.threads = static_cast<int>(threads);
  c.read_timeout_seconds = static_cast<int>(read_timeout);
  c.write_timeout_seconds = static_cast<int>(write_timeout);
  c.keep_alive_seconds = static_cast<int>(keep_alive);
  c.keep_alive_max_requests = static_cast<int>(keep_alive_max);
  if (c.keep_snapshots < 0 || c.keep_snapshots > 100000) {
    return arrow::Status::Invalid("server config: data.keep_snapshots must be 0 (keep all) or a number of snapshots");
  }
  if (c.store.empty() && c.lake.empty()) return arrow::Status::Invalid("server config: give data.store, data.lake or both");
  if (!daily_at.empty()) {
    auto time = jobs::ParseClockTime(daily_at);
    if (!time.ok()) return arrow::Status::Invalid("server config: triggers.daily_at: ", time.status().message());
    t.daily_at = *time;
  }
  for (auto [name, value, minimum] : {std::tuple{"every_seconds", t.every_seconds, int64_t{0}},
                                      std::tuple{"on_change_min_changes", t.on_change_min_changes, int64_t{0}},
                                      std::tuple{"on_change_quiet_seconds", t.on_change_quiet_seconds, int64_t{0}},
                                      std::tuple{"on_change_max_delay_seconds", t.on_change_max_delay_seconds, int64_t{1}}}) {
    if (value < minimum) return arrow::Status::Invalid("server config: triggers.", name, " must be at least ", minimum);
  }
  if (t.enabled() && (c.store.empty() || c.lake.empty())) {
    return arrow::Status::Invalid("server config: [triggers] needs data.store and data.lake");
  }
  if (c.issuer.empty() || c.audience.empty()) {
    if (c.api_keys_file.empty()) {
      return arrow::Status::Invalid("server config: give auth.issuer and auth.audience (JWT) or auth.api_keys_file");
    }
  }
  if (!c.hs256_secret_env.empty()) {
    const char* secret = std::getenv(c.hs256_secret_env.c_str());
    if (secret == nullptr || *secret == '\0') {
      return arrow::Status::Invalid("server config: auth.hs256_secret_env names ", c.hs256_secret_env,
                                    ", which is not set");
    }
    c.hs256_secret = secret;
  }
  // Keys and tokens from the environment, at least 16 characters (a guessable one is no key).
  auto secret_from = [](const std::string& variable, const char* setting, const char* what,
                        std::string* out) -> arrow::Status {
    if (variable.empty()) return arrow::Status::OK();
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || std::string_view(value).size() < 16) {
      return arrow::Status::Invalid("server config: ", setting, " names ", variable, ", which is not set to a ", what,
                                    " of at least 16 characters");
    }
    *out = value;
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(secret_from(c.audit_key_env, "audit.key_env", "key", &c.audit_key));
  ARROW_RETURN_NOT_OK(secret_from(c.pseudonym_key_env, "privacy.pseudonym_key_env", "key", &c.pseudonym_key));
  ARROW_RETURN_NOT_OK(secret_from(metrics_token_env, "server.metrics_token_env", "token", &c.metrics_token));
  for (std::string* path : {&c.store, &c.lake, &c.registry, &c.access_policy, &c.jwks_file, &c.api_keys_file,
                            &c.audit_log}) {
    *path = Resolve(base_dir, *path);
  }
  if (c.store.rfind("sqlite:", 0) == 0) {
    std::string file = c.store.substr(c.store.rfind("sqlite://", 0) == 0 ? 9 : 7);
    c.store = "sqlite:" + Resolve(base_dir, file);
  }
  if (c.access_log != "-") c.access_log = Resolve(base_dir, c.access_log);
  if (c.audit_log.empty() && c.lake.find("://") != std::string::npos && c.lake.rfind("file://", 0) != 0) {
    c.audit_log = AuditPrefixOf(c.lake);  // an object store: the trail lives with the lake
  } else if (c.audit_log.empty()) {
    std::string anchor = c.lake.empty() ? base_dir : c.lake.substr(c.lake.rfind("file://", 0) == 0 ? 7 : 0);
    c.audit_log = (std::filesystem::path(anchor).parent_path() / "audit" / "audit.log").string();
  }
  return c;
}

arrow::Result<ServerConfig> ServerConfig::LoadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return arrow::Status::IOError("cannot read server config ", path);
  std::stringstream text;
  text << file.rdbuf();
  std::string base = std::filesystem::absolute(path).parent_path().string();
  return LoadString(text.str(), base);
}

}  // namespace memberlake::server
