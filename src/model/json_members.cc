#include "model/json_members.h"

namespace memberlake::model {

using Json = nlohmann::json;

const Json* JsonMember(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto found = object.find(std::string(key));
  return found == object.end() ? nullptr : &*found;
}

std::string JsonString(const Json& object, std::string_view key, std::string fallback) {
  const Json* value = JsonMember(object, key);
  return value && value->is_string() ? value->get_ref<const std::string&>() : fallback;
}

int64_t JsonInteger(const Json& object, std::string_view key, int64_t fallback) {
  const Json* value = JsonMember(object, key);
  if (value && value->is_number_integer()) return value->get<int64_t>();
  if (value && value->is_number_unsigned() && value->get<uint64_t>() <= uint64_t{INT64_MAX}) {
    return static_cast<int64_t>(value->get<uint64_t>());
  }
  return fallback;
}

}  // namespace memberlake::model
