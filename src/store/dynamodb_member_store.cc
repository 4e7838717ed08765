#include "store/dynamodb_member_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "model/member_normalizer.h"
#include "store/dynamodb_client.h"
#include "store/record_edits.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

struct TableOptions {
  std::string table;
  DynamoDbOptions client;
  int segments = 4;
};

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

arrow::Result<TableOptions> ParseUri(const std::string& rest) {
  TableOptions options;
  auto question = rest.find('?');
  options.table = rest.substr(0, question);
  if (options.table.empty()) return arrow::Status::Invalid("dynamodb:// URI needs a table name");
  if (question == std::string::npos) return options;
  std::string_view query(rest);
  query.remove_prefix(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    auto eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    if (key == "endpoint") {
      options.client.endpoint = value;
    } else if (key == "region") {
      options.client.region = value;
    } else if (key == "segments") {
      options.segments = std::atoi(value.c_str());
      if (options.segments < 1 || options.segments > 64) return arrow::Status::Invalid("segments must be 1..64");
    } else if (key == "max_attempts") {
      options.client.max_attempts = std::atoi(value.c_str());
      if (options.client.max_attempts < 1) return arrow::Status::Invalid("max_attempts must be >= 1");
    } else {
      return arrow::Status::Invalid("dynamodb:// URI: unknown option '", key,
                                    "' (endpoint, region, segments, max_attempts)");
    }
  }
  return options;
}

// One attribute value as the raw text the store keeps; nullopt for a missing or NULL value.
std::optional<std::string> AttributeText(const Json& value) {
  if (!value.is_object() || value.empty()) return std::nullopt;
  auto first = value.begin();  // {"S": "..."}: one member, the type tag
  const std::string type = first.key();
  const Json& content = first.value();
  if (type == "S" || type == "N") return content.get<std::string>();
  if (type == "BOOL") return content.get<bool>() ? "true" : "false";
  if (type == "NULL") return std::nullopt;
  if (type == "SS" || type == "NS") {  // sets: comma-joined, in the order given
    std::string out;
    for (const auto& item : content) {
      if (!out.empty()) out.push_back(',');
      out += item.get<std::string>();
    }
    return out;
  }
  return content.dump();  // lists and maps: their JSON text
}

