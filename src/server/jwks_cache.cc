#include "server/jwks_cache.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <utility>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace memberlake::server {
namespace {

using Json = nlohmann::json;

// A JWKS or discovery document is a few KB; more is not a key server talking.
constexpr size_t kMaxBodyBytes = 1 << 20;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  // 127.0.0.0/8 in dotted form only: "127.example.org" is a name anyone can register.
  return host.rfind("127.", 0) == 0 &&
         std::all_of(host.begin(), host.end(), [](unsigned char c) { return std::isdigit(c) || c == '.'; });
}

// One part of a parsed URL, "" when absent.
std::string UrlPart(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, 0) != CURLUE_OK || text == nullptr) return "";
  std::string value(text);
  curl_free(text);
  return value;
}

size_t Collect(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxBodyBytes) return 0;  // makes libcurl abort the transfer
  body->append(data, size * count);
  return size * count;
}

int64_t SteadySeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

arrow::Status CheckFetchUrl(const std::string& url, const std::string& what) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), curl_url_cleanup);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return arrow::Status::Invalid(what, " is not a URL: '", url, "'");
  }
  // "http://127.0.0.1@evil.example/" must not pass for loopback; no key server needs a user.
  if (!UrlPart(parsed.get(), CURLUPART_USER).empty()) {
    return arrow::Status::Invalid(what, " must not carry a user name: '", url, "'");
  }
  const std::string scheme = Lower(UrlPart(parsed.get(), CURLUPART_SCHEME));
  const std::string host = Lower(UrlPart(parsed.get(), CURLUPART_HOST));
  if (scheme == "https" || (scheme == "http" && IsLoopbackHost(host))) return arrow::Status::OK();
  return arrow::Status::Invalid(what, " must be an https:// URL (plain http only to a loopback host): '", url, "'");
}

HttpGetter CurlGetter(const JwksCacheOptions& options) {
  const long connect_ms = static_cast<long>(options.connect_timeout_ms);
  const long total_ms = static_cast<long>(options.timeout_ms);
  return [connect_ms, total_ms](const std::string& url) -> arrow::Result<std::string> {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return arrow::Status::IOError("cannot start an HTTP request");
    std::string body;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);  // the checked URL and no other
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for timeouts
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    CURLcode code = curl_easy_perform(curl.get());
    if (code != CURLE_OK) return arrow::Status::IOError(url, ": ", curl_easy_strerror(code));
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return arrow::Status::IOError(url, ": HTTP ", status);
    return body;
  };
}

JwksCache::JwksCache(JwksCacheOptions options, HttpGetter get, SecondsClock clock)
    : options_(std::move(options)), get_(std::move(get)), clock_(std::move(clock)), jwks_uri_(options_.jwks_uri) {}

arrow::Result<std::shared_ptr<JwksCache>> JwksCache::Make(const JwksCacheOptions& options, HttpGetter get,
                                                         SecondsClock clock) {
  if (options.jwks_uri.empty() && options.issuer.empty()) {
    return arrow::Status::Invalid("fetching signing keys needs a jwks_uri or an issuer to discover it from");
  }
  if (!options.jwks_uri.empty()) {
    ARROW_RETURN_NOT_OK(CheckFetchUrl(options.jwks_uri, "auth.jwks_uri"));
  } else {
    ARROW_RETURN_NOT_OK(CheckFetchUrl(options.issuer, "auth.issuer (OpenID discovery)"));
  }
  if (options.refetch_interval_seconds < 1 || options.retry_interval_seconds < 1 || options.max_age_seconds < 1 ||
      options.connect_timeout_ms < 1 || options.timeout_ms < 1) {
    return arrow::Status::Invalid("signing key fetch: intervals and timeouts must be positive");
  }
  if (!get) get = CurlGetter(options);
  if (!clock) clock = SteadySeconds;
  return std::shared_ptr<JwksCache>(new JwksCache(options, std::move(get), std::move(clock)));
}

arrow::Result<std::shared_ptr<const JwkSet>> JwksCache::Fetch() {
  if (jwks_uri_.empty()) {
    std::string issuer = options_.issuer;
    while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
    const std::string url = issuer + "/.well-known/openid-configuration";
    ARROW_ASSIGN_OR_RAISE(std::string text, get_(url));
    Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) return arrow::Status::IOError(url, ": not a JSON object");
    auto named = doc.find("issuer");
    auto jwks_uri = doc.find("jwks_uri");
    // OpenID Connect Discovery §4.3: the document must name the issuer we asked about.
    if (named == doc.end() || !named->is_string() || named->get<std::string>() != options_.issuer) {
      return arrow::Status::IOError(url, ": names another issuer");
    }
    if (jwks_uri == doc.end() || !jwks_uri->is_string()) return arrow::Status::IOError(url, ": no jwks_uri");
    std::string discovered = jwks_uri->get<std::string>();
    ARROW_RETURN_NOT_OK(CheckFetchUrl(discovered, "the discovered jwks_uri"));
    jwks_uri_ = std::move(discovered);
  }
  fetches_.fetch_add(1);
  ARROW_ASSIGN_OR_RAISE(std::string text, get_(jwks_uri_));
  auto keys = JwkSet::Parse(text);
  if (!keys.ok()) return arrow::Status::IOError(jwks_uri_, ": ", keys.status().message());
  return keys;
}

arrow::Result<std::shared_ptr<const JwkSet>> JwksCache::KeysFor(const std::optional<std::string>& kid) {
  auto snapshot = [this] {
    std::lock_guard<std::mutex> lock(keys_mutex_);
    return std::make_pair(keys_, fetched_at_);
  };
  auto [keys, fetched_at] = snapshot();
  int64_t now = clock_();
  // Without a kid the verifier decides (only a one-key set serves such a token): no fetch.
  bool known = keys && (!kid || keys->Contains(*kid));
  bool fresh = keys && now - fetched_at < options_.max_age_seconds;
  if (known && fresh) return keys;

  std::unique_lock<std::mutex> fetching(fetch_mutex_, std::defer_lock);
  if (known) {
    // Only stale: whoever fetches refreshes them for all; the others go on with what we have.
    if (!fetching.try_lock()) return keys;
  } else {
    fetching.lock();  // an unknown kid waits for a fetch under way: it may bring the key
  }
  std::tie(keys, fetched_at) = snapshot();
  now = clock_();
  known = keys && (!kid || keys->Contains(*kid));
  fresh = keys && now - fetched_at < options_.max_age_seconds;
  if (known && fresh) return keys;  // fetched while we waited

  const int64_t interval = keys ? options_.refetch_interval_seconds : options_.retry_interval_seconds;
  if (last_attempt_ && now - *last_attempt_ < interval) {
    if (keys) return keys;  // rate-limited: an unknown kid stays unknown until the interval is over
    return arrow::Status::IOError("signing keys unavailable: ", last_error_);
  }
  last_attempt_ = now;
  auto fetched = Fetch();
  if (!fetched.ok()) {
    last_error_ = fetched.status().message();
    std::fprintf(stderr, "memberlake: fetching the token signing keys failed: %s\n", last_error_.c_str());
    if (keys) return keys;
    return arrow::Status::IOError("signing keys unavailable: ", last_error_);
  }
  std::lock_guard<std::mutex> lock(keys_mutex_);
  keys_ = *fetched;
  fetched_at_ = now;
  return keys_;
}

}  // namespace memberlake::server
