// Query results as text: JSON rows and an aligned table for terminals. Dates are
// YYYY-MM-DD, timestamps ISO 8601 UTC, nulls JSON null (empty in the table).
#pragma once

#include <string>

#include <arrow/result.h>
#include <arrow/table.h>

#include "query/query.h"

namespace memberlake::query {

// One cell as text (nullopt for null).
arrow::Result<std::optional<std::string>> CellText(const arrow::Array& column, int64_t row);
// A JSON array of row objects.
arrow::Result<std::string> TableToJsonRows(const arrow::Table& table);
// A result with its provenance, as one JSON object: source, snapshot_id, data_version,
// live_data_version, live_rows, as_of, fallback_reason, scope, optional `extra` members (a
// JSON object's text, merged in), "explain" (scan statistics) when asked, and "rows".
arrow::Result<std::string> ResultToJsonDocument(const QueryResult& result, const std::string& scope,
                                                bool explain, const std::string& extra = "");
// The same document up to and including `"rows":`; the rows (a JSON array) and "}" follow.
// For a document whose rows are streamed (query/export.h OpenTableSource, format json).
arrow::Result<std::string> JsonDocumentHead(const QueryResult& result, const std::string& scope, bool explain,
                                            const std::string& extra = "");
// Columns aligned with spaces, a header line first.
arrow::Result<std::string> TableToText(const arrow::Table& table);

}  // namespace memberlake::query
