// Bearer tokens as Amazon Cognito issues them: compact JWS, HS256 (a shared secret) or RS256
// (RSA keys from a JWKS document: fixed text, or fetched from the issuer by jwks_cache.h), roles
// in the "cognito:groups" claim.
//
// The header's alg decides the key kind and nothing else can: an HS256 token is only checked
// against the configured secret and an RS256 token only against a JWKS RSA key, so a token
// "signed" with the public key as an HMAC secret fails, and `none` or any other alg is refused.
// Keys a token brings along (jwk, jku, x5u, x5c headers) are never used: an unknown kid can at
// most make the key source fetch the configured issuer's key set again, within its rate limit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "server/jwk_set.h"
#include "server/principal.h"

namespace memberlake::server {

struct JwtOptions {
  std::string issuer;           // "iss" must equal it
  std::string audience;         // "aud" (string or array) holds it, or, without aud, Cognito's "client_id" equals it
  std::string hs256_secret;     // empty: HS256 tokens are refused; else at least 32 bytes
  std::string jwks_json;        // JWKS text (RSA keys: kid, n, e), or:
  std::shared_ptr<RsaKeySource> rsa_keys;  // where RS256 keys come from (e.g. a JwksCache); neither: RS256 refused
  int64_t leeway_seconds = 30;  // clock skew allowed on exp, nbf and iat
};

class JwtVerifier {
 public:
  // Builds every key once. Invalid when issuer or audience is missing, leeway is outside
  // 0..86400, there is no key at all, both jwks_json and rsa_keys are given, the HS256 secret is
  // shorter than 32 bytes, or the JWKS text is bad (see JwkSet::Parse).
  static arrow::Result<std::unique_ptr<JwtVerifier>> Make(const JwtOptions& options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The principal (auth_method "jwt") of a valid token at `now_unix` (explicit, for deterministic
  // tests). The signature is checked before any claim is read. Required: exp (> now - leeway),
  // iss, the audience, cognito:groups (a list of names) and a subject ("sub", else "username" or
  // "cognito:username"); nbf and iat, when present, must be <= now + leeway. A token with a
  // "crit" header is refused (we implement no extensions).
  // Any problem with the token is Status::Invalid with a short fixed reason fit for a log or a
  // 401 body: it never echoes the token or any part of it. IOError only when the RS256 key
  // source has no keys at all and cannot fetch them (the issuer is unreachable; not the token's
  // fault). An RS256 token's unknown kid may make the source fetch the keys again, within its
  // rate limit. Never throws. Thread-safe.
  arrow::Result<Principal> Verify(std::string_view token, int64_t now_unix) const;

 private:
  struct Keys;
  JwtVerifier(JwtOptions options, std::unique_ptr<const Keys> keys);

  const JwtOptions options_;
  const std::unique_ptr<const Keys> keys_;  // built once in Make(), read-only afterwards
};

// Strict base64url (RFC 4648 §5): Invalid on any other character, on leftover bits that are not
// zero, and on padding that does not complete a 4-character group (padding itself is optional).
arrow::Result<std::string> DecodeBase64Url(std::string_view text);
// Unpadded base64url, as JWS uses it.
std::string EncodeBase64Url(std::string_view bytes);

}  // namespace memberlake::server
