#include "query/result_format.h"

#include <cstdio>

#include <arrow/api.h>
#include <arrow/util/parallel.h>
#include <nlohmann/json.hpp>

#include "model/calendar.h"

namespace memberlake::query {

arrow::Result<std::optional<std::string>> CellText(const arrow::Array& column, int64_t row) {
  if (column.IsNull(row)) return std::nullopt;
  switch (column.type_id()) {
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringArray&>(column).GetView(row));
    case arrow::Type::INT64:
      return std::to_string(static_cast<const arrow::Int64Array&>(column).Value(row));
    case arrow::Type::UINT64:
      return std::to_string(static_cast<const arrow::UInt64Array&>(column).Value(row));
    case arrow::Type::INT32:
      return std::to_string(static_cast<const arrow::Int32Array&>(column).Value(row));
    case arrow::Type::DOUBLE: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", static_cast<const arrow::DoubleArray&>(column).Value(row));
      return std::string(buf);
    }
    case arrow::Type::BOOL:
      return std::string(static_cast<const arrow::BooleanArray&>(column).Value(row) ? "true" : "false");
    case arrow::Type::DATE32:
      return model::FormatIsoDate(model::CivilFromDays(static_cast<const arrow::Date32Array&>(column).Value(row)));
    case arrow::Type::TIMESTAMP:
      return model::FormatTimestampMs(static_cast<const arrow::TimestampArray&>(column).Value(row));
    case arrow::Type::LIST: {
      // A spreadsheet cell: the items in the scalars' own text, a space apart (a distribution's
      // density points), not Arrow's debug rendering with its type name.
      const auto& list = static_cast<const arrow::ListArray&>(column);
      auto items = list.value_slice(row);
      std::string text;
      for (int64_t i = 0; i < items->length(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto item, CellText(*items, i));
        if (i) text.push_back(' ');
        text += item.value_or("");
      }
      return text;
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto scalar, column.GetScalar(row));
      return scalar->ToString();
    }
  }
}

namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& value) { return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// `text` as a JSON string: plain ASCII without quotes, backslashes or control characters (most
// cells) is copied as is; anything else goes through nlohmann, so escapes and the replacement
// of invalid UTF-8 stay exactly its own.
void AppendJsonString(std::string_view text, std::string* out) {
  bool plain = true;
  for (unsigned char c : text) plain &= c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  if (!plain) {
    out->append(Dump(Json(std::string(text))));
    return;
  }
  out->push_back('"');
  out->append(text);
  out->push_back('"');
}

}  // namespace

namespace {

// Rows [begin, end) of `combined` as JSON objects separated by commas, appended to `out`.
arrow::Status AppendJsonRows(const arrow::RecordBatch& combined, const std::vector<std::string>& keys, int64_t begin,
                             int64_t end, std::string* out_text) {
  std::string& out = *out_text;
  // The columns looked up once: RecordBatch::column() boxes its array under a lock and copies
  // a shared pointer, which per cell was a tenth of writing a page of 10,000 rows.
  std::vector<std::shared_ptr<arrow::Array>> columns = combined.columns();
  for (int64_t row = begin; row < end; ++row) {
    out += row == begin ? "{" : ",{";
    for (size_t c = 0; c < columns.size(); ++c) {
      const arrow::Array& column = *columns[c];
      if (c > 0) out.push_back(',');
      out += keys[c];
      if (column.IsNull(row)) {
        out += "null";
      } else if (column.type_id() == arrow::Type::STRING) {
        AppendJsonString(static_cast<const arrow::StringArray&>(column).GetView(row), &out);
      } else if (column.type_id() == arrow::Type::INT64) {
        out += std::to_string(static_cast<const arrow::Int64Array&>(column).Value(row));
      } else if (column.type_id() == arrow::Type::DOUBLE) {
        out += Dump(Json(static_cast<const arrow::DoubleArray&>(column).Value(row)));
      } else if (column.type_id() == arrow::Type::BOOL) {
        out += static_cast<const arrow::BooleanArray&>(column).Value(row) ? "true" : "false";
      } else if (column.type_id() == arrow::Type::LIST) {
        auto items = static_cast<const arrow::ListArray&>(column).value_slice(row);
        Json list = Json::array();
        for (int64_t i = 0; i < items->length(); ++i) {
          if (items->type_id() == arrow::Type::DOUBLE && !items->IsNull(i)) {
            list.push_back(static_cast<const arrow::DoubleArray&>(*items).Value(i));
          } else {
            ARROW_ASSIGN_OR_RAISE(auto text, CellText(*items, i));
            list.push_back(text ? Json(*text) : Json(nullptr));
          }
        }
        out += Dump(list);
      } else {
        ARROW_ASSIGN_OR_RAISE(auto text, CellText(column, row));
        AppendJsonString(*text, &out);
      }
    }
    out.push_back('}');
  }
  return arrow::Status::OK();
}

}  // namespace

