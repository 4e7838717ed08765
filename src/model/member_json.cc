#include "model/member_json.h"

#include <charconv>

#include <nlohmann/json.hpp>

namespace memberlake::model {

arrow::Result<std::vector<std::pair<std::string, std::optional<std::string>>>> ParseMemberJson(
    std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return arrow::Status::Invalid("invalid member JSON: not valid JSON");
  if (!doc.is_object()) return arrow::Status::Invalid("invalid member JSON: expected an object");
  std::vector<std::pair<std::string, std::optional<std::string>>> fields;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const auto& value = it.value();
    if (it.key() == "_version") continue;  // echoed back from a previous read; not a field
    if (value.is_null()) {
      fields.emplace_back(it.key(), std::nullopt);
    } else if (value.is_string()) {
      fields.emplace_back(it.key(), value.get<std::string>());
    } else if (value.is_number()) {
      fields.emplace_back(it.key(), value.dump());
    } else {
      return arrow::Status::Invalid(it.key(), ": expected a string, number or null, got ",
                                    value.type_name());
    }
  }
  return fields;
}

std::string MemberToJson(const FieldRegistry& registry, const MemberRecord& record,
                         std::optional<int64_t> version) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  const auto& fields = registry.stored_fields();
  for (size_t i = 0; i < fields.size() && i < record.size(); ++i) {
    if (!record[i]) continue;
    const std::string& text = *record[i];
    int64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (fields[i].type == FieldType::kInteger && ec == std::errc() && end == text.data() + text.size()) {
      doc[fields[i].name] = number;
    } else {
      doc[fields[i].name] = text;
    }
  }
  if (version) doc["_version"] = *version;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace memberlake::model