bool IsInteger(const std::string& text) {
  size_t start = !text.empty() && text[0] == '-' ? 1 : 0;
  return text.size() > start && text.size() <= 18 &&
         std::all_of(text.begin() + static_cast<std::ptrdiff_t>(start), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Json Number(int64_t value) { return Json{{"N", std::to_string(value)}}; }

}  // namespace

class DynamoDbMemberStore : public MemberStore {
 public:
  DynamoDbMemberStore(TableOptions options, std::shared_ptr<const model::FieldRegistry> registry,
                      std::unique_ptr<DynamoDbClient> client)
      : options_(std::move(options)), changes_table_(options_.table + "-changes"), registry_(std::move(registry)),
        normalizer_(registry_), client_(std::move(client)) {}

  arrow::Status EnsureTables(bool create) {
    for (const auto& [table, keys] :
         std::vector<std::pair<std::string, Json>>{{options_.table, Json::array({{{"AttributeName", "member_id"}, {"KeyType", "HASH"}}})},
                                                   {changes_table_, Json::array({{{"AttributeName", "p"}, {"KeyType", "HASH"}},
                                                                                 {{"AttributeName", "v"}, {"KeyType", "RANGE"}}})}}) {
      auto described = client_->Call("DescribeTable", {{"TableName", table}});
      if (described.ok()) continue;
      if (!described.status().IsKeyError()) return described.status();
      if (!create) return arrow::Status::Invalid("DynamoDB table ", table, " not found");
      Json definitions = Json::array();
      for (const auto& key : keys) {
        std::string name = key["AttributeName"];
        definitions.push_back({{"AttributeName", name}, {"AttributeType", name == "v" ? "N" : "S"}});
      }
      ARROW_RETURN_NOT_OK(client_->Call("CreateTable", {{"TableName", table},
                                                        {"KeySchema", keys},
                                                        {"AttributeDefinitions", definitions},
                                                        {"BillingMode", "PAY_PER_REQUEST"}})
                              .status());
      for (int i = 0; i < 600; ++i) {  // wait until ACTIVE (immediate on DynamoDB Local)
        ARROW_ASSIGN_OR_RAISE(Json state, client_->Call("DescribeTable", {{"TableName", table}}));
        if (state["Table"].value("TableStatus", "") == "ACTIVE") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    return arrow::Status::OK();
  }

  arrow::Result<int64_t> DataVersion() override {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("GetItem", {{"TableName", changes_table_},
                                                                 {"Key", CounterKey()},
                                                                 {"ConsistentRead", true}}));
    if (!answer.contains("Item") || !answer["Item"].contains("data_version")) return 0;
    return std::stoll(answer["Item"]["data_version"]["N"].get<std::string>());
  }

  arrow::Result<StoreScan> Scan(int64_t batch_rows) override;

  arrow::Result<StoredMember> Get(const std::string& member_id) override {
    ARROW_ASSIGN_OR_RAISE(auto found, Find(member_id));
    if (!found) return arrow::Status::KeyError("member not found: ", member_id);
    return *found;
  }

  arrow::Result<StoredMember> Insert(const FieldValues& fields) override {
    ARROW_ASSIGN_OR_RAISE(FieldValues values, PrepareInsert(*registry_, fields, [&] { return AddToCounter("lidnummer", 1); }));
    ARROW_ASSIGN_OR_RAISE(model::MemberRecord record, normalizer_.NormalizeRecord(values));
    const std::string id = *record[static_cast<size_t>(registry_->StoredIndex("member_id"))];
    const std::optional<int64_t> lidnummer = LidnummerOf(*registry_, record);
    std::vector<Json> claims;
    if (lidnummer) claims.push_back(ClaimWrite(*lidnummer, id));
    auto put = [&](int64_t version) {
      return Json{{"Put", {{"TableName", options_.table},
                           {"Item", ToItem(record, version)},
                           {"ConditionExpression", "attribute_not_exists(member_id)"}}}};
    };
    ARROW_ASSIGN_OR_RAISE(int64_t version, Commit(id, "insert", put, claims, [&](size_t failed) {
      return failed == 0 ? arrow::Status::AlreadyExists("member ", id, " already exists") : LidnummerInUse(*lidnummer);
    }));
    return StoredMember{std::move(record), version};
  }

  arrow::Result<StoredMember> Update(const std::string& member_id, const FieldValues& changes,
                                     int64_t expected_version) override {
    ARROW_ASSIGN_OR_RAISE(StoredMember current, CheckVersion(member_id, expected_version));
    ARROW_ASSIGN_OR_RAISE(FieldValues values, MergeUpdate(*registry_, member_id, current.record, changes));
    ARROW_ASSIGN_OR_RAISE(model::MemberRecord record, normalizer_.NormalizeRecord(values));
    const std::optional<int64_t> old_number = LidnummerOf(*registry_, current.record);
    const std::optional<int64_t> new_number = LidnummerOf(*registry_, record);
    std::vector<Json> claims;
    if (new_number && new_number != old_number) claims.push_back(ClaimWrite(*new_number, member_id));
    auto put = [&](int64_t version) {
      return Json{{"Put", {{"TableName", options_.table},
                           {"Item", ToItem(record, version)},
                           {"ConditionExpression", "#v = :expected"},
                           {"ExpressionAttributeNames", {{"#v", "_version"}}},
                           {"ExpressionAttributeValues", {{":expected", Number(expected_version)}}}}}};
    };
    ARROW_ASSIGN_OR_RAISE(int64_t version, Commit(member_id, "update", put, claims, [&](size_t failed) {
      return failed == 0 ? Conflict(member_id, expected_version).status() : LidnummerInUse(*new_number);
    }));
    if (old_number != new_number) ReleaseLidnummer(old_number, member_id);
    return StoredMember{std::move(record), version};
  }

  arrow::Status Delete(const std::string& member_id, int64_t expected_version) override {
    ARROW_ASSIGN_OR_RAISE(StoredMember current, CheckVersion(member_id, expected_version));
    auto remove = [&](int64_t) {
      return Json{{"Delete", {{"TableName", options_.table},
                              {"Key", {{"member_id", {{"S", member_id}}}}},
                              {"ConditionExpression", "#v = :expected"},
                              {"ExpressionAttributeNames", {{"#v", "_version"}}},
                              {"ExpressionAttributeValues", {{":expected", Number(expected_version)}}}}}};
    };
    ARROW_RETURN_NOT_OK(Commit(member_id, "delete", remove, {}, [&](size_t) {
      return Conflict(member_id, expected_version).status();
    }).status());
    ReleaseLidnummer(LidnummerOf(*registry_, current.record), member_id);
    return arrow::Status::OK();
  }

  arrow::Result<std::vector<StoredMember>> List(int64_t offset, int64_t limit) override {
    // DynamoDB has no order: read all, order by lidnummer (a club's table is small).
    std::vector<StoredMember> all;
    Json request = {{"TableName", options_.table}, {"ConsistentRead", true}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Scan", request));
      for (const auto& item : page["Items"]) all.push_back(FromItem(item));
      if (!page.contains("LastEvaluatedKey")) break;
      request["ExclusiveStartKey"] = page["LastEvaluatedKey"];
    }
    const int lid = registry_->StoredIndex("lidnummer");
    const int id = registry_->StoredIndex("member_id");
    auto key = [&](const StoredMember& m) {
      const auto& text = lid >= 0 ? m.record[static_cast<size_t>(lid)] : std::nullopt;
      int64_t number = text && IsInteger(*text) ? std::stoll(*text) : INT64_MAX;
      return std::make_pair(number, m.record[static_cast<size_t>(id)].value_or(""));
    };
    std::sort(all.begin(), all.end(), [&](const StoredMember& a, const StoredMember& b) { return key(a) < key(b); });
    std::vector<StoredMember> page;
    for (int64_t i = offset; i < static_cast<int64_t>(all.size()) && i < offset + limit; ++i) page.push_back(all[static_cast<size_t>(i)]);
    return page;
  }

  arrow::Result<std::vector<ChangeEntry>> ChangesSince(int64_t after) override {
    std::vector<ChangeEntry> changes;
    Json request = {{"TableName", changes_table_},
                    {"KeyConditionExpression", "p = :p AND v > :after"},
                    {"ExpressionAttributeValues", {{":p", {{"S", "changes"}}}, {":after", Number(after)}}},
                    {"ConsistentRead", true}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Query", request));
      for (const auto& item : page["Items"]) {
        std::string op = item["op"]["S"];
        changes.push_back({std::stoll(item["v"]["N"].get<std::string>()), item["member_id"]["S"],
                           op == "insert" ? ChangeOp::kInsert : op == "update" ? ChangeOp::kUpdate : ChangeOp::kDelete});
      }
      if (!page.contains("LastEvaluatedKey")) break;
      request["ExclusiveStartKey"] = page["LastEvaluatedKey"];
    }
    return changes;
  }

  arrow::Result<int64_t> ImportRaw(arrow::RecordBatchReader& batches) override;

  const std::shared_ptr<const model::FieldRegistry>& registry() const override { return registry_; }

 private:
  static Json CounterKey() { return {{"p", {{"S", "counter"}}}, {"v", {{"N", "0"}}}}; }

  // Atomically adds `amount` to a counter and returns the new value.
  arrow::Result<int64_t> AddToCounter(const std::string& counter, int64_t amount) {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("UpdateItem", {{"TableName", changes_table_},
                                                                    {"Key", CounterKey()},
                                                                    {"UpdateExpression", "ADD #c :n"},
                                                                    {"ExpressionAttributeNames", {{"#c", counter}}},
                                                                    {"ExpressionAttributeValues", {{":n", Number(amount)}}},
                                                                    {"ReturnValues", "UPDATED_NEW"}}));
    return std::stoll(answer["Attributes"][counter]["N"].get<std::string>());
  }

  // Raises the lidnummer counter to at least `floor` (after imports with their own numbers).
  arrow::Status RaiseLidnummer(int64_t floor) {
    auto raised = client_->Call("UpdateItem", {{"TableName", changes_table_},
                                               {"Key", CounterKey()},
                                               {"UpdateExpression", "SET lidnummer = :floor"},
                                               {"ConditionExpression", "attribute_not_exists(lidnummer) OR lidnummer < :floor"},
                                               {"ExpressionAttributeValues", {{":floor", Number(floor)}}}});
    return raised.status().IsAlreadyExists() ? arrow::Status::OK() : raised.status();
  }

  Json ChangeItem(int64_t version, const std::string& member_id, const std::string& op) const {
    return {{"p", {{"S", "changes"}}}, {"v", Number(version)}, {"member_id", {{"S", member_id}}}, {"op", {{"S", op}}}};
  }

  // Member numbers are unique through claim items in the changes table (p = "lidnummer",
  // v = the number, member_id = its holder), written in the same transaction as the member:
  // the put takes a free number or one this member holds already. Releasing the old number
  // after a renumbering or a delete is a separate, best-effort step: a crash in between
  // leaves a claim without a member (the number stays reserved), never two members with one.
  static Json ClaimKey(int64_t lidnummer) { return {{"p", {{"S", "lidnummer"}}}, {"v", Number(lidnummer)}}; }

  Json ClaimWrite(int64_t lidnummer, const std::string& member_id) const {
    Json item = ClaimKey(lidnummer);
    item["member_id"] = {{"S", member_id}};
    return {{"Put", {{"TableName", changes_table_},
                     {"Item", item},
                     {"ConditionExpression", "attribute_not_exists(p) OR member_id = :id"},
                     {"ExpressionAttributeValues", {{":id", {{"S", member_id}}}}}}}};
  }

  void ReleaseLidnummer(std::optional<int64_t> lidnummer, const std::string& member_id) {
    if (!lidnummer) return;
    (void)client_->Call("DeleteItem", {{"TableName", changes_table_},
                                       {"Key", ClaimKey(*lidnummer)},
                                       {"ConditionExpression", "member_id = :id"},
                                       {"ExpressionAttributeValues", {{":id", {{"S", member_id}}}}}});
  }

  // One change, all or nothing (TransactWriteItems): the data_version counter moves from the
  // value just read to the next, the change is logged under that version, the member item is
  // written by `member_write(version)` under its own condition, and `extra` (claims) apply.
  // So a reader that sees data_version V sees every change up to V in the log and in the
  // table. Another writer moving the counter first, or a transaction conflict, means another
  // try; a failed condition of the member write (0) or of extra[i] (1 + i) is
  // `condition_failed(index)`. Returns the new data_version.
  arrow::Result<int64_t> Commit(const std::string& member_id, const std::string& op,
                                const std::function<Json(int64_t)>& member_write, const std::vector<Json>& extra,
                                const std::function<arrow::Status(size_t)>& condition_failed) {
    constexpr int kAttempts = 25;
    std::minstd_rand rng(std::random_device{}());
    arrow::Status last = arrow::Status::OK();
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (5 << std::min(attempt, 5))));
      ARROW_ASSIGN_OR_RAISE(int64_t current, DataVersion());
      const int64_t next = current + 1;
      Json items = Json::array();
      items.push_back({{"Update", {{"TableName", changes_table_},
                                   {"Key", CounterKey()},
                                   {"UpdateExpression", "SET data_version = :next"},
                                   {"ConditionExpression", "attribute_not_exists(data_version) OR data_version = :current"},
                                   {"ExpressionAttributeValues", {{":next", Number(next)}, {":current", Number(current)}}}}}});
      items.push_back({{"Put", {{"TableName", changes_table_},
                                {"Item", ChangeItem(next, member_id, op)},
                                {"ConditionExpression", "attribute_not_exists(p)"}}}});
      items.push_back(member_write(next));
      for (const Json& item : extra) items.push_back(item);
      std::vector<std::string> reasons;
      last = client_->TransactWrite(items, &reasons);
      if (last.ok()) return next;
      if (!last.IsAlreadyExists()) return last;
      auto failed = [&](size_t i) { return i < reasons.size() && reasons[i] == "ConditionalCheckFailed"; };
      const bool conflict = std::any_of(reasons.begin(), reasons.end(),
                                        [](const std::string& r) { return r == "TransactionConflict"; });
      if (conflict || reasons.empty() || failed(0) || failed(1)) continue;  // raced another writer
      for (size_t i = 2; i < items.size(); ++i) {
        if (failed(i)) return condition_failed(i - 2);
      }
      return last;
    }
    return arrow::Status::IOError("member ", member_id, ": the change kept colliding with other writers (",
                                  last.message(), ")");
  }

  Json ToItem(const model::MemberRecord& record, int64_t version) const {
    Json item = Json::object();
    const auto& specs = registry_->stored_fields();
    for (size_t i = 0; i < specs.size() && i < record.size(); ++i) {
      if (!record[i]) continue;
      const bool number = specs[i].type == model::FieldType::kInteger && IsInteger(*record[i]);
      item[specs[i].name] = {{number ? "N" : "S", *record[i]}};  // dirty legacy integers stay text
    }
    item["_version"] = Number(version);
    return item;
  }

  StoredMember FromItem(const Json& item) const {
    StoredMember member;
    for (const auto& spec : registry_->stored_fields()) {
      member.record.push_back(item.contains(spec.name) ? AttributeText(item[spec.name]) : std::nullopt);
    }
    if (item.contains("_version")) member.version = std::stoll(item["_version"]["N"].get<std::string>());
    return member;
  }

  arrow::Result<std::optional<StoredMember>> Find(const std::string& member_id) {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("GetItem", {{"TableName", options_.table},
                                                                 {"Key", {{"member_id", {{"S", member_id}}}}},
                                                                 {"ConsistentRead", true}}));
    if (!answer.contains("Item")) return std::optional<StoredMember>();
    return std::optional<StoredMember>(FromItem(answer["Item"]));
  }

  arrow::Result<StoredMember> Conflict(const std::string& member_id, int64_t expected) {
    return arrow::Status::AlreadyExists("version conflict: member ", member_id, " changed since version ", expected);
  }

  arrow::Result<StoredMember> CheckVersion(const std::string& member_id, int64_t expected) {
    ARROW_ASSIGN_OR_RAISE(StoredMember current, Get(member_id));
    if (current.version != expected) return Conflict(member_id, expected);
    return current;
  }

  // Writes `items` with BatchWriteItem (25 per request), resending unprocessed items.
  arrow::Status BatchPut(const std::string& table, std::vector<Json> items) {
    for (size_t start = 0; start < items.size(); start += 25) {
      Json requests = Json::array();
      for (size_t i = start; i < std::min(items.size(), start + 25); ++i) {
        requests.push_back({{"PutRequest", {{"Item", std::move(items[i])}}}});
      }
      Json unprocessed = {{table, requests}};
      for (int attempt = 0; !unprocessed.empty(); ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1000, 20 << std::min(attempt, 6))));
        if (attempt > 12) return arrow::Status::IOError("DynamoDB BatchWriteItem: items stay unprocessed");
        ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("BatchWriteItem", {{"RequestItems", unprocessed}}));
        unprocessed = answer.value("UnprocessedItems", Json::object());
      }
    }
    return arrow::Status::OK();
  }

  TableOptions options_;
  std::string changes_table_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  model::MemberNormalizer normalizer_;
  std::unique_ptr<DynamoDbClient> client_;
};

