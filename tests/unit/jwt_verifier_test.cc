#include "server/jwt_verifier.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <atomic>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "jwt_test_keys.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::json;
constexpr int64_t kNow = 1767780000;  // 2026-01-07T10:00:00Z
const std::string kSecret = "unit-test-secret-0123456789-abcdefghij";
const std::string kIssuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
const std::string kAudience = "memberlake-client";

// Tokens are made here, with OpenSSL directly, so the verifier is checked against an
// independent signer rather than against itself.
std::string Hs256(const std::string& input, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &length);
  return EncodeBase64Url(std::string(reinterpret_cast<const char*>(mac), length));
}

std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

Json Claims() {
  return Json{{"sub", "anna"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 600}, {"iat", kNow},
              {"token_use", "id"}, {"cognito:groups", {"Members_Read", "Regio_Utrecht"}}};
}

// The claims with `name` set to `value`, or removed when `value` is null.
Json With(const char* name, const Json& value) {
  Json claims = Claims();
  if (value.is_null()) {
    claims.erase(name);
  } else {
    claims[name] = value;
  }
  return claims;
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = EVP_RSA_gen(2048);
    other_rsa_ = EVP_RSA_gen(2048);
    ASSERT_NE(rsa_, nullptr);
    ASSERT_NE(other_rsa_, nullptr);
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(other_rsa_);
  }

  static std::string Jwks() { return Json{{"keys", {Jwk(rsa_, "k1")}}}.dump(); }
  static std::string HsToken(const Json& claims, const std::string& secret = kSecret, Json header = {{"alg", "HS256"}}) {
    std::string input = Unsigned(header, claims);
    return input + "." + Hs256(input, secret);
  }
  static std::string RsToken(const Json& claims, EVP_PKEY* key = rsa_, Json header = {{"alg", "RS256"}, {"kid", "k1"}}) {
    std::string input = Unsigned(header, claims);
    return input + "." + Rs256(input, key);
  }

  static std::unique_ptr<JwtVerifier> Verifier(bool hs = true, bool rs = true, int64_t leeway = 30) {
    JwtOptions options;
    options.issuer = kIssuer;
    options.audience = kAudience;
    options.leeway_seconds = leeway;
    if (hs) options.hs256_secret = kSecret;
    if (rs) options.jwks_json = Jwks();
    auto verifier = JwtVerifier::Make(options);
    EXPECT_TRUE(verifier.ok()) << verifier.status().ToString();
    return verifier.ok() ? std::move(*verifier) : nullptr;
  }

  static void ExpectAccepted(const JwtVerifier& verifier, const std::string& token, const std::string& what) {
    auto principal = verifier.Verify(token, kNow);
    EXPECT_TRUE(principal.ok()) << what << ": " << principal.status().ToString();
  }
  static void ExpectRefused(const JwtVerifier& verifier, const std::string& token, const std::string& reason) {
    auto result = verifier.Verify(token, kNow);
    ASSERT_FALSE(result.ok()) << "accepted, expected: " << reason;
    EXPECT_TRUE(result.status().IsInvalid()) << result.status().ToString();
    EXPECT_NE(result.status().message().find(reason), std::string::npos)
        << "expected '" << reason << "', got '" << result.status().message() << "'";
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* other_rsa_;  // a key the verifier does not know: the attacker's
};
EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::other_rsa_ = nullptr;

TEST_F(JwtTest, ValidTokensGiveThePrincipal) {
  auto verifier = Verifier();
  for (const std::string& token : {HsToken(Claims()), RsToken(Claims())}) {
    auto principal = verifier->Verify(token, kNow);
    ASSERT_TRUE(principal.ok()) << principal.status().ToString();
    EXPECT_EQ(principal->subject, "anna");
    EXPECT_EQ(principal->groups, (std::vector<std::string>{"Members_Read", "Regio_Utrecht"}));
    EXPECT_EQ(principal->auth_method, "jwt");
  }
  // A JWKS with one key serves a token without kid; padding on the parts is tolerated.
  ExpectAccepted(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"typ", "JWT"}}), "no kid, one key");
  ExpectAccepted(*Verifier(/*hs=*/true, /*rs=*/false), HsToken(Claims()), "HS256 only");
  ExpectAccepted(*Verifier(/*hs=*/false, /*rs=*/true), RsToken(Claims()), "RS256 only");
  auto empty_groups = verifier->Verify(HsToken(With("cognito:groups", Json::array())), kNow);
  ASSERT_TRUE(empty_groups.ok()) << empty_groups.status().ToString();
  EXPECT_TRUE(empty_groups->groups.empty());
}

