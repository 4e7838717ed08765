// The embedded default live store: one SQLite file in WAL mode. Table `members` has one TEXT
// column per stored registry field (added with ALTER TABLE when the registry grows) plus
// `_version` (NULL for rows written before change capture: version 0); table `changes` is the
// change log whose rowid is the data_version.
//
// The file is shared with other programs (the sqlite3 shell, the club's tools): triggers on
// `members` log every writer's insert, update and delete and stamp the row's `_version`, so
// their edits reach hybrid reads, the API and the on-change triggers. Opening a database
// upgrades it (missing columns, `_version` made nullable, triggers created). memberlake's
// updates write only the columns whose value changes; columns outside the registry (another
// program's, or stale calculated copies from ImportRaw) are never touched.
#pragma once

#include <memory>
#include <string>

#include "store/member_store.h"

namespace memberlake::store {

arrow::Result<std::unique_ptr<MemberStore>> OpenSqliteMemberStore(
    const std::string& path, std::shared_ptr<const model::FieldRegistry> registry,
    const StoreOptions& options);

}  // namespace memberlake::store
