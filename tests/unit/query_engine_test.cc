// The query engine's selection code: quantiles by selection, the per-batch top-N and the
// statistics that skip row groups for a top-N, each against a plain sort.
#include <algorithm>
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

double SortedQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  double position = q * static_cast<double>(values.size() - 1);
  size_t below = static_cast<size_t>(position);
  size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

TEST(QuantileOf, EqualsTheSortedDefinitionAtTheEndsAndBetween) {
  std::mt19937 random(7);
  for (size_t n : {1, 2, 3, 10, 101, 1000}) {
    std::vector<double> values;
    for (size_t i = 0; i < n; ++i) values.push_back(static_cast<double>(random() % 40));  // many ties
    for (double q : {0.0, 0.25, 0.5, 0.9, 1.0}) {
      std::vector<double> copy = values;
      EXPECT_DOUBLE_EQ(QuantileOf(copy, q), SortedQuantile(values, q)) << "n=" << n << " q=" << q;
    }
  }
  std::vector<double> two = {10, 20};
  EXPECT_DOUBLE_EQ(QuantileOf(two, 0.9), 19.0);  // interpolated, like quantile_cont
}

// Rows (key, second, id) with ties on key, nulls in key, in batches of `batch` rows.
std::vector<std::shared_ptr<arrow::RecordBatch>> Batches(int rows, int batch, std::mt19937& random) {
  auto schema = arrow::schema({arrow::field("key", arrow::int64()), arrow::field("second", arrow::utf8()),
                               arrow::field("member_id", arrow::utf8())});
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (int start = 0; start < rows; start += batch) {
    arrow::Int64Builder key;
    arrow::StringBuilder second, id;
    for (int i = start; i < std::min(rows, start + batch); ++i) {
      if (random() % 10 == 0) {
        EXPECT_TRUE(key.AppendNull().ok());
      } else {
        EXPECT_TRUE(key.Append(static_cast<int64_t>(random() % 20)).ok());
      }
      EXPECT_TRUE(second.Append(std::string(1, static_cast<char>('a' + random() % 3))).ok());
      char name[16];
      std::snprintf(name, sizeof name, "m%06d", (i * 7919) % 100003);
      EXPECT_TRUE(id.Append(name).ok());
    }
    out.push_back(arrow::RecordBatch::Make(schema, std::min(rows, start + batch) - start,
                                           {*key.Finish(), *second.Finish(), *id.Finish()}));
  }
  return out;
}

TEST(TopRows, EqualsAFullSortWithTiesNullsAndManyBatches) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());
  std::mt19937 random(11);
  const std::vector<OrderSpec> order = {{"key", true}, {"second", false}, {"member_id", false}};
  for (int rows : {0, 7, 500, 3000}) {
    auto batches = Batches(rows, 97, random);
    for (int64_t k : {0, 1, 5, 64, 5000}) {
      TopRows top(order, k);
      for (const auto& b : batches) ASSERT_TRUE(top.Add(b).ok());
      auto schema = arrow::schema({arrow::field("key", arrow::int64()), arrow::field("second", arrow::utf8()),
                                   arrow::field("member_id", arrow::utf8())});
      auto got = top.Finish(schema);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      std::shared_ptr<arrow::Table> all = *arrow::Table::MakeEmpty(schema);
      if (!batches.empty()) all = *arrow::Table::FromRecordBatches(batches);
      auto expected = OrderAndLimit(all, order, k);
      ASSERT_TRUE(expected.ok());
      ASSERT_EQ((*got)->num_rows(), (*expected)->num_rows()) << rows << " rows, k=" << k;
      EXPECT_TRUE((*(*got)->CombineChunks())->Equals(**(*expected)->CombineChunks())) << rows << " rows, k=" << k;
    }
  }
}

// Row groups of 100 rows: group g holds leeftijd g*100 .. g*100+99 (group 2: nulls too) and one regio.
std::shared_ptr<parquet::FileMetaData> Footer(const std::vector<std::string>& regions) {
  arrow::Int64Builder ages;
  arrow::StringBuilder regio;
  for (size_t g = 0; g < regions.size(); ++g) {
    for (int i = 0; i < 100; ++i) {
      EXPECT_TRUE((g == 2 && i % 2 == 0 ? ages.AppendNull() : ages.Append(static_cast<int64_t>(g * 100 + i))).ok());
      EXPECT_TRUE(regio.Append(regions[g]).ok());
    }
  }
  auto table = arrow::Table::Make(arrow::schema({arrow::field("leeftijd", arrow::int64()), arrow::field("regio", arrow::utf8())}),
                                  {*ages.Finish(), *regio.Finish()});
  auto sink = *arrow::io::BufferOutputStream::Create();
  EXPECT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 100).ok());
  auto buffer = *sink->Finish();
  return parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(buffer))->metadata();
}

TEST(RowGroupsThatCanEnterTopN, SkipsGroupsStartingAfterTheKthBestAndKeepsTheUnproven) {
  auto registry = *model::FieldRegistry::LoadDefault();
  auto footer = Footer({"Utrecht", "Utrecht", "Limburg", "Utrecht"});
  const std::vector<int> all = {0, 1, 2, 3};
  // No filter: group 0 alone proves 100 rows <= 99, so only it can hold the 10 youngest.
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"leeftijd", false}, 10, all), std::vector<int>({0}));
  // 150 rows need groups 0 and 1 (threshold 199): groups 2 and 3 start after it.
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"leeftijd", false}, 150, all), std::vector<int>({0, 1}));
  // Descending: group 3 holds the 10 oldest.
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"leeftijd", true}, 10, all), std::vector<int>({3}));
  // Nulls do not count: group 2 has only 50 values, so the 60 oldest need groups 3, 2 and 1.
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"leeftijd", true}, 160, all), std::vector<int>({1, 2, 3}));
  // A filter the statistics prove for Utrecht groups only: group 2 (Limburg) proves nothing,
  // but it starts after the threshold the Utrecht groups prove, so it goes too.
  FilterSpec utrecht{"regio", FilterOp::kIn, {"Utrecht"}};
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {utrecht}, {"leeftijd", false}, 150, all),
            std::vector<int>({0, 1}));
  // Unproven (a range filter): everything stays.
  FilterSpec range{"leeftijd", FilterOp::kGe, {"50"}};
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {range}, {"leeftijd", false}, 10, all), all);
  // More rows asked than proven: everything stays; a text order column: everything stays.
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"leeftijd", false}, 1000, all), all);
  EXPECT_EQ(RowGroupsThatCanEnterTopN(*footer, *registry, {}, {"regio", false}, 10, all), all);
}

}  // namespace
}  // namespace memberlake::query::internal