TEST_F(JwtTest, AudienceMayBeAnArrayOrCognitoClientId) {
  auto verifier = Verifier();
  ExpectAccepted(*verifier, HsToken(With("aud", Json::array({"other", kAudience}))), "aud array");
  Json access_token = With("aud", nullptr);  // Cognito access tokens carry client_id instead of aud
  access_token["client_id"] = kAudience;
  access_token["token_use"] = "access";
  ExpectAccepted(*verifier, RsToken(access_token), "client_id");
  access_token["client_id"] = "another-client";
  ExpectRefused(*verifier, RsToken(access_token), "wrong audience");
  Json both = With("aud", "someone-else");  // aud decides when present; client_id cannot rescue it
  both["client_id"] = kAudience;
  ExpectRefused(*verifier, HsToken(both), "wrong audience");
}

TEST_F(JwtTest, WrongAudienceIsRefused) {
  auto verifier = Verifier();
  ExpectRefused(*verifier, HsToken(With("aud", "someone-else")), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", kAudience + "x")), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", nullptr)), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", Json::array({"a", "b"}))), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", Json::array())), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", 42)), "wrong audience");
  ExpectRefused(*verifier, HsToken(With("aud", Json::object({{"aud", kAudience}}))), "wrong audience");
}

TEST_F(JwtTest, WrongIssuerIsRefused) {
  auto verifier = Verifier();
  ExpectRefused(*verifier, HsToken(With("iss", "https://evil.example")), "wrong issuer");
  ExpectRefused(*verifier, HsToken(With("iss", kIssuer + "/")), "wrong issuer");
  ExpectRefused(*verifier, HsToken(With("iss", nullptr)), "wrong issuer");
  ExpectRefused(*verifier, HsToken(With("iss", Json::array({kIssuer}))), "wrong issuer");
}

TEST_F(JwtTest, SubjectFallsBackToUsername) {
  auto verifier = Verifier();
  Json claims = With("sub", nullptr);
  claims["username"] = "bert";
  EXPECT_EQ(verifier->Verify(HsToken(claims), kNow)->subject, "bert");
  claims.erase("username");
  claims["cognito:username"] = "carla";
  EXPECT_EQ(verifier->Verify(HsToken(claims), kNow)->subject, "carla");
  claims.erase("cognito:username");
  ExpectRefused(*verifier, HsToken(claims), "no subject");
  ExpectRefused(*verifier, HsToken(With("sub", 7)), "no subject");
  ExpectRefused(*verifier, HsToken(With("sub", "")), "no subject");
}

TEST_F(JwtTest, BadSignatureIsRefused) {
  auto verifier = Verifier();
  ExpectRefused(*verifier, HsToken(Claims(), "another-secret-0123456789-abcdefghij"), "bad signature");
  ExpectRefused(*verifier, RsToken(Claims(), other_rsa_), "bad signature");  // right kid, wrong key
  std::string input = Unsigned({{"alg", "HS256"}}, Claims());
  ExpectRefused(*verifier, input + ".", "bad signature");
  std::string hs = HsToken(Claims());
  ExpectRefused(*verifier, hs.substr(0, hs.size() - 3), "bad signature");  // truncated MAC (30 bytes)
  std::string rs = RsToken(Claims());
  ExpectRefused(*verifier, rs.substr(0, rs.size() - 2), "bad signature");  // 255 bytes
  // An RS256 signature over the same input is no HS256 signature.
  ExpectRefused(*verifier, input + "." + rs.substr(rs.rfind('.') + 1), "bad signature");
}

