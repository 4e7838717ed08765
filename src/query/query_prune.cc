// Pruning: row groups ruled out before they are read, by enum statistics, bloom filters,
// page indexes and dictionary pages.
#include <algorithm>
#include <optional>
#include <set>

#include <parquet/bloom_filter.h>
#include <parquet/bloom_filter_reader.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>
#include <parquet/statistics.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

std::string_view View(const parquet::ByteArray& bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.ptr), bytes.len);
}

// Whether an enum = / in filter, or a prefix filter on text, may match in row group `rg` by its
// statistics; nullopt when the statistics cannot tell (another kind of filter, no statistics).
std::optional<bool> EnumStatisticsAdmit(const parquet::RowGroupMetaData& row_group, const parquet::FileMetaData& metadata,
                                        const model::FieldRegistry& registry, const FilterSpec& filter) {
  const model::FieldSpec* spec = registry.Find(filter.column);
  const bool prefix = RunsOnCodes(registry, filter) && filter.op == FilterOp::kPrefix;
  if (spec == nullptr || (!prefix && !IsEnumEquality(registry, filter))) return std::nullopt;
  int column = metadata.schema()->ColumnIndex(filter.column);
  if (column < 0 || metadata.schema()->Column(column)->physical_type() != parquet::Type::BYTE_ARRAY) return std::nullopt;
  auto stats = row_group.ColumnChunk(column)->statistics();
  if (stats == nullptr || !stats->HasMinMax()) return std::nullopt;
  auto typed = std::static_pointer_cast<parquet::ByteArrayStatistics>(stats);
  std::string_view min = View(typed->min()), max = View(typed->max());
  if (prefix) {
    // Some value starting with p lies in [min, max] exactly when max >= p and min's first
    // |p| bytes are <= p (statistics are bounds, so this stays conservative).
    const std::string& p = filter.values[0];
    return max >= p && min.substr(0, p.size()) <= p;
  }
  bool any = false;
  for (const std::string& value : filter.values) any |= min <= value && value <= max;
  return any;
}

