#include "server/jwt_verifier.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace memberlake::server {
namespace {

using Json = nlohmann::json;

// Far above any Cognito token (a few KB even with many groups); bounds the work a stranger can
// make us do before the signature check.
constexpr size_t kMaxTokenBytes = 64 * 1024;
// RFC 7518 §3.2: an HS256 key shorter than the hash output is weak.
constexpr size_t kMinSecretBytes = 32;

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

const unsigned char* Bytes(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

bool VerifyRs256(EVP_PKEY* key, std::string_view signing_input, const std::string& signature) {
  MdCtx ctx(EVP_MD_CTX_new());
  // EVP_DigestVerifyInit picks RSASSA-PKCS1-v1_5, the RSA default padding, as RS256 needs.
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(signing_input), signing_input.size()) == 1;
}

bool VerifyHs256(const std::string& secret, std::string_view signing_input, const std::string& signature) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), Bytes(signing_input), signing_input.size(),
           mac, &length) == nullptr) {
    return false;
  }
  // Constant time, so the response time does not tell how many leading bytes of a guess were right.
  return signature.size() == length && CRYPTO_memcmp(mac, signature.data(), length) == 0;
}

struct Parts {
  std::string_view signing_input;  // header.payload, as signed
  Json header;
  std::string payload;             // decoded, parsed only once the signature holds
  std::string signature;
};

arrow::Result<Parts> SplitToken(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return arrow::Status::Invalid("token too long");
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return arrow::Status::Invalid("malformed token: expected three parts");
  }
  auto header_text = DecodeBase64Url(token.substr(0, first));
  auto payload = DecodeBase64Url(token.substr(first + 1, second - first - 1));
  auto signature = DecodeBase64Url(token.substr(second + 1));
  if (!header_text.ok() || !payload.ok() || !signature.ok()) return arrow::Status::Invalid("malformed token: bad base64url");
  Parts parts{token.substr(0, second), Json::parse(*header_text, nullptr, false), std::move(*payload),
              std::move(*signature)};
  if (!parts.header.is_object()) return arrow::Status::Invalid("malformed token header");
  return parts;
}

// A NumericDate claim (integer or fractional seconds); nullopt when absent. Kept as a double so
// a fractional exp is compared exactly, not truncated.
arrow::Result<std::optional<double>> TimeClaim(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<double>();
  if (!it->is_number()) return arrow::Status::Invalid(name, " is not a number");
  return std::optional<double>(it->get<double>());
}

arrow::Status CheckTimes(const Json& claims, int64_t now_unix, int64_t leeway) {
  ARROW_ASSIGN_OR_RAISE(auto exp, TimeClaim(claims, "exp"));
  ARROW_ASSIGN_OR_RAISE(auto nbf, TimeClaim(claims, "nbf"));
  ARROW_ASSIGN_OR_RAISE(auto iat, TimeClaim(claims, "iat"));
  // Exact in double for any time within 2^53 seconds; leeway is bounded in Make().
  const double earliest = static_cast<double>(now_unix) - static_cast<double>(leeway);
  const double latest = static_cast<double>(now_unix) + static_cast<double>(leeway);
  if (!exp) return arrow::Status::Invalid("token has no expiry");
  if (!(*exp > earliest)) return arrow::Status::Invalid("token expired");
  if (nbf && !(*nbf <= latest)) return arrow::Status::Invalid("token not yet valid");
  if (iat && !(*iat <= latest)) return arrow::Status::Invalid("token issued in the future");
  return arrow::Status::OK();
}

bool AudienceMatches(const Json& claims, const std::string& audience) {
  auto aud = claims.find("aud");
  if (aud != claims.end()) {
    if (aud->is_string()) return aud->get<std::string>() == audience;
    if (!aud->is_array()) return false;
    return std::any_of(aud->begin(), aud->end(),
                       [&](const Json& item) { return item.is_string() && item.get<std::string>() == audience; });
  }
  // Cognito access tokens carry the app client in client_id and have no aud.
  auto client_id = claims.find("client_id");
  return client_id != claims.end() && client_id->is_string() && client_id->get<std::string>() == audience;
}

arrow::Result<Principal> PrincipalFrom(const Json& claims) {
  Principal principal;
  principal.auth_method = "jwt";
  auto groups = claims.find("cognito:groups");
  if (groups == claims.end()) return arrow::Status::Invalid("missing cognito:groups claim");
  // Roles decide access: anything but a list of names is refused, never read as "no roles".
  bool names = groups->is_array() && std::all_of(groups->begin(), groups->end(),
                                                 [](const Json& group) { return group.is_string(); });
  if (!names) return arrow::Status::Invalid("missing cognito:groups claim: not a list of names");
  for (const Json& group : *groups) principal.groups.push_back(group.get<std::string>());
  for (const char* name : {"sub", "username", "cognito:username"}) {
    auto it = claims.find(name);
    if (it != claims.end() && it->is_string() && !it->get<std::string>().empty()) {
      principal.subject = it->get<std::string>();
      break;
    }
  }
  if (principal.subject.empty()) return arrow::Status::Invalid("token has no subject");
  return principal;
}

}  // namespace

