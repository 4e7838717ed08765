#include "server/jwks_cache.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "jwt_test_keys.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::json;
const std::string kIssuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
const std::string kDiscovery = kIssuer + "/.well-known/openid-configuration";
const std::string kJwksUri = kIssuer + "/.well-known/jwks.json";
constexpr int64_t kNow = 1767780000;

// A fake issuer: documents by URL (a missing one answers with an error), and a count of the
// requests per URL. Thread-safe, as the cache's getter must be.
struct FakeIssuer {
  std::mutex mutex;
  std::map<std::string, std::string> documents;
  std::map<std::string, int> requests;
  std::chrono::milliseconds delay{0};

  void Serve(const std::string& url, const std::string& body) {
    std::lock_guard<std::mutex> lock(mutex);
    documents[url] = body;
  }
  void Remove(const std::string& url) {
    std::lock_guard<std::mutex> lock(mutex);
    documents.erase(url);
  }
  int Requests(const std::string& url) {
    std::lock_guard<std::mutex> lock(mutex);
    return requests[url];
  }
  HttpGetter Getter() {
    return [this](const std::string& url) -> arrow::Result<std::string> {
      std::this_thread::sleep_for(delay);
      std::lock_guard<std::mutex> lock(mutex);
      ++requests[url];
      auto it = documents.find(url);
      if (it == documents.end()) return arrow::Status::IOError(url, ": HTTP 503");
      return it->second;
    };
  }
};

class JwksCacheTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key1_ = EVP_RSA_gen(2048);
    key2_ = EVP_RSA_gen(2048);
    ASSERT_NE(key1_, nullptr);
    ASSERT_NE(key2_, nullptr);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(key1_);
    EVP_PKEY_free(key2_);
  }

  void SetUp() override {
    issuer_.Serve(kDiscovery, Json{{"issuer", kIssuer}, {"jwks_uri", kJwksUri}}.dump());
    issuer_.Serve(kJwksUri, Json{{"keys", {Jwk(key1_, "k1")}}}.dump());
  }

  std::shared_ptr<JwksCache> Cache(JwksCacheOptions options = {}) {
    if (options.issuer.empty() && options.jwks_uri.empty()) options.issuer = kIssuer;
    auto cache = JwksCache::Make(options, issuer_.Getter(), [this] { return now_.load(); });
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? *cache : nullptr;
  }
  void Rotate() { issuer_.Serve(kJwksUri, Json{{"keys", {Jwk(key2_, "k2")}}}.dump()); }
  static JwksCacheOptions With(int64_t JwksCacheOptions::*setting, int64_t value) {
    JwksCacheOptions options;
    options.*setting = value;
    return options;
  }
  // A cache that fetched k1, after which the issuer rotated to k2.
  std::shared_ptr<JwksCache> FetchedThenRotated(JwksCacheOptions options = {}) {
    auto cache = Cache(options);
    EXPECT_TRUE(Has(cache->KeysFor("k1"), "k1"));
    Rotate();
    return cache;
  }

  static bool Has(const arrow::Result<std::shared_ptr<const JwkSet>>& keys, const std::string& kid) {
    return keys.ok() && (*keys)->Contains(kid);
  }

  static EVP_PKEY* key1_;
  static EVP_PKEY* key2_;
  FakeIssuer issuer_;
  std::atomic<int64_t> now_{1000};
};
EVP_PKEY* JwksCacheTest::key1_ = nullptr;
EVP_PKEY* JwksCacheTest::key2_ = nullptr;

TEST_F(JwksCacheTest, DiscoversTheKeysOnceAndServesKnownKidsFromTheCache) {
  auto cache = Cache();
  EXPECT_EQ(issuer_.Requests(kJwksUri), 0);  // nothing fetched before the first token
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Has(cache->KeysFor("k1"), "k1"));
  EXPECT_TRUE(Has(cache->KeysFor(std::nullopt), "k1"));
  EXPECT_EQ(issuer_.Requests(kDiscovery), 1);
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);
  EXPECT_EQ(cache->fetches(), 1);
}

TEST_F(JwksCacheTest, AConfiguredJwksUriNeedsNoDiscovery) {
  JwksCacheOptions options;
  options.jwks_uri = kJwksUri;
  auto cache = Cache(options);
  EXPECT_TRUE(Has(cache->KeysFor("k1"), "k1"));
  EXPECT_EQ(issuer_.Requests(kDiscovery), 0);
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);
}

TEST_F(JwksCacheTest, AnUnknownKidFetchesAgainAndPicksUpARotatedKey) {
  auto cache = FetchedThenRotated();
  now_ += 60;  // the refetch interval is over
  auto keys = cache->KeysFor("k2");
  EXPECT_TRUE(Has(keys, "k2"));
  EXPECT_FALSE(Has(keys, "k1"));  // withdrawn with the rotation: no longer trusted
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
  EXPECT_EQ(issuer_.Requests(kDiscovery), 1);  // the discovered jwks_uri is kept
}

