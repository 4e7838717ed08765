// What every store does to a member before validating and writing it: new ids, lidnummer,
// timestamps, and merging a partial update into the current record. Shared so the SQLite and
// DynamoDB stores behave alike.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <arrow/record_batch.h>

#include <arrow/result.h>

#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::store {

// A random RFC 4122 version-4 UUID.
std::string NewMemberId();

// True when `values` gives `name` a non-empty value.
bool HasValue(const FieldValues& values, const std::string& name);

// Sets a stored field (ignored for names the registry does not store); `overwrite` false
// keeps a non-empty value already there.
void SetField(const model::FieldRegistry& registry, FieldValues& values, const std::string& name,
              std::optional<std::string> value, bool overwrite);

// An insert's fields: member_id when absent, lidnummer from `next_lidnummer` when absent,
// created_at and updated_at set to now.
arrow::Result<FieldValues> PrepareInsert(const model::FieldRegistry& registry, FieldValues fields,
                                         const std::function<arrow::Result<int64_t>()>& next_lidnummer);

// An update's fields: the current record with `changes` applied and updated_at set to now.
// Calculated fields in `changes` (stale copies a form sends along) are ignored. Invalid for an
// unknown field or a changed member_id.
arrow::Result<FieldValues> MergeUpdate(const model::FieldRegistry& registry, const std::string& member_id,
                                       const model::MemberRecord& current, const FieldValues& changes);

// A validated record's lidnummer (nullopt when it has none). Member numbers are unique: stores
// refuse an insert or update that would give a second member the same one, with
// LidnummerInUse, which names the number and never the member holding it (the caller may not
// be allowed to know of that member).
std::optional<int64_t> LidnummerOf(const model::FieldRegistry& registry, const model::MemberRecord& record);
arrow::Status LidnummerInUse(int64_t lidnummer);

// The columns of an import batch by stored-field index (null where the batch has none).
// Columns of calculated fields (stale copies) are skipped. Invalid for any other column that is
// no stored field, TypeError for one that is not utf8.
arrow::Result<std::vector<std::shared_ptr<arrow::StringArray>>> ImportColumns(const model::FieldRegistry& registry,
                                                                              const arrow::RecordBatch& batch);

}  // namespace memberlake::store
