#include "server/jwt_verifier.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <nlohmann/json.hpp>

#include "server/api_keys.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::json;
constexpr int64_t kNow = 1767780000;
const std::string kSecret = "unit-test-secret-0123456789-abcdefghij";
const std::string kIssuer = "https://cognito-idp.eu-west-1.amazonaws.com/pool";
const std::string kAudience = "memberlake";

std::string Bytes(const unsigned char* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

std::string Hs256(const std::string& input, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return EncodeBase64Url(Bytes(mac, length));
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { rsa_ = EVP_RSA_gen(2048); }
  static void TearDownTestSuite() { EVP_PKEY_free(rsa_); }

  static std::string Rs256(const std::string& input, EVP_PKEY* key) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t length = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string signature(length, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    signature.resize(length);
    return EncodeBase64Url(signature);
  }
  static std::string BigNum(const char* name) {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(rsa_, name, &bn);
    std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return bytes;
  }
  static std::string Jwks(const std::string& kid = "k1") {
    return Json{{"keys", {{{"kty", "RSA"}, {"kid", kid}, {"n", EncodeBase64Url(BigNum(OSSL_PKEY_PARAM_RSA_N))},
                            {"e", EncodeBase64Url(BigNum(OSSL_PKEY_PARAM_RSA_E))}}}}}
        .dump();
  }
  static std::string PublicPem() {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa_);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    return pem;
  }
  static Json Claims() {
    return Json{{"sub", "anna"}, {"iss", kIssuer}, {"aud", kAudience}, {"exp", kNow + 600}, {"iat", kNow},
                {"cognito:groups", {"Members_Read", "Regio_Utrecht"}}};
  }
  static std::string Token(const Json& header, const Json& claims, const std::string& alg_key) {
    std::string input = EncodeBase64Url(header.dump()) + "." + EncodeBase64Url(claims.dump());
    std::string alg = header.value("alg", "");
    if (alg == "RS256") return input + "." + Rs256(input, rsa_);
    if (alg == "HS256") return input + "." + Hs256(input, alg_key);
    return input + ".";
  }
  static std::string Hs(const Json& claims) { return Token({{"alg", "HS256"}, {"typ", "JWT"}}, claims, kSecret); }
  static std::string Rs(const Json& claims) { return Token({{"alg", "RS256"}, {"kid", "k1"}}, claims, ""); }

  std::unique_ptr<JwtVerifier> Verifier(bool hs = true, bool rs = true) const {
    JwtOptions options;
    options.issuer = kIssuer;
    options.audience = kAudience;
    if (hs) options.hs256_secret = kSecret;
    if (rs) options.jwks_json = Jwks();
    return *JwtVerifier::Make(options);
  }
  void ExpectRefused(const std::string& token, const std::string& reason, const JwtVerifier& verifier) const {
    auto result = verifier.Verify(token, kNow);
    ASSERT_FALSE(result.ok()) << "accepted: " << reason;
    EXPECT_NE(result.status().message().find(reason), std::string::npos) << result.status().message();
  }

  static EVP_PKEY* rsa_;
};
EVP_PKEY* JwtTest::rsa_ = nullptr;

TEST_F(JwtTest, ValidTokensGiveThePrincipal) {
  auto verifier = Verifier();
  for (const std::string& token : {Hs(Claims()), Rs(Claims())}) {
    auto principal = verifier->Verify(token, kNow);
    ASSERT_TRUE(principal.ok()) << principal.status().ToString();
    EXPECT_EQ(principal->subject, "anna");
    EXPECT_EQ(principal->groups, (std::vector<std::string>{"Members_Read", "Regio_Utrecht"}));
    EXPECT_EQ(principal->auth_method, "jwt");
  }
  Json array_audience = Claims();
  array_audience["aud"] = {"other", kAudience};
  EXPECT_TRUE(verifier->Verify(Hs(array_audience), kNow).ok());
  Json access_token = Claims();  // Cognito access tokens carry client_id instead of aud
  access_token.erase("aud");
  access_token["client_id"] = kAudience;
  EXPECT_TRUE(verifier->Verify(Rs(access_token), kNow).ok());
}

