#include "server/api_keys.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <toml++/toml.h>

#include "lake/sha256.h"
#include "server/jwt_verifier.h"

namespace memberlake::server {
namespace {

constexpr std::string_view kPrefix = "mlk_";

bool IsHex(std::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string Hex(const unsigned char* bytes, size_t size) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

std::string TomlString(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

}  // namespace

arrow::Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::LoadString(std::string_view text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("API key file ", source, ": ", error.description());
  }
  auto store = std::unique_ptr<ApiKeyStore>(new ApiKeyStore());
  if (doc.contains("key") && !doc["key"].is_array_of_tables()) {
    return arrow::Status::Invalid("API key file ", source, ": key must be [[key]] tables");
  }
  int index = 0;
  if (const toml::array* keys = doc["key"].as_array()) {
    for (const auto& node : *keys) {
      ++index;
      const toml::table& table = *node.as_table();
      auto fail = [&](const std::string& problem) {
        return arrow::Status::Invalid("API key file ", source, ": key ", index, ": ", problem);
      };
      Entry entry;
      entry.name = table["name"].value_or(std::string());
      std::string id = table["id"].value_or(std::string());
      entry.sha256_hex = table["sha256"].value_or(std::string());
      if (entry.name.empty()) return fail("missing name");
      if (!IsHex(id, 8)) return fail("id must be 8 lower-case hex characters");
      if (!IsHex(entry.sha256_hex, 64)) return fail("sha256 must be 64 lower-case hex characters");
      const toml::array* groups = table["groups"].as_array();
      if (groups == nullptr || groups->empty()) return fail("missing groups");
      for (const auto& group : *groups) {
        auto name = group.value<std::string>();
        if (!name || name->empty()) return fail("groups must be names");
        entry.groups.push_back(*name);
      }
      if (store->by_id_.count(id)) return fail("duplicate id " + id);
      store->by_id_[id] = std::move(entry);
    }
  }
  return store;
}

arrow::Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::LoadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return arrow::Status::IOError("cannot read API key file ", path);
  std::stringstream text;
  text << file.rdbuf();
  return LoadString(text.str(), path);
}

arrow::Result<NewApiKey> ApiKeyStore::Generate() {
  unsigned char id[4];
  unsigned char secret[32];
  if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1) {
    return arrow::Status::IOError("no random bytes for a new API key");
  }
  NewApiKey key;
  key.id = Hex(id, sizeof id);
  key.key = std::string(kPrefix) + key.id + "_" +
            EncodeBase64Url(std::string_view(reinterpret_cast<const char*>(secret), sizeof secret));
  key.sha256_hex = lake::Sha256Hex(key.key);
  return key;
}

std::string ApiKeyStore::TomlEntry(const std::string& name, const NewApiKey& key, const std::vector<std::string>& groups) {
  std::string out = "[[key]]\nname = " + TomlString(name) + "\nid = \"" + key.id + "\"\nsha256 = \"" + key.sha256_hex +
                    "\"\ngroups = [";
  for (size_t i = 0; i < groups.size(); ++i) out += (i ? ", " : "") + TomlString(groups[i]);
  return out + "]\n";
}

arrow::Result<Principal> ApiKeyStore::Authenticate(std::string_view presented) const {
  const auto invalid = arrow::Status::Invalid("invalid API key");
  if (presented.size() < kPrefix.size() + 10 || presented.substr(0, kPrefix.size()) != kPrefix ||
      presented[kPrefix.size() + 8] != '_') {
    return invalid;
  }
  auto it = by_id_.find(std::string(presented.substr(kPrefix.size(), 8)));
  if (it == by_id_.end()) return invalid;
  std::string hash = lake::Sha256Hex(presented);
  if (CRYPTO_memcmp(hash.data(), it->second.sha256_hex.data(), hash.size()) != 0) return invalid;
  Principal principal;
  principal.subject = it->second.name;
  principal.groups = it->second.groups;
  principal.auth_method = "api_key";
  return principal;
}

}  // namespace memberlake::server
