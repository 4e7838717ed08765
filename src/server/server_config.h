// `memberlake serve --config FILE`: the server's settings, from TOML. Relative paths are
// taken relative to the config file's folder. Secrets may come from the environment
// (hs256_secret_env) so they need not sit in the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "ai/ai_config.h"
#include "jobs/generation_triggers.h"
#include "jobs/retention.h"

namespace memberlake::server {

struct ServerConfig {
  // [server]
  std::string listen = "127.0.0.1";
  int port = 8080;                         // 0: any free port (printed on start)
  int threads = 16;                        // worker pool running ApiService::Handle (not connections)
  int io_threads = 2;                      // event loops reading and writing every connection
  // Cheap answers (probes, cached reports, queries and member lists) on the event loop itself,
  // without the two thread switches to a worker and back (ApiService::HandleIfQuick).
  bool quick_answers = true;
  int64_t max_body_bytes = 1 << 20;        // larger bodies (any framing, chunked too) get 413
  int header_timeout_seconds = 10;         // request line + headers must arrive within this, from the first byte
  int read_timeout_seconds = 10;           // the body must arrive within this, from the end of the headers
  int write_timeout_seconds = 60;          // a response (a streamed one: each piece) must be taken within this
  int write_stall_seconds = 30;            // a client that takes no byte of a response for this long is cut off
  int request_timeout_seconds = 120;       // ApiService::Handle longer than this: 503
  int keep_alive_seconds = 5;              // idle time allowed between requests on a connection
  int keep_alive_max_requests = 10000;
  int max_connections = 10000;             // open connections in all; more: 503 and close
  int max_connections_per_client = 256;    // open connections per client address; more: 503 and close
  std::string access_log = "-";            // file, "-" for stderr, "" for none
  // A trusted scraper's bearer token, from the variable `metrics_token_env` names: only with
  // it does /metrics carry club-wide figures (member counts, data versions, lag).
  std::string metrics_token;
  // Or peers trusted by address: CIDR blocks ("127.0.0.1/32", "10.0.0.0/8", "fd00::/8"); an
  // address without a prefix length is one host. Checked at load (server/metrics.h AddressAllowlist).
  std::vector<std::string> metrics_allow;
  // Browser origins allowed to call the API (CORS), e.g. "https://leden.h-dcn.nl"; exact
  // matches only. Empty: no CORS headers, preflights refused.
  std::vector<std::string> cors_origins;
  // The dashboard's built files (web/dist), served at `/` (server/static_files.h); empty: none.
  std::string web_root;
  // Origins the dashboard may fetch from besides its own (its Content-Security-Policy): the
  // issuer's is added by itself; Cognito's token endpoint lives on the hosted UI's domain.
  std::vector<std::string> web_connect_origins;
  // [data]
  std::string store;                       // store URI (sqlite:PATH)
  std::string lake;                        // lake folder
  std::string registry;                    // field registry TOML; empty: built-in
  std::string access_policy;               // access TOML; empty: built-in config/access.toml
  int64_t cache_bytes = 256LL << 20;       // result cache bound
  // One rendered answer's bound in the answer cache; a streamed export is captured for it while
  // it streams, so this is also what such a stream may hold besides its piece.
  int64_t cache_entry_bytes = 4LL << 20;
  int64_t max_snapshot_age_seconds = 0;    // older snapshots: answer from the live store
  std::string as_of;                       // fixed reference date (tests); empty: today
  int64_t keep_snapshots = 0;              // generations prune to the newest N (0: keep all)
  // Generations check the written files against the rows before publishing ("deep", as
  // `generate --verify`), or publish unchecked ("none": about a third less time; then schedule
  // [health] deep_check_interval_seconds instead).
  std::string verify = "deep";
  // [auth]
  std::string issuer;
  std::string audience;
  std::string hs256_secret;                // or, better, from the environment variable:
  std::string hs256_secret_env;
  // RS256 keys: from jwks_file (fixed), else fetched from jwks_uri, else, when no HS256 secret
  // is given or OpenID sign-in is on, from the issuer's OpenID discovery document (Cognito).
  // Fetched keys are cached and fetched again on an unknown kid, at most once per
  // jwks_refetch_seconds (server/jwks_cache.h). URLs: https, or http to loopback (tests).
  std::string jwks_file;
  std::string jwks_uri;
  int64_t jwks_refetch_seconds = 60;
  // OpenID Connect sign-in of the dashboard (GET /api/auth/config tells the browser): the app
  // client (public, PKCE), where the issuer sends the browser back, the scopes asked. The ID
  // token's aud is the client id, so audience defaults to it and must equal it.
  std::string oidc_client_id;
  std::string oidc_redirect_uri;
  std::string oidc_scopes = "openid email";
  std::string api_keys_file;
  int64_t leeway_seconds = 30;
  // [audit]
  // A file, or an s3:// location (objects, see server/audit_log.h). Default: for a lake on
  // disk <lake>/../audit/audit.log; for a lake on S3 the lake's own audit/ prefix, so the
  // trail outlives the machine (and the Lambda sandbox) that wrote it.
  std::string audit_log;
  std::string audit_key;                   // HMAC key of the chain, from the variable:
  std::string audit_key_env;               // [audit] key_env
  // [privacy] The key of the members' pseudonyms in erasure audit entries (jobs/erasure.h),
  // from the variable pseudonym_key_env; erasure is refused without it.
  std::string pseudonym_key;
  std::string pseudonym_key_env;
  // [retention] rules per status (jobs/retention.h), applied by the lifecycle after each
  // generation (dry_run: only reported and audited); rules need privacy.pseudonym_key_env.
  jobs::RetentionConfig retention;
  // [triggers] automatic generation; needs data.store and data.lake. daily_at = "HH:MM"
  // (Europe/Amsterdam), every_seconds, on_change_min_changes, on_change_quiet_seconds,
  // on_change_max_delay_seconds: see jobs/generation_triggers.h.
  jobs::TriggerConfig triggers;
  // [health] the deep data check (docs/health.md): every deep_check_interval_seconds on the
  // current snapshot (0: off; needs data.lake), and a JSON POST to webhook_url (http:// or
  // https://) when a check or a generation fails, tried webhook_attempts times with backoff.
  int64_t deep_check_interval_seconds = 0;
  std::string health_webhook_url;
  int64_t health_webhook_attempts = 4;
  // [ai] questions answered by a language model (POST /api/ask, docs/ai.md): base_url, model,
  // api_key_env, referer, title, connect_timeout_seconds, timeout_seconds,
  // question_timeout_seconds, max_retries, max_retry_wait_seconds, stream, max_tokens,
  // max_rounds, daily_tokens_per_caller, k, budget_file. Without the section /api/ask answers 404.
  ai::AiConfig ai;

  static arrow::Result<ServerConfig> LoadFile(const std::string& path);
  static arrow::Result<ServerConfig> LoadString(std::string_view toml_text, const std::string& base_dir);
};

}  // namespace memberlake::server
