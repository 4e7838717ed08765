// RS256 signing and JWKs for the verifier's and the key cache's tests, made with OpenSSL
// directly so the verifier is checked against an independent signer rather than against itself.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <string>

#include <nlohmann/json.hpp>

#include "server/jwt_verifier.h"

namespace memberlake::server {

inline std::string Rs256(const std::string& input, EVP_PKEY* key) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &length, data, input.size()), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length, data, input.size()), 1);
  EVP_MD_CTX_free(ctx);
  signature.resize(length);
  return EncodeBase64Url(signature);
}

inline std::string BigNum(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

inline nlohmann::json Jwk(EVP_PKEY* key, const std::string& kid) {
  nlohmann::json jwk = {{"kty", "RSA"}, {"use", "sig"}, {"alg", "RS256"},
                        {"n", EncodeBase64Url(BigNum(key, OSSL_PKEY_PARAM_RSA_N))},
                        {"e", EncodeBase64Url(BigNum(key, OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

inline std::string Unsigned(const nlohmann::json& header, const nlohmann::json& claims) {
  return EncodeBase64Url(header.dump()) + "." + EncodeBase64Url(claims.dump());
}

}  // namespace memberlake::server
