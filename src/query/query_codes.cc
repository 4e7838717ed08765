// Dictionary codes: enum filters evaluated on indices, and dictionaries decoded or unified.
#include <algorithm>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/bitmap_generate.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

// Decodes dictionary columns to plain strings, except the `keep_encoded` ones (group keys),
// which get one dictionary across all chunks: grouping on codes is far cheaper than on text.
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const std::shared_ptr<arrow::Table>& table,
                                                                const std::vector<std::string>& keep_encoded) {
  arrow::FieldVector fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table->num_columns(); ++i) {
    auto column = table->column(i);
    auto field = table->schema()->field(i);
    if (column->type()->id() == arrow::Type::DICTIONARY) {
      if (std::find(keep_encoded.begin(), keep_encoded.end(), field->name()) != keep_encoded.end()) {
        ARROW_ASSIGN_OR_RAISE(column, arrow::DictionaryUnifier::UnifyChunkedArray(column));
      } else {
        ARROW_ASSIGN_OR_RAISE(arrow::Datum decoded, cp::Cast(column, arrow::utf8()));
        column = decoded.chunked_array();
        field = field->WithType(arrow::utf8());
      }
    }
    fields.push_back(std::move(field));
    columns.push_back(std::move(column));
  }
  return arrow::Table::Make(arrow::schema(fields), columns, table->num_rows());
}

// A filter's values as the set of codes it admits, one flag per entry of `dictionary`.
std::vector<uint8_t> AllowedCodes(const arrow::Array& dictionary, const std::vector<std::string>& values) {
  const auto& strings = static_cast<const arrow::StringArray&>(dictionary);
  std::vector<uint8_t> allowed(static_cast<size_t>(strings.length()), 0);
  for (int64_t i = 0; i < strings.length(); ++i) {
    allowed[static_cast<size_t>(i)] =
        strings.IsValid(i) && std::find(values.begin(), values.end(), strings.GetView(i)) != values.end();
  }
  return allowed;
}

// Clears keep[i] for every row of `batch` that some code filter rules out (nulls never match).
arrow::Status ApplyCodeFilters(const arrow::RecordBatch& batch, const std::vector<FilterSpec>& filters,
                               std::vector<uint8_t>* keep) {
  for (const FilterSpec& filter : filters) {
    auto column = batch.GetColumnByName(filter.column);
    if (column == nullptr || column->type_id() != arrow::Type::DICTIONARY ||
        static_cast<const arrow::DictionaryArray&>(*column).dictionary()->type_id() != arrow::Type::STRING) {
      return arrow::Status::TypeError("enum column ", filter.column, " is not dictionary-encoded text");
    }
    const auto& encoded = static_cast<const arrow::DictionaryArray&>(*column);
    const std::vector<uint8_t> allowed = AllowedCodes(*encoded.dictionary(), filter.values);
    const arrow::Array& indices = *encoded.indices();
    uint8_t* flags = keep->data();
    ARROW_RETURN_NOT_OK(VisitCodes(encoded, [&](const auto* codes) {
      if (indices.null_count() == 0) {
        for (int64_t i = 0; i < indices.length(); ++i) flags[i] &= allowed[static_cast<size_t>(codes[i])];
      } else {
        for (int64_t i = 0; i < indices.length(); ++i) {
          flags[i] &= indices.IsValid(i) ? allowed[static_cast<size_t>(codes[i])] : 0;
        }
      }
    }));
  }
  return arrow::Status::OK();
}

// Enum = / in filters (and the scope) on dictionary codes: each batch's dictionary (a handful
// of values) is searched once and the filter runs on the indices, where a kernel on the column
// would decode every row to a string first (Arrow's set lookups unpack dictionaries).
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnCodes(const std::shared_ptr<arrow::Table>& table,
                                                           const std::vector<FilterSpec>& filters) {
  if (filters.empty() || table->num_rows() == 0) return table;
  arrow::TableBatchReader reader(*table);
  arrow::RecordBatchVector kept;
  std::vector<uint8_t> keep;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (batch == nullptr) break;
    keep.assign(static_cast<size_t>(batch->num_rows()), 1);
    ARROW_RETURN_NOT_OK(ApplyCodeFilters(*batch, filters, &keep));
    ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateEmptyBitmap(batch->num_rows()));
    arrow::internal::GenerateBitsUnrolled(bitmap->mutable_data(), 0, batch->num_rows(),
                                          [&, i = int64_t{0}]() mutable { return keep[static_cast<size_t>(i++)] != 0; });
    arrow::Datum mask(std::make_shared<arrow::BooleanArray>(batch->num_rows(), std::move(bitmap)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
    kept.push_back(filtered.record_batch());
  }
  return arrow::Table::FromRecordBatches(table->schema(), kept);
}

}  // namespace memberlake::query::internal
