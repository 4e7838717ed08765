// `memberlake serve --config FILE`: the server's settings, from TOML. Relative paths are
// taken relative to the config file's folder. Secrets may come from the environment
// (hs256_secret_env) so they need not sit in the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "jobs/generation_triggers.h"

namespace memberlake::server {

struct ServerConfig {
  // [server]
  std::string listen = "127.0.0.1";
  int port = 8080;                         // 0: any free port (printed on start)
  int threads = 16;                        // worker pool running ApiService::Handle (not connections)
  int io_threads = 1;                      // event loops reading and writing every connection
  int64_t max_body_bytes = 1 << 20;        // larger bodies (any framing, chunked too) get 413
  int header_timeout_seconds = 10;         // request line + headers must arrive within this, from the first byte
  int read_timeout_seconds = 10;           // the body must arrive within this, from the end of the headers
  int write_timeout_seconds = 60;          // a response must be taken within this
  int request_timeout_seconds = 120;       // ApiService::Handle longer than this: 503
  int keep_alive_seconds = 5;              // idle time allowed between requests on a connection
  int keep_alive_max_requests = 10000;
  int max_connections = 10000;             // open connections in all; more: 503 and close
  int max_connections_per_client = 256;    // open connections per client address; more: 503 and close
  std::string access_log = "-";            // file, "-" for stderr, "" for none
  // A trusted scraper's bearer token, from the variable `metrics_token_env` names: only with
  // it does /metrics carry club-wide figures (member counts, data versions, lag).
  std::string metrics_token;
  // Browser origins allowed to call the API (CORS), e.g. "https://leden.h-dcn.nl"; exact
  // matches only. Empty: no CORS headers, preflights refused.
  std::vector<std::string> cors_origins;
  // [data]
  std::string store;                       // store URI (sqlite:PATH)
  std::string lake;                        // lake folder
  std::string registry;                    // field registry TOML; empty: built-in
  std::string access_policy;               // access TOML; empty: built-in config/access.toml
  int64_t cache_bytes = 256LL << 20;       // result cache bound
  int64_t max_snapshot_age_seconds = 0;    // older snapshots: answer from the live store
  std::string as_of;                       // fixed reference date (tests); empty: today
  int64_t keep_snapshots = 0;              // generations prune to the newest N (0: keep all)
  // [auth]
  std::string issuer;
  std::string audience;
  std::string hs256_secret;                // or, better, from the environment variable:
  std::string hs256_secret_env;
  std::string jwks_file;
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
  // [triggers] automatic generation; needs data.store and data.lake. daily_at = "HH:MM"
  // (Europe/Amsterdam), every_seconds, on_change_min_changes, on_change_quiet_seconds,
  // on_change_max_delay_seconds: see jobs/generation_triggers.h.
  jobs::TriggerConfig triggers;

  static arrow::Result<ServerConfig> LoadFile(const std::string& path);
  static arrow::Result<ServerConfig> LoadString(std::string_view toml_text, const std::string& base_dir);
};

}  // namespace memberlake::server
