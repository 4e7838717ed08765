#include "store/dynamodb_member_store.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "model/member_normalizer.h"
#include "store/dynamodb_change_log.h"
#include "store/dynamodb_client.h"
#include "store/dynamodb_items.h"
#include "store/dynamodb_member_numbers.h"
#include "store/dynamodb_scan_reader.h"
#include "store/dynamodb_stream.h"
#include "store/record_edits.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

struct TableOptions {
  std::string table;
  DynamoDbOptions client;
  int segments = 4;
  std::string counters_table;  // counters=: the club's Counters table for new member numbers
  std::string counter_id = "member_number";
  std::string changes_table;   // changes=: memberlake's change log table (default TABLE-changes)
  bool follow_stream = true;   // stream=off: ignore the table's stream (only memberlake's writes are seen)
  std::string streams_endpoint;  // streams_endpoint=: default the endpoint given, else AWS's streams endpoint
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
  options.changes_table = options.table + "-changes";
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
    } else if (key == "counters") {
      options.counters_table = value;
    } else if (key == "counter_id") {
      options.counter_id = value;
    } else if (key == "streams_endpoint") {
      options.streams_endpoint = value;
    } else if (key == "changes") {
      options.changes_table = value;
    } else if (key == "stream") {
      if (value != "auto" && value != "off") return arrow::Status::Invalid("stream must be auto or off");
      options.follow_stream = value == "auto";
    } else {
      return arrow::Status::Invalid("dynamodb:// URI: unknown option '", key,
                                    "' (endpoint, region, segments, max_attempts, counters, counter_id, changes, stream, streams_endpoint)");
    }
  }
  return options;
}

}  // namespace

class DynamoDbMemberStore : public MemberStore {
 public:
  DynamoDbMemberStore(TableOptions options, std::shared_ptr<const model::FieldRegistry> registry,
                      std::unique_ptr<DynamoDbClient> client)
      : options_(std::move(options)), changes_table_(options_.changes_table), registry_(std::move(registry)),
        normalizer_(registry_), client_(std::move(client)),
        numbers_({options_.table, changes_table_, options_.counters_table, options_.counter_id}, client_.get()) {}

