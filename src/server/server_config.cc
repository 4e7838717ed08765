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

#include "model/text.h"
#include "server/jwks_cache.h"
#include "server/metrics.h"

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

// The RS256 key source and the dashboard's OpenID settings: consistent, or a clear error.
arrow::Status CheckSignIn(ServerConfig* c) {
  if (!c->jwks_file.empty() && !c->jwks_uri.empty()) {
    return arrow::Status::Invalid("server config: give auth.jwks_file or auth.jwks_uri, not both");
  }
  if (c->jwks_refetch_seconds < 1 || c->jwks_refetch_seconds > 86400) {
    return arrow::Status::Invalid("server config: auth.jwks_refetch_seconds must be 1..86400");
  }
  if (!c->jwks_uri.empty()) ARROW_RETURN_NOT_OK(CheckFetchUrl(c->jwks_uri, "server config: auth.jwks_uri"));
  if (c->oidc_client_id.empty()) {
    if (!c->oidc_redirect_uri.empty()) {
      return arrow::Status::Invalid("server config: auth.oidc_redirect_uri needs auth.oidc_client_id");
    }
    return arrow::Status::OK();
  }
  if (c->issuer.empty()) return arrow::Status::Invalid("server config: auth.oidc_client_id needs auth.issuer");
  if (c->audience.empty()) c->audience = c->oidc_client_id;
  if (c->audience != c->oidc_client_id) {
    return arrow::Status::Invalid("server config: auth.audience must equal auth.oidc_client_id (the sign-in's "
                                  "ID tokens carry the client id as aud), or be left out");
  }
  if (c->oidc_redirect_uri.empty()) {
    return arrow::Status::Invalid("server config: auth.oidc_client_id needs auth.oidc_redirect_uri");
  }
  ARROW_RETURN_NOT_OK(CheckFetchUrl(c->oidc_redirect_uri, "server config: auth.oidc_redirect_uri"));
  const auto scopes = model::SplitNonEmpty(c->oidc_scopes, ' ');
  if (std::find(scopes.begin(), scopes.end(), "openid") == scopes.end()) {
    return arrow::Status::Invalid("server config: auth.oidc_scopes must include openid, like \"openid email\"");
  }
  return arrow::Status::OK();
}

