// RS256 verification keys: a JWKS document parsed once into OpenSSL public keys (JwkSet), and
// where a JwtVerifier gets them from (RsaKeySource): a fixed set from the config, or the set
// jwks_cache.h fetches from the issuer and fetches again when keys rotate.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <openssl/types.h>

namespace memberlake::server {

class JwkSet {
 public:
  // Invalid when the JWKS is bad: not a {"keys": [...]} object, an RSA key without n/e, n or e
  // not base64url, a modulus under 2048 bits, a key OpenSSL's public-key check refuses, or two
  // keys with one kid. Entries that are not RSA signature keys for RS256 ("kty", "use", "alg")
  // are skipped; a JWKS with none left is Invalid. Never throws.
  static arrow::Result<std::shared_ptr<const JwkSet>> Parse(std::string_view jwks_json);

  // The key a token's header names by kid; without a kid, the only key of a one-key set.
  // nullptr when there is no such key. The key is read-only and may be used by many threads.
  EVP_PKEY* Find(const std::optional<std::string>& kid) const;
  bool Contains(const std::string& kid) const { return keys_.count(kid) != 0; }
  size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, std::shared_ptr<EVP_PKEY>> keys_;  // by kid ("" for a key without one)
};

// Where the RS256 keys come from. Implementations are thread-safe.
class RsaKeySource {
 public:
  virtual ~RsaKeySource() = default;
  // The keys to check a token whose header names `kid` (nullopt: no kid). A source that fetches
  // its keys may fetch them again first when `kid` is not among them, within its own rate
  // limit; the answer may still lack the kid (the verifier then refuses the token).
  // IOError only when the source holds no keys at all and cannot get them: not the token's fault.
  virtual arrow::Result<std::shared_ptr<const JwkSet>> KeysFor(const std::optional<std::string>& kid) = 0;
};

}  // namespace memberlake::server
