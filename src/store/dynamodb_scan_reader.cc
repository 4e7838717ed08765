#include "store/dynamodb_scan_reader.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <arrow/api.h>

#include "model/no_throw.h"
#include "store/dynamodb_items.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

class ParallelScanReader : public arrow::RecordBatchReader {
 public:
  ParallelScanReader(DynamoDbOptions client, std::string table, int segments,
                     std::shared_ptr<const model::FieldRegistry> registry, int64_t batch_rows)
      : client_(std::move(client)), table_(std::move(table)), segments_(segments), registry_(std::move(registry)),
        batch_rows_(batch_rows) {
    running_ = segments_;
    for (int segment = 0; segment < segments_; ++segment) {
      threads_.emplace_back([this, segment] { RunSegment(segment); });
    }
  }
  ~ParallelScanReader() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
    }
    changed_.notify_all();
    for (auto& thread : threads_) thread.join();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return registry_->raw_schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !queue_.empty() || running_ == 0 || !error_.ok(); });
    if (!error_.ok()) return error_;
    if (queue_.empty()) {
      *batch = nullptr;
      return arrow::Status::OK();
    }
    *batch = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return arrow::Status::OK();
  }

 private:
  // The thread entry: any exception (allocation failure, a bug) becomes the scan's error.
  void RunSegment(int segment) {
    arrow::Status status = model::CatchAll("DynamoDB scan segment " + std::to_string(segment),
                                           [&] { return Segment(segment); });
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status.ok() && error_.ok() && !cancelled_) error_ = status;
    --running_;
    changed_.notify_all();
  }

  arrow::Status Segment(int segment) {
    ARROW_ASSIGN_OR_RAISE(auto client, DynamoDbClient::Make(client_));
    std::vector<arrow::StringBuilder> builders(registry_->stored_fields().size());
    int64_t rows = 0;
    auto flush = [&]() -> arrow::Status {
      if (rows == 0) return arrow::Status::OK();
      arrow::ArrayVector arrays;
      for (auto& builder : builders) {
        ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
        arrays.push_back(array);
      }
      auto batch = arrow::RecordBatch::Make(registry_->raw_schema(), rows, arrays);
      rows = 0;
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return queue_.size() < 8 || cancelled_; });
      if (cancelled_) return arrow::Status::Cancelled("scan closed");
      queue_.push_back(std::move(batch));
      changed_.notify_all();
      return arrow::Status::OK();
    };
    auto row_done = [&]() { return ++rows >= batch_rows_ ? flush() : arrow::Status::OK(); };
    Json request = {{"TableName", table_}, {"Segment", segment}, {"TotalSegments", segments_}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client->Call("Scan", request));
      ARROW_RETURN_NOT_OK(AppendItems(page, *registry_, builders, row_done));
      const Json* next = JsonMember(page, "LastEvaluatedKey");
      if (next == nullptr) break;
      request["ExclusiveStartKey"] = *next;
    }
    return flush();
  }

  DynamoDbOptions client_;
  std::string table_;
  int segments_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  int64_t batch_rows_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> queue_;
  int running_ = 0;
  bool cancelled_ = false;
  arrow::Status error_;
  std::vector<std::thread> threads_;
};

}  // namespace

arrow::Status AppendItems(const Json& page, const model::FieldRegistry& registry,
                          std::vector<arrow::StringBuilder>& builders, const std::function<arrow::Status()>& row_done) {
  ARROW_ASSIGN_OR_RAISE(const Json* items, JsonObjects(page, "Items", "DynamoDB Scan"));
  const auto& specs = registry.stored_fields();
  std::vector<std::optional<std::string>> row(specs.size());
  for (const Json& item : *items) {
    for (size_t f = 0; f < specs.size(); ++f) {
      const Json* value = JsonMember(item, specs[f].name);
      auto text = value ? AttributeText(*value, specs[f].name) : std::optional<std::string>();
      if (!text.ok()) {
        return text.status().WithMessage("member ", StringAttribute(item, "member_id", "?"), ": ", text.status().message());
      }
      row[f] = std::move(*text);
    }
    // Appended only once the whole item decoded, so the columns stay aligned.
    for (size_t f = 0; f < specs.size(); ++f) ARROW_RETURN_NOT_OK(row[f] ? builders[f].Append(*row[f]) : builders[f].AppendNull());
    ARROW_RETURN_NOT_OK(row_done());
  }
  return arrow::Status::OK();
}

std::shared_ptr<arrow::RecordBatchReader> MakeParallelScanReader(const DynamoDbOptions& client, std::string table,
                                                                 int segments,
                                                                 std::shared_ptr<const model::FieldRegistry> registry,
                                                                 int64_t batch_rows) {
  return std::make_shared<ParallelScanReader>(client, std::move(table), segments, std::move(registry), batch_rows);
}

}  // namespace memberlake::store
