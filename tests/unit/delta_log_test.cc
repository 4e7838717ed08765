#include "lake/delta_log.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <arrow/type.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "temp_dir.h"

namespace memberlake::lake {
namespace {

namespace fs = std::filesystem;

TEST(DeltaSchema, MapsTheLakeTypesAndNamesWhatItCannotExpress) {
  auto schema = arrow::schema({arrow::field("member_id", arrow::utf8(), /*nullable=*/false),
                               arrow::field("regio", arrow::dictionary(arrow::int32(), arrow::utf8())),
                               arrow::field("lidnummer", arrow::int64()),
                               arrow::field("geboortedatum", arrow::date32()),
                               arrow::field("created_at", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"))});
  auto text = DeltaSchemaString(*schema);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto doc = nlohmann::json::parse(*text);
  ASSERT_EQ(doc["type"], "struct");
  ASSERT_EQ(doc["fields"].size(), 5u);
  EXPECT_EQ(doc["fields"][0]["type"], "string");
  EXPECT_EQ(doc["fields"][0]["nullable"], false);
  EXPECT_EQ(doc["fields"][1]["type"], "string");
  EXPECT_EQ(doc["fields"][2]["type"], "long");
  EXPECT_EQ(doc["fields"][3]["type"], "date");
  EXPECT_EQ(doc["fields"][4]["type"], "timestamp");

  auto local_time = arrow::schema({arrow::field("seen_at", arrow::timestamp(arrow::TimeUnit::MILLI))});
  auto refused = DeltaSchemaString(*local_time);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("seen_at"), std::string::npos);
}

TEST(DeltaTableRoot, IsTheDatasetFolder) {
  auto file = [](std::string path, SnapshotFileKind kind) {
    SnapshotFile f;
    f.path = std::move(path);
    f.kind = kind;
    return f;
  };
  auto full = file("parquet/full-dataset/year=2026/month=01/members-x.parquet", SnapshotFileKind::kFull);
  auto regional = file("parquet/regional/utrecht/members-x.parquet", SnapshotFileKind::kRegional);
  auto view = file("parquet/filtered-views/active-members/members-x.parquet", SnapshotFileKind::kView);
  EXPECT_EQ(DeltaTableRoot(full), "parquet/full-dataset");
  EXPECT_EQ(DeltaTableRoot(regional), "parquet/regional/utrecht");
  EXPECT_EQ(DeltaTableRoot(view), "parquet/filtered-views/active-members");
}

TEST(DeltaTableState, EmptyFolderHasNoTable) {
  auto dir = FreshDir("delta-empty");
  auto lake = LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(lake.ok());
  auto state = ReadDeltaTableState(**lake, "parquet/full-dataset");
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->version, -1);
  EXPECT_TRUE(state->files.empty());
}

// The commit primitive: of many writers racing for one name, exactly one creates it, with its
// whole content, and the losers change nothing.
TEST(LakeStorageCreateIfAbsent, ExactlyOneRacingWriterWins) {
  auto dir = FreshDir("create-if-absent");
  auto lake = LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(lake.ok());
  constexpr int kWriters = 8;
  std::vector<int> won(kWriters, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      auto created = (*lake)->CreateIfAbsent("t/_delta_log/00000000000000000000.json", "writer " + std::to_string(i));
      won[i] = created.ok() && *created ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  int winners = 0, winner = -1;
  for (int i = 0; i < kWriters; ++i) {
    winners += won[i];
    if (won[i]) winner = i;
  }
  ASSERT_EQ(winners, 1);
  auto text = (*lake)->ReadAll("t/_delta_log/00000000000000000000.json");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "writer " + std::to_string(winner));
  auto again = (*lake)->CreateIfAbsent("t/_delta_log/00000000000000000000.json", "late");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  size_t leftovers = 0;
  for (auto& entry : fs::directory_iterator(dir / "t" / "_delta_log")) leftovers += entry.path().filename() != "00000000000000000000.json";
  EXPECT_EQ(leftovers, 0u);  // no temporary files left behind
}

}  // namespace
}  // namespace memberlake::lake