TEST_F(JwtTest, TamperedPayloadIsRefused) {
  auto verifier = Verifier();
  Json elevated = Claims();
  elevated["cognito:groups"] = {"Members_CRUD", "Regio_All"};
  for (const std::string& token : {HsToken(Claims()), RsToken(Claims())}) {
    ExpectAccepted(*verifier, token, "untampered");
    std::string forged =
        token.substr(0, token.find('.')) + "." + EncodeBase64Url(elevated.dump()) + token.substr(token.rfind('.'));
    ExpectRefused(*verifier, forged, "bad signature");
  }
  // Swapping the header to another accepted alg breaks the signature too.
  std::string rs = RsToken(Claims());
  ExpectRefused(*verifier, EncodeBase64Url(Json{{"alg", "HS256"}}.dump()) + rs.substr(rs.find('.')), "bad signature");
}

TEST_F(JwtTest, AlgNoneAndOtherAlgorithmsAreRefused) {
  auto verifier = Verifier();
  for (const char* alg : {"none", "None", "NONE", "hs256", "HS384", "HS512", "RS384", "RS512", "PS256", "ES256", ""}) {
    std::string input = Unsigned({{"alg", alg}}, Claims());
    ExpectRefused(*verifier, input + ".", "algorithm not accepted");
    ExpectRefused(*verifier, input + "." + Hs256(input, kSecret), "algorithm not accepted");
    ExpectRefused(*verifier, input + "." + Rs256(input, rsa_), "algorithm not accepted");
  }
  ExpectRefused(*verifier, Unsigned({{"typ", "JWT"}}, Claims()) + ".", "no alg");
  ExpectRefused(*verifier, HsToken(Claims(), kSecret, {{"typ", "JWT"}}), "no alg");
  ExpectRefused(*verifier, HsToken(Claims(), kSecret, {{"alg", 256}}), "no alg");
  ExpectRefused(*verifier, HsToken(Claims(), kSecret, {{"alg", Json::array({"HS256"})}}), "no alg");
  ExpectRefused(*verifier, Unsigned({{"alg", "none"}}, Claims()), "three parts");  // no signature part at all
}

TEST_F(JwtTest, AlgorithmConfusionIsRefused) {
  // HS256 "signed" with what an attacker can know of the RSA public key as the HMAC secret.
  Json jwk = Jwk(rsa_, "k1");
  for (const std::string& public_secret : {PublicPem(rsa_), BigNum(rsa_, OSSL_PKEY_PARAM_RSA_N),
                                           jwk["n"].get<std::string>(), Jwks()}) {
    for (const Json& header : {Json{{"alg", "HS256"}, {"kid", "k1"}}, Json{{"alg", "HS256"}}}) {
      std::string token = HsToken(Claims(), public_secret, header);
      ExpectRefused(*Verifier(/*hs=*/false, /*rs=*/true), token, "HS256 tokens are not accepted");
      ExpectRefused(*Verifier(/*hs=*/true, /*rs=*/true), token, "bad signature");
    }
  }
  // And the other way: an RS256 token is never checked with the HMAC secret.
  ExpectRefused(*Verifier(/*hs=*/true, /*rs=*/false), RsToken(Claims()), "RS256 tokens are not accepted");
  std::string input = Unsigned({{"alg", "RS256"}, {"kid", "k1"}}, Claims());
  ExpectRefused(*Verifier(), input + "." + Hs256(input, kSecret), "bad signature");
}

TEST_F(JwtTest, KeysInTheTokenAreIgnored) {
  auto verifier = Verifier();
  Json attacker_jwk = Jwk(other_rsa_, "k1");
  for (const Json& header : {Json{{"alg", "RS256"}, {"jwk", attacker_jwk}}, Json{{"alg", "RS256"}, {"kid", "k1"}, {"jwk", attacker_jwk}},
                             Json{{"alg", "RS256"}, {"jku", "https://evil.example/jwks.json"}},
                             Json{{"alg", "RS256"}, {"x5u", "https://evil.example/cert.pem"}}}) {
    ExpectRefused(*verifier, RsToken(Claims(), other_rsa_, header), "bad signature");
  }
}

