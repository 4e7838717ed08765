#include "lake/snapshot_manifest.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/sha256.h"
#include "temp_dir.h"

namespace memberlake::lake {
namespace {

// The files these tests publish are stand-ins, not Parquet: no Delta tables over them.
const PublishOptions kNotParquet{/*open_table_format=*/false};

namespace fs = std::filesystem;

TEST(RegionSlug, FollowsTheSeedLayout) {
  EXPECT_EQ(RegionSlug("Noord-Holland"), "noord-holland");
  EXPECT_EQ(RegionSlug("Groningen/Drenthe"), "groningen-drenthe");
  EXPECT_EQ(RegionSlug("Brabant/Zeeland"), "brabant-zeeland");
  EXPECT_EQ(RegionSlug("Oost"), "oost");
  EXPECT_EQ(RegionSlug(" Zuid  Holland "), "zuid-holland");
}

TEST(SnapshotId, IsTimeOrderedAndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(NewSnapshotId());
  EXPECT_GT(ids.size(), 95u);
  EXPECT_TRUE(std::regex_match(*ids.begin(), std::regex(R"(\d{8}-\d{9}-[0-9a-f]{4})")));
  std::string previous = NewSnapshotId();
  for (int i = 0; i < 5; ++i) {
    std::string next = NewSnapshotIdAfter(previous);
    EXPECT_GT(next, previous);
    previous = next;
  }
  EXPECT_EQ(SnapshotManifest::FullDatasetPath("20260107-101500-abcdef"),
            "parquet/full-dataset/year=2026/month=01/members-20260107-101500-abcdef.parquet");
  EXPECT_EQ(SnapshotManifest::RegionalPath("Groningen/Drenthe", "20260107-101500-abcdef"),
            "parquet/regional/groningen-drenthe/members-20260107-101500-abcdef.parquet");
}

SnapshotManifest Example(const std::string& id) {
  SnapshotManifest m;
  m.snapshot_id = id;
  m.data_version = 42;
  m.schema_version = 1;
  m.generated_at = "2026-01-07T10:15:00.000Z";
  m.as_of = "2026-01-07";
  m.members = 3;
  m.quarantined = 1;
  m.quarantine_path = SnapshotManifest::QuarantinePath(id);
  return m;
}

TEST(SnapshotManifest, JsonRoundTrip) {
  SnapshotManifest m = Example("20260107-101500-abcdef");
  m.files.push_back({"parquet/regional/oost/x.parquet", SnapshotFileKind::kRegional, "Oost", "", 3, 99, "ab"});
  m.files.push_back({"parquet/filtered-views/v/x.parquet", SnapshotFileKind::kView, "", "v", 2, 50, "cd"});
  auto back = SnapshotManifest::FromJson(m.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), m.ToJson());
  EXPECT_EQ(back->files[0].kind, SnapshotFileKind::kRegional);
  EXPECT_EQ(back->files[1].view, "v");
  EXPECT_FALSE(SnapshotManifest::FromJson("{\"format\": \"other\"}").ok());
  EXPECT_FALSE(SnapshotManifest::FromJson("not json").ok());
}

TEST(SnapshotManifest, PublishSwapsCurrentAndVerifyChecksFiles) {
  fs::path dir = FreshDir("publish");
  auto storage = LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_TRUE(ReadCurrentManifest(**storage).status().IsKeyError());

  // a data file written through the storage, listed with its real checksum
  const std::string payload = "parquet bytes stand-in";
  auto out = (*storage)->OpenForWrite("parquet/full-dataset/f.parquet");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Write(payload.data(), static_cast<int64_t>(payload.size())).ok());
  ASSERT_TRUE((*out)->Close().ok());
  crypto::Sha256 hash;
  hash.Update(payload.data(), static_cast<int64_t>(payload.size()));
  SnapshotManifest first = Example("20260107-101500-000001");
  first.files.push_back({"parquet/full-dataset/f.parquet", SnapshotFileKind::kFull, "", "", 1,
                         static_cast<int64_t>(payload.size()), hash.HexDigest()});
  ASSERT_TRUE(PublishManifest(**storage, first, kNotParquet).ok());
  auto current = ReadCurrentManifest(**storage);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->snapshot_id, first.snapshot_id);
  EXPECT_TRUE(VerifySnapshot(**storage, *current).ok());
  std::ofstream(dir / "parquet/full-dataset/f.parquet") << "parquet bytes stand-iN";
  auto verified = VerifySnapshot(**storage, *current);
  EXPECT_FALSE(verified.ok());
  EXPECT_NE(verified.message().find("f.parquet"), std::string::npos);

  SnapshotManifest second = Example("20260107-101600-000002");
  second.previous_snapshot_id = first.snapshot_id;
  ASSERT_TRUE(PublishManifest(**storage, second, kNotParquet).ok());
  EXPECT_EQ(ReadCurrentManifest(**storage)->snapshot_id, second.snapshot_id);
  EXPECT_TRUE(VerifySnapshot(**storage, second).ok());
  auto ids = ListSnapshotIds(**storage);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{first.snapshot_id, second.snapshot_id}));
  // no temporary files are left behind by the atomic swaps
  for (const auto& entry : fs::directory_iterator(dir / "manifests")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(LakeStorage, ReplaceIfSwapsOnlyWhatItExpects) {
  fs::path dir = FreshDir("replace-if");
  auto storage = *LakeStorage::Open(dir.string(), /*create=*/true);
  EXPECT_TRUE(*storage->ReplaceIf("manifests/CURRENT", std::nullopt, "a\n"));   // absent, as expected
  EXPECT_FALSE(*storage->ReplaceIf("manifests/CURRENT", std::nullopt, "b\n"));  // no longer absent
  EXPECT_FALSE(*storage->ReplaceIf("manifests/CURRENT", std::string("x\n"), "b\n"));
  EXPECT_EQ(*storage->ReadAll("manifests/CURRENT"), "a\n");
  EXPECT_TRUE(*storage->ReplaceIf("manifests/CURRENT", std::string("a\n"), "b\n"));
  EXPECT_EQ(*storage->ReadAll("manifests/CURRENT"), "b\n");
  fs::remove_all(dir);
}

// Publishes `id` with `data_version` on top of whatever the caller believes is current.
arrow::Status PublishExample(LakeStorage& storage, const std::string& id, int64_t data_version,
                             const std::string& previous = "") {
  SnapshotManifest m = Example(id);
  m.data_version = data_version;
  m.previous_snapshot_id = previous;
  return PublishManifest(storage, m, kNotParquet);
}

TEST(SnapshotManifest, PublishNeverMovesCurrentBackwards) {
  fs::path dir = FreshDir("publish-cas");
  auto storage = *LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(PublishExample(*storage, "20260107-101500000-0002", 5).ok());
  // Started before the current one (older id), finishing after it: superseded.
  auto older = PublishExample(*storage, "20260107-101400000-0001", 6);
  EXPECT_TRUE(older.IsCancelled()) << older.ToString();
  EXPECT_NE(older.message().find("20260107-101500000-0002"), std::string::npos);
  // A newer id with older data: superseded too.
  EXPECT_TRUE(PublishExample(*storage, "20260107-101600000-0003", 4).IsCancelled());
  EXPECT_EQ(ReadCurrentManifest(*storage)->snapshot_id, "20260107-101500000-0002");
  // Newer in id and not older in data: on top of the one that won, linked to it.
  ASSERT_TRUE(PublishExample(*storage, "20260107-101700000-0004", 5).ok());
  auto current = ReadCurrentManifest(*storage);
  EXPECT_EQ(current->snapshot_id, "20260107-101700000-0004");
  EXPECT_EQ(current->previous_snapshot_id, "20260107-101500000-0002");
  fs::remove_all(dir);
}

TEST(SnapshotManifest, RacingPublishersLeaveTheNewestCurrent) {
  fs::path dir = FreshDir("publish-race");
  auto storage = *LakeStorage::Open(dir.string(), /*create=*/true);
  constexpr int kWriters = 8;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      // Ids and data versions rise together; every writer believes the lake is empty.
      char id[32];
      std::snprintf(id, sizeof id, "20260107-1015%02d000-%04d", i, i);
      arrow::Status status = PublishExample(*storage, id, 10 + i);
      EXPECT_TRUE(status.ok() || status.IsCancelled()) << status.ToString();
    });
  }
  for (auto& writer : writers) writer.join();
  auto current = ReadCurrentManifest(*storage);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->data_version, 10 + kWriters - 1);
  // Following previous_snapshot_id from CURRENT visits only rising data versions.
  int64_t version = current->data_version;
  for (std::string id = current->previous_snapshot_id; !id.empty();) {
    auto manifest = ReadManifest(*storage, id);
    ASSERT_TRUE(manifest.ok());
    EXPECT_LT(manifest->data_version, version);
    version = manifest->data_version;
    id = manifest->previous_snapshot_id;
  }
  fs::remove_all(dir);
}

