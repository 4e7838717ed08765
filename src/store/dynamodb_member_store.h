// The live store on Amazon DynamoDB, spoken over its HTTP JSON API (DynamoDbClient: SigV4,
// retries with backoff and jitter).
//
// URI: dynamodb://TABLE?endpoint=http://127.0.0.1:8000&region=eu-west-1&segments=4
//      [&counters=Counters&counter_id=member_number] (new member numbers from the club's
//      counters table, dynamodb_member_numbers.h) [&changes=TABLE-changes] (the change log
//      table) [&stream=auto|off&streams_endpoint=URL] (following the table's stream,
//      dynamodb_stream.h)
//
// The table is the club's, written by other programs too (docs/aws.md): items may lack
// `_version` (version 0), hold attributes outside the registry and numbers as S. Updates
// write only the changed attributes (UpdateItem SET/REMOVE); everything else keeps its value
// and type. Decoding is total (dynamodb_items.h): malformed items are Statuses, never throws.
//
// Layout. TABLE holds one item per member, key member_id (S); stored fields map to DynamoDB
// types by the registry (integer fields as N, everything else S; a missing field is a missing
// attribute) plus `_version` (N), the data_version of the member's last change. TABLE-changes
// (key p (S), v (N)) holds the change log, p = "changes", v = data_version, and the counters
// item (p = "counter", v = 0: data_version, lidnummer).
//
// Change tracking (why not updated_at): every mutation is one TransactWriteItems moving the
// data_version counter from the value read to the next, appending its change entry and
// writing the member under a condition on the version the caller saw (docs/aws.md).
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