TEST_F(JwtTest, KeyIsChosenByKid) {
  JwtOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  options.jwks_json = Json{{"keys", {Jwk(rsa_, "k1"), Jwk(other_rsa_, "k2")}}}.dump();
  auto verifier = *JwtVerifier::Make(options);
  ExpectAccepted(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", "k1"}}), "k1");
  ExpectAccepted(*verifier, RsToken(Claims(), other_rsa_, {{"alg", "RS256"}, {"kid", "k2"}}), "k2");
  ExpectRefused(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", "k2"}}), "bad signature");
  ExpectRefused(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}}), "token names no key id");
  ExpectRefused(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", "k3"}}), "unknown key id");
  ExpectRefused(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", ""}}), "unknown key id");
  ExpectRefused(*verifier, RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", 1}}), "kid is not a string");
  // With one key, a token naming another kid is not served by it.
  ExpectRefused(*Verifier(), RsToken(Claims(), rsa_, {{"alg", "RS256"}, {"kid", "k9"}}), "unknown key id");
}

TEST_F(JwtTest, ExpiryHonoursTheLeeway) {
  auto verifier = Verifier();  // leeway 30
  ExpectAccepted(*verifier, HsToken(With("exp", kNow - 29)), "expired within the leeway");
  ExpectAccepted(*verifier, HsToken(With("exp", kNow - 29.5)), "fractional exp within the leeway");
  ExpectRefused(*verifier, HsToken(With("exp", kNow - 30)), "token expired");  // exp must be > now - leeway
  ExpectRefused(*verifier, HsToken(With("exp", kNow - 30.5)), "token expired");
  ExpectRefused(*verifier, HsToken(With("exp", kNow - 3600)), "token expired");
  ExpectRefused(*verifier, HsToken(With("exp", nullptr)), "no expiry");
  ExpectRefused(*verifier, HsToken(With("exp", "soon")), "exp is not a number");
  ExpectRefused(*verifier, HsToken(With("exp", true)), "exp is not a number");
  ExpectRefused(*verifier, HsToken(With("exp", -1e300)), "token expired");
  ExpectAccepted(*verifier, HsToken(With("exp", 1e300)), "far future");  // no overflow
  auto strict = Verifier(true, true, /*leeway=*/0);
  ExpectRefused(*strict, HsToken(With("exp", kNow)), "token expired");
  ExpectAccepted(*strict, HsToken(With("exp", kNow + 1)), "no leeway");
  ExpectAccepted(*strict, HsToken(With("exp", kNow + 0.25)), "fractional exp, no leeway");
}

TEST_F(JwtTest, NotBeforeAndIssuedAtHonourTheLeeway) {
  auto verifier = Verifier();
  ExpectAccepted(*verifier, HsToken(With("nbf", kNow + 30)), "nbf within the leeway");
  ExpectRefused(*verifier, HsToken(With("nbf", kNow + 31)), "not yet valid");
  ExpectRefused(*verifier, HsToken(With("nbf", kNow + 30.5)), "not yet valid");
  ExpectRefused(*verifier, HsToken(With("nbf", "now")), "nbf is not a number");
  ExpectAccepted(*verifier, HsToken(With("iat", kNow + 30)), "iat within the leeway");
  ExpectRefused(*verifier, HsToken(With("iat", kNow + 31)), "issued in the future");
  ExpectAccepted(*verifier, HsToken(With("iat", nullptr)), "no iat");
  auto strict = Verifier(true, true, /*leeway=*/0);
  ExpectAccepted(*strict, HsToken(With("nbf", kNow)), "nbf now");
  ExpectRefused(*strict, HsToken(With("nbf", kNow + 1)), "not yet valid");
}

TEST_F(JwtTest, GroupsMustBeAListOfNames) {
  auto verifier = Verifier();
  for (const std::string& token : {HsToken(With("cognito:groups", nullptr)), RsToken(With("cognito:groups", nullptr))}) {
    ExpectRefused(*verifier, token, "missing cognito:groups claim");
  }
  Json groups = With("cognito:groups", nullptr);
  groups["groups"] = Json::array({"Members_CRUD"});  // not the claim we read
  ExpectRefused(*verifier, HsToken(groups), "missing cognito:groups claim");
  for (const Json& wrong : {Json("Members_CRUD"), Json::array({1, 2}), Json::array({"Members_Read", nullptr}),
                            Json{{"Members_CRUD", true}}, Json(true), Json::array({Json::array({"Members_CRUD"})})}) {
    ExpectRefused(*verifier, HsToken(With("cognito:groups", wrong)), "missing cognito:groups claim");
  }
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  auto verifier = Verifier();
  const std::string good = HsToken(Claims());
  const std::string body = good.substr(good.find('.'));  // ".payload.signature"
  ExpectRefused(*verifier, "", "three parts");
  ExpectRefused(*verifier, "abc", "three parts");
  ExpectRefused(*verifier, "a.b", "three parts");
  ExpectRefused(*verifier, good.substr(0, good.rfind('.')), "three parts");
  ExpectRefused(*verifier, good + ".x", "three parts");
  ExpectRefused(*verifier, good + ".", "three parts");
  ExpectRefused(*verifier, "..", "malformed token header");
  ExpectRefused(*verifier, "...", "three parts");
  ExpectRefused(*verifier, "!!!!" + body, "bad base64url");
  ExpectRefused(*verifier, "eyJ=" + body, "bad base64url");
  std::string header = good.substr(0, good.find('.'));
  ExpectRefused(*verifier, header + "+" + body, "bad base64url");  // base64, not base64url
  ExpectRefused(*verifier, header + " " + body, "bad base64url");
  ExpectRefused(*verifier, good + "*", "bad base64url");  // in the signature
  ExpectRefused(*verifier, header + ".e30*" + good.substr(good.rfind('.')), "bad base64url");  // in the payload
  ExpectRefused(*verifier, EncodeBase64Url("not json") + body, "malformed token header");
  ExpectRefused(*verifier, EncodeBase64Url(R"(["alg","HS256"])") + body, "malformed token header");
  ExpectRefused(*verifier, EncodeBase64Url(R"({"alg":"HS256")") + body, "malformed token header");
  ExpectRefused(*verifier, EncodeBase64Url("{\"alg\":\"HS256\",\"x\":\"\xff\"}") + body, "malformed token header");
  ExpectRefused(*verifier, HsToken(Json::array({Claims()})), "malformed token payload");
  ExpectRefused(*verifier, HsToken("just a string"), "malformed token payload");
  std::string input = EncodeBase64Url(Json{{"alg", "HS256"}}.dump()) + "." + EncodeBase64Url("{\"sub\": ");
  ExpectRefused(*verifier, input + "." + Hs256(input, kSecret), "malformed token payload");
  ExpectRefused(*verifier, std::string(100000, 'a') + body, "too long");
}

TEST_F(JwtTest, CriticalHeaderExtensionsAreRefused) {
  ExpectRefused(*Verifier(), HsToken(Claims(), kSecret, {{"alg", "HS256"}, {"crit", Json::array({"exp"})}, {"exp", kNow}}),
                "unsupported critical header");
}

TEST_F(JwtTest, EverySingleCharacterChangeIsRefused) {
  auto verifier = Verifier();
  for (const std::string& token : {HsToken(Claims()), RsToken(Claims())}) {
    ExpectAccepted(*verifier, token, "unchanged");
    int accepted = 0;
    for (size_t i = 0; i < token.size(); ++i) {
      for (char c : {'A', 'B', '_', '.', '='}) {
        if (token[i] == c) continue;
        std::string changed = token;
        changed[i] = c;
        accepted += verifier->Verify(changed, kNow).ok();
      }
      accepted += verifier->Verify(token.substr(0, i) + token.substr(i + 1), kNow).ok();  // dropped
    }
    EXPECT_EQ(accepted, 0);
  }
}

TEST_F(JwtTest, VerifyIsThreadSafe) {
  auto verifier = Verifier();
  const std::string tokens[] = {HsToken(Claims()), RsToken(Claims()), RsToken(Claims(), other_rsa_)};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        for (int k = 0; k < 3; ++k) wrong += verifier->Verify(tokens[k], kNow).ok() != (k < 2);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(JwtTest, MakeRefusesBadSettings) {
  auto refused = [](JwtOptions options, const std::string& reason) {
    auto verifier = JwtVerifier::Make(options);
    ASSERT_FALSE(verifier.ok()) << "accepted, expected: " << reason;
    EXPECT_TRUE(verifier.status().IsInvalid());
    EXPECT_NE(verifier.status().message().find(reason), std::string::npos) << verifier.status().message();
  };
  JwtOptions base;
  base.issuer = kIssuer;
  base.audience = kAudience;
  refused(base, "needs an HS256 secret or a JWKS");
  JwtOptions options = base;
  options.hs256_secret = "short";
  refused(options, "at least 32 bytes");
  options.hs256_secret = kSecret;
  options.issuer.clear();
  refused(options, "issuer and an audience");
  options = base;
  options.hs256_secret = kSecret;
  options.audience.clear();
  refused(options, "issuer and an audience");
  options = base;
  options.hs256_secret = kSecret;
  options.leeway_seconds = -1;
  refused(options, "leeway");

  auto jwks = [&](const std::string& text, const std::string& reason) {
    JwtOptions with_jwks = base;
    with_jwks.jwks_json = text;
    refused(with_jwks, reason);
  };
  Json good = Jwk(rsa_, "k1");
  auto key_with = [&](const char* name, const Json& value) {
    Json jwk = good;
    if (value.is_null()) {
      jwk.erase(name);
    } else {
      jwk[name] = value;
    }
    return Json{{"keys", {jwk}}}.dump();
  };
  jwks("not json", "expected an object");
  jwks("[]", "expected an object");
  jwks(R"({"keys": {}})", "expected an object");
  jwks(R"({"keys": []})", "no RSA signature keys");
  jwks(R"({"keys": [1]})", "not an object");
  jwks(key_with("kty", 5), "kty is not a string");
  jwks(key_with("kty", nullptr), "missing kty");
  jwks(key_with("kty", "EC"), "no RSA signature keys");
  jwks(key_with("use", "enc"), "no RSA signature keys");
  jwks(key_with("alg", "RS512"), "no RSA signature keys");
  jwks(key_with("kid", 3), "kid is not a string");
  jwks(key_with("n", nullptr), "missing n or e");
  jwks(key_with("e", nullptr), "missing n or e");
  jwks(key_with("n", 12345), "n is not a string");
  jwks(key_with("n", "***"), "not base64url");
  jwks(key_with("n", good["n"].get<std::string>() + "+"), "not base64url");
  jwks(key_with("n", "AQAB"), "shorter than 2048 bits");
  jwks(key_with("n", EncodeBase64Url(BigNum(rsa_, OSSL_PKEY_PARAM_RSA_N).substr(1))), "shorter than 2048 bits");
  std::string even_n = BigNum(rsa_, OSSL_PKEY_PARAM_RSA_N);
  even_n.back() = static_cast<char>(even_n.back() & ~1);
  jwks(key_with("n", EncodeBase64Url(even_n)), "not a sound RSA public key");
  jwks(key_with("e", "AQ"), "not a sound RSA public key");  // e = 1
  jwks(key_with("e", "AA"), "not a sound RSA public key");  // e = 0
  jwks(Json{{"keys", {good, Jwk(other_rsa_, "k1")}}}.dump(), "duplicate kid");
  jwks(Json{{"keys", {Jwk(rsa_, ""), Jwk(other_rsa_, "")}}}.dump(), "duplicate kid");
  // Keys for other uses are skipped, not fatal, when an RS256 key is there too.
  JwtOptions mixed = base;
  mixed.jwks_json = Json{{"keys", {{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}}, good}}}.dump();
  EXPECT_TRUE(JwtVerifier::Make(mixed).ok());
}

TEST(Base64UrlTest, StrictDecoding) {
  for (const std::string& bytes : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                                   std::string("memberlake \xc3\xa9"), std::string("\x00\xff\xfe\x3e\x3f", 5)}) {
    auto decoded = DecodeBase64Url(EncodeBase64Url(bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_EQ(EncodeBase64Url(std::string("\xfb\xff", 2)), "-_8");
  EXPECT_EQ(*DecodeBase64Url("YQ=="), "a");  // padding is optional, but allowed
  EXPECT_EQ(*DecodeBase64Url("YWI="), "ab");
  EXPECT_EQ(*DecodeBase64Url("YQ"), "a");
  for (const char* bad : {"YQ+/", "YQ/", "Y", "YR", "YWJ", "YQ=", "YQ===", "Y===", "YWI==", "=", "====", "YQ==YQ==",
                          "Y Q", "YQ\n", "YQ.", "\xc3\xa9"}) {
    EXPECT_FALSE(DecodeBase64Url(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace memberlake::server