TEST_F(JwksCacheTest, UnknownKidsFetchAtMostOncePerInterval) {
  auto cache = FetchedThenRotated();
  // Garbage kids right after the first fetch: the interval has not passed, nothing is fetched,
  // and the keys we hold still serve.
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(Has(cache->KeysFor("garbage-" + std::to_string(i)), "k1"));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);
  now_ += 59;
  EXPECT_FALSE(Has(cache->KeysFor("k2"), "k2"));  // rotated, but not yet fetched again
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);
  now_ += 1;
  for (int i = 0; i < 50; ++i) (void)cache->KeysFor("garbage-" + std::to_string(i));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);  // one fetch for the whole burst
  EXPECT_TRUE(Has(cache->KeysFor("k2"), "k2"));  // that fetch brought the new key
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
}

TEST_F(JwksCacheTest, TheIntervalIsConfigurable) {
  auto cache = FetchedThenRotated(With(&JwksCacheOptions::refetch_interval_seconds, 5));
  now_ += 4;
  EXPECT_FALSE(Has(cache->KeysFor("k2"), "k2"));
  now_ += 1;
  EXPECT_TRUE(Has(cache->KeysFor("k2"), "k2"));
}

TEST_F(JwksCacheTest, OldKeysAreRefreshedSoAWithdrawnKeyStopsVerifying) {
  auto cache = FetchedThenRotated(With(&JwksCacheOptions::max_age_seconds, 600));
  now_ += 599;
  EXPECT_TRUE(Has(cache->KeysFor("k1"), "k1"));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);
  now_ += 1;
  EXPECT_FALSE(Has(cache->KeysFor("k1"), "k1"));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
}

TEST_F(JwksCacheTest, AFailedRefreshKeepsTheKeysWeHave) {
  auto cache = Cache();
  ASSERT_TRUE(Has(cache->KeysFor("k1"), "k1"));
  issuer_.Remove(kJwksUri);
  now_ += 60;
  EXPECT_TRUE(Has(cache->KeysFor("k9"), "k1"));  // the fetch failed; k1 still verifies
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
  EXPECT_TRUE(Has(cache->KeysFor("k9"), "k1"));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);  // and a failure is rate-limited too
}

TEST_F(JwksCacheTest, WithoutKeysAnUnreachableIssuerIsAnIOErrorRetriedAfterTheRetryInterval) {
  issuer_.Remove(kJwksUri);
  auto cache = Cache();
  auto keys = cache->KeysFor("k1");
  ASSERT_FALSE(keys.ok());
  EXPECT_TRUE(keys.status().IsIOError()) << keys.status().ToString();
  EXPECT_NE(keys.status().message().find("signing keys unavailable"), std::string::npos);
  EXPECT_TRUE(cache->KeysFor("k1").status().IsIOError());
  EXPECT_EQ(issuer_.Requests(kJwksUri), 1);  // not again within the retry interval
  issuer_.Serve(kJwksUri, Json{{"keys", {Jwk(key1_, "k1")}}}.dump());
  now_ += 5;
  EXPECT_TRUE(Has(cache->KeysFor("k1"), "k1"));
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
}

TEST_F(JwksCacheTest, DiscoveryMustNameTheIssuerAndASafeJwksUri) {
  auto refused = [&](const Json& discovery, const std::string& reason) {
    issuer_.Serve(kDiscovery, discovery.dump());
    auto keys = Cache()->KeysFor("k1");
    ASSERT_FALSE(keys.ok()) << discovery.dump();
    EXPECT_TRUE(keys.status().IsIOError());
    EXPECT_NE(keys.status().message().find(reason), std::string::npos) << keys.status().ToString();
  };
  refused(Json{{"issuer", "https://evil.example"}, {"jwks_uri", kJwksUri}}, "names another issuer");
  refused(Json{{"jwks_uri", kJwksUri}}, "names another issuer");
  refused(Json{{"issuer", kIssuer}}, "no jwks_uri");
  refused(Json{{"issuer", kIssuer}, {"jwks_uri", "http://keys.example/jwks.json"}}, "must be an https:// URL");
  refused(Json::array(), "not a JSON object");
  issuer_.Serve(kDiscovery, "<html>");
  EXPECT_TRUE(Cache()->KeysFor("k1").status().IsIOError());
  issuer_.Serve(kDiscovery, Json{{"issuer", kIssuer}, {"jwks_uri", kJwksUri}}.dump());
  issuer_.Serve(kJwksUri, R"({"keys": []})");
  auto keys = Cache()->KeysFor("k1");
  EXPECT_TRUE(keys.status().IsIOError());
  EXPECT_NE(keys.status().message().find("no RSA signature keys"), std::string::npos) << keys.status().ToString();
}

