#include "server/jwt_verifier.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

namespace memberlake::server {
namespace {

using Json = nlohmann::json;

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

arrow::Result<Pkey> RsaPublicKey(const std::string& n, const std::string& e) {
  if (n.size() < 256) return arrow::Status::Invalid("RSA modulus shorter than 2048 bits");
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* key = nullptr;
  bool ok = bn_n && bn_e && build && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
            OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
            (params = OSSL_PARAM_BLD_to_param(build)) != nullptr &&
            (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) != nullptr &&
            EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(build);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!ok) {
    EVP_PKEY_free(key);
    return arrow::Status::Invalid("cannot build an RSA key from n and e");
  }
  return Pkey(key);
}

bool VerifyRs256(EVP_PKEY* key, std::string_view signing_input, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

bool VerifyHs256(const std::string& secret, std::string_view signing_input, const std::string& signature) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &length) == nullptr) {
    return false;
  }
  return signature.size() == length && CRYPTO_memcmp(mac, signature.data(), length) == 0;
}

// A NumericDate claim (integer or float seconds); nullopt when absent.
arrow::Result<std::optional<int64_t>> TimeClaim(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<int64_t>();
  if (!it->is_number()) return arrow::Status::Invalid(name, " is not a number");
  double seconds = std::clamp(it->get<double>(), -1e15, 1e15);  // no overflow on absurd values
  return std::optional<int64_t>(static_cast<int64_t>(seconds));
}

}  // namespace

struct JwtVerifier::Keys {
  std::map<std::string, Pkey> rsa;  // by kid
};

JwtVerifier::JwtVerifier(JwtOptions options, std::unique_ptr<Keys> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}
JwtVerifier::~JwtVerifier() = default;

arrow::Result<std::string> DecodeBase64Url(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return arrow::Status::Invalid("bad base64url length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = Base64UrlValue(c);
    if (value < 0) return arrow::Status::Invalid("bad base64url character");
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, or two texts would decode to the same bytes.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return arrow::Status::Invalid("bad base64url padding bits");
  return out;
}

std::string EncodeBase64Url(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  return out;
}

arrow::Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Make(const JwtOptions& options) {
  if (options.issuer.empty() || options.audience.empty()) {
    return arrow::Status::Invalid("JWT verification needs an issuer and an audience");
  }
  auto keys = std::make_unique<Keys>();
  if (!options.jwks_json.empty()) {
    Json jwks = Json::parse(options.jwks_json, nullptr, /*allow_exceptions=*/false);
    if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
      return arrow::Status::Invalid("JWKS: expected an object with a \"keys\" array");
    }
    int index = 0;
    for (const auto& jwk : jwks["keys"]) {
      ++index;
      if (!jwk.is_object()) return arrow::Status::Invalid("JWKS key ", index, ": not an object");
      if (jwk.value("kty", "") != "RSA") continue;  // only RSA keys verify RS256
      auto text = [&](const char* name) -> arrow::Result<std::string> {
        if (!jwk.contains(name) || !jwk[name].is_string()) {
          return arrow::Status::Invalid("JWKS key ", index, ": missing ", name);
        }
        return jwk[name].get<std::string>();
      };
      std::string kid = jwk.contains("kid") && jwk["kid"].is_string() ? jwk["kid"].get<std::string>() : "";
      ARROW_ASSIGN_OR_RAISE(std::string n_text, text("n"));
      ARROW_ASSIGN_OR_RAISE(std::string e_text, text("e"));
      auto n = DecodeBase64Url(n_text);
      auto e = DecodeBase64Url(e_text);
      if (!n.ok() || !e.ok()) return arrow::Status::Invalid("JWKS key ", index, ": n or e is not base64url");
      auto key = RsaPublicKey(*n, *e);
      if (!key.ok()) return arrow::Status::Invalid("JWKS key ", index, ": ", key.status().message());
      if (keys->rsa.count(kid)) return arrow::Status::Invalid("JWKS: duplicate kid '", kid, "'");
      keys->rsa[kid] = std::move(*key);
    }
    if (keys->rsa.empty()) return arrow::Status::Invalid("JWKS: no RSA keys");
  }
  if (keys->rsa.empty() && options.hs256_secret.empty()) {
    return arrow::Status::Invalid("JWT verification needs an HS256 secret or a JWKS");
  }
  if (!options.hs256_secret.empty() && options.hs256_secret.size() < 32) {
    return arrow::Status::Invalid("the HS256 secret must be at least 32 bytes");
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(options, std::move(keys)));
}

