#include "lake/snapshot_lifecycle.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "lake/snapshot_manifest.h"
#include "model/calendar.h"

namespace memberlake::lake {
namespace {

// The files these tests publish are stand-ins, not Parquet: no Delta tables over them.
const PublishOptions kNotParquet{/*open_table_format=*/false};

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

class SnapshotLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memberlake-lifecycle-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    lake_ = *LakeStorage::Open(dir_.string(), /*create=*/true);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A snapshot with a full-dataset file in `month_dir`, a regional file and a quarantine
  // report; `publish` also makes it current, else only its manifest is written.
  SnapshotManifest Make(const std::string& id, bool publish = true,
                        const std::string& month_dir = "parquet/full-dataset/year=2026/month=01") {
    SnapshotManifest manifest;
    manifest.snapshot_id = id;
    for (const std::string& path :
         {month_dir + "/members-" + id + ".parquet", SnapshotManifest::RegionalPath("Utrecht", id)}) {
      Write(path, "rows of " + id);
      SnapshotFile file;
      file.path = path;
      file.bytes = static_cast<int64_t>(("rows of " + id).size());
      manifest.files.push_back(file);
    }
    manifest.quarantine_path = SnapshotManifest::QuarantinePath(id);
    Write(manifest.quarantine_path, "{}");
    if (publish) {
      EXPECT_TRUE(PublishManifest(*lake_, manifest, kNotParquet).ok());
    } else {
      EXPECT_TRUE(lake_->PutAtomic(SnapshotManifest::ManifestPath(id), manifest.ToJson()).ok());
    }
    return manifest;
  }
  void Write(const std::string& path, const std::string& text) {
    auto out = *lake_->OpenForWrite(path);
    ASSERT_TRUE(out->Write(text.data(), static_cast<int64_t>(text.size())).ok());
    ASSERT_TRUE(out->Close().ok());
  }
  bool Exists(const std::string& path) const { return fs::exists(dir_ / path); }
  bool AllFilesExist(const SnapshotManifest& m) const {
    bool all = Exists(SnapshotManifest::ManifestPath(m.snapshot_id)) && Exists(m.quarantine_path);
    for (const auto& file : m.files) all &= Exists(file.path);
    return all;
  }
  bool NoFileExists(const SnapshotManifest& m) const {
    bool none = !Exists(SnapshotManifest::ManifestPath(m.snapshot_id)) && !Exists(m.quarantine_path);
    for (const auto& file : m.files) none &= !Exists(file.path);
    return none;
  }

  fs::path dir_;
  std::shared_ptr<LakeStorage> lake_;
};

const Clock::time_point kLater = Clock::now() + std::chrono::hours(2);  // every file is past the grace

TEST_F(SnapshotLifecycleTest, KeepsTheNewestAndRemovesTheRestManifestsFirst) {
  std::vector<SnapshotManifest> snapshots;
  for (int day = 1; day <= 5; ++day) snapshots.push_back(Make("2026010" + std::to_string(day) + "-120000000-aaaa"));
  RetentionPolicy policy;
  policy.keep_last = 2;
  auto report = ApplyRetention(*lake_, policy, kLater, /*dry_run=*/false);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->expired_snapshots,
            (std::vector<std::string>{snapshots[0].snapshot_id, snapshots[1].snapshot_id, snapshots[2].snapshot_id}));
  EXPECT_EQ(report->kept_snapshots, (std::vector<std::string>{snapshots[3].snapshot_id, snapshots[4].snapshot_id}));
  ASSERT_EQ(report->removed_files.size(), 12u);  // 3 x (manifest, two data files, quarantine)
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(report->removed_files[i].rfind("manifests/", 0), 0u);
  EXPECT_EQ(report->orphan_files, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(NoFileExists(snapshots[static_cast<size_t>(i)]));
  EXPECT_TRUE(AllFilesExist(snapshots[3]));
  EXPECT_TRUE(AllFilesExist(snapshots[4]));
  auto current = ReadCurrentManifest(*lake_);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->snapshot_id, snapshots[4].snapshot_id);
  // Running again changes nothing.
  auto again = ApplyRetention(*lake_, policy, kLater, false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->removed_files.empty());
}

TEST_F(SnapshotLifecycleTest, DryRunReportsWithoutRemoving) {
  auto first = Make("20260101-120000000-aaaa");
  auto second = Make("20260102-120000000-aaaa");
  RetentionPolicy policy;
  policy.keep_last = 1;
  auto report = ApplyRetention(*lake_, policy, kLater, /*dry_run=*/true);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->dry_run);
  EXPECT_EQ(report->expired_snapshots, std::vector<std::string>{first.snapshot_id});
  EXPECT_EQ(report->removed_files.size(), 4u);
  EXPECT_GT(report->bytes_freed, 0);
  EXPECT_TRUE(AllFilesExist(first));
  EXPECT_TRUE(AllFilesExist(second));
}