namespace {

// Batches from parallel Scan segments, each on its own thread and client, through a bounded
// queue (memory stays at a few batches however large the table).
class ParallelScanReader : public arrow::RecordBatchReader {
 public:
  ParallelScanReader(TableOptions options, std::shared_ptr<const model::FieldRegistry> registry, int64_t batch_rows)
      : options_(std::move(options)), registry_(std::move(registry)), batch_rows_(batch_rows) {
    running_ = options_.segments;
    for (int segment = 0; segment < options_.segments; ++segment) {
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
  void RunSegment(int segment) {
    arrow::Status status = Segment(segment);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status.ok() && error_.ok() && !cancelled_) error_ = status;
    --running_;
    changed_.notify_all();
  }

  arrow::Status Segment(int segment) {
    ARROW_ASSIGN_OR_RAISE(auto client, DynamoDbClient::Make(options_.client));
    const auto& specs = registry_->stored_fields();
    std::vector<arrow::StringBuilder> builders(specs.size());
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
    Json request = {{"TableName", options_.table}, {"Segment", segment}, {"TotalSegments", options_.segments}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client->Call("Scan", request));
      for (const auto& item : page["Items"]) {
        for (size_t f = 0; f < specs.size(); ++f) {
          auto text = item.contains(specs[f].name) ? AttributeText(item[specs[f].name]) : std::nullopt;
          ARROW_RETURN_NOT_OK(text ? builders[f].Append(*text) : builders[f].AppendNull());
        }
        if (++rows >= batch_rows_) ARROW_RETURN_NOT_OK(flush());
      }
      if (!page.contains("LastEvaluatedKey")) break;
      request["ExclusiveStartKey"] = page["LastEvaluatedKey"];
    }
    return flush();
  }

