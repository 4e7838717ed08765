// Reading a few rows of a column chunk from only their pages (ReadRowsOfColumn), against the
// same rows taken from the whole column: text with nulls, an enum (dictionary), dates,
// numbers with nulls and timestamps, rows on the first and last row of pages and of the chunk.
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>

#include "model/arrow_compute.h"
#include "query/query_internal.h"

namespace memberlake::query::internal {
namespace {

constexpr int64_t kRows = 20000;

std::shared_ptr<arrow::Table> Sample() {
  arrow::StringBuilder names;
  arrow::StringDictionary32Builder kinds;
  arrow::Date32Builder days;
  arrow::Int64Builder numbers;
  arrow::TimestampBuilder stamps(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), arrow::default_memory_pool());
  std::mt19937 random(5);
  for (int64_t i = 0; i < kRows; ++i) {
    EXPECT_TRUE((i % 7 == 3 ? names.AppendNull() : names.Append("name-" + std::to_string(random() % 100000))).ok());
    EXPECT_TRUE(kinds.Append(i % 3 == 0 ? "Actief" : (i % 3 == 1 ? "Club" : "Ere")).ok());
    EXPECT_TRUE(days.Append(static_cast<int32_t>(random() % 30000)).ok());
    EXPECT_TRUE((i % 5 == 0 ? numbers.AppendNull() : numbers.Append(static_cast<int64_t>(random()) - (1 << 30))).ok());
    EXPECT_TRUE(stamps.Append(static_cast<int64_t>(i) * 86400000).ok());
  }
  auto schema = arrow::schema({arrow::field("name", arrow::utf8()),
                               arrow::field("kind", arrow::dictionary(arrow::int32(), arrow::utf8())),
                               arrow::field("day", arrow::date32()), arrow::field("number", arrow::int64()),
                               arrow::field("stamp", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"))});
  return arrow::Table::Make(schema, {*names.Finish(), *kinds.Finish(), *days.Finish(), *numbers.Finish(),
                                     *stamps.Finish()});
}

std::unique_ptr<parquet::ParquetFileReader> Written(const arrow::Table& table) {
  parquet::WriterProperties::Builder properties;
  properties.compression(parquet::Compression::ZSTD)->max_rows_per_page(1000)->enable_write_page_index();
  auto sink = *arrow::io::BufferOutputStream::Create();
  arrow::Status written = parquet::arrow::WriteTable(table, arrow::default_memory_pool(), sink, kRows,
                                                     properties.build(),
                                                     parquet::ArrowWriterProperties::Builder().store_schema()->build());
  EXPECT_TRUE(written.ok()) << written.ToString();
  return parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(*sink->Finish()));
}

TEST(ReadRowsOfColumn, EqualsTheRowsTakenFromTheWholeColumn) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());
  auto table = Sample();
  auto file = Written(*table);
  ASSERT_EQ(file->metadata()->num_row_groups(), 1);
  const std::vector<std::vector<int64_t>> cases = {
      {0}, {kRows - 1}, {999, 1000, 1001}, {3, 10, 17, 5000, 5001, 12345, 19999}, {7, 8, 9, 10, 11, 12, 13, 14}};
  for (const auto& rows : cases) {
    arrow::Int64Builder indices;
    ASSERT_TRUE(indices.AppendValues(rows).ok());
    auto taken = *arrow::compute::Take(table, *indices.Finish());
    for (int c = 0; c < table->num_columns(); ++c) {
      const auto& field = *table->schema()->field(c);
      auto read = ReadRowsOfColumn(*file, 0, field, rows);
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      ASSERT_NE(*read, nullptr) << field.name();
      auto expected = *arrow::compute::Cast(taken.table()->column(c), (*read)->type());
      EXPECT_TRUE(expected.chunked_array()->Equals(arrow::ChunkedArray(*read)))
          << field.name() << ": " << (*read)->ToString() << " vs " << expected.chunked_array()->ToString();
    }
  }
}

TEST(ReadRowsOfColumn, NothingForATypeItDoesNotRead) {
  // The caller then reads the row group whole: a lake has no such column, another file may.
  arrow::DoubleBuilder values;
  for (int64_t i = 0; i < kRows; ++i) ASSERT_TRUE(values.Append(0.5 * static_cast<double>(i)).ok());
  auto table = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::float64())}), {*values.Finish()});
  auto file = Written(*table);
  auto read = ReadRowsOfColumn(*file, 0, *table->schema()->field(0), {5, 6000});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, nullptr);
}

