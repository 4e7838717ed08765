#include "server/api_keys.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <mutex>
#include <sstream>

#include <arrow/util/utf8.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <toml++/toml.h>

#include "crypto/sha256.h"
#include "model/text.h"
#include "server/jwt_verifier.h"

namespace memberlake::server {
namespace {

constexpr std::string_view kPrefix = "mlk_";
constexpr size_t kIdChars = 8;
constexpr std::array<std::string_view, 4> kFields = {"name", "id", "sha256", "groups"};

bool IsLowerHex(std::string_view text, size_t length) {
  return text.size() == length &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A TOML basic string with toml++'s escaping, so any name round-trips through the file.
std::string TomlString(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

arrow::Result<std::string> TextField(const toml::table& table, std::string_view field) {
  const toml::node* node = table.get(field);
  if (node == nullptr) return arrow::Status::Invalid("missing ", field);
  const toml::value<std::string>* text = node->as_string();
  if (text == nullptr) return arrow::Status::Invalid(field, " must be a string");
  if (text->get().empty()) return arrow::Status::Invalid("empty ", field);
  return text->get();
}

arrow::Result<std::vector<std::string>> Groups(const toml::table& table) {
  const toml::node* node = table.get("groups");
  if (node == nullptr) return arrow::Status::Invalid("missing groups");
  const toml::array* groups = node->as_array();
  if (groups == nullptr) return arrow::Status::Invalid("groups must be a list of names");
  // A key without roles could do nothing; an empty list is a mistake in the file.
  if (groups->empty()) return arrow::Status::Invalid("empty groups");
  std::vector<std::string> out;
  for (const toml::node& group : *groups) {
    const toml::value<std::string>* name = group.as_string();
    if (name == nullptr || name->get().empty()) return arrow::Status::Invalid("groups must be a list of names");
    out.push_back(name->get());
  }
  return out;
}

struct ParsedKey {
  std::string name;
  std::string id;
  std::string sha256_hex;
  std::vector<std::string> groups;
};

// One [[key]] table. Unknown fields are refused so that a typo ("group") cannot silently
// change what a key may do.
arrow::Result<ParsedKey> ReadEntry(const toml::table& table) {
  for (const auto& [field, value] : table) {
    if (std::find(kFields.begin(), kFields.end(), field.str()) == kFields.end()) {
      return arrow::Status::Invalid("unknown field ", field.str());
    }
  }
  ParsedKey key;
  ARROW_ASSIGN_OR_RAISE(key.name, TextField(table, "name"));
  ARROW_ASSIGN_OR_RAISE(key.id, TextField(table, "id"));
  ARROW_ASSIGN_OR_RAISE(key.sha256_hex, TextField(table, "sha256"));
  ARROW_ASSIGN_OR_RAISE(key.groups, Groups(table));
  if (!IsLowerHex(key.id, kIdChars)) return arrow::Status::Invalid("id must be 8 lower-case hex characters");
  // sha256sum and hashlib print lower case, but a hand-copied upper-case hash means the same.
  key.sha256_hex = model::AsciiLower(std::move(key.sha256_hex));
  if (!IsLowerHex(key.sha256_hex, 64)) return arrow::Status::Invalid("sha256 must be 64 hex characters");
  return key;
}

}  // namespace

arrow::Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::LoadString(std::string_view text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("API key file ", source, ": ", error.description(), " at line ",
                                  error.source().begin.line);
  }
  for (const auto& [name, value] : doc) {
    if (name.str() != "key" || !value.is_array_of_tables()) {
      return arrow::Status::Invalid("API key file ", source, ": unexpected '", name.str(), "' (entries are [[key]] tables)");
    }
  }
  auto store = std::unique_ptr<ApiKeyStore>(new ApiKeyStore());
  const toml::array* keys = doc["key"].as_array();
  for (size_t i = 0; keys != nullptr && i < keys->size(); ++i) {
    const toml::table& table = *keys->get(i)->as_table();
    auto key = ReadEntry(table);
    arrow::Status status = key.status();
    if (status.ok() && store->by_id_.count(key->id)) status = arrow::Status::Invalid("duplicate id ", key->id);
    if (!status.ok()) {
      const toml::value<std::string>* name = table["name"].as_string();
      return arrow::Status::Invalid("API key file ", source, ": key ", i + 1,
                                    name ? " (" + TomlString(name->get()) + ")" : std::string(), ": ", status.message());
    }
    store->by_id_[key->id] = Entry{std::move(key->name), std::move(key->sha256_hex), std::move(key->groups)};
  }
  return store;
}

arrow::Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::LoadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return arrow::Status::IOError("cannot read API key file ", path);
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return arrow::Status::IOError("cannot read API key file ", path);
  return LoadString(text.str(), path);
}

arrow::Result<NewApiKey> ApiKeyStore::Generate() {
  unsigned char id[kIdChars / 2];
  unsigned char secret[32];
  if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1) {
    return arrow::Status::IOError("no random bytes for a new API key");
  }
  NewApiKey key;
  key.id = crypto::HexLower(std::string_view(reinterpret_cast<const char*>(id), sizeof id));
  key.key = std::string(kPrefix) + key.id + "_" +
            EncodeBase64Url(std::string_view(reinterpret_cast<const char*>(secret), sizeof secret));
  OPENSSL_cleanse(secret, sizeof secret);
  key.sha256_hex = crypto::Sha256Hex(key.key);
  return key;
}

