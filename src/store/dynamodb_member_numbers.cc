#include "store/dynamodb_member_numbers.h"

#include <algorithm>

#include "store/dynamodb_change_log.h"
#include "store/dynamodb_items.h"
#include "store/record_edits.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

// The member number an item's lidnummer attribute holds: N 1234, S "1234", S "1234 Donateur".
std::optional<int64_t> LeadingNumber(const Json& item) {
  const Json* value = JsonMember(item, "lidnummer");
  if (value == nullptr) return std::nullopt;
  const std::string text = JsonString(*value, "N", JsonString(*value, "S"));
  const size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0 || (digits != std::string::npos && text[digits] != ' ')) return std::nullopt;
  return ParseInteger(std::string_view(text).substr(0, digits));
}

}  // namespace

arrow::Status DynamoDbMemberNumbers::Open() {
  if (options_.counters_table.empty()) return arrow::Status::OK();
  auto described = client_->Call("DescribeTable", {{"TableName", options_.counters_table}});
  if (described.status().IsKeyError()) {
    return arrow::Status::Invalid("DynamoDB counters table ", options_.counters_table, " not found");
  }
  ARROW_RETURN_NOT_OK(described.status());
  const Json* table = JsonMember(*described, "Table");
  ARROW_ASSIGN_OR_RAISE(const Json* keys, JsonObjects(table ? *table : EmptyJson(), "KeySchema", "DynamoDB DescribeTable"));
  for (const Json& key : *keys) {
    if (JsonString(key, "KeyType") == "HASH") counters_key_ = JsonString(key, "AttributeName");
  }
  if (counters_key_.empty()) return arrow::Status::Invalid("counters table ", options_.counters_table, ": no hash key");
  return arrow::Status::OK();
}

arrow::Result<int64_t> DynamoDbMemberNumbers::Increment() {
  Json request = {{"UpdateExpression", "ADD #c :one"},
                  {"ExpressionAttributeNames", {{"#c", options_.counter_attribute}}},
                  {"ExpressionAttributeValues", {{":one", NumberValue(1)}}},
                  {"ReturnValues", "UPDATED_NEW"}};
  std::string name = options_.counter_attribute;
  if (options_.counters_table.empty()) {
    request["TableName"] = options_.changes_table;
    request["Key"] = ChangesCounterKey();
    request["ExpressionAttributeNames"]["#c"] = name = "lidnummer";
  } else {
    request["TableName"] = options_.counters_table;
    request["Key"] = {{counters_key_, {{"S", options_.counter_id}}}};
  }
  ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("UpdateItem", request));
  const Json* attributes = JsonMember(answer, "Attributes");
  ARROW_ASSIGN_OR_RAISE(auto value, IntegerAttribute(attributes ? *attributes : Json(), name));
  if (!value) return arrow::Status::IOError("DynamoDB UpdateItem on the member number counter returned no ", name);
  return *value;
}

arrow::Result<std::optional<int64_t>> DynamoDbMemberNumbers::HighestInTable() {
  std::optional<int64_t> highest;
  Json request = {{"TableName", options_.members_table}, {"ConsistentRead", true}, {"ProjectionExpression", "lidnummer"}};
  while (true) {
    ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Scan", request));
    ARROW_ASSIGN_OR_RAISE(const Json* items, JsonObjects(page, "Items", "DynamoDB Scan"));
    for (const Json& item : *items) {
      if (auto number = LeadingNumber(item)) highest = std::max(highest.value_or(*number), *number);
    }
    const Json* next = JsonMember(page, "LastEvaluatedKey");
    if (next == nullptr) return highest;
    request["ExclusiveStartKey"] = *next;
  }
}

