// RS256 keys fetched from an OpenID issuer (Cognito publishes them at its jwks_uri), cached,
// and fetched again when a token names a kid the cache does not know (the issuer rotated its
// keys) or when the cached set is older than max_age (a withdrawn key stops verifying).
//
// Fetches are rate-limited: after one, the next comes no sooner than refetch_interval, whatever
// kids tokens bring, so a stranger sending garbage kids cannot make us hammer the issuer. Until
// the first fetch succeeds, a failed one is retried after retry_interval. A failed refresh keeps
// the keys we have. One fetch runs at a time; lookups of known kids never wait for it.
//
// URLs must be https; plain http only to a loopback host (127.0.0.0/8, ::1, localhost: tests).
// Fetched with libcurl: timeouts, no redirects, at most 1 MiB, status 200 required.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <arrow/result.h>

#include "server/jwk_set.h"

namespace memberlake::server {

struct JwksCacheOptions {
  // With jwks_uri empty: OpenID discovery, <issuer>/.well-known/openid-configuration, whose
  // "issuer" must equal this one and whose "jwks_uri" names the keys.
  std::string issuer;
  std::string jwks_uri;                  // set: the keys' URL, no discovery
  int64_t refetch_interval_seconds = 60;  // at most one fetch per interval once keys are held
  int64_t retry_interval_seconds = 5;    // while no keys are held: retry after a failed fetch
  int64_t max_age_seconds = 3600;        // older keys are refreshed (and kept should that fail)
  int64_t connect_timeout_ms = 3000;
  int64_t timeout_ms = 10000;            // a whole request
};

// GET of a URL, returning the body of a 200 answer.
using HttpGetter = std::function<arrow::Result<std::string>(const std::string& url)>;
// Seconds on a monotonic clock.
using SecondsClock = std::function<int64_t()>;

// OK for https:// URLs and http:// ones to a loopback host; Invalid naming `what` otherwise.
arrow::Status CheckFetchUrl(const std::string& url, const std::string& what);

// The libcurl getter the server uses (timeouts from `options`).
HttpGetter CurlGetter(const JwksCacheOptions& options);

class JwksCache : public RsaKeySource {
 public:
  // Invalid when neither issuer nor jwks_uri is given, a URL fails CheckFetchUrl, or an interval
  // is not positive. Fetches nothing yet: the first token does (so a start does not depend on
  // the issuer being up). `get` and `clock` default to libcurl and steady_clock (tests pass fakes).
  static arrow::Result<std::shared_ptr<JwksCache>> Make(const JwksCacheOptions& options, HttpGetter get = nullptr,
                                                       SecondsClock clock = nullptr);

  arrow::Result<std::shared_ptr<const JwkSet>> KeysFor(const std::optional<std::string>& kid) override;

  // Key-set fetches attempted so far (discovery documents not counted).
  int64_t fetches() const { return fetches_.load(); }

 private:
  JwksCache(JwksCacheOptions options, HttpGetter get, SecondsClock clock);
  // Discovery (when needed) and the key set. Called with fetch_mutex_ held.
  arrow::Result<std::shared_ptr<const JwkSet>> Fetch();

  const JwksCacheOptions options_;
  const HttpGetter get_;
  const SecondsClock clock_;
  std::atomic<int64_t> fetches_{0};

  std::mutex fetch_mutex_;  // one fetch at a time; guards the members below it
  std::string jwks_uri_;    // configured or discovered
  std::optional<int64_t> last_attempt_;
  std::string last_error_;

  mutable std::mutex keys_mutex_;  // guards keys_ and fetched_at_ (held only to copy them)
  std::shared_ptr<const JwkSet> keys_;
  int64_t fetched_at_ = 0;
};

}  // namespace memberlake::server
