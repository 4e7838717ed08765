// The SQLite store's full scan (internal to src/store): `SELECT <stored fields> FROM members`
// in rowid order, as Arrow batches of raw text, seeing one snapshot however long it runs and
// whatever other programs commit meanwhile.
//
// With `threads` > 1 the rowid range is cut into chunks of about `batch_rows` rows that
// `threads` extra connections read side by side (chunk i on connection i % threads). They all
// read one snapshot: their read transactions start while the store's own connection holds the
// write lock (BEGIN IMMEDIATE, for the few milliseconds it takes), so no writer can commit in
// between. Batches come out in rowid order, exactly as the single-connection scan returns them.
// When the write lock is not to be had (a writer holds it longer than the busy timeout), or the
// table is small, the scan reads on the store's connection alone.
#pragma once

#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "store/member_store.h"
#include "store/sqlite_connection.h"

namespace memberlake::store::sqlite {

// `columns` is the quoted, comma-separated column list; `schema` has one string field each.
arrow::Result<StoreScan> ScanMembers(const std::shared_ptr<Connection>& conn, const std::string& columns,
                                     std::shared_ptr<arrow::Schema> schema, int64_t batch_rows, int threads);

}  // namespace memberlake::store::sqlite
