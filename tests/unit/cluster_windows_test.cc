#include "lake/cluster_windows.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "lake/partition_spill.h"
#include "store/sample_members.h"
#include "transform/member_transform.h"

namespace memberlake::lake {
namespace {

struct Row {
  std::string keys;  // status|lidmaatschap
  std::optional<int32_t> date;  // ingangsdatum
  std::string id;
};

std::vector<Row> Rows(arrow::RecordBatchReader& reader) {
  std::vector<Row> rows;
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    EXPECT_TRUE(reader.ReadNext(&batch).ok());
    if (batch == nullptr) break;
    auto text = [&](const std::string& name) {
      return std::static_pointer_cast<arrow::StringArray>(
          *arrow::compute::Cast(*batch->GetColumnByName(name), arrow::utf8()));
    };
    auto status = text("status"), lms = text("lidmaatschap");
    auto ids = std::static_pointer_cast<arrow::StringArray>(batch->GetColumnByName("member_id"));
    auto dates = std::static_pointer_cast<arrow::Date32Array>(batch->GetColumnByName("ingangsdatum"));
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      rows.push_back({std::string(status->GetView(i)) + "|" + std::string(lms->GetView(i)),
                      dates->IsNull(i) ? std::nullopt : std::optional<int32_t>(dates->Value(i)),
                      std::string(ids->GetView(i))});
    }
  }
  return rows;
}

class ClusterWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = *model::FieldRegistry::LoadDefault();
    ASSERT_EQ(registry_->cluster_by(), "ingangsdatum");
    dir_ = std::filesystem::temp_directory_path() / ("memberlake-cluster-test-" + std::to_string(getpid()));
    store::SampleOptions options;
    options.members = 12000;
    options.batch_rows = 1000;
    auto raw = *(*store::MakeSampleMembers(registry_, options))->ToRecordBatches();
    auto transform = *transform::MemberTransform::Make(registry_, {2026, 1, 7});
    auto spill = PartitionSpill::Make(registry_, dir_.string());
    ASSERT_TRUE(spill.ok()) << spill.status().ToString();
    spill_ = std::move(*spill);
    for (const auto& batch : raw) ASSERT_TRUE(spill_->Add(transform.Apply(*batch)->rows).ok());
    ASSERT_TRUE(spill_->Finish().ok());
  }
  void TearDown() override {
    spill_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<const model::FieldRegistry> registry_;
  std::filesystem::path dir_;
  std::unique_ptr<PartitionSpill> spill_;
};

TEST_F(ClusterWindowsTest, SortsEachWindowByTheClusterColumnAndKeepsTheSortOrder) {
  constexpr int64_t kWindow = 300;
  size_t windows = 0;
  bool moved = false;
  for (size_t p = 0; p < spill_->partitions().size(); ++p) {
    auto before = Rows(**spill_->Read(p, 256));
    auto clustered = ClusterWindows(*spill_->Read(p, 256), *registry_, kWindow);
    ASSERT_TRUE(clustered.ok()) << clustered.status().ToString();
    auto after = Rows(**clustered);
    ASSERT_EQ(after.size(), before.size());
    for (size_t w = 0; w < before.size(); w += kWindow) {
      ++windows;
      size_t end = std::min(before.size(), w + kWindow);
      // the same rows in the window (windows cut at the same places) ...
      std::multiset<std::string> ids_before, ids_after;
      for (size_t i = w; i < end; ++i) {
        ids_before.insert(before[i].id);
        ids_after.insert(after[i].id);
        // ... the sort keys at every position unchanged (the whole stays sorted) ...
        EXPECT_EQ(after[i].keys, before[i].keys) << i;
        moved = moved || after[i].id != before[i].id;
      }
      EXPECT_EQ(ids_after, ids_before) << "window at " << w;
      // ... ties on the keys ordered by the date, nulls last; equal dates keep their order
      std::map<std::string, size_t> position;
      for (size_t i = w; i < end; ++i) position[before[i].id] = i;
      for (size_t i = w + 1; i < end; ++i) {
        if (after[i].keys != after[i - 1].keys) continue;
        const auto &a = after[i - 1].date, &b = after[i].date;
        EXPECT_TRUE(!b || (a && *a <= *b)) << i;
        if (a == b) {
          EXPECT_LT(position[after[i - 1].id], position[after[i].id]) << i;
        }
      }
    }
  }
  EXPECT_GT(windows, 2 * spill_->partitions().size());  // regions of several windows
  EXPECT_TRUE(moved);  // the sample's dates are random in store order
}

TEST_F(ClusterWindowsTest, WithoutClusterByTheRowsPassUnchanged) {
  std::ifstream in(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  std::stringstream text;
  text << in.rdbuf();
  std::string toml = text.str();
  auto at = toml.find("cluster_by = ");
  ASSERT_NE(at, std::string::npos);
  toml.erase(at, toml.find('\n', at) - at);
  auto plain = model::FieldRegistry::LoadString(toml, "fields.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto reader = *spill_->Read(0, 256);
  EXPECT_EQ(*ClusterWindows(reader, **plain, 700), reader);

  toml.insert(at, "cluster_by = \"regio\"");
  auto bad = model::FieldRegistry::LoadString(toml, "fields.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cluster_by 'regio' must be a field that is not an enum"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace memberlake::lake