  arrow::Status EnsureTables(bool create) {
    for (const auto& [table, keys] :
         std::vector<std::pair<std::string, Json>>{{options_.table, Json::array({{{"AttributeName", "member_id"}, {"KeyType", "HASH"}}})},
                                                   {changes_table_, Json::array({{{"AttributeName", "p"}, {"KeyType", "HASH"}},
                                                                                 {{"AttributeName", "v"}, {"KeyType", "RANGE"}}})}}) {
      auto described = client_->Call("DescribeTable", {{"TableName", table}});
      if (described.ok()) continue;
      if (!described.status().IsKeyError()) return described.status();
      // The members table is the club's; the change log is memberlake's own, made when absent.
      if (!create && table == options_.table) return arrow::Status::Invalid("DynamoDB table ", table, " not found");
      Json definitions = Json::array();
      for (const char* name : {"member_id", "p", "v"}) {
        for (const auto& key : keys) {
          if (JsonString(key, "AttributeName") == name) {
            definitions.push_back({{"AttributeName", name}, {"AttributeType", std::string(name) == "v" ? "N" : "S"}});
          }
        }
      }
      ARROW_RETURN_NOT_OK(client_->Call("CreateTable", {{"TableName", table},
                                                        {"KeySchema", keys},
                                                        {"AttributeDefinitions", definitions},
                                                        {"BillingMode", "PAY_PER_REQUEST"}})
                              .status());
      for (int i = 0; i < 600; ++i) {  // wait until ACTIVE (immediate on DynamoDB Local)
        ARROW_ASSIGN_OR_RAISE(Json state, client_->Call("DescribeTable", {{"TableName", table}}));
        const Json* described_table = JsonMember(state, "Table");
        if (described_table && JsonString(*described_table, "TableStatus") == "ACTIVE") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    ARROW_RETURN_NOT_OK(numbers_.Open());
    return FollowStream();
  }

  // Follows the members table's stream when it has one (docs/aws.md, dynamodb_stream.h).
  arrow::Status FollowStream() {
    if (!options_.follow_stream) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(Json described, client_->Call("DescribeTable", {{"TableName", options_.table}}));
    const Json* table = JsonMember(described, "Table");
    const std::string arn = table ? JsonString(*table, "LatestStreamArn") : "";
    const Json* spec = table ? JsonMember(*table, "StreamSpecification") : nullptr;
    const Json* enabled = spec ? JsonMember(*spec, "StreamEnabled") : nullptr;
    if (arn.empty() || !(enabled && enabled->is_boolean() && enabled->get<bool>())) return arrow::Status::OK();
    DynamoDbOptions streams = options_.client;
    if (!options_.streams_endpoint.empty()) streams.endpoint = options_.streams_endpoint;
    ARROW_ASSIGN_OR_RAISE(stream_, DynamoDbStreamFollower::Make(streams, arn, changes_table_, client_.get()));
    return arrow::Status::OK();
  }

  // With a stream, the change log first catches up with every writer's changes.
  arrow::Result<int64_t> DataVersion() override {
    if (stream_) ARROW_RETURN_NOT_OK(stream_->CatchUp());
    return CounterVersion();
  }

  arrow::Result<int64_t> CounterVersion() {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("GetItem", {{"TableName", changes_table_},
                                                                 {"Key", ChangesCounterKey()},
                                                                 {"ConsistentRead", true}}));
    const Json* item = JsonMember(answer, "Item");
    if (item == nullptr) return 0;
    ARROW_ASSIGN_OR_RAISE(auto version, IntegerAttribute(*item, "data_version"));
    return version.value_or(0);
  }

  arrow::Result<StoreScan> Scan(int64_t batch_rows) override;

  arrow::Result<StoredMember> Get(const std::string& member_id) override {
    ARROW_ASSIGN_OR_RAISE(auto found, Find(member_id));
    if (!found) return arrow::Status::KeyError("member not found: ", member_id);
    return found->member;
  }

  arrow::Result<StoredMember> Insert(const FieldValues& fields) override {
    ARROW_ASSIGN_OR_RAISE(FieldValues values, PrepareInsert(*registry_, fields, [&] { return numbers_.Next(); }));
    ARROW_ASSIGN_OR_RAISE(model::MemberRecord record, normalizer_.NormalizeRecord(values));
    const std::string id = *record[static_cast<size_t>(registry_->StoredIndex("member_id"))];
    const std::optional<int64_t> lidnummer = LidnummerOf(*registry_, record);
    std::vector<Json> claims;
    if (lidnummer) {
      ARROW_RETURN_NOT_OK(numbers_.CheckFree(*lidnummer, id));
      ARROW_ASSIGN_OR_RAISE(Json claim, numbers_.ClaimWrite(*lidnummer, id));
      claims.push_back(std::move(claim));
    }
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

  // Writes only what changed: the fields the caller named whose value differs from the stored
  // one (SET, with the registry's type; REMOVE for a cleared value), updated_at and _version.
  // Every other attribute, inside the registry or not, keeps its value and DynamoDB type.
  arrow::Result<StoredMember> Update(const std::string& member_id, const FieldValues& changes,
                                     int64_t expected_version) override {
    ARROW_ASSIGN_OR_RAISE(Loaded current, CheckVersion(member_id, expected_version));
    ARROW_ASSIGN_OR_RAISE(FieldValues values, MergeUpdate(*registry_, member_id, current.member.record, changes));
    ARROW_ASSIGN_OR_RAISE(model::MemberRecord normalized, normalizer_.NormalizeRecord(values));
    std::set<std::string> named = {"updated_at"};
    for (const auto& [name, value] : changes) named.insert(name);
    const auto& specs = registry_->stored_fields();
    model::MemberRecord record = current.member.record;  // as stored, raw where not edited
    std::string set, remove;
    Json names = {{"#v", "_version"}}, values_json = Json::object();
    for (size_t i = 0; i < specs.size() && i < normalized.size(); ++i) {
      if (!named.count(specs[i].name) || normalized[i] == record[i]) continue;
      record[i] = normalized[i];
      const std::string n = "#a" + std::to_string(i), v = ":a" + std::to_string(i);
      names[n] = specs[i].name;
      if (!normalized[i]) {
        remove += (remove.empty() ? " REMOVE " : ", ") + n;
      } else {
        set += ", " + n + " = " + v;
        values_json[v] = TypedValue(specs[i], *normalized[i]);
      }
    }
    const std::optional<int64_t> old_number = LidnummerOf(*registry_, current.member.record);
    const std::optional<int64_t> new_number = LidnummerOf(*registry_, record);
    std::vector<Json> claims;
    if (new_number && new_number != old_number) {
      ARROW_RETURN_NOT_OK(numbers_.CheckFree(*new_number, member_id));
      ARROW_ASSIGN_OR_RAISE(Json claim, numbers_.ClaimWrite(*new_number, member_id));
      claims.push_back(std::move(claim));
    }
    auto update = [&](int64_t version) {
      Json bound = values_json;
      bound[":version"] = NumberValue(version);
      bound[":expected"] = NumberValue(expected_version);
      return Json{{"Update", {{"TableName", options_.table},
                              {"Key", {{"member_id", {{"S", member_id}}}}},
                              {"UpdateExpression", "SET #v = :version" + set + remove},
                              {"ConditionExpression", VersionCondition(expected_version)},
                              {"ExpressionAttributeNames", names},
                              {"ExpressionAttributeValues", bound}}}};
    };
    ARROW_ASSIGN_OR_RAISE(int64_t version, Commit(member_id, "update", update, claims, [&](size_t failed) {
      return failed == 0 ? Conflict(member_id, expected_version).status() : LidnummerInUse(*new_number);
    }));
    if (old_number != new_number) numbers_.Release(old_number, member_id);
    return StoredMember{std::move(record), version};
  }

  arrow::Status Delete(const std::string& member_id, int64_t expected_version) override {
    ARROW_ASSIGN_OR_RAISE(Loaded current, CheckVersion(member_id, expected_version));
    auto remove = [&](int64_t) {
      return Json{{"Delete", {{"TableName", options_.table},
                              {"Key", {{"member_id", {{"S", member_id}}}}},
                              {"ConditionExpression", VersionCondition(expected_version)},
                              {"ExpressionAttributeNames", {{"#v", "_version"}}},
                              {"ExpressionAttributeValues", {{":expected", NumberValue(expected_version)}}}}}};
    };
    ARROW_RETURN_NOT_OK(Commit(member_id, "delete", remove, {}, [&](size_t) {
      return Conflict(member_id, expected_version).status();
    }).status());
    numbers_.Release(LidnummerOf(*registry_, current.member.record), member_id);
    return arrow::Status::OK();
  }

  arrow::Result<std::vector<StoredMember>> List(int64_t offset, int64_t limit) override {
    // DynamoDB has no order: read all, order by lidnummer (a club's table is small).
    std::vector<StoredMember> all;
    Json request = {{"TableName", options_.table}, {"ConsistentRead", true}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Scan", request));
      ARROW_ASSIGN_OR_RAISE(const Json* items, JsonObjects(page, "Items", "DynamoDB Scan"));
      for (const auto& item : *items) {
        ARROW_ASSIGN_OR_RAISE(StoredMember member, FromItem(item));
        all.push_back(std::move(member));
      }
      const Json* next = JsonMember(page, "LastEvaluatedKey");
      if (next == nullptr) break;
      request["ExclusiveStartKey"] = *next;
    }
    const int lid = registry_->StoredIndex("lidnummer");
    const int id = registry_->StoredIndex("member_id");
    auto key = [&](const StoredMember& m) {
      const auto& text = lid >= 0 ? m.record[static_cast<size_t>(lid)] : std::nullopt;
      const auto number = text ? ParseInteger(*text) : std::nullopt;
      return std::make_pair(number.value_or(INT64_MAX), m.record[static_cast<size_t>(id)].value_or(""));
    };
    std::sort(all.begin(), all.end(), [&](const StoredMember& a, const StoredMember& b) { return key(a) < key(b); });
    std::vector<StoredMember> page;
    for (int64_t i = offset; i < static_cast<int64_t>(all.size()) && i < offset + limit; ++i) page.push_back(all[static_cast<size_t>(i)]);
    return page;
  }

  arrow::Result<std::vector<ChangeEntry>> ChangesSince(int64_t after) override {
    ARROW_ASSIGN_OR_RAISE(Json counter, client_->Call("GetItem", {{"TableName", changes_table_},
                                                                  {"Key", ChangesCounterKey()},
                                                                  {"ConsistentRead", true}}));
    const Json* counter_item = JsonMember(counter, "Item");
    ARROW_ASSIGN_OR_RAISE(auto gap, IntegerAttribute(counter_item ? *counter_item : Json(), "gap_version"));
    if (gap && after < *gap) {
      return ChangeLogGap("changes before data_version " + std::to_string(*gap) +
                          " may be missing from the log (DynamoDB stream records past their 24-hour retention, "
                          "or the stream newly followed)");
    }
    std::vector<ChangeEntry> changes;
    Json request = {{"TableName", changes_table_},
                    {"KeyConditionExpression", "p = :p AND v > :after"},
                    {"ExpressionAttributeValues", {{":p", {{"S", "changes"}}}, {":after", NumberValue(after)}}},
                    {"ConsistentRead", true}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Query", request));
      ARROW_ASSIGN_OR_RAISE(const Json* items, JsonObjects(page, "Items", "DynamoDB Query on the change log"));
      for (const auto& item : *items) {
        ARROW_ASSIGN_OR_RAISE(auto version, IntegerAttribute(item, "v"));
        const std::string id = StringAttribute(item, "member_id"), op = StringAttribute(item, "op");
        if (!version || id.empty()) return arrow::Status::Invalid("change log entry without version or member_id");
        changes.push_back({*version, id, op == "insert" ? ChangeOp::kInsert : op == "update" ? ChangeOp::kUpdate : ChangeOp::kDelete});
      }
      const Json* next = JsonMember(page, "LastEvaluatedKey");
      if (next == nullptr) break;
      request["ExclusiveStartKey"] = *next;
    }
    return changes;
  }

  arrow::Result<int64_t> ImportRaw(arrow::RecordBatchReader& batches) override;

  const std::shared_ptr<const model::FieldRegistry>& registry() const override { return registry_; }

 private:
  struct Loaded {
    StoredMember member;
    Json item;  // the raw item, as another program may have written it
  };

  // Items written by other programs have no _version: it counts as 0.
  static std::string VersionCondition(int64_t expected) {
    return expected == 0 ? "attribute_exists(member_id) AND (attribute_not_exists(#v) OR #v = :expected)"
                         : "attribute_exists(member_id) AND #v = :expected";
  }

  // Adds `amount` to the changes table's data_version counter and returns the new value.
  arrow::Result<int64_t> AddToVersion(int64_t amount) {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("UpdateItem", {{"TableName", changes_table_},
                                                                    {"Key", ChangesCounterKey()},
                                                                    {"UpdateExpression", "ADD data_version :n"},
                                                                    {"ExpressionAttributeValues", {{":n", NumberValue(amount)}}},
                                                                    {"ReturnValues", "UPDATED_NEW"}}));
    const Json* attributes = JsonMember(answer, "Attributes");
    ARROW_ASSIGN_OR_RAISE(auto value, IntegerAttribute(attributes ? *attributes : Json(), "data_version"));
    if (!value) return arrow::Status::IOError("DynamoDB UpdateItem returned no data_version");
    return *value;
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
      ARROW_ASSIGN_OR_RAISE(int64_t current, CounterVersion());
      const int64_t next = current + 1;
      Json items = Json::array();
      items.push_back({{"Update", {{"TableName", changes_table_},
                                   {"Key", ChangesCounterKey()},
                                   {"UpdateExpression", "SET data_version = :next"},
                                   {"ConditionExpression", "attribute_not_exists(data_version) OR data_version = :current"},
                                   {"ExpressionAttributeValues", {{":next", NumberValue(next)}, {":current", NumberValue(current)}}}}}});
      items.push_back({{"Put", {{"TableName", changes_table_},
                                {"Item", ChangeLogItem(next, member_id, op)},
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

  Json TypedValue(const model::FieldSpec& spec, const std::string& text) const {
    const bool number = spec.type == model::FieldType::kInteger && ParseInteger(text).has_value();
    return {{number ? "N" : "S", text}};  // dirty legacy integers stay text
  }

  Json ToItem(const model::MemberRecord& record, int64_t version) const {
    Json item = Json::object();
    const auto& specs = registry_->stored_fields();
    for (size_t i = 0; i < specs.size() && i < record.size(); ++i) {
      if (record[i]) item[specs[i].name] = TypedValue(specs[i], *record[i]);
    }
    item["_version"] = NumberValue(version);
    return item;
  }

  // A malformed attribute is Invalid naming the member and the attribute.
  arrow::Result<StoredMember> FromItem(const Json& item) const {
    StoredMember member;
    auto named = [&](const arrow::Status& status) {
      return status.WithMessage("member ", StringAttribute(item, "member_id", "?"), ": ", status.message());
    };
    for (const auto& spec : registry_->stored_fields()) {
      const Json* value = JsonMember(item, spec.name);
      auto text = value ? AttributeText(*value, spec.name) : std::optional<std::string>();
      if (!text.ok()) return named(text.status());
      member.record.push_back(std::move(*text));
    }
    auto version = IntegerAttribute(item, "_version");
    if (!version.ok()) return named(version.status());
    member.version = version->value_or(0);  // written by another program: version 0
    return member;
  }

  arrow::Result<std::optional<Loaded>> Find(const std::string& member_id) {
    ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("GetItem", {{"TableName", options_.table},
                                                                 {"Key", {{"member_id", {{"S", member_id}}}}},
                                                                 {"ConsistentRead", true}}));
    const Json* item = JsonMember(answer, "Item");
    if (item == nullptr) return std::optional<Loaded>();
    if (!item->is_object()) return arrow::Status::Invalid("DynamoDB GetItem: the item is not an object");
    ARROW_ASSIGN_OR_RAISE(StoredMember member, FromItem(*item));
    return std::optional<Loaded>(Loaded{std::move(member), *item});
  }

  arrow::Result<StoredMember> Conflict(const std::string& member_id, int64_t expected) {
    return arrow::Status::AlreadyExists("version conflict: member ", member_id, " changed since version ", expected);
  }

  arrow::Result<Loaded> CheckVersion(const std::string& member_id, int64_t expected) {
    ARROW_ASSIGN_OR_RAISE(auto found, Find(member_id));
    if (!found) return arrow::Status::KeyError("member not found: ", member_id);
    if (found->member.version != expected) return Conflict(member_id, expected).status();
    return std::move(*found);
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
        const Json* left = JsonMember(answer, "UnprocessedItems");
        unprocessed = left && left->is_object() ? *left : Json::object();
      }
    }
    return arrow::Status::OK();
  }

  TableOptions options_;
  std::string changes_table_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  model::MemberNormalizer normalizer_;
  std::unique_ptr<DynamoDbClient> client_;
  DynamoDbMemberNumbers numbers_;
  std::unique_ptr<DynamoDbStreamFollower> stream_;  // null: the table has no stream
};

arrow::Result<StoreScan> DynamoDbMemberStore::Scan(int64_t batch_rows) {
  StoreScan scan;
  ARROW_ASSIGN_OR_RAISE(scan.data_version, DataVersion());  // before the scan: rows may only be newer
  ARROW_ASSIGN_OR_RAISE(Json described, client_->Call("DescribeTable", {{"TableName", options_.table}}));
  const Json* table = JsonMember(described, "Table");
  scan.row_count = table ? JsonInteger(*table, "ItemCount") : 0;  // approximate on real DynamoDB
  scan.reader = MakeParallelScanReader(options_.client, options_.table, options_.segments, registry_,
                                       std::max<int64_t>(1, batch_rows));
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
    ARROW_ASSIGN_OR_RAISE(int64_t last, AddToVersion(batch->num_rows()));
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
      const auto& lid = lid_index >= 0 ? record[static_cast<size_t>(lid_index)] : std::nullopt;
      if (const auto number = lid ? ParseInteger(*lid) : std::nullopt) {
        max_lidnummer = std::max<int64_t>(max_lidnummer, *number);
        if (claimed.insert(*number).second) claims.push_back(DynamoDbMemberNumbers::ClaimItem(*number, *id));
      }
      ++version;
      changes.push_back(ChangeLogItem(version, *id, "insert"));
      items.push_back(ToItem(record, version));
    }
    // The log first: a change is never missing from it.
    ARROW_RETURN_NOT_OK(BatchPut(changes_table_, std::move(changes)));
    ARROW_RETURN_NOT_OK(BatchPut(changes_table_, std::move(claims)));
    ARROW_RETURN_NOT_OK(BatchPut(options_.table, std::move(items)));
    loaded += batch->num_rows();
  }
  if (max_lidnummer > 0) ARROW_RETURN_NOT_OK(numbers_.RaiseOwnCounter(max_lidnummer));
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
