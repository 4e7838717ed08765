// Total access to JSON members: untrusted JSON (DynamoDB answers and items, Lambda events,
// credential documents) is read through these, which never throw whatever the document holds
// (nlohmann's value() and get() throw on a mistyped member).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace memberlake::model {

// `object[key]` when `object` is an object holding `key`, else nullptr.
const nlohmann::json* JsonMember(const nlohmann::json& object, std::string_view key);

// `object[key]` as text when it is a string, else `fallback`.
std::string JsonString(const nlohmann::json& object, std::string_view key, std::string fallback = "");

// `object[key]` as an integer when it is a JSON integer within int64, else `fallback`.
int64_t JsonInteger(const nlohmann::json& object, std::string_view key, int64_t fallback = 0);

}  // namespace memberlake::model
