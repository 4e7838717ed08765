#include "lake/cluster_windows.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

namespace memberlake::lake {
namespace {

// A sort key's values as int64 codes where that is cheap (enum dictionary indices, one
// dictionary after concatenation; integers), nulls as -1; nullptr for other types, which are
// compared with RangeEquals.
arrow::Result<std::shared_ptr<arrow::Int64Array>> KeyCodes(const std::shared_ptr<arrow::Array>& column) {
  std::shared_ptr<arrow::Array> values = column;
  if (column->type_id() == arrow::Type::DICTIONARY) {
    values = std::static_pointer_cast<arrow::DictionaryArray>(column)->indices();
  }
  if (!arrow::is_integer(values->type_id())) return nullptr;
  ARROW_ASSIGN_OR_RAISE(arrow::Datum codes, arrow::compute::Cast(values, arrow::int64()));
  ARROW_ASSIGN_OR_RAISE(codes, arrow::compute::CallFunction("coalesce", {codes, arrow::Datum(int64_t{-1})}));
  return std::static_pointer_cast<arrow::Int64Array>(codes.make_array());
}

class ClusterWindowReader : public arrow::RecordBatchReader {
 public:
  ClusterWindowReader(std::shared_ptr<arrow::RecordBatchReader> input, std::vector<int> keys, int cluster,
                      int64_t window_rows)
      : input_(std::move(input)), keys_(std::move(keys)), cluster_(cluster), window_rows_(window_rows) {}

  std::shared_ptr<arrow::Schema> schema() const override { return input_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    arrow::RecordBatchVector window;
    int64_t rows = 0;
    while (rows < window_rows_) {
      if (!pending_) {
        ARROW_RETURN_NOT_OK(input_->ReadNext(&pending_));
        if (!pending_) break;
      }
      int64_t take = std::min(window_rows_ - rows, pending_->num_rows());
      window.push_back(pending_->Slice(0, take));
      pending_ = take < pending_->num_rows() ? pending_->Slice(take) : nullptr;
      rows += take;
    }
    if (rows == 0) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto batch, arrow::ConcatenateRecordBatches(window));
    ARROW_ASSIGN_OR_RAISE(*out, SortWindow(batch));
    return arrow::Status::OK();
  }

 private:
  // Stable sort by (run of equal sort keys, cluster column), nulls last (SortKey's default).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> SortWindow(const std::shared_ptr<arrow::RecordBatch>& batch) {
    const int64_t n = batch->num_rows();
    arrow::Int64Builder runs;
    ARROW_RETURN_NOT_OK(runs.Reserve(n));
    std::vector<std::shared_ptr<arrow::Int64Array>> codes;
    std::vector<std::shared_ptr<arrow::Array>> others;
    for (int key : keys_) {
      ARROW_ASSIGN_OR_RAISE(auto column_codes, KeyCodes(batch->column(key)));
      if (column_codes) {
        codes.push_back(std::move(column_codes));
      } else {
        others.push_back(batch->column(key));
      }
    }
    int64_t run = 0;
    for (int64_t row = 0; row < n; ++row) {
      bool same = row > 0;
      for (size_t k = 0; same && k < codes.size(); ++k) same = codes[k]->Value(row) == codes[k]->Value(row - 1);
      for (size_t k = 0; same && k < others.size(); ++k) same = others[k]->RangeEquals(*others[k], row, row + 1, row - 1);
      if (row > 0 && !same) ++run;
      runs.UnsafeAppend(run);
    }
    ARROW_ASSIGN_OR_RAISE(auto run_array, runs.Finish());
    auto keys = arrow::RecordBatch::Make(
        arrow::schema({arrow::field("run", arrow::int64()), arrow::field("cluster", batch->column(cluster_)->type())}),
        n, {run_array, batch->column(cluster_)});
    arrow::compute::SortOptions order({arrow::compute::SortKey("run"), arrow::compute::SortKey("cluster")});
    ARROW_ASSIGN_OR_RAISE(auto indices, arrow::compute::SortIndices(arrow::Datum(keys), order));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, arrow::compute::Take(batch, indices));
    return sorted.record_batch();
  }

  std::shared_ptr<arrow::RecordBatchReader> input_;
  std::vector<int> keys_;
  int cluster_;
  int64_t window_rows_;
  std::shared_ptr<arrow::RecordBatch> pending_;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ClusterWindows(
    std::shared_ptr<arrow::RecordBatchReader> sorted, const model::FieldRegistry& registry, int64_t window_rows) {
  if (registry.cluster_by().empty()) return sorted;
  const auto& schema = *sorted->schema();
  std::vector<int> keys;
  for (const std::string& name : registry.sort_by()) {
    int index = schema.GetFieldIndex(name);
    if (index < 0) return arrow::Status::Invalid("cluster windows: sort column '", name, "' not in the rows");
    keys.push_back(index);
  }
  int cluster = schema.GetFieldIndex(registry.cluster_by());
  if (cluster < 0) {
    return arrow::Status::Invalid("cluster windows: cluster_by column '", registry.cluster_by(), "' not in the rows");
  }
  return std::make_shared<ClusterWindowReader>(std::move(sorted), std::move(keys), cluster, std::max<int64_t>(1, window_rows));
}

}  // namespace memberlake::lake
