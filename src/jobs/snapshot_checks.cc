#include "jobs/snapshot_checks.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/bloom_filter.h>
#include <parquet/bloom_filter_reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>

#include "model/arrow_compute.h"
#include "model/no_throw.h"

namespace memberlake::jobs {
namespace {

arrow::Result<std::shared_ptr<arrow::Array>> Plain(const std::shared_ptr<arrow::Array>& column) {
  if (column->type_id() != arrow::Type::DICTIONARY) return column;
  const auto& dictionary = static_cast<const arrow::DictionaryType&>(*column->type());
  ARROW_ASSIGN_OR_RAISE(auto plain, arrow::compute::Cast(*column, dictionary.value_type()));
  return plain;
}

// Smallest and largest non-null value of a fixed-width column of C type T; false when all null.
template <typename T>
bool MinMaxOf(const arrow::Array& array, T* min, T* max) {
  const T* values = array.data()->GetValues<T>(1);
  bool any = false;
  for (int64_t i = 0; i < array.length(); ++i) {
    if (array.IsNull(i)) continue;
    if (!any || values[i] < *min) *min = values[i];
    if (!any || values[i] > *max) *max = values[i];
    any = true;
  }
  return any;
}

// A fixed-width column's values against its chunk's typed min/max (false when the widths differ).
template <typename ParquetType>
bool OutsideBounds(const parquet::Statistics& stats, const arrow::Array& values) {
  using T = typename ParquetType::c_type;
  if (values.type()->byte_width() != static_cast<int>(sizeof(T))) return false;
  T lo = 0, hi = 0;
  const auto& typed = static_cast<const parquet::TypedStatistics<ParquetType>&>(stats);
  return MinMaxOf<T>(values, &lo, &hi) && (lo < typed.min() || hi > typed.max());
}

bool MinMaxOfText(const arrow::StringArray& array, std::string_view* min, std::string_view* max) {
  bool any = false;
  for (int64_t i = 0; i < array.length(); ++i) {
    if (array.IsNull(i)) continue;
    std::string_view value = array.GetView(i);
    if (!any || value < *min) *min = value;
    if (!any || value > *max) *max = value;
    any = true;
  }
  return any;
}

// The chunk's statistics as bounds: a reader prunes on them, so every value must lie inside
// (writers may widen them, e.g. truncated strings) and the null count must be exact.
std::string StatisticsProblem(const parquet::Statistics& stats, const arrow::Array& values) {
  if (stats.HasNullCount() && stats.null_count() != values.null_count()) {
    return "null count " + std::to_string(stats.null_count()) + " in the statistics, " +
           std::to_string(values.null_count()) + " in the data";
  }
  if (!stats.HasMinMax()) return "";
  bool outside = false;
  switch (stats.physical_type()) {
    case parquet::Type::INT32:
      outside = OutsideBounds<parquet::Int32Type>(stats, values);
      break;
    case parquet::Type::INT64:
      outside = OutsideBounds<parquet::Int64Type>(stats, values);
      break;
    case parquet::Type::BYTE_ARRAY: {
      if (values.type_id() != arrow::Type::STRING) return "";
      std::string_view lo, hi;
      const auto& typed = static_cast<const parquet::ByteArrayStatistics&>(stats);
      std::string_view min(reinterpret_cast<const char*>(typed.min().ptr), typed.min().len);
      std::string_view max(reinterpret_cast<const char*>(typed.max().ptr), typed.max().len);
      if (MinMaxOfText(static_cast<const arrow::StringArray&>(values), &lo, &hi)) outside = lo < min || hi > max;
      break;
    }
    default:
      return "";
  }
  return outside ? "values outside the min/max statistics" : "";
}

// Values of a lookup column the bloom filter denies (a filter may admit too much, never too little).
int64_t BloomMisses(parquet::BloomFilter& bloom, const arrow::Array& values) {
  int64_t misses = 0;
  if (values.type_id() == arrow::Type::STRING) {
    const auto& text = static_cast<const arrow::StringArray&>(values);
    for (int64_t i = 0; i < text.length(); ++i) {
      if (text.IsNull(i)) continue;
      std::string_view value = text.GetView(i);
      parquet::ByteArray bytes(static_cast<uint32_t>(value.size()), reinterpret_cast<const uint8_t*>(value.data()));
      misses += bloom.FindHash(bloom.Hash(&bytes)) ? 0 : 1;
    }
  } else if (values.type()->byte_width() == 8) {
    const int64_t* numbers = values.data()->GetValues<int64_t>(1);
    for (int64_t i = 0; i < values.length(); ++i) {
      if (!values.IsNull(i)) misses += bloom.FindHash(bloom.Hash(numbers[i])) ? 0 : 1;
    }
  }
  return misses;
}

uint64_t Mix(uint64_t hash, uint64_t value) {
  // splitmix64 of the running hash and the value: order-sensitive, well spread.
  uint64_t z = hash ^ (value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kNullHash = 0x6e756c6c6e756c6cULL;

}  // namespace

arrow::Result<std::shared_ptr<arrow::Schema>> ReadFileSchema(const lake::LakeStorage& lake, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto input, lake.OpenForRead(path));
  ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader->GetSchema(&schema));
  return schema;
}

arrow::Result<bool> ScanLakeFile(const lake::LakeStorage& lake, const lake::SnapshotFile& file,
                                 const model::FieldRegistry& registry, CheckResult* integrity,
                                 const std::function<arrow::Status(const arrow::Table&)>& each) {
  const std::string& path = file.path;
  std::unique_ptr<parquet::arrow::FileReader> reader;
  arrow::Status opened = model::CatchAll("open " + path, [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto input, lake.OpenForRead(path));
    ARROW_ASSIGN_OR_RAISE(reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    return arrow::Status::OK();
  });
  if (!opened.ok()) {
    integrity->Fail(path + ": unreadable: " + opened.message());
    return false;
  }
  parquet::ParquetFileReader* parquet_reader = reader->parquet_reader();
  std::shared_ptr<parquet::FileMetaData> footer = parquet_reader->metadata();
  if (footer->num_rows() != file.rows) {
    integrity->Fail(path + ": " + std::to_string(footer->num_rows()) + " rows in the footer, " +
                    std::to_string(file.rows) + " in the manifest");
  }
  const parquet::SchemaDescriptor* columns = footer->schema();
  int64_t rows_read = 0;
  for (int rg = 0; rg < footer->num_row_groups(); ++rg) {
    std::shared_ptr<arrow::Table> table;
    arrow::Status read = model::CatchAll("read " + path, [&]() -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(table, reader->ReadRowGroup(rg));
      return table->ValidateFull();
    });
    if (!read.ok()) {
      integrity->Fail(path + ": row group " + std::to_string(rg) + " unreadable: " + read.message());
      return false;
    }
    auto row_group = footer->RowGroup(rg);
    if (row_group->num_rows() != table->num_rows()) {
      integrity->Fail(path + ": row group " + std::to_string(rg) + " decoded " + std::to_string(table->num_rows()) +
                      " of " + std::to_string(row_group->num_rows()) + " rows");
    }
    rows_read += table->num_rows();
    std::shared_ptr<parquet::RowGroupBloomFilterReader> blooms;
    for (int c = 0; c < table->num_columns(); ++c) {
      const std::string& name = table->schema()->field(c)->name();
      const int leaf = columns->ColumnIndex(name);
      if (leaf < 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto values, CombinedColumn(*table, name));
      ARROW_ASSIGN_OR_RAISE(auto plain, Plain(values));
      auto chunk = row_group->ColumnChunk(leaf);
      if (auto stats = chunk->statistics()) {
        std::string problem = StatisticsProblem(*stats, *plain);
        if (!problem.empty()) integrity->Fail(path + ": row group " + std::to_string(rg) + ", " + name + ": " + problem);
      }
      const model::FieldSpec* spec = registry.Find(name);
      if (spec == nullptr || !spec->lookup) continue;
      if (!blooms) blooms = parquet_reader->GetBloomFilterReader().RowGroup(rg);
      std::unique_ptr<parquet::BloomFilter> bloom = blooms ? blooms->GetColumnBloomFilter(leaf) : nullptr;
      if (!bloom) continue;  // no filter: readers cannot prune on it, nothing is wrong
      if (int64_t misses = BloomMisses(*bloom, *plain); misses > 0) {
        integrity->mismatches += misses - 1;  // Fail counts one
        integrity->Fail(path + ": row group " + std::to_string(rg) + ", " + name + ": bloom filter denies " +
                        std::to_string(misses) + " stored value(s)");
      }
    }
    ARROW_RETURN_NOT_OK(each(*table));
  }
  integrity->rows_checked += rows_read;
  if (rows_read != file.rows) {
    integrity->Fail(path + ": " + std::to_string(rows_read) + " rows read, " + std::to_string(file.rows) +
                    " in the manifest");
  }
  return true;
}

