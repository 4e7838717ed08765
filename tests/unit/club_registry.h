// The club's registry as the source tree holds it (config/fields.toml), loaded once, for unit
// tests that check behaviour against the real field list.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/field_registry.h"

namespace memberlake::model {

inline std::shared_ptr<const FieldRegistry> ClubRegistry() {
  static auto registry = *FieldRegistry::LoadFile(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  return registry;
}

// A member as (field name, raw text or nullopt) pairs, the record path's input.
using Fields = std::vector<std::pair<std::string, std::optional<std::string>>>;

}  // namespace memberlake::model