// The rows as a JSON array of objects, written directly: a JSON tree of every cell (an ordered
// map per row) was most of the time of a page of 10,000 rows over HTTP. Large answers are
// written in slices on both cores and joined.
arrow::Result<std::string> TableToJsonRows(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto combined, table.CombineChunksToBatch());
  std::vector<std::string> keys;  // `"name":`, escaped once
  for (const auto& field : combined->schema()->fields()) keys.push_back(Dump(Json(field->name())) + ":");
  constexpr int64_t kSliceRows = 16384;
  const int64_t rows = combined->num_rows();
  const int slices = static_cast<int>(std::max<int64_t>(1, (rows + kSliceRows - 1) / kSliceRows));
  std::vector<std::string> parts(static_cast<size_t>(slices));
  ARROW_RETURN_NOT_OK(arrow::internal::OptionalParallelFor(slices > 1, slices, [&](int s) {
    return AppendJsonRows(*combined, keys, s * kSliceRows, std::min(rows, (s + 1) * kSliceRows),
                          &parts[static_cast<size_t>(s)]);
  }));
  size_t size = 2;
  for (const std::string& part : parts) size += part.size() + 1;
  std::string out;
  out.reserve(size);
  out.push_back('[');
  for (size_t s = 0; s < parts.size(); ++s) {
    if (s > 0 && !parts[s].empty()) out.push_back(',');
    out += parts[s];
  }
  out.push_back(']');
  return out;
}

arrow::Result<std::string> JsonDocumentHead(const QueryResult& result, const std::string& scope, bool explain,
                                            const std::string& extra) {
  nlohmann::ordered_json doc = {
      {"source", result.source},
      {"snapshot_id", result.snapshot_id},
      {"data_version", result.data_version},
      {"live_data_version", result.live_data_version},
      {"live_rows", result.live_rows},
      {"as_of", result.as_of},
      {"fallback_reason", result.fallback_reason},
      {"scope", scope},
  };
  if (!extra.empty()) {
    auto members = nlohmann::ordered_json::parse(extra, nullptr, /*allow_exceptions=*/false);
    if (!members.is_object()) return arrow::Status::Invalid("extra result members must be a JSON object");
    for (auto& [key, value] : members.items()) doc[key] = value;
  }
  if (explain) {
    const ScanStats& s = result.stats;
    doc["explain"] = {{"files", s.files},
                      {"row_groups_total", s.row_groups_total},
                      {"row_groups_pruned_by_statistics", s.row_groups_pruned_by_statistics},
                      {"row_groups_pruned_by_bloom_filter", s.row_groups_pruned_by_bloom_filter},
                      {"row_groups_pruned_by_page_index", s.row_groups_pruned_by_page_index},
                      {"row_groups_pruned_by_dictionary", s.row_groups_pruned_by_dictionary},
                      {"row_groups_pruned_by_top_n", s.row_groups_pruned_by_top_n},
                      {"pages_excluded_by_page_index", s.pages_excluded_by_page_index},
                      {"row_groups_read", s.row_groups_read},
                      {"pages_total", s.pages_total},
                      {"pages_read", s.pages_read},
                      {"rows_read", s.rows_read}};
  }
  std::string text = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.pop_back();  // the closing brace: the rows follow as JSON text
  return text + ",\"rows\":";
}

arrow::Result<std::string> ResultToJsonDocument(const QueryResult& result, const std::string& scope,
                                                bool explain, const std::string& extra) {
  ARROW_ASSIGN_OR_RAISE(std::string head, JsonDocumentHead(result, scope, explain, extra));
  ARROW_ASSIGN_OR_RAISE(std::string rows, TableToJsonRows(*result.table));
  return head + rows + "}";
}

arrow::Result<std::string> TableToText(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto combined, table.CombineChunksToBatch());
  const int columns = combined->num_columns();
  std::vector<std::vector<std::string>> cells(static_cast<size_t>(columns));
  std::vector<size_t> width(static_cast<size_t>(columns), 0);
  auto display_width = [](const std::string& text) {  // UTF-8 code points, not bytes
    size_t n = 0;
    for (unsigned char c : text) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (int c = 0; c < columns; ++c) {
    auto& column = cells[static_cast<size_t>(c)];
    column.push_back(combined->schema()->field(c)->name());
    for (int64_t row = 0; row < combined->num_rows(); ++row) {
      ARROW_ASSIGN_OR_RAISE(auto text, CellText(*combined->column(c), row));
      column.push_back(text.value_or(""));
    }
    for (const auto& text : column) width[static_cast<size_t>(c)] = std::max(width[static_cast<size_t>(c)], display_width(text));
  }
  std::string out;
  for (int64_t row = 0; row <= combined->num_rows(); ++row) {
    for (int c = 0; c < columns; ++c) {
      const std::string& text = cells[static_cast<size_t>(c)][static_cast<size_t>(row)];
      out += text;
      if (c + 1 < columns) out.append(width[static_cast<size_t>(c)] - display_width(text) + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

}  // namespace memberlake::query
