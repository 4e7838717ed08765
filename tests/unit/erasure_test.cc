#include "jobs/erasure.h"

#include <unistd.h>

#include <filesystem>

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/bloom_filter.h>
#include <parquet/bloom_filter_reader.h>

#include "jobs/generate_snapshot.h"
#include "lake/s3_object_client.h"
#include "lake/snapshot_erasure.h"
#include "lake/snapshot_manifest.h"
#include "forwarding_store.h"

namespace memberlake::jobs {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKey = "unit-test-pseudonym-key-0123456789";

// A store whose Delete fails while `fail` is set: an erasure interrupted after its journal.
class FlakyStore : public testing_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  bool fail = false;
  arrow::Status Delete(const std::string& id, int64_t v) override {
    if (fail) return arrow::Status::IOError("store unreachable");
    return ForwardingStore::Delete(id, v);
  }
};

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memberlake-erasure-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto registry = *model::FieldRegistry::LoadDefault();
    store::StoreOptions options;
    options.create_if_missing = true;
    auto sqlite = store::OpenMemberStore("sqlite:" + (dir_ / "m.db").string(), registry, options);
    ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
    store_ = std::make_unique<FlakyStore>(std::move(*sqlite));
    const char* regions[] = {"Utrecht", "Utrecht", "Limburg", "Oost"};
    for (int i = 0; i < 4; ++i) {
      auto added = store_->Insert({{"voornaam", "Lid" + std::to_string(i)}, {"achternaam", "Proef"},
                                   {"email", "lid" + std::to_string(i) + "@example.nl"}, {"status", "Actief"},
                                   {"lidmaatschap", "Gewoon lid"}, {"regio", regions[i]}});
      ASSERT_TRUE(added.ok()) << added.status().ToString();
      ids_.push_back(*added->record[registry->StoredIndex("member_id")]);
    }
    auto lake = lake::LakeStorage::Open((dir_ / "lake").string(), /*create=*/true);
    ASSERT_TRUE(lake.ok());
    lake_ = *lake;
    for (int i = 0; i < 2; ++i) {
      GenerateOptions generate;
      generate.as_of = {2026, 1, 7};
      generate.spill_dir = dir_.string();
      auto summary = GenerateSnapshot(*store_, *lake_, generate);
      ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Rows of the member in every file of every snapshot, and the snapshots' rows in total.
  std::pair<int64_t, int64_t> Count(const std::string& member_id) {
    int64_t theirs = 0, total = 0;
    for (const std::string& id : *lake::ListSnapshotIds(*lake_)) {
      auto manifest = lake::ReadManifest(*lake_, id);
      EXPECT_TRUE(manifest.ok());
      auto rows = lake::ReadMemberRows(*lake_, *manifest, member_id);
      EXPECT_TRUE(rows.ok()) << rows.status().ToString();
      theirs += static_cast<int64_t>(rows->files.size());
      for (const auto& file : manifest->files) total += file.rows;
    }
    return {theirs, total};
  }

  fs::path dir_;
  std::unique_ptr<FlakyStore> store_;
  std::shared_ptr<lake::LakeStorage> lake_;
  std::vector<std::string> ids_;
};

TEST_F(ErasureTest, RemovesTheMemberFromEverySnapshotAsNewRevisions) {
  const auto [held, total] = Count(ids_[2]);
  // Each snapshot: full, the member's regional file and the views of active members.
  ASSERT_GE(held, 4);
  ErasureOptions options;
  options.pseudonym_key = kKey;
  ErasureReport recorded;
  options.record = [&](const ErasureReport& report) {
    recorded = report;
    return arrow::Status::OK();
  };
  auto report = EraseMember(*store_, *lake_, {ids_[2], "tester", "cli", "test"}, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->store_deleted);
  EXPECT_EQ(report->revised_snapshots.size(), 2u);
  EXPECT_EQ(report->files_replaced, held);
  EXPECT_EQ(report->rows_removed, held);  // one row per file that held the member
  EXPECT_EQ(recorded.member_pseudonym, MemberPseudonym(kKey, ids_[2]));
  EXPECT_EQ(recorded.member_pseudonym.find(ids_[2]), std::string::npos);
  const auto [after, total_after] = Count(ids_[2]);
  EXPECT_EQ(after, 0);
  EXPECT_EQ(total_after, total - held);
  EXPECT_TRUE(store_->Get(ids_[2]).status().IsKeyError());
  for (const std::string& id : *lake::ListSnapshotIds(*lake_)) {
    auto manifest = lake::ReadManifest(*lake_, id);
    ASSERT_TRUE(manifest.ok());
    EXPECT_EQ(manifest->revision, 1);
    EXPECT_TRUE(lake::VerifySnapshot(*lake_, *manifest).ok());
    EXPECT_EQ(manifest->members, 3);
  }
  // Other members are untouched.
  EXPECT_GT(Count(ids_[0]).first, 0);
  // The journal is gone, and nothing but the manifests' files remains.
  EXPECT_TRUE(lake_->List("privacy/erasures")->empty());
  int parquet_files = 0;
  for (const auto& entry : *lake_->ListTree("parquet")) {
    const bool table_log = entry.path.find("/_delta_log/") != std::string::npos;  // lake/delta_log.h
    parquet_files += entry.is_dir || table_log ? 0 : 1;
  }
  int listed = 0;
  for (const std::string& id : *lake::ListSnapshotIds(*lake_)) listed += lake::ReadManifest(*lake_, id)->files.size();
  EXPECT_EQ(parquet_files, listed);
}

