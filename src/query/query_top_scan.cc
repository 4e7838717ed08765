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
  // Phase 1, on both cores: each worker keeps the k best first keys it has seen (a max-heap:
  // its top is the worst of them) and every row at or before that bound when its row group was
  // read. A worker sees only some row groups, so its bound is never better than the overall
  // one: its candidates include every row that can be among the overall best k.
  struct Worker {
    std::priority_queue<uint64_t> best;
    std::vector<Candidate> candidates;
    std::vector<uint8_t> keep;
    std::vector<uint64_t> keys;
    int64_t rows_read = 0;
  };
  const std::vector<RowGroupRef> items = RowGroupsOf(pieces);
  std::vector<Worker> workers(static_cast<size_t>(RowGroupWorkers(items.size())));
  auto bound_of = [k](const std::priority_queue<uint64_t>& best) {
    return static_cast<int64_t>(best.size()) < k ? std::numeric_limits<uint64_t>::max() : best.top();
  };
  auto offer = [k](std::priority_queue<uint64_t>& best, uint64_t key) {  // kept if among the k best
    if (static_cast<int64_t>(best.size()) < k) {
      best.push(key);
    } else if (key < best.top()) {
      best.pop();
      best.push(key);
    }
  };
  ARROW_RETURN_NOT_OK(ForEachRowGroup(pieces, items, [&](int w, parquet::arrow::FileReader& reader, size_t item) {
    Worker& worker = workers[static_cast<size_t>(w)];
    const RowGroupRef& where = items[item];
    ARROW_ASSIGN_OR_RAISE(auto batch, ReadColumns(reader, where.row_group, keyed));
    worker.keep.assign(static_cast<size_t>(batch->num_rows()), 1);
    ARROW_RETURN_NOT_OK(filter.Apply(*batch, &worker.keep));
    ARROW_RETURN_NOT_OK(OrderedKeys(*batch->GetColumnByName(first.column), first.descending, &worker.keys));
    const std::vector<uint64_t>& keys = worker.keys;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!worker.keep[i]) continue;
      worker.rows_read += 1;
      offer(worker.best, keys[i]);
    }
    const uint64_t limit = bound_of(worker.best);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (worker.keep[i] && keys[i] <= limit) {
        worker.candidates.push_back({keys[i], where.piece, where.row_group, static_cast<int64_t>(i)});
      }
    }
    // Rows the bound has since passed are dropped now and then: memory stays near k.
    if (worker.candidates.size() > static_cast<size_t>(4 * k + 4096)) {
      std::erase_if(worker.candidates, [&](const Candidate& c) { return c.key > limit; });
    }
    return arrow::Status::OK();
  }));
  // The overall bound: the k-th best key of all workers' best.
  std::priority_queue<uint64_t> best;
  std::vector<Candidate> candidates;
  for (Worker& worker : workers) {
    stats->rows_read += worker.rows_read;
    for (; !worker.best.empty(); worker.best.pop()) offer(best, worker.best.top());
  }
  const uint64_t limit = bound_of(best);
  for (Worker& worker : workers) {
    for (const Candidate& c : worker.candidates) {
      if (c.key <= limit) candidates.push_back(c);
    }
  }
  // Phase 2: the selected columns of the row groups holding candidates, just those rows, on
  // both cores; the exact order (later keys, ties) is TopRows' work on these few rows.
  std::map<std::pair<size_t, int>, std::vector<int64_t>> rows_of;
  for (const Candidate& c : candidates) rows_of[{c.piece, c.row_group}].push_back(c.row);
  std::vector<RowGroupRef> holding;
  std::vector<const std::vector<int64_t>*> rows;
  for (auto& [where, group_rows] : rows_of) {  // ascending: one worker read each row group
    holding.push_back({where.first, where.second});
    rows.push_back(&group_rows);
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> selected(holding.size());
  ARROW_RETURN_NOT_OK(ForEachRowGroup(pieces, holding, [&](int, parquet::arrow::FileReader& reader, size_t item) {
    ARROW_ASSIGN_OR_RAISE(selected[item], ReadRowsOfRowGroup(reader, holding[item].row_group, needed, *rows[item], 16));
    return arrow::Status::OK();
  }));
  for (const auto& batch : selected) ARROW_RETURN_NOT_OK(top->Add(batch));
  return arrow::Status::OK();
}

}  // namespace memberlake::query::internal