// ForEachRowGroup: every item once, whatever the workers; no reader used by two workers (a
// FileReader is not thread-safe); per-item results land in their own slots; an error stops it.
TEST(ForEachRowGroup, EachItemOnceAndNoReaderSharedBetweenWorkers) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());
  auto table = Sample();
  parquet::WriterProperties::Builder properties;
  properties.enable_write_page_index();
  auto sink = *arrow::io::BufferOutputStream::Create();
  ASSERT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 1000, properties.build()).ok());
  auto buffer = *sink->Finish();
  auto open = [buffer]() -> arrow::Result<std::shared_ptr<parquet::arrow::FileReader>> {
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(buffer),
                                                                arrow::default_memory_pool()));
    return std::shared_ptr<parquet::arrow::FileReader>(std::move(reader));
  };
  std::vector<FilePiece> pieces(2);
  for (FilePiece& piece : pieces) {
    piece.reader = *open();
    piece.reopen = open;
  }
  pieces[0].row_groups = {0, 3, 4, 7, 19};
  for (int rg = 1; rg < 20; rg += 2) pieces[1].row_groups.push_back(rg);
  const std::vector<RowGroupRef> items = RowGroupsOf(pieces);
  ASSERT_EQ(items.size(), 15u);
  EXPECT_EQ(items[5].piece, 1u);
  EXPECT_EQ(items[5].row_group, 1);
  std::mutex mutex;
  std::map<const parquet::arrow::FileReader*, std::set<int>> workers_of;
  std::vector<int64_t> sums(items.size(), -1);
  auto status = ForEachRowGroup(pieces, items, [&](int worker, parquet::arrow::FileReader& reader, size_t i) {
    EXPECT_LT(worker, RowGroupWorkers(items.size()));
    ARROW_ASSIGN_OR_RAISE(auto batch, ReadColumns(reader, items[i].row_group, {"day"}));
    int64_t sum = 0;
    const auto& days = static_cast<const arrow::Date32Array&>(*batch->column(0));
    for (int64_t r = 0; r < days.length(); ++r) sum += days.Value(r);
    sums[i] = sum;
    std::lock_guard<std::mutex> lock(mutex);
    workers_of[&reader].insert(worker);
    return arrow::Status::OK();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  for (const auto& [reader, workers] : workers_of) EXPECT_EQ(workers.size(), 1u);
  const auto& all_days = static_cast<const arrow::Date32Array&>(*table->GetColumnByName("day")->chunk(0));
  for (size_t i = 0; i < items.size(); ++i) {
    int64_t expected = 0;
    for (int64_t r = items[i].row_group * 1000; r < (items[i].row_group + 1) * 1000; ++r) expected += all_days.Value(r);
    EXPECT_EQ(sums[i], expected) << "item " << i;
  }
  status = ForEachRowGroup(pieces, items, [&](int, parquet::arrow::FileReader&, size_t i) {
    if (i == 2) return arrow::Status::IOError("row group ", i, " unreadable");
    return arrow::Status::OK();
  });
  EXPECT_TRUE(status.IsIOError()) << status.ToString();
  EXPECT_NE(status.message().find("row group 2 unreadable"), std::string::npos);
  // Without a way to reopen, one worker reads everything through the piece's own reader.
  for (FilePiece& piece : pieces) piece.reopen = nullptr;
  std::set<const parquet::arrow::FileReader*> used;
  status = ForEachRowGroup(pieces, items, [&](int worker, parquet::arrow::FileReader& reader, size_t) {
    EXPECT_EQ(worker, 0);
    used.insert(&reader);
    return arrow::Status::OK();
  });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(used, (std::set<const parquet::arrow::FileReader*>{pieces[0].reader.get(), pieces[1].reader.get()}));
}

}  // namespace
}  // namespace memberlake::query::internal