TEST_F(SnapshotLifecycleTest, NeverRemovesTheCurrentSnapshotOrOneBeingPublished) {
  auto a = Make("20260101-120000000-aaaa");
  auto b = Make("20260102-120000000-aaaa");
  auto c = Make("20260103-120000000-aaaa");
  ASSERT_TRUE(lake_->PutAtomic(kCurrentPointer, b.snapshot_id + "\n").ok());  // rolled back to b
  auto d = Make("20260104-120000000-aaaa", /*publish=*/false);                // manifest written, CURRENT not yet
  RetentionPolicy policy;
  policy.keep_last = 1;
  auto report = ApplyRetention(*lake_, policy, kLater, false);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->expired_snapshots, std::vector<std::string>{a.snapshot_id});
  EXPECT_TRUE(NoFileExists(a));
  for (const auto& kept : {b, c, d}) EXPECT_TRUE(AllFilesExist(kept)) << kept.snapshot_id;
}

TEST_F(SnapshotLifecycleTest, OrphansGoOnlyAfterTheGracePeriod) {
  auto a = Make("20260101-120000000-aaaa");
  Write("parquet/regional/utrecht/members-20260101-130000000-dead.parquet", "half written");
  Write("manifests/CURRENT.tmp-1234", "x");
  RetentionPolicy policy;
  policy.keep_last = 1;
  auto now = ApplyRetention(*lake_, policy, Clock::now(), false);  // a generation may be writing them
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(now->removed_files.empty());
  EXPECT_TRUE(Exists("parquet/regional/utrecht/members-20260101-130000000-dead.parquet"));
  auto later = ApplyRetention(*lake_, policy, kLater, false);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->orphan_files, 2);
  EXPECT_FALSE(Exists("parquet/regional/utrecht/members-20260101-130000000-dead.parquet"));
  EXPECT_FALSE(Exists("manifests/CURRENT.tmp-1234"));
  EXPECT_TRUE(AllFilesExist(a));
  EXPECT_TRUE(Exists(kCurrentPointer));
}

TEST_F(SnapshotLifecycleTest, KeepDaysKeepsRecentSnapshots) {
  std::vector<SnapshotManifest> snapshots;
  for (int day = 1; day <= 5; ++day) snapshots.push_back(Make("2026010" + std::to_string(day) + "-120000000-aaaa"));
  RetentionPolicy policy;
  policy.keep_last = 1;
  policy.keep_days = 3;
  const auto jan6 = Clock::time_point(std::chrono::seconds(int64_t{model::DaysFromCivil({2026, 1, 6})} * 86400));
  auto report = ApplyRetention(*lake_, policy, jan6, false);  // keeps what was generated since Jan 3, 00:00
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->expired_snapshots,
            (std::vector<std::string>{snapshots[0].snapshot_id, snapshots[1].snapshot_id}));
  EXPECT_TRUE(AllFilesExist(snapshots[2]));
}

TEST_F(SnapshotLifecycleTest, AnUnreadableKeptManifestStopsEverything) {
  auto a = Make("20260101-120000000-aaaa");
  auto b = Make("20260102-120000000-aaaa");
  auto c = Make("20260103-120000000-aaaa");
  ASSERT_TRUE(lake_->PutAtomic(SnapshotManifest::ManifestPath(b.snapshot_id), "{not json").ok());
  RetentionPolicy policy;
  policy.keep_last = 2;
  auto report = ApplyRetention(*lake_, policy, kLater, false);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find(b.snapshot_id), std::string::npos);
  EXPECT_NE(report.status().message().find("nothing was removed"), std::string::npos);
  EXPECT_TRUE(AllFilesExist(a));
}

TEST_F(SnapshotLifecycleTest, EmptyOldMonthFoldersGoTheCurrentMonthStays) {
  auto old = Make("20251201-120000000-aaaa", true, "parquet/full-dataset/year=2025/month=12");
  auto recent = Make("20260101-120000000-aaaa");
  RetentionPolicy policy;
  policy.keep_last = 1;
  ASSERT_TRUE(ApplyRetention(*lake_, policy, kLater, false).ok());
  EXPECT_TRUE(NoFileExists(old));
  EXPECT_FALSE(fs::exists(dir_ / "parquet/full-dataset/year=2025"));
  EXPECT_TRUE(fs::exists(dir_ / "parquet/full-dataset/year=2026/month=01"));
  EXPECT_TRUE(AllFilesExist(recent));
}

TEST_F(SnapshotLifecycleTest, RejectsAPolicyThatKeepsNothing) {
  RetentionPolicy policy;
  policy.keep_last = 0;
  auto report = ApplyRetention(*lake_, policy, kLater, false);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("keep"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::lake
