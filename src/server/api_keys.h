// Local API keys for scripts: `mlk_<id>_<secret>`, handed out once (`memberlake apikey create`);
// the key file keeps only the SHA-256 of each key (a 256-bit random secret needs no slow
// hash), its name (the audit actor) and its groups (roles, as in a token).
//
//   [[key]]
//   name = "nightly-export"
//   id = "3f9a0c12"
//   sha256 = "<hex>"
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
  std::string key;         // what the user gets, once
  std::string id;          // 8 hex characters, also inside the key
  std::string sha256_hex;  // what the file keeps
};

class ApiKeyStore {
 public:
  // Invalid naming the entry and field of a bad file (missing or empty name/id/sha256/groups,
  // duplicate id, a hash that is not 64 hex characters).
  static arrow::Result<std::unique_ptr<ApiKeyStore>> LoadString(std::string_view toml, const std::string& source_name);
  static arrow::Result<std::unique_ptr<ApiKeyStore>> LoadFile(const std::string& path);
  // A fresh random key (OpenSSL RAND_bytes).
  static arrow::Result<NewApiKey> Generate();
  // The [[key]] block for the file.
  static std::string TomlEntry(const std::string& name, const NewApiKey& key, const std::vector<std::string>& groups);

  // The principal of a presented key (auth_method "api_key", subject = name). Any unknown,
  // wrong or malformed key: Invalid("invalid API key"), the same for all. Thread-safe.
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
