#include "lake/partition_spill.h"

#include <atomic>
#include <thread>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "store/sample_members.h"
#include "transform/member_transform.h"

namespace memberlake::lake {
namespace {

using Row = std::tuple<std::string, std::string, std::string, std::string>;  // regio, status, lidmaatschap, id

std::vector<Row> Rows(const arrow::RecordBatch& batch) {
  auto text = [&](const std::string& name) {
    auto column = batch.GetColumnByName(name);
    return std::static_pointer_cast<arrow::StringArray>(*arrow::compute::Cast(*column, arrow::utf8()));
  };
  auto regio = text("regio"), status = text("status"), lms = text("lidmaatschap");
  auto ids = std::static_pointer_cast<arrow::StringArray>(batch.GetColumnByName("member_id"));
  std::vector<Row> rows;
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    rows.emplace_back(std::string(regio->GetView(i)), std::string(status->GetView(i)),
                      std::string(lms->GetView(i)), std::string(ids->GetView(i)));
  }
  return rows;
}

TEST(PartitionSpill, OrdersLikeAStableSortOfAllRows) {
  auto registry = *model::FieldRegistry::LoadDefault();
  store::SampleOptions options;
  options.members = 30000;
  options.batch_rows = 4096;  // many input batches: runs from different batches interleave
  auto raw = *(*store::MakeSampleMembers(registry, options))->ToRecordBatches();
  auto transform = *transform::MemberTransform::Make(registry, {2026, 1, 7});

  auto dir = std::filesystem::temp_directory_path() / ("memberlake-spill-test-" + std::to_string(getpid()));
  std::vector<Row> expected;
  {
    auto spill = PartitionSpill::Make(registry, dir.string());
    ASSERT_TRUE(spill.ok()) << spill.status().ToString();
    for (const auto& batch : raw) {
      auto transformed = transform.Apply(*batch);
      ASSERT_TRUE(transformed.ok());
      auto rows = Rows(*transformed->rows);
      expected.insert(expected.end(), rows.begin(), rows.end());
      ASSERT_TRUE((*spill)->Add(transformed->rows).ok());
    }
    ASSERT_TRUE((*spill)->Finish().ok());
    // byte order of (regio, status, lidmaatschap); equal keys keep arrival order
    std::stable_sort(expected.begin(), expected.end(), [](const Row& a, const Row& b) {
      return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
             std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
    });
    std::vector<Row> actual;
    const auto& partitions = (*spill)->partitions();
    ASSERT_EQ(partitions.front(), "Brabant/Zeeland");
    ASSERT_EQ(partitions.back(), "Zuid-Holland");
    for (size_t p = 0; p < partitions.size(); ++p) {
      auto reader = (*spill)->Read(p, 1000);
      ASSERT_TRUE(reader.ok());
      int64_t rows = 0;
      std::shared_ptr<arrow::RecordBatch> batch;
      while ((*reader)->ReadNext(&batch).ok() && batch) {
        EXPECT_LE(batch->num_rows(), 2 * 4096);  // coalesced runs stay batch-sized
        EXPECT_TRUE(batch->schema()->Equals(*registry->lake_schema()));
        auto part = Rows(*batch);
        for (const auto& row : part) EXPECT_EQ(std::get<0>(row), partitions[p]);
        actual.insert(actual.end(), part.begin(), part.end());
        rows += batch->num_rows();
      }
      EXPECT_EQ(rows, (*spill)->rows(p));
    }
    EXPECT_EQ(actual, expected);
    EXPECT_TRUE(std::filesystem::exists(dir));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));  // spill files go with the object
}

}  // namespace
}  // namespace memberlake::lake

namespace memberlake::lake {
namespace {

TEST(PartitionSpill, RemovesOnlyAbandonedSpillFolders) {
  namespace fs = std::filesystem;
  auto registry = *model::FieldRegistry::LoadDefault();
  const fs::path parent = fs::temp_directory_path() / ("memberlake-abandoned-test-" + std::to_string(getpid()));
  fs::remove_all(parent);
  fs::create_directories(parent);
  auto live = PartitionSpill::Make(registry, (parent / "spill-live").string());  // holds its lock
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  // A second spill cannot take a folder in use.
  EXPECT_FALSE(PartitionSpill::Make(registry, (parent / "spill-live").string()).ok());
  // What a killed generation leaves: its folder, a spill file and the lock file nobody holds.
  fs::create_directories(parent / "spill-dead");
  std::ofstream(parent / "spill-dead" / "owner.lock").put('\n');
  std::ofstream(parent / "spill-dead" / "partition-0.arrow") << "rows";
  fs::create_directories(parent / "spill-unlocked-old");
  fs::last_write_time(parent / "spill-unlocked-old", fs::file_time_type::clock::now() - std::chrono::hours(2));
  fs::create_directories(parent / "spill-unlocked-new");
  fs::create_directories(parent / "other-old");
  fs::last_write_time(parent / "other-old", fs::file_time_type::clock::now() - std::chrono::hours(2));

  EXPECT_EQ(PartitionSpill::RemoveAbandonedSpills(parent.string(), "spill-"), 2);
  EXPECT_FALSE(fs::exists(parent / "spill-dead"));
  EXPECT_FALSE(fs::exists(parent / "spill-unlocked-old"));
  EXPECT_TRUE(fs::exists(parent / "spill-live"));          // locked by a live spill
  EXPECT_TRUE(fs::exists(parent / "spill-unlocked-new"));  // may be a spill being set up
  EXPECT_TRUE(fs::exists(parent / "other-old"));           // not ours
  live->reset();
  EXPECT_FALSE(fs::exists(parent / "spill-live"));  // a finished spill removes its folder
  fs::remove_all(parent);
}

// Two generations at once (two processes, or a server and the CLI): each removes abandoned spill
// folders as it starts, and must never take the other's folder while it is being set up (its
// lock file made but not yet locked). Here threads stand in for the processes: flock is per
// open file, so they contend as processes do.
TEST(PartitionSpill, AFolderBeingSetUpIsNeverTakenForAbandoned) {
  namespace fs = std::filesystem;
  auto registry = *model::FieldRegistry::LoadDefault();
  const fs::path parent = fs::temp_directory_path() / ("memberlake-setup-race-" + std::to_string(getpid()));
  fs::remove_all(parent);
  fs::create_directories(parent);
  std::atomic<bool> stop{false};
  std::thread remover([&] {
    while (!stop) PartitionSpill::RemoveAbandonedSpills(parent.string(), "spill-");
  });
  int failures = 0;
  for (int i = 0; i < 3000 && failures == 0; ++i) {
    const fs::path dir = parent / ("spill-" + std::to_string(i));
    auto spill = PartitionSpill::Make(registry, dir.string());
    if (!spill.ok() || !fs::exists(dir / "owner.lock")) ++failures;
  }
  stop = true;
  remover.join();
  EXPECT_EQ(failures, 0);
  fs::remove_all(parent);
}

}  // namespace
}  // namespace memberlake::lake
