// Reading a few rows of a column chunk from only their pages (ReadRowsOfColumn), against the
// same rows taken from the whole column: text with nulls, an enum (dictionary), dates,
// numbers with nulls and timestamps, rows on the first and last row of pages and of the chunk.
#include <random>

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

}  // namespace
}  // namespace memberlake::query::internal
