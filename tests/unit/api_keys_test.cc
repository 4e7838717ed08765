#include "server/api_keys.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "crypto/sha256.h"

namespace memberlake::server {
namespace {

namespace fs = std::filesystem;
const std::string kHash(64, 'a');

std::string Entry(const std::string& body) { return "[[key]]\n" + body; }
std::string Good(const std::string& id = "0123abcd") {
  return Entry("name = \"n\"\nid = \"" + id + "\"\nsha256 = \"" + kHash + "\"\ngroups = [\"A\"]\n");
}

void ExpectInvalidKey(const ApiKeyStore& store, const std::string& presented) {
  auto result = store.Authenticate(presented);
  ASSERT_FALSE(result.ok()) << "accepted: " << presented;
  EXPECT_TRUE(result.status().IsInvalid());
  EXPECT_EQ(result.status().message(), "invalid API key");  // one message for every failure
}

TEST(ApiKeyStoreTest, GeneratedKeyAuthenticates) {
  auto key = ApiKeyStore::Generate();
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::string file = *ApiKeyStore::TomlEntry("nightly-export", *key, {"Members_Export", "Regio_Utrecht"});
  auto store = ApiKeyStore::LoadString(file, "keys.toml");
  ASSERT_TRUE(store.ok()) << store.status().ToString() << "\n" << file;
  auto principal = (*store)->Authenticate(key->key);
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_EQ(principal->subject, "nightly-export");
  EXPECT_EQ(principal->groups, (std::vector<std::string>{"Members_Export", "Regio_Utrecht"}));
  EXPECT_EQ(principal->auth_method, "api_key");
}

// mlk_<8 lower-case hex>_<43 base64url characters: 32 bytes>
bool WellFormed(const std::string& key, const std::string& id) {
  auto all = [](std::string_view text, std::string_view alphabet) {
    return text.find_first_not_of(alphabet) == std::string_view::npos;
  };
  std::string_view view(key);
  return key.size() == 4 + 8 + 1 + 43 && view.substr(0, 4) == "mlk_" && view.substr(4, 8) == id &&
         all(id, "0123456789abcdef") && view[12] == '_' &&
         all(view.substr(13), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
}

TEST(ApiKeyStoreTest, GenerateGivesDistinctWellFormedKeys) {
  std::set<std::string> keys, ids;
  for (int i = 0; i < 200; ++i) {
    auto key = ApiKeyStore::Generate();
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(WellFormed(key->key, key->id)) << key->key;
    EXPECT_EQ(key->sha256_hex, crypto::Sha256Hex(key->key));
    keys.insert(key->key);
    ids.insert(key->id);
  }
  EXPECT_EQ(keys.size(), 200u);
  EXPECT_GE(ids.size(), 199u);  // 32-bit ids: a repeat among 200 is possible but very unlikely
}

TEST(ApiKeyStoreTest, WrongKeysAllFailAlike) {
  auto key = *ApiKeyStore::Generate();
  auto other = *ApiKeyStore::Generate();
  auto store = *ApiKeyStore::LoadString(*ApiKeyStore::TomlEntry("script", key, {"Members_Read"}), "keys.toml");
  ASSERT_TRUE(store->Authenticate(key.key).ok());
  std::string changed_secret = key.key;
  changed_secret.back() = changed_secret.back() == 'A' ? 'B' : 'A';
  std::string changed_id = key.key;
  changed_id[4] = changed_id[4] == '0' ? '1' : '0';
  std::string upper_id = key.key;
  for (size_t i = 4; i < 12; ++i) upper_id[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper_id[i])));
  std::string same_id_other_secret = "mlk_" + key.id + other.key.substr(12);
  for (const std::string& bad :
       {changed_secret, changed_id, same_id_other_secret, other.key, std::string(), std::string("mlk_"),
        std::string("mlk_") + key.id, std::string("mlk_") + key.id + "_", key.key.substr(0, key.key.size() - 1),
        key.key + "A", key.key + "\n", " " + key.key, "Bearer " + key.key, "MLK_" + key.key.substr(4),
        "xyz_" + key.key.substr(4), std::string("mlk_") + key.id + "-" + key.key.substr(13), key.sha256_hex,
        std::string("not a key at all")}) {
    ExpectInvalidKey(*store, bad);
  }
  if (upper_id != key.key) ExpectInvalidKey(*store, upper_id);
  ExpectInvalidKey(**ApiKeyStore::LoadString("", "empty.toml"), key.key);
}

TEST(ApiKeyStoreTest, SeveralKeysEachGiveTheirOwnPrincipal) {
  auto a = *ApiKeyStore::Generate();
  auto b = *ApiKeyStore::Generate();
  std::string file = *ApiKeyStore::TomlEntry("a", a, {"Members_Read"}) + "\n" +
                     *ApiKeyStore::TomlEntry("b", b, {"Members_CRUD", "Regio_All"});
  auto store = *ApiKeyStore::LoadString(file, "keys.toml");
  EXPECT_EQ(store->Authenticate(a.key)->subject, "a");
  EXPECT_EQ(store->Authenticate(b.key)->subject, "b");
  EXPECT_EQ(store->Authenticate(b.key)->groups, (std::vector<std::string>{"Members_CRUD", "Regio_All"}));
}

TEST(ApiKeyStoreTest, TomlEntryEscapesNamesAndGroups) {
  auto key = *ApiKeyStore::Generate();
  const std::string name = "nightly \"export\" \\ job \xc3\xa9 #1 [x] = 'y'";
  const std::vector<std::string> groups = {"Members_Export", "Regio \"Utrecht\""};
  std::string entry = *ApiKeyStore::TomlEntry(name, key, groups);
  EXPECT_EQ(entry.rfind("[[key]]\n", 0), 0u);
  EXPECT_EQ(entry.back(), '\n');
  auto store = ApiKeyStore::LoadString(entry, "keys.toml");
  ASSERT_TRUE(store.ok()) << store.status().ToString() << "\n" << entry;
  auto principal = (*store)->Authenticate(key.key);
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->subject, name);
  EXPECT_EQ(principal->groups, groups);
}