// Row groups whose statistics admit every enum equality and prefix filter. Arrow's dataset layer does not
// use string statistics of dictionary-encoded columns, and enums are exactly the columns
// the lake is sorted and partitioned by, so this is where most pruning comes from.
std::vector<int> RowGroupsMatchingEnumFilters(const parquet::FileMetaData& metadata,
                                              const model::FieldRegistry& registry,
                                              const std::vector<FilterSpec>& filters) {
  std::vector<int> kept;
  for (int rg = 0; rg < metadata.num_row_groups(); ++rg) {
    auto row_group = metadata.RowGroup(rg);
    bool possible = true;
    for (const FilterSpec& filter : filters) {
      possible &= EnumStatisticsAdmit(*row_group, metadata, registry, filter).value_or(true);
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

bool StatisticsProveAllMatch(const parquet::FileMetaData& metadata, int rg, const model::FieldRegistry& registry,
                             const FilterSpec& filter) {
  if (!IsEnumEquality(registry, filter)) return false;
  int column = metadata.schema()->ColumnIndex(filter.column);
  if (column < 0) return false;
  auto stats = metadata.RowGroup(rg)->ColumnChunk(column)->statistics();
  if (stats == nullptr || !stats->HasMinMax() || !stats->HasNullCount() || stats->null_count() != 0) return false;
  const auto& typed = static_cast<const parquet::ByteArrayStatistics&>(*stats);
  std::string_view min = View(typed.min()), max = View(typed.max());
  return min == max && std::find(filter.values.begin(), filter.values.end(), min) != filter.values.end();
}

bool StatisticsProveAll(const parquet::FileMetaData& metadata, const std::vector<int>& row_groups,
                        const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters) {
  for (int rg : row_groups) {
    for (const FilterSpec& filter : filters) {
      if (!StatisticsProveAllMatch(metadata, rg, registry, filter)) return false;
    }
  }
  return true;
}

std::vector<int> RowGroupsThatCanEnterTopN(const parquet::FileMetaData& metadata, const model::FieldRegistry& registry,
                                           const std::vector<FilterSpec>& filters, const OrderSpec& first, int64_t k,
                                           const std::vector<int>& row_groups) {
  const model::FieldSpec* spec = registry.Find(first.column);
  const int column = metadata.schema()->ColumnIndex(first.column);
  if (spec == nullptr || column < 0 || k <= 0 ||
      (spec->type != model::FieldType::kInteger && spec->type != model::FieldType::kDate &&
       spec->type != model::FieldType::kTimestamp)) {
    return row_groups;
  }
  struct Range {
    int rg;
    int64_t best, worst;  // the best and worst key of the row group in the requested order
    int64_t proven_rows;  // rows with a key that certainly pass the filters (0: unproven)
  };
  std::vector<Range> ranges;
  for (int rg : row_groups) {
    auto stats = metadata.RowGroup(rg)->ColumnChunk(column)->statistics();
    if (stats == nullptr || !stats->HasMinMax() || !stats->HasNullCount()) return row_groups;
    int64_t min = 0, max = 0;
    if (stats->physical_type() == parquet::Type::INT64) {
      const auto& typed = static_cast<const parquet::Int64Statistics&>(*stats);
      min = typed.min(), max = typed.max();
    } else if (stats->physical_type() == parquet::Type::INT32) {
      const auto& typed = static_cast<const parquet::Int32Statistics&>(*stats);
      min = typed.min(), max = typed.max();
    } else {
      return row_groups;
    }
    bool proven = std::all_of(filters.begin(), filters.end(), [&](const FilterSpec& f) {
      return StatisticsProveAllMatch(metadata, rg, registry, f);
    });
    int64_t rows = proven ? metadata.RowGroup(rg)->num_rows() - stats->null_count() : 0;
    // Descending order is ascending order of the negated keys.
    ranges.push_back(first.descending ? Range{rg, -max, -min, rows} : Range{rg, min, max, rows});
  }
  std::vector<Range> by_best = ranges;
  std::sort(by_best.begin(), by_best.end(), [](const Range& a, const Range& b) { return a.best < b.best; });
  int64_t rows = 0;
  std::optional<int64_t> threshold;  // at least k passing rows have a key at or before it
  for (const Range& range : by_best) {
    if (range.proven_rows == 0) continue;
    rows += range.proven_rows;
    threshold = threshold ? std::max(*threshold, range.worst) : range.worst;
    if (rows >= k) break;
  }
  if (rows < k || !threshold) return row_groups;
  std::vector<int> kept;
  // A row group starting exactly at the threshold stays: its ties may win on the next key.
  for (const Range& range : ranges) {
    if (range.best <= *threshold) kept.push_back(range.rg);
  }
  return kept;
}

// True when the row group's statistics prove it holds one of the filter's values: min and max
// are values that occur, so an equality on either cannot be ruled out by a bloom filter, page
// index or dictionary, and reading those would be wasted (status = 'Actief' in every group).
bool StatisticsProveMatch(const parquet::FileMetaData& metadata, int rg, int column, const FilterSpec& filter) {
  auto stats = metadata.RowGroup(rg)->ColumnChunk(column)->statistics();
  if (stats == nullptr || !stats->HasMinMax()) return false;
  for (const std::string& value : filter.values) {
    if (stats->physical_type() == parquet::Type::BYTE_ARRAY) {
      const auto& typed = static_cast<const parquet::ByteArrayStatistics&>(*stats);
      if (View(typed.min()) == value || View(typed.max()) == value) return true;
    } else if (stats->physical_type() == parquet::Type::INT64) {
      const auto& typed = static_cast<const parquet::Int64Statistics&>(*stats);
      std::optional<int64_t> number = WholeNumber(value);
      if (number && (typed.min() == *number || typed.max() == *number)) return true;
    }
  }
  return false;
}

// Drops row groups whose bloom filter rules out every value of some equality filter on a
// lookup column (the registry's `lookup = true`: ids, e-mail, postcode, ...).
arrow::Result<std::vector<int>> RowGroupsPassingBloomFilters(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups) {
  std::vector<std::pair<int, const FilterSpec*>> probes;  // (column index, filter)
  for (const FilterSpec& filter : filters) {
    const model::FieldSpec* spec = registry.Find(filter.column);
    if (spec == nullptr || !spec->lookup || (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn)) continue;
    if (spec->type != model::FieldType::kString && spec->type != model::FieldType::kInteger) continue;
    int column = reader.metadata()->schema()->ColumnIndex(filter.column);
    if (column >= 0) probes.emplace_back(column, &filter);
  }
  if (probes.empty()) return row_groups;
  std::vector<int> kept;
  auto& blooms = reader.GetBloomFilterReader();
  for (int rg : row_groups) {
    auto row_group = blooms.RowGroup(rg);
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      std::unique_ptr<parquet::BloomFilter> bloom = row_group ? row_group->GetColumnBloomFilter(column) : nullptr;
      if (!bloom) continue;
      bool any = false;
      for (const std::string& value : filter->values) {
        if (registry.Find(filter->column)->type == model::FieldType::kInteger) {
          ARROW_ASSIGN_OR_RAISE(int64_t number, ParseInteger(value, filter->column));
          any |= bloom->FindHash(bloom->Hash(number));
        } else {
          any |= bloom->FindHash(bloom->Hash(std::string_view(value)));
        }
      }
      possible &= any;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// Equality (= or in) filters on string or integer columns: the ones page indexes and
// dictionaries can rule out. Dates and ranges are left to statistics.
std::vector<std::pair<int, const FilterSpec*>> EqualityProbes(const parquet::FileMetaData& metadata,
                                                              const model::FieldRegistry& registry,
                                                              const std::vector<FilterSpec>& filters) {
  std::vector<std::pair<int, const FilterSpec*>> probes;
  for (const FilterSpec& filter : filters) {
    const model::FieldSpec* spec = registry.Find(filter.column);
    if (spec == nullptr || (filter.op != FilterOp::kEq && filter.op != FilterOp::kIn)) continue;
    if (spec->type != model::FieldType::kString && spec->type != model::FieldType::kEnum &&
        spec->type != model::FieldType::kInteger) {
      continue;
    }
    int column = metadata.schema()->ColumnIndex(filter.column);
    if (column >= 0) probes.emplace_back(column, &filter);
  }
  return probes;
}

// Whether page `p` of a column index may hold one of `values`.
bool PageMayHold(const parquet::ColumnIndex& index, size_t p, const std::vector<std::string>& values,
                 bool integer) {
  if (index.null_pages()[p]) return false;
  for (const std::string& value : values) {
    if (integer) {
      const auto& typed = static_cast<const parquet::Int64ColumnIndex&>(index);
      std::optional<int64_t> number = WholeNumber(value);
      if (!number) return true;  // the scan reports it
      if (typed.min_values()[p] <= *number && *number <= typed.max_values()[p]) return true;
    } else {
      const auto& typed = static_cast<const parquet::ByteArrayColumnIndex&>(index);
      if (View(typed.min_values()[p]) <= value && value <= View(typed.max_values()[p])) return true;
    }
  }
  return false;
}

// Page-index pruning. The column index holds min/max per data page, finer than the row
// group's statistics: a value falling between pages' ranges, or only in null pages, rules the
// row group out. Pages the index excludes are counted; parquet-cpp 26 has no API to read a
// row group's remaining row ranges only (apache/arrow#45284), so a kept row group is read whole.
std::vector<int> RowGroupsPassingPageIndex(parquet::ParquetFileReader& reader, const model::FieldRegistry& registry,
                                           const std::vector<FilterSpec>& filters, const std::vector<int>& row_groups,
                                           bool count_pages, ScanStats* stats) {
  auto probes = EqualityProbes(*reader.metadata(), registry, filters);
  auto page_index = probes.empty() ? nullptr : reader.GetPageIndexReader();
  if (!page_index) return row_groups;
  std::vector<int> kept;
  for (int rg : row_groups) {
    std::shared_ptr<parquet::RowGroupPageIndexReader> row_group;  // read on first use
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (!count_pages && StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      if (!row_group) row_group = page_index->RowGroup(rg);
      std::shared_ptr<parquet::ColumnIndex> index = row_group ? row_group->GetColumnIndex(column) : nullptr;
      if (!index) continue;
      const bool integer = registry.Find(filter->column)->type == model::FieldType::kInteger;
      if (integer && reader.metadata()->schema()->Column(column)->physical_type() != parquet::Type::INT64) continue;
      int64_t matching = 0;
      const size_t pages = index->null_pages().size();
      for (size_t p = 0; p < pages; ++p) matching += PageMayHold(*index, p, filter->values, integer) ? 1 : 0;
      stats->pages_excluded_by_page_index += static_cast<int64_t>(pages) - matching;
      possible &= matching > 0;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// True when every data page of the column chunk is dictionary-encoded, so its dictionary
// lists every value (a writer that fell back to plain encoding mid-chunk breaks that).
bool FullyDictionaryEncoded(const parquet::ColumnChunkMetaData& chunk) {
  if (!chunk.has_dictionary_page() || chunk.encoding_stats().empty()) return false;
  for (const auto& page : chunk.encoding_stats()) {
    if (page.page_type != parquet::PageType::DATA_PAGE && page.page_type != parquet::PageType::DATA_PAGE_V2) continue;
    if (page.encoding != parquet::Encoding::RLE_DICTIONARY && page.encoding != parquet::Encoding::PLAIN_DICTIONARY) {
      return false;
    }
  }
  return true;
}

// Dictionary-page pruning: for = / in on a fully dictionary-encoded string column, a row group
// whose dictionary holds none of the values cannot match. Reads only the dictionary pages.
arrow::Result<std::vector<int>> RowGroupsPassingDictionaries(parquet::ParquetFileReader& reader,
                                                             const model::FieldRegistry& registry,
                                                             const std::vector<FilterSpec>& filters,
                                                             const std::vector<int>& row_groups) {
  std::vector<std::pair<int, const FilterSpec*>> probes;
  for (const auto& probe : EqualityProbes(*reader.metadata(), registry, filters)) {
    if (registry.Find(probe.second->column)->type != model::FieldType::kInteger) probes.push_back(probe);
  }
  if (probes.empty()) return row_groups;
  std::vector<int> kept;
  for (int rg : row_groups) {
    std::shared_ptr<parquet::RowGroupReader> chunk_reader;  // opened on first use; outlives its page readers
    bool possible = true;
    for (const auto& [column, filter] : probes) {
      if (StatisticsProveMatch(*reader.metadata(), rg, column, *filter)) continue;
      auto chunk = reader.metadata()->RowGroup(rg)->ColumnChunk(column);
      if (!FullyDictionaryEncoded(*chunk)) continue;
      if (!chunk_reader) chunk_reader = reader.RowGroup(rg);
      auto pages = chunk_reader->GetColumnPageReader(column);
      std::shared_ptr<parquet::Page> first = pages->NextPage();
      if (!first || first->type() != parquet::PageType::DICTIONARY_PAGE) continue;
      const auto& dictionary = static_cast<const parquet::DictionaryPage&>(*first);
      if (dictionary.encoding() != parquet::Encoding::PLAIN && dictionary.encoding() != parquet::Encoding::PLAIN_DICTIONARY) continue;
      // PLAIN byte arrays: a 4-byte little-endian length, then the bytes.
      std::set<std::string_view> values;
      const uint8_t* data = dictionary.data();
      const int32_t size = dictionary.size();
      int32_t offset = 0;
      bool readable = true;
      for (int32_t i = 0; i < dictionary.num_values() && readable; ++i) {
        if (offset + 4 > size) { readable = false; break; }
        uint32_t length = static_cast<uint32_t>(data[offset]) | static_cast<uint32_t>(data[offset + 1]) << 8 |
                          static_cast<uint32_t>(data[offset + 2]) << 16 | static_cast<uint32_t>(data[offset + 3]) << 24;
        offset += 4;
        if (length > static_cast<uint32_t>(size - offset)) { readable = false; break; }
        values.emplace(reinterpret_cast<const char*>(data + offset), length);
        offset += static_cast<int32_t>(length);
      }
      if (!readable) continue;
      bool any = false;
      for (const std::string& value : filter->values) any |= values.count(value) > 0;
      possible &= any;
    }
    if (possible) kept.push_back(rg);
  }
  return kept;
}

// Data pages of `columns` in `row_groups`, from the offset index.
int64_t CountPages(parquet::ParquetFileReader& reader, const std::vector<int>& row_groups,
                   const std::vector<std::string>& columns) {
  auto page_index = reader.GetPageIndexReader();
  if (!page_index) return 0;
  int64_t pages = 0;
  for (int rg : row_groups) {
    auto row_group = page_index->RowGroup(rg);
    if (!row_group) continue;
    for (const std::string& name : columns) {
      int column = reader.metadata()->schema()->ColumnIndex(name);
      if (column < 0) continue;
      auto offsets = row_group->GetOffsetIndex(column);
      if (offsets) pages += static_cast<int64_t>(offsets->page_locations().size());
    }
  }
  return pages;
}

}  // namespace memberlake::query::internal