arrow::Result<int64_t> DynamoDbMemberNumbers::Next() {
  for (int draw = 0; draw < 50; ++draw) {
    ARROW_ASSIGN_OR_RAISE(int64_t number, Increment());
    arrow::Status free = CheckFree(number, "");
    if (free.ok()) return number;
    if (!free.IsAlreadyExists()) return free;
    // The club's counter is the club's: draw its next number. Memberlake's own counter knows
    // nothing of numbers given out by other programs: move it past the highest in the table.
    if (!options_.counters_table.empty()) continue;
    ARROW_ASSIGN_OR_RAISE(auto highest, HighestInTable());
    if (highest && *highest > number) ARROW_RETURN_NOT_OK(RaiseOwnCounter(*highest));
  }
  return arrow::Status::IOError("no free member number found: the counter keeps handing out numbers in use");
}

arrow::Status DynamoDbMemberNumbers::CheckFree(int64_t number, const std::string& member_id) {
  Json request = {{"TableName", options_.members_table},
                  {"ConsistentRead", true},
                  {"ProjectionExpression", "member_id"},
                  {"FilterExpression", "member_id <> :id AND (lidnummer = :n OR lidnummer = :s OR begins_with(lidnummer, :p))"},
                  {"ExpressionAttributeValues", {{":id", {{"S", member_id}}},
                                                 {":n", NumberValue(number)},
                                                 {":s", {{"S", std::to_string(number)}}},
                                                 {":p", {{"S", std::to_string(number) + " "}}}}}};
  while (true) {
    ARROW_ASSIGN_OR_RAISE(Json page, client_->Call("Scan", request));
    ARROW_ASSIGN_OR_RAISE(const Json* items, JsonObjects(page, "Items", "DynamoDB Scan"));
    if (!items->empty()) return LidnummerInUse(number);
    const Json* next = JsonMember(page, "LastEvaluatedKey");
    if (next == nullptr) return arrow::Status::OK();
    request["ExclusiveStartKey"] = *next;
  }
}

Json DynamoDbMemberNumbers::ClaimItem(int64_t number, const std::string& member_id) {
  return {{"p", {{"S", "lidnummer"}}}, {"v", NumberValue(number)}, {"member_id", {{"S", member_id}}}};
}

arrow::Result<Json> DynamoDbMemberNumbers::ClaimWrite(int64_t number, const std::string& member_id) {
  Json claim = ClaimItem(number, member_id);
  ARROW_ASSIGN_OR_RAISE(Json answer, client_->Call("GetItem", {{"TableName", options_.changes_table},
                                                               {"Key", {{"p", claim["p"]}, {"v", claim["v"]}}},
                                                               {"ConsistentRead", true}}));
  const Json* held = JsonMember(answer, "Item");
  std::string holder = held ? StringAttribute(*held, "member_id") : "";
  // A claim by another member that CheckFree found no longer holding the number is stale.
  Json values = {{":id", {{"S", member_id}}}, {":stale", {{"S", holder.empty() ? member_id : holder}}}};
  return Json{{"Put", {{"TableName", options_.changes_table},
                       {"Item", claim},
                       {"ConditionExpression", "attribute_not_exists(p) OR member_id = :id OR member_id = :stale"},
                       {"ExpressionAttributeValues", values}}}};
}

void DynamoDbMemberNumbers::Release(std::optional<int64_t> number, const std::string& member_id) {
  if (!number) return;
  Json claim = ClaimItem(*number, member_id);
  (void)client_->Call("DeleteItem", {{"TableName", options_.changes_table},
                                     {"Key", {{"p", claim["p"]}, {"v", claim["v"]}}},
                                     {"ConditionExpression", "member_id = :id"},
                                     {"ExpressionAttributeValues", {{":id", {{"S", member_id}}}}}});
}

arrow::Status DynamoDbMemberNumbers::RaiseOwnCounter(int64_t floor) {
  auto raised = client_->Call("UpdateItem", {{"TableName", options_.changes_table},
                                             {"Key", ChangesCounterKey()},
                                             {"UpdateExpression", "SET lidnummer = :floor"},
                                             {"ConditionExpression", "attribute_not_exists(lidnummer) OR lidnummer < :floor"},
                                             {"ExpressionAttributeValues", {{":floor", NumberValue(floor)}}}});
  return raised.status().IsAlreadyExists() ? arrow::Status::OK() : raised.status();
}

}  // namespace memberlake::store
