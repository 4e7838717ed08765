// The live member store: CRUD with validation, a change feed, and consistent columnar scans.
// Implementations: SQLite (embedded default) and DynamoDB. Open one with OpenMemberStore().
//
// Versioning: every mutation appends one entry to the change log and gets the next
// data_version (monotonically increasing, never reused). A member's `version` is the
// data_version of its last mutation; Update and Delete take the version the caller last saw
// and fail with a conflict if the member changed since (optimistic concurrency).
//
// Errors: Status::KeyError for an unknown member, Status::Invalid for bad input (the message
// names the field and the problem), Status::AlreadyExists("version conflict ...") for a
// stale expected version, Status::IOError for storage problems. A failed call changes nothing.
// A store object is not thread-safe; open one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "model/field_registry.h"
#include "model/member_normalizer.h"

namespace memberlake::store {

// (field name, raw text or nullopt to clear) pairs, as parsed from JSON.
using FieldValues = std::vector<std::pair<std::string, std::optional<std::string>>>;

struct StoredMember {
  model::MemberRecord record;  // canonical text, aligned with registry->stored_fields()
  int64_t version = 0;
};

enum class ChangeOp { kInsert, kUpdate, kDelete };

struct ChangeEntry {
  int64_t data_version = 0;
  std::string member_id;
  ChangeOp op = ChangeOp::kInsert;
};

// A consistent read of the whole store at one data_version.
struct StoreScan {
  int64_t data_version = 0;
  int64_t row_count = 0;
  // Batches with registry->raw_schema(): raw text exactly as stored (legacy rows may be dirty).
  std::shared_ptr<arrow::RecordBatchReader> reader;
};

class MemberStore {
 public:
  virtual ~MemberStore() = default;

  virtual arrow::Result<int64_t> DataVersion() = 0;

  // Streams all members in batches of at most `batch_rows` rows. The scan sees one
  // consistent snapshot even while writers continue.
  virtual arrow::Result<StoreScan> Scan(int64_t batch_rows = 64 * 1024) = 0;

  virtual arrow::Result<StoredMember> Get(const std::string& member_id) = 0;
  // Validates (MemberNormalizer::NormalizeRecord) and inserts. member_id (a UUID) and
  // lidnummer (max + 1) are assigned when absent; created_at/updated_at are set.
  virtual arrow::Result<StoredMember> Insert(const FieldValues& fields) = 0;
  // Applies a partial update (listed fields only), re-validates the whole record.
  virtual arrow::Result<StoredMember> Update(const std::string& member_id,
                                             const FieldValues& changes,
                                             int64_t expected_version) = 0;
  virtual arrow::Status Delete(const std::string& member_id, int64_t expected_version) = 0;
  // Members ordered by lidnummer, paged.
  virtual arrow::Result<std::vector<StoredMember>> List(int64_t offset, int64_t limit) = 0;

  // Change log entries with data_version > `after`, oldest first. ChangeLogGap when the log
  // cannot be complete after `after` (changes were lost: readers answer from a full scan).
  virtual arrow::Result<std::vector<ChangeEntry>> ChangesSince(int64_t after) = 0;

  // Bulk load of legacy records exactly as given, without validation (sample data and
  // migrations: real legacy tables hold dirty rows, and the transform must see them).
  // `batches` must have raw_schema() columns. One transaction: all rows or none. Each row
  // is one insert in the change log. Returns the number of rows loaded.
  virtual arrow::Result<int64_t> ImportRaw(arrow::RecordBatchReader& batches) = 0;

  virtual const std::shared_ptr<const model::FieldRegistry>& registry() const = 0;
};

// The log lost changes (a DynamoDB stream's retention passed before they were read): `why`
// says so, and IsChangeLogGap tells this answer apart from other errors.
arrow::Status ChangeLogGap(const std::string& why);
bool IsChangeLogGap(const arrow::Status& status);

struct StoreOptions {
  bool create_if_missing = false;  // false: a missing database is an error
  // SQLite: connections that read a full scan's rowid ranges side by side (one snapshot, same
  // rows in the same order as one connection; store/sqlite_scan.h). 1: the store's own only.
  int scan_threads = 2;
};

// Opens a store from a URI: `sqlite:PATH` (also sqlite://PATH) or
// `dynamodb://TABLE?endpoint=...&region=...&segments=N` (dynamodb_member_store.h). Unknown schemes are
// Status::Invalid naming the scheme and the supported ones.
arrow::Result<std::unique_ptr<MemberStore>> OpenMemberStore(
    const std::string& uri, std::shared_ptr<const model::FieldRegistry> registry,
    const StoreOptions& options = {});

}  // namespace memberlake::store