arrow::Result<Principal> JwtVerifier::Verify(std::string_view token, int64_t now_unix) const {
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return arrow::Status::Invalid("malformed token");
  }
  std::string_view signing_input = token.substr(0, second);
  auto header_text = DecodeBase64Url(token.substr(0, first));
  auto payload_text = DecodeBase64Url(token.substr(first + 1, second - first - 1));
  auto signature = DecodeBase64Url(token.substr(second + 1));
  if (!header_text.ok() || !payload_text.ok() || !signature.ok()) return arrow::Status::Invalid("malformed token");
  Json header = Json::parse(*header_text, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string()) {
    return arrow::Status::Invalid("malformed token header");
  }
  const std::string alg = header["alg"].get<std::string>();
  if (alg == "HS256") {
    if (options_.hs256_secret.empty()) return arrow::Status::Invalid("HS256 tokens are not accepted");
    if (!VerifyHs256(options_.hs256_secret, signing_input, *signature)) return arrow::Status::Invalid("bad signature");
  } else if (alg == "RS256") {
    if (keys_->rsa.empty()) return arrow::Status::Invalid("RS256 tokens are not accepted");
    EVP_PKEY* key = nullptr;
    if (header.contains("kid")) {
      if (!header["kid"].is_string()) return arrow::Status::Invalid("malformed token header");
      auto it = keys_->rsa.find(header["kid"].get<std::string>());
      if (it == keys_->rsa.end()) return arrow::Status::Invalid("unknown key id");
      key = it->second.get();
    } else if (keys_->rsa.size() == 1) {
      key = keys_->rsa.begin()->second.get();
    } else {
      return arrow::Status::Invalid("token names no key id");
    }
    if (!VerifyRs256(key, signing_input, *signature)) return arrow::Status::Invalid("bad signature");
  } else {
    return arrow::Status::Invalid("algorithm not accepted");
  }
  // Signed by us: now the claims.
  Json claims = Json::parse(*payload_text, nullptr, false);
  if (!claims.is_object()) return arrow::Status::Invalid("malformed token payload");
  ARROW_ASSIGN_OR_RAISE(auto exp, TimeClaim(claims, "exp"));
  ARROW_ASSIGN_OR_RAISE(auto nbf, TimeClaim(claims, "nbf"));
  if (!exp) return arrow::Status::Invalid("token has no expiry");
  if (*exp + options_.leeway_seconds <= now_unix) return arrow::Status::Invalid("token expired");
  if (nbf && *nbf - options_.leeway_seconds > now_unix) return arrow::Status::Invalid("token not yet valid");
  if (!claims.contains("iss") || !claims["iss"].is_string() || claims["iss"].get<std::string>() != options_.issuer) {
    return arrow::Status::Invalid("wrong issuer");
  }
  bool audience_ok = false;
  if (claims.contains("aud")) {
    const Json& aud = claims["aud"];
    if (aud.is_string()) audience_ok = aud.get<std::string>() == options_.audience;
    if (aud.is_array()) {
      for (const auto& item : aud) audience_ok = audience_ok || (item.is_string() && item.get<std::string>() == options_.audience);
    }
  } else if (claims.contains("client_id") && claims["client_id"].is_string()) {
    audience_ok = claims["client_id"].get<std::string>() == options_.audience;  // Cognito access tokens
  }
  if (!audience_ok) return arrow::Status::Invalid("wrong audience");
  if (!claims.contains("cognito:groups")) return arrow::Status::Invalid("missing cognito:groups claim");
  const Json& groups = claims["cognito:groups"];
  if (!groups.is_array()) return arrow::Status::Invalid("cognito:groups is not a list");
  Principal principal;
  principal.auth_method = "jwt";
  for (const auto& group : groups) {
    if (!group.is_string()) return arrow::Status::Invalid("cognito:groups is not a list of names");
    principal.groups.push_back(group.get<std::string>());
  }
  for (const char* name : {"sub", "username", "cognito:username"}) {
    if (claims.contains(name) && claims[name].is_string()) {
      principal.subject = claims[name].get<std::string>();
      break;
    }
  }
  if (principal.subject.empty()) return arrow::Status::Invalid("token has no subject");
  return principal;
}

}  // namespace memberlake::server