TEST_F(JwtTest, SignatureAttacksAreRefused) {
  auto verifier = Verifier();
  ExpectRefused(Token({{"alg", "HS256"}}, Claims(), "another-secret-0123456789-abcdefghij"), "bad signature", *verifier);
  std::string token = Rs(Claims());
  Json tampered = Claims();
  tampered["cognito:groups"] = {"Members_CRUD", "Regio_All"};
  std::string forged = token.substr(0, token.find('.')) + "." + EncodeBase64Url(tampered.dump()) +
                       token.substr(token.rfind('.'));
  ExpectRefused(forged, "bad signature", *verifier);
  ExpectRefused(Token({{"alg", "none"}}, Claims(), ""), "algorithm not accepted", *verifier);
  ExpectRefused(Token({{"alg", "none"}}, Claims(), "") + "c2ln", "algorithm not accepted", *verifier);
  ExpectRefused(Token({{"alg", "HS512"}}, Claims(), ""), "algorithm not accepted", *verifier);
  ExpectRefused(Token({{"typ", "JWT"}}, Claims(), ""), "malformed token header", *verifier);
  ExpectRefused(Token({{"alg", "RS256"}, {"kid", "nope"}}, Claims(), ""), "unknown key id", *verifier);
}

TEST_F(JwtTest, AlgorithmConfusionIsRefused) {
  // HS256 "signed" with the RSA public key (PEM or raw modulus) as the HMAC secret.
  for (const std::string& fake_secret : {PublicPem(), BigNum(OSSL_PKEY_PARAM_RSA_N)}) {
    std::string token = Token({{"alg", "HS256"}, {"kid", "k1"}}, Claims(), fake_secret);
    ExpectRefused(token, "HS256 tokens are not accepted", *Verifier(/*hs=*/false, /*rs=*/true));
    ExpectRefused(token, "bad signature", *Verifier(true, true));
  }
  // An RS256 token is never checked with the HMAC secret.
  ExpectRefused(Rs(Claims()), "RS256 tokens are not accepted", *Verifier(true, false));
}

TEST_F(JwtTest, ClaimsAreChecked) {
  auto verifier = Verifier();
  auto with = [](const char* name, Json value) {
    Json claims = Claims();
    if (value.is_null()) claims.erase(name);
    else claims[name] = value;
    return claims;
  };
  ExpectRefused(Hs(with("exp", kNow - 31)), "expired", *verifier);
  EXPECT_TRUE(verifier->Verify(Hs(with("exp", kNow - 29)), kNow).ok());  // within the leeway
  ExpectRefused(Hs(with("exp", nullptr)), "no expiry", *verifier);
  ExpectRefused(Hs(with("exp", "soon")), "exp", *verifier);
  ExpectRefused(Hs(with("nbf", kNow + 31)), "not yet valid", *verifier);
  EXPECT_TRUE(verifier->Verify(Hs(with("nbf", kNow + 29)), kNow).ok());
  EXPECT_TRUE(verifier->Verify(Hs(with("exp", kNow + 600.5)), kNow).ok());
  ExpectRefused(Hs(with("iss", "https://evil.example")), "wrong issuer", *verifier);
  ExpectRefused(Hs(with("aud", "someone-else")), "wrong audience", *verifier);
  ExpectRefused(Hs(with("aud", nullptr)), "wrong audience", *verifier);
  ExpectRefused(Hs(with("cognito:groups", nullptr)), "missing cognito:groups", *verifier);
  ExpectRefused(Hs(with("cognito:groups", "Members_CRUD")), "not a list", *verifier);
  ExpectRefused(Hs(with("cognito:groups", Json::array({1, 2}))), "not a list", *verifier);
  ExpectRefused(Hs(with("sub", nullptr)), "no subject", *verifier);
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  auto verifier = Verifier();
  std::string good = Hs(Claims());
  ExpectRefused("", "malformed", *verifier);
  ExpectRefused("a.b", "malformed", *verifier);
  ExpectRefused(good + ".x", "malformed", *verifier);
  ExpectRefused("!!!." + good.substr(good.find('.') + 1), "malformed", *verifier);
  ExpectRefused(EncodeBase64Url("not json") + "." + good.substr(good.find('.') + 1), "malformed token header", *verifier);
  ExpectRefused(Token({{"alg", "HS256"}}, Json::array({1, 2}), kSecret), "malformed token payload", *verifier);
}