TEST(ApiKeyStoreTest, TomlEntryRefusesWhatTheFileCouldNotHoldAsGiven) {
  auto key = *ApiKeyStore::Generate();
  for (const std::string& name : {std::string("Jos\xe9"), std::string(""), std::string("a\nb"), std::string("tab\there"),
                                  std::string("nul\0x", 5), std::string("\xc3"), std::string("del\x7f")}) {
    auto entry = ApiKeyStore::TomlEntry(name, key, {"Members_Read"});
    ASSERT_FALSE(entry.ok()) << name;
    EXPECT_NE(entry.status().message().find("name"), std::string::npos) << entry.status().ToString();
  }
  auto bad_group = ApiKeyStore::TomlEntry("script", key, {"Members_Read", "Regio_\xff"});
  ASSERT_FALSE(bad_group.ok());
  EXPECT_NE(bad_group.status().message().find("group"), std::string::npos);
  EXPECT_FALSE(ApiKeyStore::TomlEntry("script", key, {}).ok());
}

TEST(ApiKeyStoreTest, UpperCaseHashIsAccepted) {
  auto key = *ApiKeyStore::Generate();
  std::string upper = key.sha256_hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string file = Entry("name = \"n\"\nid = \"" + key.id + "\"\nsha256 = \"" + upper + "\"\ngroups = [\"A\"]\n");
  EXPECT_TRUE((*ApiKeyStore::LoadString(file, "keys.toml"))->Authenticate(key.key).ok());
}