TEST_F(JwksCacheTest, ConcurrentUnknownKidsShareOneFetch) {
  auto cache = FetchedThenRotated();
  now_ += 60;
  issuer_.delay = std::chrono::milliseconds(50);
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      // Each asks for a kid it does not have: k2 (rotated in) or garbage.
      if (Has(cache->KeysFor(i % 2 ? "k2" : "garbage-" + std::to_string(i)), "k2")) ++found;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
  EXPECT_EQ(found.load(), 8);  // the threads that waited got the fetched keys
}

TEST_F(JwksCacheTest, TheVerifierAcceptsARotatedKeyThroughTheCache) {
  JwtOptions options;
  options.issuer = kIssuer;
  options.audience = "client";
  options.rsa_keys = Cache();
  auto verifier = JwtVerifier::Make(options);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  auto token = [](EVP_PKEY* key, const std::string& kid) {
    Json claims = {{"sub", "anna"}, {"iss", kIssuer}, {"aud", "client"}, {"exp", kNow + 600},
                   {"cognito:groups", {"Members_Read"}}};
    std::string input = Unsigned(Json{{"alg", "RS256"}, {"kid", kid}}, claims);
    return input + "." + Rs256(input, key);
  };
  EXPECT_TRUE((*verifier)->Verify(token(key1_, "k1"), kNow).ok());
  // Another key under a known kid: the signature fails, no fetch is made for it.
  EXPECT_EQ((*verifier)->Verify(token(key2_, "k1"), kNow).status().message(), "bad signature");
  Rotate();
  EXPECT_EQ((*verifier)->Verify(token(key2_, "k2"), kNow).status().message(), "unknown key id");
  now_ += 60;
  auto principal = (*verifier)->Verify(token(key2_, "k2"), kNow);
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_EQ(principal->subject, "anna");
  EXPECT_EQ((*verifier)->Verify(token(key1_, "k1"), kNow).status().message(), "unknown key id");
  EXPECT_EQ(issuer_.Requests(kJwksUri), 2);
  // Both a text and a source: refused.
  options.jwks_json = Json{{"keys", {Jwk(key1_, "k1")}}}.dump();
  EXPECT_FALSE(JwtVerifier::Make(options).ok());
}

TEST_F(JwksCacheTest, TheVerifierReportsUnreachableKeysAsIOError) {
  issuer_.Remove(kDiscovery);
  JwtOptions options;
  options.issuer = kIssuer;
  options.audience = "client";
  options.rsa_keys = Cache();
  auto verifier = JwtVerifier::Make(options);
  ASSERT_TRUE(verifier.ok());
  std::string input = Unsigned(Json{{"alg", "RS256"}, {"kid", "k1"}}, Json{{"sub", "x"}});
  auto result = (*verifier)->Verify(input + "." + Rs256(input, key1_), kNow);
  EXPECT_TRUE(result.status().IsIOError()) << result.status().ToString();
}

TEST(JwksFetchUrl, HttpsOrLoopbackOnly) {
  for (const char* url : {"https://cognito-idp.eu-west-1.amazonaws.com/pool", "http://127.0.0.1:4010",
                          "http://127.1.2.3/jwks", "http://localhost:8080/x", "http://[::1]:9000/", "HTTPS://Example.org"}) {
    EXPECT_TRUE(CheckFetchUrl(url, "url").ok()) << url;
  }
  for (const char* url : {"http://example.org/jwks", "http://127.0.0.1@evil.example/", "http://127.evil.example/",
                          "http://user:pw@127.0.0.1/", "ftp://127.0.0.1/jwks", "file:///etc/passwd", "not a url", "",
                          "http://10.0.0.1/jwks"}) {
    EXPECT_FALSE(CheckFetchUrl(url, "url").ok()) << url;
  }
  EXPECT_NE(CheckFetchUrl("http://example.org", "auth.jwks_uri").message().find("auth.jwks_uri must be an https://"),
            std::string::npos);
}

TEST(JwksFetchUrl, MakeChecksItsOptions) {
  JwksCacheOptions options;
  EXPECT_FALSE(JwksCache::Make(options).ok());  // neither issuer nor jwks_uri
  options.issuer = "http://issuer.example";
  EXPECT_FALSE(JwksCache::Make(options).ok());
  options.jwks_uri = "https://issuer.example/jwks.json";  // a jwks_uri needs no discovery from the issuer
  EXPECT_TRUE(JwksCache::Make(options).ok());
  options.refetch_interval_seconds = 0;
  EXPECT_FALSE(JwksCache::Make(options).ok());
}

TEST(JwksFetchUrl, TheCurlGetterGivesUpOnAClosedPort) {
  JwksCacheOptions options;
  options.connect_timeout_ms = 500;
  options.timeout_ms = 1000;
  // Port 9 (discard) on loopback: nothing listens there in the test environment.
  auto body = CurlGetter(options)("http://127.0.0.1:9/jwks.json");
  EXPECT_TRUE(body.status().IsIOError()) << body.status().ToString();
}

}  // namespace
}  // namespace memberlake::server
