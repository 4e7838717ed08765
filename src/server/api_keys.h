// Local API keys for scripts: `mlk_<id>_<secret>`, handed out once (`memberlake apikey create`);
// the key file keeps only the SHA-256 of each key (a 256-bit random secret needs no slow
// hash), its name (the audit actor) and its groups (roles, as in a token).
//
//   [[key]]
//   name = "nightly-export"
//   id = "3f9a0c12"
//   sha256 = "<hex sha256 of the whole key string>"
//   groups = ["Members_Export", "Regio_Utrecht"]
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "server/principal.h"

namespace memberlake::server {

struct NewApiKey {
  std::string key;         // what the user gets, once: mlk_<id>_<43 base64url characters>
  std::string id;          // 8 lower-case hex characters, also inside the key
  std::string sha256_hex;  // what the file keeps: lower-case hex SHA-256 of `key`
};

// Immutable once loaded: Authenticate is thread-safe.
class ApiKeyStore {
 public:
  // Parses a key file; `source_name` only labels errors. A file without entries is a valid,
  // empty store. Invalid, naming the file, the entry (position and name) and the field, on a
  // TOML syntax error, a top-level table other than [[key]], a missing, empty or mistyped
  // name/id/sha256/groups, an unknown field, an id that is not 8 lower-case hex characters, a
  // sha256 that is not 64 hex characters, or a duplicate id.
  static arrow::Result<std::unique_ptr<ApiKeyStore>> LoadString(std::string_view toml, const std::string& source_name);
  // As LoadString on the file's text; IOError when it cannot be read.
  static arrow::Result<std::unique_ptr<ApiKeyStore>> LoadFile(const std::string& path);
  // A fresh key from OpenSSL's RAND_bytes (4 bytes of id, 32 of secret) and its hash; IOError
  // when the generator fails. The id may, rarely, repeat one already in a file: LoadFile of the
  // grown file then fails with "duplicate id", and a new key must be generated.
  static arrow::Result<NewApiKey> Generate();
  // The [[key]] block for the file (name and groups TOML-escaped), ending in a newline.
  // Invalid, naming the field, for an empty name or group list, or a name or group that is not
  // valid UTF-8 or holds a control character (TOML would change it; nothing is written).
  static arrow::Result<std::string> TomlEntry(const std::string& name, const NewApiKey& key,
                                              const std::vector<std::string>& groups);

  // The principal of a presented key (auth_method "api_key", subject = name). Any unknown,
  // wrong or malformed key: Invalid("invalid API key"), the same for all, so a caller cannot
  // tell which ids exist. The hash is compared in constant time.
  arrow::Result<Principal> Authenticate(std::string_view presented) const;

 private:
  struct Entry {
    std::string name;
    std::string sha256_hex;
    std::vector<std::string> groups;
  };
  std::map<std::string, Entry> by_id_;
};

}  // namespace memberlake::server