TEST(LakeStorage, RejectsUnknownSchemesAndUnwritableFolders) {
  auto s3 = LakeStorage::Open("gs://bucket/x", true);
  ASSERT_FALSE(s3.ok());
  EXPECT_NE(s3.status().message().find("gs://bucket/x"), std::string::npos);
  fs::path dir = FreshDir("blocked");
  std::ofstream(dir / "file") << "x";
  auto blocked = LakeStorage::Open((dir / "file" / "lake").string(), true);
  ASSERT_FALSE(blocked.ok());
  EXPECT_TRUE(blocked.status().IsIOError());
  auto missing = LakeStorage::Open((dir / "absent").string(), false);
  EXPECT_FALSE(missing.ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace memberlake::lake

namespace memberlake::lake {
namespace {

TEST(SnapshotIdTime, ReadsTheUtcGenerationTime) {
  auto t = SnapshotIdTime("20260107-101500123-abcd");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1767780900);  // 2026-01-07T10:15:00Z
  EXPECT_FALSE(SnapshotIdTime("20261307-101500123-abcd").has_value());  // month 13
  EXPECT_FALSE(SnapshotIdTime("2026-01-07").has_value());
  EXPECT_FALSE(SnapshotIdTime("").has_value());
  auto fresh = SnapshotIdTime(NewSnapshotId());
  ASSERT_TRUE(fresh.has_value());
  EXPECT_LT(std::chrono::abs(std::chrono::system_clock::now() - *fresh), std::chrono::seconds(5));
}

}  // namespace
}  // namespace memberlake::lake
