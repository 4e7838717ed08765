// Bearer tokens as Amazon Cognito issues them: compact JWS, HS256 (a shared secret) or RS256
// (RSA keys from a JWKS document), roles in the "cognito:groups" claim.
//
// The header's alg decides the key kind and nothing else can: an HS256 token is only checked
// against the configured secret and an RS256 token only against a JWKS RSA key, so a token
// "signed" with the public key as an HMAC secret fails, and `none` or any other alg is refused.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "server/principal.h"

namespace memberlake::server {

struct JwtOptions {
  std::string issuer;           // "iss" must equal it
  std::string audience;         // "aud" (string or array) holds it, or Cognito's "client_id" equals it
  std::string hs256_secret;     // empty: HS256 tokens are refused
  std::string jwks_json;        // JWKS text (RSA keys: kid, n, e); empty: RS256 tokens are refused
  int64_t leeway_seconds = 30;  // clock skew allowed on exp and nbf
};

class JwtVerifier {
 public:
  // Invalid when issuer or audience is missing, there is no key at all, or the JWKS is bad.
  static arrow::Result<std::unique_ptr<JwtVerifier>> Make(const JwtOptions& options);
  ~JwtVerifier();

  // The principal of a valid token at `now_unix` (explicit, for deterministic tests). Any
  // problem is Status::Invalid with a short reason fit for a log (the token is not echoed).
  // Thread-safe.
  arrow::Result<Principal> Verify(std::string_view token, int64_t now_unix) const;

  struct Keys;

 private:
  explicit JwtVerifier(JwtOptions options, std::unique_ptr<Keys> keys);
  JwtOptions options_;
  std::unique_ptr<Keys> keys_;
};

// Strict base64url (RFC 4648 §5, padding optional). Invalid on any other character.
arrow::Result<std::string> DecodeBase64Url(std::string_view text);
std::string EncodeBase64Url(std::string_view bytes);

}  // namespace memberlake::server