arrow::Result<std::shared_ptr<arrow::Array>> CombinedColumn(const arrow::Table& table, const std::string& name) {
  auto column = table.GetColumnByName(name);
  if (column == nullptr) return std::shared_ptr<arrow::Array>();
  if (column->num_chunks() == 1) return column->chunk(0);
  return arrow::Concatenate(column->chunks());
}

arrow::Result<std::vector<uint64_t>> RowHashes(const arrow::Table& table, const std::vector<std::string>& columns) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());  // dictionary columns are cast
  std::vector<uint64_t> hashes(static_cast<size_t>(table.num_rows()), 0);
  for (const std::string& name : columns) {
    ARROW_ASSIGN_OR_RAISE(auto column, CombinedColumn(table, name));
    if (column == nullptr) return arrow::Status::Invalid("no column '", name, "'");
    ARROW_ASSIGN_OR_RAISE(auto plain, Plain(column));
    const arrow::Array& array = *plain;
    const uint64_t salt = std::hash<std::string>()(name);
    for (int64_t i = 0; i < array.length(); ++i) hashes[i] = Mix(hashes[i], salt);
    if (array.type_id() == arrow::Type::STRING) {
      const auto& text = static_cast<const arrow::StringArray&>(array);
      for (int64_t i = 0; i < text.length(); ++i) {
        hashes[i] = Mix(hashes[i], text.IsNull(i) ? kNullHash : std::hash<std::string_view>()(text.GetView(i)));
      }
    } else if (array.type()->byte_width() == 8 || array.type()->byte_width() == 4) {
      const bool wide = array.type()->byte_width() == 8;
      for (int64_t i = 0; i < array.length(); ++i) {
        uint64_t value = kNullHash;
        if (!array.IsNull(i)) {
          value = wide ? static_cast<uint64_t>(array.data()->GetValues<int64_t>(1)[i])
                       : static_cast<uint64_t>(static_cast<uint32_t>(array.data()->GetValues<int32_t>(1)[i]));
        }
        hashes[i] = Mix(hashes[i], value);
      }
    } else {
      for (int64_t i = 0; i < array.length(); ++i) {  // rare types: by their text
        ARROW_ASSIGN_OR_RAISE(auto scalar, array.GetScalar(i));
        hashes[i] = Mix(hashes[i], scalar->is_valid ? std::hash<std::string>()(scalar->ToString()) : kNullHash);
      }
    }
  }
  return hashes;
}

arrow::Result<std::shared_ptr<arrow::BooleanArray>> DifferingRows(const std::shared_ptr<arrow::Array>& expected,
                                                                  const std::shared_ptr<arrow::Array>& actual) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  ARROW_ASSIGN_OR_RAISE(auto want, Plain(expected));
  ARROW_ASSIGN_OR_RAISE(auto got, Plain(actual));
  if (!got->type()->Equals(*want->type())) {
    ARROW_ASSIGN_OR_RAISE(got, arrow::compute::Cast(*got, want->type()));
  }
  namespace cp = arrow::compute;
  // equal is null where either side is; there the rows match only when both are null.
  ARROW_ASSIGN_OR_RAISE(arrow::Datum equal, cp::CallFunction("equal", {want, got}));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum want_null, cp::IsNull(want));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum got_null, cp::IsNull(got));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum both_null, cp::And(want_null, got_null));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum same, cp::CallFunction("coalesce", {equal, both_null}));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum differ, cp::Invert(same));
  return std::static_pointer_cast<arrow::BooleanArray>(differ.make_array());
}

}  // namespace memberlake::jobs