TEST(ApiKeyStoreTest, BadFilesNameTheProblem) {
  auto check = [](const std::string& toml, const std::vector<std::string>& problems) {
    auto store = ApiKeyStore::LoadString(toml, "keys.toml");
    ASSERT_FALSE(store.ok()) << toml;
    EXPECT_TRUE(store.status().IsInvalid());
    for (const std::string& problem : problems) {
      EXPECT_NE(store.status().message().find(problem), std::string::npos)
          << "expected '" << problem << "' in '" << store.status().message() << "'";
    }
  };
  const std::string id = "id = \"0123abcd\"\n";
  const std::string hash = "sha256 = \"" + kHash + "\"\n";
  const std::string groups = "groups = [\"A\"]\n";
  const std::string name = "name = \"n\"\n";
  check(Entry(id + hash + groups), {"keys.toml", "key 1", "missing name"});
  check(Entry(name + hash + groups), {"key 1 (", "missing id"});
  check(Entry(name + id + groups), {"key 1 (", "missing sha256"});
  check(Entry(name + id + hash), {"key 1 (", "missing groups"});
  check(Good() + Entry("name = \"second\"\nid = \"1111aaaa\"\n" + hash + groups + "group = [\"B\"]\n"),
        {"key 2 (", "second", "unknown field group"});
  check(Entry("name = 5\n" + id + hash + groups), {"key 1", "name must be a string"});
  check(Entry("name = \"\"\n" + id + hash + groups), {"empty name"});
  check(Entry(name + "id = 12345678\n" + hash + groups), {"id must be a string"});
  check(Entry(name + "id = \"xyz\"\n" + hash + groups), {"id must be 8 lower-case hex"});
  check(Entry(name + "id = \"0123ABCD\"\n" + hash + groups), {"id must be 8 lower-case hex"});
  check(Entry(name + "id = \"0123abcde\"\n" + hash + groups), {"id must be 8 lower-case hex"});
  check(Entry(name + id + "sha256 = \"abc\"\n" + groups), {"sha256 must be 64 hex"});
  check(Entry(name + id + "sha256 = \"" + std::string(64, 'g') + "\"\n" + groups), {"sha256 must be 64 hex"});
  check(Entry(name + id + "sha256 = \"" + std::string(65, 'a') + "\"\n" + groups), {"sha256 must be 64 hex"});
  check(Entry(name + id + hash + "groups = \"A\"\n"), {"groups must be a list"});
  check(Entry(name + id + hash + "groups = []\n"), {"empty groups"});
  check(Entry(name + id + hash + "groups = [\"A\", 2]\n"), {"groups must be a list"});
  check(Entry(name + id + hash + "groups = [\"A\", \"\"]\n"), {"groups must be a list"});
  check(Good() + Good(), {"key 2", "duplicate id 0123abcd"});
  check(Good() + Good("1111aaaa") + Good(), {"key 3", "duplicate id"});
  check("[[keys]]\n" + name + id + hash + groups, {"unexpected 'keys'"});  // a typo must not mean "no keys"
  check("[key]\n" + name + id + hash + groups, {"unexpected 'key'"});
  check("key = 1\n", {"unexpected 'key'"});
  check("[[key]\nname = \"n\"\n", {"keys.toml", "line 1"});
  check(Good() + "name = \"dangling\n", {"keys.toml", "line 6"});
}

TEST(ApiKeyStoreTest, EmptyFilesAreEmptyStores) {
  for (const char* text : {"", "# no keys yet\n", "\n\n"}) {
    auto store = ApiKeyStore::LoadString(text, "keys.toml");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
}

TEST(ApiKeyStoreTest, LoadFileReadsTheFile) {
  fs::path dir = fs::temp_directory_path() / ("memberlake-apikeys-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "keys.toml").string();
  auto key = *ApiKeyStore::Generate();
  std::ofstream(path) << "# managed by memberlake apikey create\n\n" << *ApiKeyStore::TomlEntry("job", key, {"Members_Read"});
  auto store = ApiKeyStore::LoadFile(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Authenticate(key.key)->subject, "job");
  std::ofstream(path) << Good() << Good();
  auto bad = ApiKeyStore::LoadFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().message();
  auto missing = ApiKeyStore::LoadFile((dir / "absent.toml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsIOError()) << missing.status().ToString();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace memberlake::server
