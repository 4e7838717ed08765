// SortIndicesOf against Arrow's own SortIndices: the same permutation for integer, date and
// timestamp first keys of either sign and width, ascending and descending, with nulls, with runs
// of ties resolved by further keys (text, numbers, nulls among them), and for the cases it hands
// to Arrow (few distinct values, a text first key, nulls first).
#include <random>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "model/arrow_compute.h"
#include "query/query_internal.h"

namespace memberlake::query::internal {
namespace {

namespace cp = arrow::compute;

// `rows` values drawn from `distinct` values spread over the type's range (negatives too for
// signed types), every `null_every`th null (0: none).
std::shared_ptr<arrow::Array> RandomColumn(const std::shared_ptr<arrow::DataType>& type, int64_t rows,
                                           int64_t distinct, int null_every, std::mt19937_64& random) {
  std::uniform_int_distribution<int64_t> pick(0, distinct - 1);
  const int bits = arrow::internal::checked_cast<const arrow::FixedWidthType&>(*type).bit_width();
  const bool is_signed = !arrow::is_unsigned_integer(type->id());
  // the integer type of the same layout (date32 is int32, a timestamp int64)
  std::shared_ptr<arrow::DataType> storage;
  switch (bits) {
    case 8: storage = is_signed ? arrow::int8() : arrow::uint8(); break;
    case 16: storage = is_signed ? arrow::int16() : arrow::uint16(); break;
    case 32: storage = is_signed ? arrow::int32() : arrow::uint32(); break;
    default: storage = is_signed ? arrow::int64() : arrow::uint64(); break;
  }
  arrow::UInt64Builder builder;  // two's complement bits; cast unsafely to the storage width
  for (int64_t i = 0; i < rows; ++i) {
    if (null_every > 0 && i % null_every == 0) {
      EXPECT_TRUE(builder.AppendNull().ok());
      continue;
    }
    // value v of `distinct`, spread over the type: the extremes and the sign boundary occur
    const int64_t v = pick(random);
    const double fraction = distinct > 1 ? static_cast<double>(v) / static_cast<double>(distinct - 1) : 0;
    const double span = bits >= 64 ? 1.8e19 : static_cast<double>(uint64_t{1} << bits) - 1;
    const double value = (is_signed ? -span / 2 : 0) + fraction * span * 0.999;
    EXPECT_TRUE(builder.Append(is_signed ? static_cast<uint64_t>(static_cast<int64_t>(value))
                                         : static_cast<uint64_t>(value)).ok());
  }
  auto raw = *builder.Finish();
  auto as_int = *raw->View(is_signed ? arrow::int64() : arrow::uint64());
  auto cast = *cp::Cast(as_int, storage, cp::CastOptions::Unsafe());
  return *cast.make_array()->View(type);
}

std::shared_ptr<arrow::Array> RandomText(int64_t rows, int distinct, int null_every, std::mt19937_64& random) {
  std::uniform_int_distribution<int> pick(0, distinct - 1);
  arrow::StringBuilder builder;
  for (int64_t i = 0; i < rows; ++i) {
    EXPECT_TRUE((null_every > 0 && i % null_every == 1 ? builder.AppendNull()
                                                       : builder.Append(std::to_string(1000 + pick(random)))).ok());
  }
  return *builder.Finish();
}

void ExpectSameAsArrow(const std::shared_ptr<arrow::RecordBatch>& batch, const cp::SortOptions& options,
                       const std::string& what) {
  auto ours = SortIndicesOf(batch, options);
  ASSERT_TRUE(ours.ok()) << what << ": " << ours.status().ToString();
  auto theirs = cp::SortIndices(arrow::Datum(batch), options);
  ASSERT_TRUE(theirs.ok()) << what;
  auto as_u64 = cp::Cast(*ours, arrow::uint64());
  ASSERT_TRUE(as_u64.ok()) << what;
  ASSERT_TRUE(as_u64->make_array()->Equals(**theirs)) << what;
}

TEST(SortIndicesOf, EqualsArrowsStableSortForIntegerFirstKeys) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());
  std::mt19937_64 random(7);
  const std::vector<std::shared_ptr<arrow::DataType>> types = {
      arrow::int8(),   arrow::int16(),  arrow::int32(),  arrow::int64(),  arrow::uint8(),
      arrow::uint16(), arrow::uint32(), arrow::uint64(), arrow::date32(), arrow::timestamp(arrow::TimeUnit::MICRO)};
  for (const auto& type : types) {
    for (int64_t rows : {100, 5000, 12000}) {
      // distinct values: all tied, few (mostly ties: Arrow's path), many (few ties), beyond the rows
      for (int64_t distinct : std::vector<int64_t>{1, 7, rows / 3, rows * 50}) {
        for (int null_every : {0, 3, 97}) {
          auto key = RandomColumn(type, rows, distinct, null_every, random);
          auto second = RandomText(rows, 40, 11, random);
          auto third = RandomColumn(arrow::int64(), rows, rows, 0, random);
          auto batch = arrow::RecordBatch::Make(
              arrow::schema({arrow::field("key", type), arrow::field("second", arrow::utf8()),
                             arrow::field("third", arrow::int64())}),
              rows, {key, second, third});
          for (auto order : {cp::SortOrder::Ascending, cp::SortOrder::Descending}) {
            const std::string what = type->ToString() + " rows=" + std::to_string(rows) + " distinct=" +
                                     std::to_string(distinct) + " nulls every " + std::to_string(null_every) +
                                     (order == cp::SortOrder::Descending ? " desc" : " asc");
            ExpectSameAsArrow(batch, cp::SortOptions({cp::SortKey("key", order)}), what + " (one key)");
            ExpectSameAsArrow(batch,
                              cp::SortOptions({cp::SortKey("key", order), cp::SortKey("second", cp::SortOrder::Descending),
                                               cp::SortKey("third")}),
                              what + " (three keys)");
            ExpectSameAsArrow(batch,
                              cp::SortOptions({cp::SortKey("key", order),
                                               cp::SortKey("second", cp::SortOrder::Ascending, cp::NullPlacement::AtStart)}),
                              what + " (ties: nulls first)");
          }
        }
      }
    }
  }
}

TEST(SortIndicesOf, HandsOtherOrdersToArrow) {
  ASSERT_TRUE(model::EnsureArrowCompute().ok());
  std::mt19937_64 random(8);
  const int64_t rows = 6000;
  auto key = RandomColumn(arrow::int64(), rows, rows, 5, random);
  auto text = RandomText(rows, 500, 7, random);
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("key", arrow::int64()), arrow::field("text", arrow::utf8())}), rows, {key, text});
  ExpectSameAsArrow(batch, cp::SortOptions({cp::SortKey("key", cp::SortOrder::Ascending, cp::NullPlacement::AtStart)}),
                    "nulls first");
  ExpectSameAsArrow(batch, cp::SortOptions({cp::SortKey("text"), cp::SortKey("key")}), "text first");
  // a sliced batch: the first key's offset is honoured
  ExpectSameAsArrow(batch->Slice(1234, 4000), cp::SortOptions({cp::SortKey("key"), cp::SortKey("text")}), "slice");
}

}  // namespace
}  // namespace memberlake::query::internal