struct JwtVerifier::Keys {
  std::string hs256_secret;                // empty: HS256 refused
  std::shared_ptr<RsaKeySource> rsa_source;  // null: RS256 refused
};

namespace {

// The configured JWKS text: one set, never fetched again.
class FixedRsaKeys : public RsaKeySource {
 public:
  explicit FixedRsaKeys(std::shared_ptr<const JwkSet> keys) : keys_(std::move(keys)) {}
  arrow::Result<std::shared_ptr<const JwkSet>> KeysFor(const std::optional<std::string>&) override { return keys_; }

 private:
  const std::shared_ptr<const JwkSet> keys_;
};

}  // namespace

JwtVerifier::JwtVerifier(JwtOptions options, std::unique_ptr<const Keys> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}
JwtVerifier::~JwtVerifier() = default;

arrow::Result<std::string> DecodeBase64Url(std::string_view text) {
  size_t unpadded = text.find_last_not_of('=') + 1;  // npos + 1 == 0 for all '='
  if (unpadded != text.size() && (text.size() % 4 != 0 || text.size() - unpadded > 2)) {
    return arrow::Status::Invalid("bad base64url padding");
  }
  text = text.substr(0, unpadded);
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
  if (options.leeway_seconds < 0 || options.leeway_seconds > 24 * 3600) {
    return arrow::Status::Invalid("JWT leeway must be between 0 and 86400 seconds");
  }
  if (!options.hs256_secret.empty() && options.hs256_secret.size() < kMinSecretBytes) {
    return arrow::Status::Invalid("the HS256 secret must be at least 32 bytes");
  }
  if (!options.jwks_json.empty() && options.rsa_keys) {
    return arrow::Status::Invalid("JWT verification takes RS256 keys from a JWKS text or from a key source, not both");
  }
  auto keys = std::make_unique<Keys>();
  keys->hs256_secret = options.hs256_secret;
  keys->rsa_source = options.rsa_keys;
  if (!options.jwks_json.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto fixed, JwkSet::Parse(options.jwks_json));
    keys->rsa_source = std::make_shared<FixedRsaKeys>(std::move(fixed));
  }
  if (!keys->rsa_source && keys->hs256_secret.empty()) {
    return arrow::Status::Invalid("JWT verification needs an HS256 secret or a JWKS");
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(options, std::move(keys)));
}

arrow::Result<Principal> JwtVerifier::Verify(std::string_view token, int64_t now_unix) const {
  try {
    ARROW_ASSIGN_OR_RAISE(Parts parts, SplitToken(token));
    auto alg = parts.header.find("alg");
    if (alg == parts.header.end() || !alg->is_string()) return arrow::Status::Invalid("malformed token header: no alg");
    // We implement no JWS extensions, so any critical one must make us refuse (RFC 7515 §4.1.11).
    if (parts.header.contains("crit")) return arrow::Status::Invalid("unsupported critical header");
    const std::string alg_name = alg->get<std::string>();
    if (alg_name == "HS256") {
      if (keys_->hs256_secret.empty()) return arrow::Status::Invalid("HS256 tokens are not accepted");
      if (!VerifyHs256(keys_->hs256_secret, parts.signing_input, parts.signature)) {
        return arrow::Status::Invalid("bad signature");
      }
    } else if (alg_name == "RS256") {
      if (!keys_->rsa_source) return arrow::Status::Invalid("RS256 tokens are not accepted");
      auto kid_it = parts.header.find("kid");
      if (kid_it != parts.header.end() && !kid_it->is_string()) return arrow::Status::Invalid("kid is not a string");
      std::optional<std::string> kid;
      if (kid_it != parts.header.end()) kid = kid_it->get<std::string>();
      // May fetch the issuer's keys again for an unknown kid (rate-limited by the source).
      ARROW_ASSIGN_OR_RAISE(auto rsa, keys_->rsa_source->KeysFor(kid));
      EVP_PKEY* key = rsa->Find(kid);
      if (key == nullptr) return arrow::Status::Invalid(kid ? "unknown key id" : "token names no key id");
      if (!VerifyRs256(key, parts.signing_input, parts.signature)) {
        return arrow::Status::Invalid("bad signature");
      }
    } else {
      return arrow::Status::Invalid("algorithm not accepted");
    }
    // Signed by a key we trust: only now are the claims worth reading.
    Json claims = Json::parse(parts.payload, nullptr, false);
    if (!claims.is_object()) return arrow::Status::Invalid("malformed token payload");
    ARROW_RETURN_NOT_OK(CheckTimes(claims, now_unix, options_.leeway_seconds));
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || iss->get<std::string>() != options_.issuer) {
      return arrow::Status::Invalid("wrong issuer");
    }
    if (!AudienceMatches(claims, options_.audience)) return arrow::Status::Invalid("wrong audience");
    return PrincipalFrom(claims);
  } catch (const Json::exception&) {
    return arrow::Status::Invalid("malformed token");  // defensive: every access above is type-checked
  }
}

}  // namespace memberlake::server
