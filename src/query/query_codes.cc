// Dictionary codes: enum filters evaluated on indices, and dictionaries decoded or unified.
#include <algorithm>
#include <optional>

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

namespace {

// Keeps the rows of `table` for which `flags_of(batch, &keep)` leaves keep[i] set (it starts
// as `initial`), batch by batch.
template <typename Flags>
arrow::Result<std::shared_ptr<arrow::Table>> FilterByFlags(const std::shared_ptr<arrow::Table>& table, uint8_t initial,
                                                           Flags&& flags_of) {
  arrow::TableBatchReader reader(*table);
  arrow::RecordBatchVector kept;
  std::vector<uint8_t> keep;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
    if (batch == nullptr) break;
    keep.assign(static_cast<size_t>(batch->num_rows()), initial);
    ARROW_RETURN_NOT_OK(flags_of(*batch, &keep));
    ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateEmptyBitmap(batch->num_rows()));
    arrow::internal::GenerateBitsUnrolled(bitmap->mutable_data(), 0, batch->num_rows(),
                                          [&, i = int64_t{0}]() mutable { return keep[static_cast<size_t>(i++)] != 0; });
    arrow::Datum mask(std::make_shared<arrow::BooleanArray>(batch->num_rows(), std::move(bitmap)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
    kept.push_back(filtered.record_batch());
  }
  return arrow::Table::FromRecordBatches(table->schema(), kept);
}

}  // namespace

// Enum = / in filters (and the scope) on dictionary codes: each batch's dictionary (a handful
// of values) is searched once and the filter runs on the indices, where a kernel on the column
// would decode every row to a string first (Arrow's set lookups unpack dictionaries).
arrow::Result<std::shared_ptr<arrow::Table>> FilterOnCodes(const std::shared_ptr<arrow::Table>& table,
                                                           const std::vector<FilterSpec>& filters) {
  if (filters.empty() || table->num_rows() == 0) return table;
  return FilterByFlags(table, 1, [&](const arrow::RecordBatch& batch, std::vector<uint8_t>* keep) {
    return ApplyCodeFilters(batch, filters, keep);
  });
}

arrow::Result<std::shared_ptr<arrow::Table>> FilterOnAnyGroup(const std::shared_ptr<arrow::Table>& table,
                                                              const model::FieldRegistry& registry,
                                                              const std::vector<FilterSpec>& any) {
  if (any.empty() || table->num_rows() == 0) return table;
  std::vector<FilterSpec> on_codes, others;
  for (const FilterSpec& filter : any) (IsEnumEquality(registry, filter) ? on_codes : others).push_back(filter);
  std::optional<cp::Expression> rest;
  if (!others.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto expression, AnyExpression(registry, others));
    ARROW_ASSIGN_OR_RAISE(rest, expression.Bind(*table->schema()));
  }
  std::vector<uint8_t> one;
  return FilterByFlags(table, 0, [&](const arrow::RecordBatch& batch, std::vector<uint8_t>* keep) -> arrow::Status {
    for (const FilterSpec& filter : on_codes) {  // each alternative alone, ORed into keep
      one.assign(keep->size(), 1);
      ARROW_RETURN_NOT_OK(ApplyCodeFilters(batch, {filter}, &one));
      for (size_t i = 0; i < keep->size(); ++i) (*keep)[i] |= one[i];
    }
    if (!rest) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, cp::ExecuteScalarExpression(*rest, cp::ExecBatch(batch)));
    if (mask.is_scalar()) {
      const auto& value = mask.scalar_as<arrow::BooleanScalar>();
      if (value.is_valid && value.value) std::fill(keep->begin(), keep->end(), 1);
      return arrow::Status::OK();
    }
    const auto& flags = static_cast<const arrow::BooleanArray&>(*mask.make_array());
    for (int64_t i = 0; i < flags.length(); ++i) (*keep)[static_cast<size_t>(i)] |= flags.IsValid(i) && flags.Value(i);
    return arrow::Status::OK();
  });
}

}  // namespace memberlake::query::internal
