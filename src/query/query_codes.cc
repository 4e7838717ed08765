// Dictionary codes: enum and prefix filters evaluated once per dictionary entry and then on
// indices, masks of a query's filters, and dictionaries decoded or unified.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/parallel.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_generate.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace cp = arrow::compute;

// Decodes dictionary columns to plain strings, except the `keep_encoded` ones (group keys),
// which get one dictionary across all chunks: grouping on codes is far cheaper than on text.
arrow::Result<std::shared_ptr<arrow::Table>> DecodeDictionaries(const std::shared_ptr<arrow::Table>& table,
                                                                const std::vector<std::string>& keep_encoded,
                                                                const std::vector<std::string>& keep_as_read) {
  arrow::FieldVector fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table->num_columns(); ++i) {
    auto column = table->column(i);
    auto field = table->schema()->field(i);
    auto listed = [&](const std::vector<std::string>& names) {
      return std::find(names.begin(), names.end(), field->name()) != names.end();
    };
    if (column->type()->id() == arrow::Type::DICTIONARY && (listed(keep_encoded) || !listed(keep_as_read))) {
      if (listed(keep_encoded)) {
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

arrow::Result<std::shared_ptr<arrow::Table>> EmptyRows(const model::FieldRegistry& registry,
                                                       const std::vector<std::string>& columns) {
  arrow::FieldVector fields;
  for (const auto& name : columns) fields.push_back(registry.lake_schema()->GetFieldByName(name));
  ARROW_ASSIGN_OR_RAISE(auto empty, arrow::Table::MakeEmpty(arrow::schema(fields)));
  return DecodeDictionaries(empty);
}

// The dictionary entries a code filter admits, one flag per entry of `dictionary`: one of
// the values (= / in), or starting with the prefix (^=), evaluated once per entry.
std::vector<uint8_t> AllowedCodes(const arrow::Array& dictionary, const FilterSpec& filter) {
  const auto& strings = static_cast<const arrow::StringArray&>(dictionary);
  std::vector<uint8_t> allowed(static_cast<size_t>(strings.length()), 0);
  for (int64_t i = 0; i < strings.length(); ++i) {
    allowed[static_cast<size_t>(i)] = strings.IsValid(i) && Admits(filter, strings.GetView(i));
  }
  return allowed;
}

bool Admits(const FilterSpec& filter, std::string_view value) {
  if (filter.op == FilterOp::kPrefix) return !filter.values.empty() && value.starts_with(filter.values[0]);
  return std::find(filter.values.begin(), filter.values.end(), value) != filter.values.end();
}

// Clears keep[i] for every row of `batch` that some code filter rules out (nulls never match).
// A dictionary column is judged once per entry and then by code; plain text (live rows, a
// chunk Arrow could not read as a dictionary) on the string views, without copying a value.
arrow::Status ApplyCodeFilters(const arrow::RecordBatch& batch, const std::vector<FilterSpec>& filters,
                               std::vector<uint8_t>* keep) {
  for (const FilterSpec& filter : filters) {
    auto column = batch.GetColumnByName(filter.column);
    uint8_t* flags = keep->data();
    if (column != nullptr && column->type_id() == arrow::Type::STRING) {
      const auto& strings = static_cast<const arrow::StringArray&>(*column);
      for (int64_t i = 0; i < strings.length(); ++i) {
        if (flags[i]) flags[i] = strings.IsValid(i) && Admits(filter, strings.GetView(i));
      }
      continue;
    }
    if (column == nullptr || column->type_id() != arrow::Type::DICTIONARY ||
        static_cast<const arrow::DictionaryArray&>(*column).dictionary()->type_id() != arrow::Type::STRING) {
      return arrow::Status::TypeError("column ", filter.column, " is neither text nor dictionary-encoded text");
    }
    const auto& encoded = static_cast<const arrow::DictionaryArray&>(*column);
    const std::vector<uint8_t> allowed = AllowedCodes(*encoded.dictionary(), filter);
    const arrow::Array& indices = *encoded.indices();
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

arrow::Result<arrow::RecordBatchVector> MapBatches(
    const arrow::Table& table,
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>(const std::shared_ptr<arrow::RecordBatch>&)>& fn) {
  ARROW_ASSIGN_OR_RAISE(arrow::RecordBatchVector batches, arrow::TableBatchReader(table).ToRecordBatches());
  arrow::RecordBatchVector out(batches.size());
  ARROW_RETURN_NOT_OK(arrow::internal::OptionalParallelFor(
      batches.size() > 1, static_cast<int>(batches.size()), [&](int b) -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(out[static_cast<size_t>(b)], fn(batches[static_cast<size_t>(b)]));
        return arrow::Status::OK();
      }));
  return out;
}

namespace {

// Keeps the rows of `table` for which `flags_of(batch, &keep)` leaves keep[i] set (it starts
// as `initial`). The batches are judged and copied on both cores (MapBatches): this runs
// after the scan, and alone it took a quarter of an OR-group count's time (perf, 1M members).
// `flags_of` must be safe to call from several threads at once.
template <typename Flags>
arrow::Result<std::shared_ptr<arrow::Table>> FilterByFlags(const std::shared_ptr<arrow::Table>& table, uint8_t initial,
                                                           Flags&& flags_of) {
  ARROW_ASSIGN_OR_RAISE(auto kept, MapBatches(*table, [&](const std::shared_ptr<arrow::RecordBatch>& batch)
                                                          -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
    std::vector<uint8_t> keep(static_cast<size_t>(batch->num_rows()), initial);
    ARROW_RETURN_NOT_OK(flags_of(*batch, &keep));
    ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateEmptyBitmap(batch->num_rows()));
    arrow::internal::GenerateBitsUnrolled(bitmap->mutable_data(), 0, batch->num_rows(),
                                          [&, i = int64_t{0}]() mutable { return keep[static_cast<size_t>(i++)] != 0; });
    arrow::Datum mask(std::make_shared<arrow::BooleanArray>(batch->num_rows(), std::move(bitmap)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(batch, mask));
    return filtered.record_batch();
  }));
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

namespace {

// Each byte of a bitmap as eight 0/1 bytes (little-endian: bit j lands in byte j).
static_assert(std::endian::native == std::endian::little);
const std::array<uint64_t, 256> kBitsAsBytes = [] {
  std::array<uint64_t, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      if ((byte >> bit) & 1) table[static_cast<size_t>(byte)] |= uint64_t{1} << (8 * bit);
    }
  }
  return table;
}();

// ANDs (or, with `any`, ORs) the rows `bound` admits into keep (null counts as false).
arrow::Status CombineExpression(const cp::Expression& expression, const arrow::RecordBatch& batch, bool any,
                                std::vector<uint8_t>* keep) {
  ARROW_ASSIGN_OR_RAISE(auto bound, expression.Bind(*batch.schema()));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, cp::ExecuteScalarExpression(bound, cp::ExecBatch(batch)));
  uint8_t* flags = keep->data();
  const auto n = static_cast<int64_t>(keep->size());
  if (mask.is_scalar()) {
    const auto& value = mask.scalar_as<arrow::BooleanScalar>();
    const uint8_t pass = value.is_valid && value.value;
    if (any ? pass : !pass) std::fill(keep->begin(), keep->end(), pass);
    return arrow::Status::OK();
  }
  const auto& result = static_cast<const arrow::BooleanArray&>(*mask.make_array());
  const uint8_t* values = result.values()->data();
  const uint8_t* valid = result.null_count() == 0 ? nullptr : result.null_bitmap_data();
  const int64_t offset = result.offset();
  int64_t i = 0;
  if (offset % 8 == 0) {  // eight rows a step: the bit-by-bit walk was an eighth of a filtered count
    const uint8_t* value_bytes = values + offset / 8;
    const uint8_t* valid_bytes = valid == nullptr ? nullptr : valid + offset / 8;
    for (; i + 8 <= n; i += 8) {
      uint8_t byte = value_bytes[i / 8];
      if (valid_bytes != nullptr) byte &= valid_bytes[i / 8];
      const uint64_t pass = kBitsAsBytes[byte];
      uint64_t current;
      std::memcpy(&current, flags + i, sizeof current);
      current = any ? (current | pass) : (current & pass);
      std::memcpy(flags + i, &current, sizeof current);
    }
  }
  for (; i < n; ++i) {
    const uint8_t pass = arrow::bit_util::GetBit(values, offset + i) &&
                         (valid == nullptr || arrow::bit_util::GetBit(valid, offset + i));
    flags[i] = any ? (flags[i] | pass) : (flags[i] & pass);
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<RowFilter> RowFilter::Make(const model::FieldRegistry& registry, const std::vector<FilterSpec>& filters,
                                         const std::vector<FilterSpec>& any) {
  RowFilter made;
  std::vector<cp::Expression> clauses;
  for (const FilterSpec& filter : filters) {
    made.columns_.push_back(filter.column);
    if (RunsOnCodes(registry, filter)) {
      made.on_codes_.push_back(filter);
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto clause, FilterExpression(registry, filter));
    clauses.push_back(std::move(clause));
  }
  if (!clauses.empty()) made.rest_ = cp::and_(clauses);
  made.has_any_ = !any.empty();
  std::vector<FilterSpec> others;
  for (const FilterSpec& filter : any) {
    made.columns_.push_back(filter.column);
    (RunsOnCodes(registry, filter) ? made.any_on_codes_ : others).push_back(filter);
  }
  if (!others.empty()) {
    ARROW_ASSIGN_OR_RAISE(made.any_rest_, AnyExpression(registry, others));
  }
  std::sort(made.columns_.begin(), made.columns_.end());
  made.columns_.erase(std::unique(made.columns_.begin(), made.columns_.end()), made.columns_.end());
  return made;
}

arrow::Status RowFilter::Apply(const arrow::RecordBatch& batch, std::vector<uint8_t>* keep) const {
  ARROW_RETURN_NOT_OK(ApplyCodeFilters(batch, on_codes_, keep));
  if (rest_) ARROW_RETURN_NOT_OK(CombineExpression(*rest_, batch, false, keep));
  if (!has_any_) return arrow::Status::OK();
  std::vector<uint8_t> some(keep->size(), 0), one;
  for (const FilterSpec& filter : any_on_codes_) {  // each alternative alone, ORed into `some`
    one.assign(keep->size(), 1);
    ARROW_RETURN_NOT_OK(ApplyCodeFilters(batch, {filter}, &one));
    for (size_t i = 0; i < some.size(); ++i) some[i] |= one[i];
  }
  if (any_rest_) ARROW_RETURN_NOT_OK(CombineExpression(*any_rest_, batch, true, &some));
  for (size_t i = 0; i < some.size(); ++i) (*keep)[i] &= some[i];
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Table>> FilterOnAnyGroup(const std::shared_ptr<arrow::Table>& table,
                                                              const model::FieldRegistry& registry,
                                                              const std::vector<FilterSpec>& any) {
  if (any.empty() || table->num_rows() == 0) return table;
  ARROW_ASSIGN_OR_RAISE(RowFilter filter, RowFilter::Make(registry, {}, any));
  return FilterByFlags(table, 1, [&](const arrow::RecordBatch& batch, std::vector<uint8_t>* keep) {
    return filter.Apply(batch, keep);
  });
}

}  // namespace memberlake::query::internal
