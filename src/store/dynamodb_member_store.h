// The live store on Amazon DynamoDB, spoken over its HTTP JSON API (DynamoDbClient: SigV4,
// retries with backoff and jitter).
//
// URI: dynamodb://TABLE?endpoint=http://127.0.0.1:8000&region=eu-west-1&segments=4
//
// Layout. TABLE holds one item per member, key member_id (S); stored fields map to DynamoDB
// types by the registry (integer fields as N, everything else S; a missing field is a missing
// attribute) plus `_version` (N), the data_version of the member's last change. TABLE-changes
// (key p (S), v (N)) holds the change log, p = "changes", v = data_version, and the counters
// item (p = "counter", v = 0: data_version, lidnummer).
//
// Change tracking (why not updated_at): every mutation first takes the next data_version from
// the counter (an atomic ADD), then appends its change entry, then writes the member with a
// condition on the version the caller saw. A crash between the steps leaves at most a change
// entry for a member that did not change, which a hybrid read harmlessly re-reads; a change is
// never missing from the log. Versions are unique and increasing, with gaps after failures.
//
// Scans are parallel Scans (segments), paginated, streamed into Arrow batches. DynamoDB has no
// snapshot reads: StoreScan::data_version is read before the scan, so rows may be newer than
// it, never older; hybrid reads replay the changes after it, which makes the result current.
// ImportRaw writes in BatchWriteItem chunks: unlike SQLite it is not all-or-nothing (a failed
// import leaves the chunks written; running it again with the same member_ids overwrites them).
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::store {

// `uri_rest` is what follows "dynamodb://". With create_if_missing the two tables are created
// (on-demand capacity) when absent; otherwise a missing table is Status::Invalid naming it.
arrow::Result<std::unique_ptr<MemberStore>> OpenDynamoDbMemberStore(const std::string& uri_rest,
                                                                    std::shared_ptr<const model::FieldRegistry> registry,
                                                                    const StoreOptions& options);

}  // namespace memberlake::store
