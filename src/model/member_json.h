// JSON at the edges (CLI, HTTP): a member object <-> (field, text) pairs and canonical records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "model/field_registry.h"
#include "model/member_normalizer.h"

namespace memberlake::model {

// Parses one JSON object. Strings and numbers become text, null clears a field; arrays,
// objects and booleans are Status::Invalid naming the field. Field names are checked later
// by the normaliser, so unknown fields are reported with the other validation errors.
arrow::Result<std::vector<std::pair<std::string, std::optional<std::string>>>> ParseMemberJson(
    std::string_view json);

// A canonical record as a JSON object: integer fields as numbers, missing fields omitted,
// `_version` added when given.
std::string MemberToJson(const FieldRegistry& registry, const MemberRecord& record,
                         std::optional<int64_t> version);

}  // namespace memberlake::model