// [ai]: present means enabled. Seconds may be fractions; each limit has a sane range, and a
// question must end before the edge's request timeout answers 503 for it.
arrow::Status ReadAi(const toml::table& doc, Reader* r, ServerConfig* c) {
  ai::AiConfig& a = c->ai;
  a.enabled = doc.contains("ai");
  if (!a.enabled) return arrow::Status::OK();
  ai::ChatClientOptions& o = a.client;
  r->Get("ai", "base_url", &o.base_url);
  r->Get("ai", "model", &o.model);
  r->Get("ai", "api_key_env", &a.api_key_env);
  r->Get("ai", "referer", &o.referer);
  r->Get("ai", "title", &o.title);
  r->Get("ai", "stream", &o.stream);
  double connect = o.connect_timeout_ms / 1000.0, timeout = o.request_timeout_ms / 1000.0,
         question = a.ask.question_timeout_ms / 1000.0, wait = o.max_wait_ms / 1000.0;
  int64_t retries = o.max_retries, rounds = a.ask.max_rounds, k = a.k;
  r->Get("ai", "connect_timeout_seconds", &connect);
  r->Get("ai", "timeout_seconds", &timeout);
  r->Get("ai", "question_timeout_seconds", &question);
  r->Get("ai", "max_retry_wait_seconds", &wait);
  r->Get("ai", "max_retries", &retries);
  r->Get("ai", "max_tokens", &o.max_tokens);
  r->Get("ai", "max_rounds", &rounds);
  r->Get("ai", "daily_tokens_per_caller", &a.ask.daily_tokens);
  r->Get("ai", "k", &k);
  r->Get("ai", "budget_file", &a.budget_file);
  ARROW_RETURN_NOT_OK(r->status);
  if (o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0) {
    return arrow::Status::Invalid("server config: ai.base_url must start with http:// or https://");
  }
  for (auto [name, value] : {std::pair{"connect_timeout_seconds", connect}, std::pair{"timeout_seconds", timeout},
                             std::pair{"question_timeout_seconds", question}}) {
    if (!(value > 0 && value <= 3600)) return arrow::Status::Invalid("server config: ai.", name, " must be 0..3600 seconds");
  }
  if (question >= c->request_timeout_seconds) {
    return arrow::Status::Invalid("server config: ai.question_timeout_seconds must be below server.request_timeout_seconds (",
                                  c->request_timeout_seconds, ")");
  }
  if (!(wait >= 0 && wait <= 600)) return arrow::Status::Invalid("server config: ai.max_retry_wait_seconds must be 0..600");
  if (retries < 0 || retries > 10) return arrow::Status::Invalid("server config: ai.max_retries must be 0..10");
  if (rounds < 1 || rounds > 20) return arrow::Status::Invalid("server config: ai.max_rounds must be 1..20");
  if (k < 2 || k > 1000) return arrow::Status::Invalid("server config: ai.k must be 2..1000");
  if (o.max_tokens < 16 || a.ask.daily_tokens < 1) {
    return arrow::Status::Invalid("server config: ai.max_tokens must be at least 16 and ai.daily_tokens_per_caller positive");
  }
  o.connect_timeout_ms = static_cast<int64_t>(connect * 1000);
  o.request_timeout_ms = static_cast<int64_t>(timeout * 1000);
  o.max_wait_ms = static_cast<int64_t>(wait * 1000);
  a.ask.question_timeout_ms = static_cast<int64_t>(question * 1000);
  o.max_retries = static_cast<int>(retries);
  a.ask.max_rounds = static_cast<int>(rounds);
  a.k = static_cast<int>(k);
  return arrow::Status::OK();
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
                  "max_connections_per_client", "web_root", "web_connect_origins", "write_stall_seconds",
                  "metrics_allow", "quick_answers"}},
      {"data", {"store", "lake", "registry", "access_policy", "cache_bytes", "cache_entry_bytes", "max_snapshot_age_seconds", "as_of",
                "keep_snapshots", "verify"}},
      {"auth", {"issuer", "audience", "hs256_secret", "hs256_secret_env", "jwks_file", "api_keys_file",
                "leeway_seconds", "jwks_uri", "jwks_refetch_seconds", "oidc_client_id", "oidc_redirect_uri",
                "oidc_scopes"}},
      {"audit", {"path", "key_env"}},
      {"ai", {"base_url", "model", "api_key_env", "referer", "title", "connect_timeout_seconds", "timeout_seconds",
              "question_timeout_seconds", "max_retries", "max_retry_wait_seconds", "stream", "max_tokens", "max_rounds",
              "daily_tokens_per_caller", "k", "budget_file"}},
      {"privacy", {"pseudonym_key_env"}},
      {"retention", {"dry_run", "k", "rules"}},
      {"triggers", {"daily_at", "every_seconds", "on_change_min_changes", "on_change_quiet_seconds",
                    "on_change_max_delay_seconds"}},
      {"health", {"deep_check_interval_seconds", "webhook_url", "webhook_attempts"}},
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
  r.Get("server", "web_root", &c.web_root);
  r.Get("server", "quick_answers", &c.quick_answers);
  std::string metrics_token_env;
  r.Get("server", "metrics_token_env", &metrics_token_env);
  auto read_list = [&doc](const char* key, const char* what, std::vector<std::string>* out) -> arrow::Status {
    const toml::node* node = doc["server"][key].node();
    if (node == nullptr) return arrow::Status::OK();
    const toml::array* list = node->as_array();
    if (list == nullptr) return arrow::Status::Invalid("server config: server.", key, " must be a list of ", what);
    for (const auto& item : *list) {
      auto text = item.value<std::string>();
      if (!text) return arrow::Status::Invalid("server config: server.", key, " must be a list of ", what);
      out->push_back(*text);
    }
    return arrow::Status::OK();
  };
  for (auto [key, out] : {std::pair{"cors_origins", &c.cors_origins}, std::pair{"web_connect_origins", &c.web_connect_origins}}) {
    ARROW_RETURN_NOT_OK(read_list(key, "origins", out));
    for (const auto& origin : *out) {
      if (origin.empty() || origin.back() == '/' || origin.find("://") == std::string::npos) {
        return arrow::Status::Invalid("server config: server.", key, ": each origin is scheme://host[:port], "
                                      "like \"https://leden.h-dcn.nl\"");
      }
    }
  }
  ARROW_RETURN_NOT_OK(read_list("metrics_allow", "CIDR blocks", &c.metrics_allow));
  if (auto allowlist = AddressAllowlist::Parse(c.metrics_allow); !allowlist.ok()) {
    return arrow::Status::Invalid("server config: server.metrics_allow: ", allowlist.status().message());
  }
  // The edge's limits (server/http_server.h): each must be positive.
  for (auto [key, field] : {std::pair{"io_threads", &c.io_threads},
                            std::pair{"header_timeout_seconds", &c.header_timeout_seconds},
                            std::pair{"write_stall_seconds", &c.write_stall_seconds},
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
  r.Get("data", "cache_entry_bytes", &c.cache_entry_bytes);
  if (c.cache_entry_bytes < 0) return arrow::Status::Invalid("server config: data.cache_entry_bytes must be 0 or more");
  r.Get("data", "max_snapshot_age_seconds", &c.max_snapshot_age_seconds);
  r.Get("data", "as_of", &c.as_of);
  r.Get("data", "keep_snapshots", &c.keep_snapshots);
  r.Get("data", "verify", &c.verify);
  if (c.verify != "deep" && c.verify != "none") {
    return arrow::Status::Invalid("server config: data.verify must be \"deep\" or \"none\", not \"", c.verify, "\"");
  }
  r.Get("auth", "issuer", &c.issuer);
  r.Get("auth", "audience", &c.audience);
  r.Get("auth", "hs256_secret", &c.hs256_secret);
  r.Get("auth", "hs256_secret_env", &c.hs256_secret_env);
  r.Get("auth", "jwks_file", &c.jwks_file);
  r.Get("auth", "api_keys_file", &c.api_keys_file);
  r.Get("auth", "leeway_seconds", &c.leeway_seconds);
  r.Get("auth", "jwks_uri", &c.jwks_uri);
  r.Get("auth", "jwks_refetch_seconds", &c.jwks_refetch_seconds);
  r.Get("auth", "oidc_client_id", &c.oidc_client_id);
  r.Get("auth", "oidc_redirect_uri", &c.oidc_redirect_uri);
  r.Get("auth", "oidc_scopes", &c.oidc_scopes);
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
  r.Get("health", "deep_check_interval_seconds", &c.deep_check_interval_seconds);
  r.Get("health", "webhook_url", &c.health_webhook_url);
  r.Get("health", "webhook_attempts", &c.health_webhook_attempts);
  ARROW_RETURN_NOT_OK(ReadAi(doc, &r, &c));
  ARROW_ASSIGN_OR_RAISE(c.retention, jobs::RetentionConfig::FromToml(toml_text));
  if (!c.retention.rules.empty() && (c.store.empty() || c.lake.empty())) {
    return arrow::Status::Invalid("server config: [retention] needs data.store and data.lake");
  }
  ARROW_RETURN_NOT_OK(r.status);
  if (c.deep_check_interval_seconds < 0) {
    return arrow::Status::Invalid("server config: health.deep_check_interval_seconds must be 0 (off) or more");
  }
  if (c.deep_check_interval_seconds > 0 && c.lake.empty()) {
    return arrow::Status::Invalid("server config: health.deep_check_interval_seconds needs data.lake");
  }
  if (!c.health_webhook_url.empty() && c.health_webhook_url.rfind("http://", 0) != 0 &&
      c.health_webhook_url.rfind("https://", 0) != 0) {
    return arrow::Status::Invalid("server config: health.webhook_url must start with http:// or https://");
  }
  if (c.health_webhook_attempts < 1 || c.health_webhook_attempts > 10) {
    return arrow::Status::Invalid("server config: health.webhook_attempts must be 1..10");
  }
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
  ARROW_RETURN_NOT_OK(CheckSignIn(&c));
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
  if (!c.retention.rules.empty() && !c.retention.dry_run && c.pseudonym_key.empty()) {
    return arrow::Status::Invalid("server config: [retention] rules need privacy.pseudonym_key_env (erasures are "
                                  "audited by pseudonym); or set retention.dry_run = true");
  }
  ARROW_RETURN_NOT_OK(secret_from(metrics_token_env, "server.metrics_token_env", "token", &c.metrics_token));
  for (std::string* path : {&c.store, &c.lake, &c.registry, &c.access_policy, &c.jwks_file, &c.api_keys_file,
                            &c.audit_log, &c.web_root}) {
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
  // The tokens callers used today, next to a local audit log unless set; with the trail on S3
  // (Lambda) and no setting, counted per process only.
  if (c.ai.enabled) {
    if (!c.ai.budget_file.empty()) {
      c.ai.budget_file = Resolve(base_dir, c.ai.budget_file);
    } else if (c.audit_log.find("://") == std::string::npos) {
      c.ai.budget_file = (std::filesystem::path(c.audit_log).parent_path() / "ask-budget.json").string();
    }
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
