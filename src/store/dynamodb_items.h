// Total decoding of DynamoDB answers and items: every function here returns a value or a
// Status and never throws, whatever JSON it is given (answers come from a network peer and
// items from other programs writing the table; one odd value must not take a process down).
//
// Attribute values are DynamoDB's typed JSON ({"S": "..."}, {"N": "12"}, {"L": [...]}, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "model/json_members.h"

namespace memberlake::store {

// Total access to JSON members (model/json_members.h), used throughout the store's decoding.
using model::JsonInteger;
using model::JsonMember;
using model::JsonString;

// An answer's list `key` (Items, Records, Shards, ...), pointing into `answer` (valid while it
// lives; not copied, pages are large): an empty array when absent; Invalid naming `what` and
// the key when present but not an array of objects.
arrow::Result<const nlohmann::json*> JsonObjects(const nlohmann::json& answer, std::string_view key,
                                                 std::string_view what);

// An empty JSON object to read from where a member is missing (a static, never a temporary).
const nlohmann::json& EmptyJson();

// The type tag of an attribute value ("S", "N", "L", ...); empty when the value is malformed
// (not an object with exactly one member).
std::string AttributeType(const nlohmann::json& value);

// An attribute value as the raw text the store keeps: S and N as written, BOOL as
// true/false, NULL as no value, string and number sets comma-joined, binary (B, BS) and
// lists and maps as their JSON text (validation then quarantines the record when the field is
// a date, number or enum, naming it; free text keeps the JSON text). A malformed value (unknown tag, a tag whose content has the wrong
// JSON type, several tags) is Invalid naming `attribute`.
arrow::Result<std::optional<std::string>> AttributeText(const nlohmann::json& value, std::string_view attribute);

// A string attribute's text (S), else `fallback` (for naming an item in messages).
std::string StringAttribute(const nlohmann::json& item, std::string_view attribute, std::string fallback = "");

// An integer attribute of `item` (N, or S holding an integer as other programs write it);
// nullopt when the attribute is missing or NULL. Invalid naming the attribute otherwise.
arrow::Result<std::optional<int64_t>> IntegerAttribute(const nlohmann::json& item, std::string_view attribute);

// An integer parsed from decimal text (optional leading '-'); nullopt for anything else,
// including values out of int64's range.
std::optional<int64_t> ParseInteger(std::string_view text);

}  // namespace memberlake::store
