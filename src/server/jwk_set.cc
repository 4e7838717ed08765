#include "server/jwk_set.h"

#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "server/jwt_verifier.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::json;

constexpr int kMinRsaBits = 2048;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

Bignum ToBignum(const std::string& big_endian) {
  return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                          static_cast<int>(big_endian.size()), nullptr));
}

// An RSA public key from the JWK's n and e (big-endian bytes), through the OpenSSL 3 provider
// API. The public-key check refuses an even modulus, e = 1 and similar keys that would make
// signatures forgeable should a JWKS be mangled.
arrow::Result<std::shared_ptr<EVP_PKEY>> RsaPublicKey(const std::string& n, const std::string& e) {
  Bignum bn_n = ToBignum(n);
  Bignum bn_e = ToBignum(e);
  if (!bn_n || !bn_e) return arrow::Status::Invalid("cannot read n or e");
  if (BN_num_bits(bn_n.get()) < kMinRsaBits) return arrow::Status::Invalid("RSA modulus shorter than 2048 bits");
  ParamBld build(OSSL_PARAM_BLD_new());
  if (!build || OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return arrow::Status::Invalid("cannot build RSA parameters");
  }
  Params params(OSSL_PARAM_BLD_to_param(build.get()));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return arrow::Status::Invalid("cannot build an RSA key from n and e");
  }
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return arrow::Status::Invalid("not a sound RSA public key");
  return key;
}

// A string member: nullopt when absent, Invalid when present with another type.
arrow::Result<std::optional<std::string>> OptionalString(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return std::optional<std::string>();
  if (!it->is_string()) return arrow::Status::Invalid(name, " is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

using RsaKeys = std::map<std::string, std::shared_ptr<EVP_PKEY>>;

// Adds the JWK to `keys` if it is an RSA signature key for RS256.
arrow::Status AddJwk(const Json& jwk, RsaKeys* keys) {
  if (!jwk.is_object()) return arrow::Status::Invalid("not an object");
  ARROW_ASSIGN_OR_RAISE(auto kty, OptionalString(jwk, "kty"));
  ARROW_ASSIGN_OR_RAISE(auto use, OptionalString(jwk, "use"));
  ARROW_ASSIGN_OR_RAISE(auto alg, OptionalString(jwk, "alg"));
  ARROW_ASSIGN_OR_RAISE(auto kid, OptionalString(jwk, "kid"));
  if (!kty) return arrow::Status::Invalid("missing kty");
  // A key published for encryption or another algorithm must not verify RS256 signatures.
  if (*kty != "RSA" || (use && *use != "sig") || (alg && *alg != "RS256")) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto n_text, OptionalString(jwk, "n"));
  ARROW_ASSIGN_OR_RAISE(auto e_text, OptionalString(jwk, "e"));
  if (!n_text || !e_text) return arrow::Status::Invalid("missing n or e");
  auto n = DecodeBase64Url(*n_text);
  auto e = DecodeBase64Url(*e_text);
  if (!n.ok() || !e.ok()) return arrow::Status::Invalid("n or e is not base64url");
  ARROW_ASSIGN_OR_RAISE(auto key, RsaPublicKey(*n, *e));
  std::string id = kid.value_or("");
  if (keys->count(id)) return arrow::Status::Invalid("duplicate kid '", id, "'");
  (*keys)[id] = std::move(key);
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::shared_ptr<const JwkSet>> JwkSet::Parse(std::string_view text) {
  try {
    Json jwks = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    auto keys_it = jwks.is_object() ? jwks.find("keys") : jwks.end();
    if (!jwks.is_object() || keys_it == jwks.end() || !keys_it->is_array()) {
      return arrow::Status::Invalid("JWKS: expected an object with a \"keys\" array");
    }
    auto set = std::make_shared<JwkSet>();
    int index = 0;
    for (const Json& jwk : *keys_it) {
      ++index;
      arrow::Status status = AddJwk(jwk, &set->keys_);
      if (!status.ok()) return arrow::Status::Invalid("JWKS key ", index, ": ", status.message());
    }
    if (set->keys_.empty()) return arrow::Status::Invalid("JWKS: no RSA signature keys");
    return std::shared_ptr<const JwkSet>(std::move(set));
  } catch (const Json::exception&) {
    return arrow::Status::Invalid("JWKS: malformed");  // defensive: every access above is type-checked
  }
}

EVP_PKEY* JwkSet::Find(const std::optional<std::string>& kid) const {
  auto key = kid ? keys_.find(*kid) : keys_.size() == 1 ? keys_.begin() : keys_.end();
  return key == keys_.end() ? nullptr : key->second.get();
}

}  // namespace memberlake::server
