// The embedded default live store: one SQLite file in WAL mode. Table `members` has one TEXT
// column per stored registry field (added with ALTER TABLE when the registry grows) plus
// `_version`; table `changes` is the change log whose rowid is the data_version.
#pragma once

#include <memory>
#include <string>

#include "store/member_store.h"

namespace memberlake::store {

arrow::Result<std::unique_ptr<MemberStore>> OpenSqliteMemberStore(
    const std::string& path, std::shared_ptr<const model::FieldRegistry> registry,
    const StoreOptions& options);

}  // namespace memberlake::store
