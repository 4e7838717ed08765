// Row groups read on both cores. The late scans (top-N, filtered rows) read a few columns of
// every kept row group and judge them; one thread did that while the other core idled, and
// decompressing those pages is most of their time. Each worker takes the next row group as it
// finishes one, through readers of its own: a FileReader pre-buffers and is not thread-safe.
#include <atomic>
#include <map>

#include <arrow/api.h>
#include <arrow/util/parallel.h>
#include <arrow/util/thread_pool.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

std::vector<RowGroupRef> RowGroupsOf(const std::vector<FilePiece>& pieces) {
  std::vector<RowGroupRef> items;
  for (size_t p = 0; p < pieces.size(); ++p) {
    for (int rg : pieces[p].row_groups) items.push_back({p, rg});
  }
  return items;
}

int RowGroupWorkers(size_t items) {
  const int capacity = std::max(1, arrow::internal::GetCpuThreadPool()->GetCapacity());
  return static_cast<int>(std::min<size_t>(static_cast<size_t>(capacity), std::max<size_t>(items, 1)));
}

arrow::Status ForEachRowGroup(
    const std::vector<FilePiece>& pieces, const std::vector<RowGroupRef>& items,
    const std::function<arrow::Status(int worker, parquet::arrow::FileReader& reader, size_t item)>& work) {
  bool reopens = true;  // every piece can give a second reader
  for (const FilePiece& piece : pieces) reopens = reopens && static_cast<bool>(piece.reopen);
  const int workers = reopens ? RowGroupWorkers(items.size()) : 1;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  return arrow::internal::OptionalParallelFor(workers > 1, workers, [&](int worker) -> arrow::Status {
    // Worker 0 reads through the pieces' own readers, the others open theirs when first needed.
    std::map<size_t, std::shared_ptr<parquet::arrow::FileReader>> readers;
    auto run = [&](size_t i) -> arrow::Status {
      std::shared_ptr<parquet::arrow::FileReader>& reader = readers[items[i].piece];
      if (reader == nullptr && worker == 0) reader = pieces[items[i].piece].reader;
      if (reader == nullptr) {
        ARROW_ASSIGN_OR_RAISE(reader, pieces[items[i].piece].reopen());
      }
      return work(worker, *reader, i);
    };
    for (size_t i = next++; i < items.size() && !failed.load(); i = next++) {
      arrow::Status status = run(i);
      if (!status.ok()) {
        failed.store(true);
        return status;
      }
    }
    return arrow::Status::OK();
  });
}

}  // namespace memberlake::query::internal
