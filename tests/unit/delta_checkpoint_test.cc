#include "lake/delta_checkpoint.h"

#include <string>
#include <vector>

#include <arrow/array.h>
#include <arrow/table.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>

#include "temp_dir.h"

namespace memberlake::lake {
namespace {

using Json = nlohmann::json;

TEST(DeltaCheckpoint, DueEveryTenthVersionButNotTheFirst) {
  EXPECT_FALSE(DeltaCheckpointDue(0));
  EXPECT_FALSE(DeltaCheckpointDue(9));
  EXPECT_TRUE(DeltaCheckpointDue(10));
  EXPECT_FALSE(DeltaCheckpointDue(11));
  EXPECT_TRUE(DeltaCheckpointDue(20));
}

TEST(DeltaCheckpoint, WritesOneRowPerActionAndTheLastCheckpointPointer) {
  auto dir = FreshDir("delta-checkpoint");
  auto lake = LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(lake.ok());
  std::vector<Json> actions = {
      {{"protocol", {{"minReaderVersion", 1}, {"minWriterVersion", 2}}}},
      {{"metaData", {{"id", "t"}, {"format", {{"provider", "parquet"}, {"options", Json::object()}}},
                     {"schemaString", "{}"}, {"partitionColumns", Json::array()},
                     {"configuration", {{"k", "v"}}}, {"createdTime", 1}}}},
      {{"add", {{"path", "a.parquet"}, {"partitionValues", Json::object()}, {"size", 10},
                {"modificationTime", 2}, {"dataChange", true}, {"stats", "{\"numRecords\":3}"}}}},
      {{"add", {{"path", "b%20c.parquet"}, {"partitionValues", Json::object()}, {"size", 20},
                {"modificationTime", 2}, {"dataChange", true}, {"stats", "{\"numRecords\":4}"}}}},
      {{"remove", {{"path", "old.parquet"}, {"deletionTimestamp", 3}, {"dataChange", true}}}}};
  ASSERT_TRUE(WriteDeltaCheckpoint(**lake, "t", 10, actions).ok());

  auto last = (*lake)->ReadAll("t/_delta_log/_last_checkpoint");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  auto pointer = Json::parse(*last);
  EXPECT_EQ(pointer["version"], 10);
  EXPECT_EQ(pointer["size"], 5);
  EXPECT_EQ(pointer["numOfAddFiles"], 2);

  auto input = (*lake)->OpenForRead("t/_delta_log/00000000000000000010.checkpoint.parquet");
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  auto reader = parquet::arrow::OpenFile(*input, arrow::default_memory_pool());
  ASSERT_TRUE(reader.ok());
  std::shared_ptr<arrow::Table> table;
  ASSERT_TRUE((*reader)->ReadTable(&table).ok());
  EXPECT_EQ(table->num_rows(), 5);
  for (const char* column : {"txn", "add", "remove", "metaData", "protocol"}) {
    EXPECT_NE(table->GetColumnByName(column), nullptr) << column;
  }
  auto add = std::static_pointer_cast<arrow::StructArray>(table->GetColumnByName("add")->chunk(0));
  EXPECT_EQ(add->null_count(), 3);  // one action per row
  auto paths = std::static_pointer_cast<arrow::StringArray>(add->GetFieldByName("path"));
  EXPECT_EQ(paths->GetString(3), "b%20c.parquet");
  auto configuration = std::static_pointer_cast<arrow::StructArray>(table->GetColumnByName("metaData")->chunk(0))
                           ->GetFieldByName("configuration");
  EXPECT_EQ(std::static_pointer_cast<arrow::MapArray>(configuration)->value_length(1), 1);  // {"k": "v"}
}

TEST(DeltaCheckpoint, RefusesWhatIsNotACheckpointAction) {
  auto dir = FreshDir("delta-checkpoint-bad");
  auto lake = LakeStorage::Open(dir.string(), /*create=*/true);
  ASSERT_TRUE(lake.ok());
  auto status = WriteDeltaCheckpoint(**lake, "t", 10, {Json{{"commitInfo", Json::object()}}});
  ASSERT_TRUE(status.IsInvalid()) << status.ToString();
  EXPECT_NE(status.message().find("commitInfo"), std::string::npos);
  auto exists = (*lake)->Exists("t/_delta_log/_last_checkpoint");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
}

}  // namespace
}  // namespace memberlake::lake
