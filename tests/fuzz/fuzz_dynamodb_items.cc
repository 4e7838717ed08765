// DynamoDB answers and items as other programs and a network peer write them: a Scan page's
// Items, every attribute decoded as the store decodes it. Any JSON is a value or an error
// naming the attribute, never an exception or a crash.
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "store/dynamodb_items.h"

using namespace memberlake;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto answer = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return 0;
  auto items = store::JsonObjects(answer, "Items", "Scan");
  if (!items.ok()) {
    fuzz::Require(items.status().message().find("Items") != std::string::npos, "the error names the list");
    return 0;
  }
  for (const nlohmann::json& item : **items) {
    for (const auto& [name, value] : item.items()) {
      auto text = store::AttributeText(value, name);
      if (!text.ok()) fuzz::Require(text.status().message().find(name) != std::string::npos, "the error names the attribute");
      (void)store::IntegerAttribute(item, name);
      (void)store::AttributeType(value);
    }
    (void)store::StringAttribute(item, "member_id");
  }
  (void)store::JsonInteger(answer, "Count");
  (void)store::JsonString(answer, "LastEvaluatedKey");
  return 0;
}
