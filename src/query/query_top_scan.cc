// Top-N by late materialisation: the first order key and the filter columns of every row
// group are read first, the rows that can still be among the best k are found with a bounded
// heap of that key, and only then are the selected columns read, for just the row groups that
// hold such rows and taken for just those rows. The selected text columns (names, ids) are
// most of a row group's decoding: the ten oldest members decode ten row groups' worth at most,
// not the table's.
#include <algorithm>
#include <limits>
#include <map>
#include <queue>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

namespace {

// The first key of each row as an unsigned number ordered like the requested order, the
// best first; nulls (last in either direction) as the largest. Two keys may map alike only
// at the extremes, which only admits more candidates.
arrow::Status OrderedKeys(const arrow::Array& column, bool descending, std::vector<uint64_t>* out) {
  const int64_t n = column.length();
  out->resize(static_cast<size_t>(n));
  auto fill = [&](const auto* values) {
    for (int64_t i = 0; i < n; ++i) {
      if (column.IsNull(i)) {
        (*out)[static_cast<size_t>(i)] = std::numeric_limits<uint64_t>::max();
        continue;
      }
      // Flipping the sign bit orders signed numbers as unsigned ones.
      uint64_t key = static_cast<uint64_t>(static_cast<int64_t>(values[i])) ^ (uint64_t{1} << 63);
      (*out)[static_cast<size_t>(i)] = descending ? ~key : key;
    }
  };
  const arrow::ArrayData& data = *column.data();
  switch (column.type_id()) {
    case arrow::Type::INT64:
    case arrow::Type::TIMESTAMP: fill(data.GetValues<int64_t>(1)); break;
    case arrow::Type::INT32:
    case arrow::Type::DATE32: fill(data.GetValues<int32_t>(1)); break;
    default: return arrow::Status::TypeError("top-N key of type ", column.type()->ToString());
  }
  return arrow::Status::OK();
}

struct Candidate {
  uint64_t key;
  size_t piece;
  int row_group;
  int64_t row;
};

}  // namespace

bool LateTopNApplies(const model::FieldRegistry& registry, const OrderSpec& first) {
  const model::FieldSpec* spec = registry.Find(first.column);
  return spec != nullptr && (spec->type == model::FieldType::kInteger || spec->type == model::FieldType::kDate ||
                             spec->type == model::FieldType::kTimestamp);
}

arrow::Status ScanTopNLate(const std::vector<FilePiece>& pieces, const RowFilter& filter, const OrderSpec& first,
                           int64_t k, const std::vector<std::string>& needed, TopRows* top, ScanStats* stats) {
  if (k <= 0) return arrow::Status::OK();
  std::vector<std::string> keyed = filter.columns();
  keyed.push_back(first.column);
  // Phase 1: the k best first keys seen so far (a max-heap: its top is the worst of them) and
  // every row at or before that bound when its row group was read.
  std::priority_queue<uint64_t> best;
  std::vector<Candidate> candidates;
  std::vector<uint8_t> keep;
  std::vector<uint64_t> keys;
  auto bound = [&] { return static_cast<int64_t>(best.size()) < k ? std::numeric_limits<uint64_t>::max() : best.top(); };
  for (size_t p = 0; p < pieces.size(); ++p) {
    for (int rg : pieces[p].row_groups) {
      ARROW_ASSIGN_OR_RAISE(auto batch, ReadColumns(*pieces[p].reader, rg, keyed));
      keep.assign(static_cast<size_t>(batch->num_rows()), 1);
      ARROW_RETURN_NOT_OK(filter.Apply(*batch, &keep));
      ARROW_RETURN_NOT_OK(OrderedKeys(*batch->GetColumnByName(first.column), first.descending, &keys));
      for (size_t i = 0; i < keys.size(); ++i) {
        if (!keep[i]) continue;
        stats->rows_read += 1;
        if (static_cast<int64_t>(best.size()) < k) {
          best.push(keys[i]);
        } else if (keys[i] < best.top()) {
          best.pop();
          best.push(keys[i]);
        }
      }
      const uint64_t limit = bound();
      for (size_t i = 0; i < keys.size(); ++i) {
        if (keep[i] && keys[i] <= limit) candidates.push_back({keys[i], p, rg, static_cast<int64_t>(i)});
      }
      // Rows the bound has since passed are dropped now and then: memory stays near k.
      if (candidates.size() > static_cast<size_t>(4 * k + 4096)) {
        std::erase_if(candidates, [&](const Candidate& c) { return c.key > limit; });
      }
    }
  }
  const uint64_t limit = bound();
  std::erase_if(candidates, [&](const Candidate& c) { return c.key > limit; });
  // Phase 2: the selected columns of the row groups holding candidates, just those rows; the
  // exact order (later keys, ties) is TopRows' work on these few rows.
  std::map<std::pair<size_t, int>, std::vector<int64_t>> rows_of;
  for (const Candidate& c : candidates) rows_of[{c.piece, c.row_group}].push_back(c.row);
  for (auto& [where, rows] : rows_of) {
    parquet::arrow::FileReader& reader = *pieces[where.first].reader;
    ARROW_ASSIGN_OR_RAISE(auto selected, ReadRowsOfRowGroup(reader, where.second, needed, rows, 16));
    ARROW_RETURN_NOT_OK(top->Add(selected));
  }
  return arrow::Status::OK();
}

}  // namespace memberlake::query::internal