TEST_F(JwtTest, BadSettingsAreRefused) {
  JwtOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  EXPECT_FALSE(JwtVerifier::Make(options).ok());  // no key
  options.hs256_secret = "short";
  EXPECT_FALSE(JwtVerifier::Make(options).ok());
  options.hs256_secret.clear();
  options.jwks_json = R"({"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB", "e": "AQAB"}]})";
  EXPECT_FALSE(JwtVerifier::Make(options).ok());  // a 24-bit modulus
  options.jwks_json = R"({"keys": [{"kty": "RSA", "kid": "x", "n": "***", "e": "AQAB"}]})";
  EXPECT_FALSE(JwtVerifier::Make(options).ok());
  options.jwks_json = Jwks();
  options.issuer.clear();
  EXPECT_FALSE(JwtVerifier::Make(options).ok());
}

TEST(Base64UrlTest, StrictDecoding) {
  EXPECT_EQ(*DecodeBase64Url(EncodeBase64Url("memberlake é")), "memberlake é");
  EXPECT_EQ(*DecodeBase64Url("YQ=="), "a");
  EXPECT_FALSE(DecodeBase64Url("YQ+/").ok());  // base64, not base64url
  EXPECT_FALSE(DecodeBase64Url("Y").ok());
  EXPECT_FALSE(DecodeBase64Url("YR").ok());    // non-zero leftover bits
}

TEST(ApiKeyStoreTest, GeneratedKeyAuthenticates) {
  auto key = *ApiKeyStore::Generate();
  auto other = *ApiKeyStore::Generate();
  EXPECT_NE(key.key, other.key);
  EXPECT_EQ(key.key.rfind("mlk_" + key.id + "_", 0), 0u);
  auto store = *ApiKeyStore::LoadString(ApiKeyStore::TomlEntry("nightly \"export\"", key, {"Members_Export", "Regio_Utrecht"}),
                                        "keys.toml");
  auto principal = *store->Authenticate(key.key);
  EXPECT_EQ(principal.subject, "nightly \"export\"");
  EXPECT_EQ(principal.groups, (std::vector<std::string>{"Members_Export", "Regio_Utrecht"}));
  EXPECT_EQ(principal.auth_method, "api_key");
  std::string changed = key.key;
  changed.back() = changed.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad : {changed, other.key, std::string(), std::string("mlk_"), std::string("Bearer x")}) {
    auto result = store->Authenticate(bad);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().message(), "invalid API key");
  }
}

TEST(ApiKeyStoreTest, BadFilesNameTheProblem) {
  auto check = [](const std::string& toml, const std::string& problem) {
    auto store = ApiKeyStore::LoadString(toml, "keys.toml");
    ASSERT_FALSE(store.ok()) << toml;
    EXPECT_NE(store.status().message().find(problem), std::string::npos) << store.status().message();
  };
  const std::string hash(64, 'a');
  check("[[key]]\nid = \"0123abcd\"\nsha256 = \"" + hash + "\"\ngroups = [\"A\"]\n", "missing name");
  check("[[key]]\nname = \"n\"\nid = \"xyz\"\nsha256 = \"" + hash + "\"\ngroups = [\"A\"]\n", "id must be");
  check("[[key]]\nname = \"n\"\nid = \"0123abcd\"\nsha256 = \"abc\"\ngroups = [\"A\"]\n", "sha256 must be");
  check("[[key]]\nname = \"n\"\nid = \"0123abcd\"\nsha256 = \"" + hash + "\"\n", "missing groups");
  std::string entry = "[[key]]\nname = \"n\"\nid = \"0123abcd\"\nsha256 = \"" + hash + "\"\ngroups = [\"A\"]\n";
  check(entry + entry, "duplicate id");
  EXPECT_TRUE(ApiKeyStore::LoadString("# no keys yet\n", "keys.toml").ok());
}

}  // namespace
}  // namespace memberlake::server