  TableOptions options_;
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

arrow::Result<StoreScan> DynamoDbMemberStore::Scan(int64_t batch_rows) {
  StoreScan scan;
  ARROW_ASSIGN_OR_RAISE(scan.data_version, DataVersion());  // before the scan: rows may only be newer
  ARROW_ASSIGN_OR_RAISE(Json described, client_->Call("DescribeTable", {{"TableName", options_.table}}));
  scan.row_count = described["Table"].value("ItemCount", int64_t{0});  // approximate on real DynamoDB
  scan.reader = std::make_shared<ParallelScanReader>(options_, registry_, std::max<int64_t>(1, batch_rows));
  return scan;
}

arrow::Result<int64_t> DynamoDbMemberStore::ImportRaw(arrow::RecordBatchReader& batches) {
  const auto& specs = registry_->stored_fields();
  const int id_index = registry_->StoredIndex("member_id");
  const int lid_index = registry_->StoredIndex("lidnummer");
  int64_t loaded = 0, max_lidnummer = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
    if (batch == nullptr) break;
    ARROW_ASSIGN_OR_RAISE(auto columns, ImportColumns(*registry_, *batch));
    // One range of versions per batch, one change entry per row.
    ARROW_ASSIGN_OR_RAISE(int64_t last, AddToCounter("data_version", batch->num_rows()));
    int64_t version = last - batch->num_rows();
    std::vector<Json> items, changes, claims;
    std::set<int64_t> claimed;  // a batch write may not name one key twice (legacy duplicates)
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      model::MemberRecord record(specs.size());
      for (size_t f = 0; f < specs.size(); ++f) {
        if (columns[f] && !columns[f]->IsNull(row)) record[f] = std::string(columns[f]->GetView(row));
      }
      auto& id = record[static_cast<size_t>(id_index)];
      if (!id || id->empty()) id = NewMemberId();
      if (lid_index >= 0 && record[static_cast<size_t>(lid_index)] && IsInteger(*record[static_cast<size_t>(lid_index)])) {
        const int64_t number = std::stoll(*record[static_cast<size_t>(lid_index)]);
        max_lidnummer = std::max<int64_t>(max_lidnummer, number);
        if (claimed.insert(number).second) {
          Json claim = ClaimKey(number);
          claim["member_id"] = {{"S", *id}};
          claims.push_back(std::move(claim));
        }
      }
      ++version;
      changes.push_back(ChangeItem(version, *id, "insert"));
      items.push_back(ToItem(record, version));
    }
    // The log first: a change is never missing from it.
    ARROW_RETURN_NOT_OK(BatchPut(changes_table_, std::move(changes)));
    ARROW_RETURN_NOT_OK(BatchPut(changes_table_, std::move(claims)));
    ARROW_RETURN_NOT_OK(BatchPut(options_.table, std::move(items)));
    loaded += batch->num_rows();
  }
  if (max_lidnummer > 0) ARROW_RETURN_NOT_OK(RaiseLidnummer(max_lidnummer));
  return loaded;
}

arrow::Result<std::unique_ptr<MemberStore>> OpenDynamoDbMemberStore(const std::string& uri_rest,
                                                                    std::shared_ptr<const model::FieldRegistry> registry,
                                                                    const StoreOptions& options) {
  ARROW_ASSIGN_OR_RAISE(TableOptions table, ParseUri(uri_rest));
  ARROW_ASSIGN_OR_RAISE(auto client, DynamoDbClient::Make(table.client));
  auto store = std::make_unique<DynamoDbMemberStore>(table, std::move(registry), std::move(client));
  ARROW_RETURN_NOT_OK(store->EnsureTables(options.create_if_missing));
  return std::unique_ptr<MemberStore>(std::move(store));
}

}  // namespace memberlake::store