TEST_F(ErasureTest, KeepsRowGroupsAndWriterSettings) {
  ErasureOptions options;
  options.pseudonym_key = kKey;
  ASSERT_TRUE(EraseMember(*store_, *lake_, {ids_[1], "tester", "cli", ""}, options).ok());
  auto manifest = lake::ReadCurrentManifest(*lake_);
  ASSERT_TRUE(manifest.ok());
  for (const auto& file : manifest->files) {
    if (file.kind != lake::SnapshotFileKind::kFull) continue;
    EXPECT_NE(file.path.find(".r1-"), std::string::npos) << file.path;
    auto input = *lake_->OpenForRead(file.path);
    auto reader = *parquet::arrow::OpenFile(input, arrow::default_memory_pool());
    auto metadata = reader->parquet_reader()->metadata();
    // One row group per region (Limburg, Oost, Utrecht), as generation wrote them.
    EXPECT_EQ(metadata->num_row_groups(), 3);
    EXPECT_TRUE(metadata->key_value_metadata()->Contains("snapshot_id"));
    const int id_column = metadata->schema()->ColumnIndex("member_id");
    EXPECT_TRUE(metadata->RowGroup(0)->ColumnChunk(id_column)->is_stats_set());
    EXPECT_TRUE(reader->parquet_reader()->GetBloomFilterReader().RowGroup(0)->GetColumnBloomFilter(id_column) != nullptr);
  }
}

