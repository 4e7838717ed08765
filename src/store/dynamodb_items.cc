#include "store/dynamodb_items.h"

#include <charconv>

namespace memberlake::store {

using Json = nlohmann::json;

const Json& EmptyJson() {
  static const Json empty = Json::object();
  return empty;
}

arrow::Result<const Json*> JsonObjects(const Json& answer, std::string_view key, std::string_view what) {
  static const Json none = Json::array();
  const Json* list = JsonMember(answer, key);
  if (list == nullptr) return &none;
  if (!list->is_array()) return arrow::Status::Invalid(what, ": '", key, "' is not a list");
  for (const Json& entry : *list) {
    if (!entry.is_object()) return arrow::Status::Invalid(what, ": an entry of '", key, "' is not an object");
  }
  return list;
}

std::string AttributeType(const Json& value) {
  if (!value.is_object() || value.size() != 1) return "";
  return value.begin().key();
}

std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

arrow::Result<std::optional<std::string>> AttributeText(const Json& value, std::string_view attribute) {
  auto malformed = [&](std::string_view why) {
    return arrow::Status::Invalid("attribute ", attribute, ": malformed DynamoDB value (", why, "): ",
                                  value.dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 200));
  };
  const std::string type = AttributeType(value);
  if (type.empty()) return malformed("not one type tag");
  const Json& content = value.begin().value();
  if (type == "S" || type == "N" || type == "B") {
    if (!content.is_string()) return malformed(type + " holds no string");
    if (type == "B") return std::optional<std::string>(content.dump(-1, ' ', false, Json::error_handler_t::replace));
    return std::optional<std::string>(content.get<std::string>());
  }
  if (type == "BOOL") {
    if (!content.is_boolean()) return malformed("BOOL holds no boolean");
    return std::optional<std::string>(content.get<bool>() ? "true" : "false");
  }
  if (type == "NULL") return std::optional<std::string>();
  if (type == "SS" || type == "NS" || type == "BS") {
    if (!content.is_array()) return malformed(type + " holds no list");
    std::string out;
    for (const auto& item : content) {
      if (!item.is_string()) return malformed(type + " holds a non-string");
      if (type == "BS") return std::optional<std::string>(content.dump(-1, ' ', false, Json::error_handler_t::replace));
      if (!out.empty()) out.push_back(',');
      out += item.get<std::string>();
    }
    return std::optional<std::string>(out);
  }
  if (type == "L") {
    if (!content.is_array()) return malformed("L holds no list");
    return std::optional<std::string>(content.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (type == "M") {
    if (!content.is_object()) return malformed("M holds no map");
    return std::optional<std::string>(content.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return malformed("unknown type " + type);
}

std::string StringAttribute(const Json& item, std::string_view attribute, std::string fallback) {
  const Json* value = JsonMember(item, attribute);
  return value ? JsonString(*value, "S", std::move(fallback)) : fallback;
}

arrow::Result<std::optional<int64_t>> IntegerAttribute(const Json& item, std::string_view attribute) {
  const Json* value = JsonMember(item, attribute);
  if (value == nullptr) return std::optional<int64_t>();
  const std::string type = AttributeType(*value);
  if (type == "NULL") return std::optional<int64_t>();
  if (type == "N" || type == "S") {
    const Json& content = value->begin().value();
    if (content.is_string()) {
      if (auto number = ParseInteger(content.get_ref<const std::string&>())) return std::optional<int64_t>(number);
    }
  }
  return arrow::Status::Invalid("attribute ", attribute, ": not an integer: ",
                                value->dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 200));
}

}  // namespace memberlake::store