namespace {

// A name or group is written as given or not at all: TOML cannot hold invalid UTF-8 (it would
// be changed on the way), and control characters have no place in an audit actor.
arrow::Status CheckLabel(std::string_view field, std::string_view text) {
  if (text.empty()) return arrow::Status::Invalid(field, " must not be empty");
  static std::once_flag utf8_tables;
  std::call_once(utf8_tables, arrow::util::InitializeUTF8);
  if (!arrow::util::ValidateUTF8(text)) return arrow::Status::Invalid(field, " is not valid UTF-8");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return arrow::Status::Invalid(field, " contains a control character");
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::string> ApiKeyStore::TomlEntry(const std::string& name, const NewApiKey& key,
                                                  const std::vector<std::string>& groups) {
  ARROW_RETURN_NOT_OK(CheckLabel("name", name));
  if (groups.empty()) return arrow::Status::Invalid("a key needs at least one group");
  for (const std::string& group : groups) ARROW_RETURN_NOT_OK(CheckLabel("group", group));
  std::string out = "[[key]]\nname = " + TomlString(name) + "\nid = \"" + key.id + "\"\nsha256 = \"" + key.sha256_hex +
                    "\"\ngroups = [";
  for (size_t i = 0; i < groups.size(); ++i) out += (i ? ", " : "") + TomlString(groups[i]);
  return out + "]\n";
}

arrow::Result<Principal> ApiKeyStore::Authenticate(std::string_view presented) const {
  const auto invalid = arrow::Status::Invalid("invalid API key");
  const size_t separator = kPrefix.size() + kIdChars;
  if (presented.size() <= separator + 1 || presented.substr(0, kPrefix.size()) != kPrefix ||
      presented[separator] != '_') {
    return invalid;
  }
  auto it = by_id_.find(std::string(presented.substr(kPrefix.size(), kIdChars)));
  if (it == by_id_.end()) return invalid;
  const std::string hash = crypto::Sha256Hex(presented);
  // Both are 64 characters (checked on load); constant time so timing reveals nothing of the hash.
  if (hash.size() != it->second.sha256_hex.size() ||
      CRYPTO_memcmp(hash.data(), it->second.sha256_hex.data(), hash.size()) != 0) {
    return invalid;
  }
  Principal principal;
  principal.subject = it->second.name;
  principal.groups = it->second.groups;
  principal.auth_method = "api_key";
  return principal;
}

}  // namespace memberlake::server