TEST_F(ErasureTest, AnInterruptedErasureIsCompletedByResume) {
  ErasureOptions options;
  options.pseudonym_key = kKey;
  store_->fail = true;
  auto failed = EraseMember(*store_, *lake_, {ids_[0], "tester", "cli", ""}, options);
  ASSERT_FALSE(failed.ok());
  ASSERT_EQ(lake_->List("privacy/erasures")->size(), 1u);  // journaled before anything changed
  store_->fail = false;
  int recorded = 0;
  options.record = [&](const ErasureReport& report) {
    EXPECT_TRUE(report.resumed);
    ++recorded;
    return arrow::Status::OK();
  };
  auto resumed = ResumeErasures(*store_, *lake_, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_EQ(resumed->size(), 1u);
  EXPECT_EQ(recorded, 1);
  EXPECT_EQ(Count(ids_[0]).first, 0);
  EXPECT_TRUE(store_->Get(ids_[0]).status().IsKeyError());
  EXPECT_TRUE(lake_->List("privacy/erasures")->empty());
}

TEST_F(ErasureTest, ARevisionIsNotPublishedOverAChangedManifest) {
  const std::string id = *lake::ReadCurrentSnapshotId(*lake_);
  auto plan = lake::PlanSnapshotErasure(*lake_, id, ids_[3]);
  ASSERT_TRUE(plan.ok());
  ASSERT_FALSE(plan->empty());
  auto revised = lake::WriteErasedFiles(*lake_, *store_->registry(), *plan, ids_[3]);
  ASSERT_TRUE(revised.ok()) << revised.status().ToString();
  // Another erasure revised the manifest first.
  auto other = lake::PlanSnapshotErasure(*lake_, id, ids_[2]);
  ASSERT_TRUE(other.ok());
  auto other_revised = lake::WriteErasedFiles(*lake_, *store_->registry(), *other, ids_[2]);
  ASSERT_TRUE(*lake::PublishRevision(*lake_, *other, *other_revised));
  EXPECT_FALSE(*lake::PublishRevision(*lake_, *plan, *revised));
  EXPECT_EQ(lake::ReadManifest(*lake_, id)->files[0].path, other_revised->files[0].path);
}

TEST(MemberPseudonym, IsKeyedAndStable) {
  EXPECT_EQ(MemberPseudonym("key-one-0123456789", "m1"), MemberPseudonym("key-one-0123456789", "m1"));
  EXPECT_NE(MemberPseudonym("key-one-0123456789", "m1"), MemberPseudonym("key-two-0123456789", "m1"));
  EXPECT_NE(MemberPseudonym("key-one-0123456789", "m1"), MemberPseudonym("key-one-0123456789", "m2"));
  EXPECT_EQ(MemberPseudonym("k", "m1").rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(MemberPseudonym("k", "m1").size(), 12u + 32u);
}

TEST(SnapshotManifest, RevisionIsOptionalInJson) {
  lake::SnapshotManifest manifest;
  manifest.snapshot_id = "20260107-101010000-abcd";
  const std::string plain = manifest.ToJson();
  EXPECT_EQ(plain.find("revision"), std::string::npos);  // unrevised manifests unchanged
  manifest.revision = 2;
  manifest.revised_at = "2026-01-08T10:00:00.000Z";
  auto parsed = lake::SnapshotManifest::FromJson(manifest.ToJson());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->revision, 2);
  EXPECT_EQ(parsed->revised_at, "2026-01-08T10:00:00.000Z");
  EXPECT_EQ(lake::SnapshotManifest::FromJson(plain)->revision, 0);
}

}  // namespace
}  // namespace memberlake::jobs

namespace memberlake::lake {
namespace {

// The answer AWS documents for ListObjectVersions (prefix = the key): two versions and a delete
// marker of the key, a version of a longer key that shares the prefix, and a next page.
TEST(ParseListVersions, KeepsEveryVersionAndDeleteMarkerOfTheKeyAlone) {
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>club-lake</Name><Prefix>lake/parquet/members-1.parquet</Prefix>
  <KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextKeyMarker>lake/parquet/members-1.parquet</NextKeyMarker>
  <NextVersionIdMarker>3/L4kqtJl&amp;40Nr8X8gdRQBpUMLUo</NextVersionIdMarker>
  <DeleteMarker><Key>lake/parquet/members-1.parquet</Key><VersionId>dm-1</VersionId><IsLatest>true</IsLatest></DeleteMarker>
  <Version><Key>lake/parquet/members-1.parquet</Key><VersionId>v-2</VersionId><IsLatest>false</IsLatest><Size>10</Size></Version>
  <Version><Key>lake/parquet/members-1.parquet</Key><VersionId>null</VersionId><IsLatest>false</IsLatest><Size>9</Size></Version>
  <Version><Key>lake/parquet/members-1.parquet.bak</Key><VersionId>other</VersionId><Size>9</Size></Version>
</ListVersionsResult>)";
  S3VersionPage page = ParseListVersions(xml, "lake/parquet/members-1.parquet");
  ASSERT_EQ(page.versions.size(), 3u);
  EXPECT_EQ(page.versions[0].version_id, "v-2");
  EXPECT_FALSE(page.versions[0].delete_marker);
  EXPECT_EQ(page.versions[1].version_id, "null");  // an object stored before versioning was on
  EXPECT_EQ(page.versions[2].version_id, "dm-1");
  EXPECT_TRUE(page.versions[2].delete_marker);
  EXPECT_EQ(page.next_key_marker, "lake/parquet/members-1.parquet");
  EXPECT_EQ(page.next_version_marker, "3/L4kqtJl&40Nr8X8gdRQBpUMLUo");
  // The last page, or a next page that starts past the key: no further request.
  EXPECT_TRUE(ParseListVersions("<ListVersionsResult><IsTruncated>false</IsTruncated></ListVersionsResult>", "k")
                  .next_key_marker.empty());
  EXPECT_TRUE(ParseListVersions("<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>l</NextKeyMarker>"
                                "</ListVersionsResult>", "k")
                  .next_key_marker.empty());
}

}  // namespace
}  // namespace memberlake::lake
