// Reading a few rows of a column chunk without decoding the whole chunk. parquet-cpp 26 reads
// row groups whole through its Arrow reader (apache/arrow#45284), but its page reader takes a
// data-page filter: with the offset index (the first row of every page) every page that holds
// none of the wanted rows is skipped before it is decompressed, and the kept pages are
// decoded with the low-level column reader, page by page.
#include <algorithm>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>
#include <parquet/schema.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

namespace {

// Reads the values of `wanted` (ascending rows of the chunk, all on pages kept by the filter)
// page by page: `append(value)` or `append_null()` for each wanted row, in order.
template <typename Reader, typename Append, typename AppendNull>
arrow::Status ReadWanted(Reader& reader, int16_t max_definition, const std::vector<int64_t>& page_first,
                         const std::vector<int64_t>& page_rows, const std::vector<int>& pages,
                         const std::vector<int64_t>& wanted, Append&& append, AppendNull&& append_null) {
  using Value = typename Reader::T;
  std::vector<int16_t> levels;
  std::vector<Value> values;
  size_t next = 0;  // the next wanted row
  for (int p : pages) {
    const int64_t first = page_first[static_cast<size_t>(p)], rows = page_rows[static_cast<size_t>(p)];
    int64_t done = 0;  // rows of this page read so far
    while (done < rows) {
      const int64_t want = rows - done;
      levels.resize(static_cast<size_t>(want));
      values.resize(static_cast<size_t>(want));
      int64_t values_read = 0;
      // A call stops at the end of the current page, so the values it returns stay valid
      // until the next call.
      const int64_t levels_read = reader.ReadBatch(want, max_definition > 0 ? levels.data() : nullptr, nullptr,
                                                   values.data(), &values_read);
      if (levels_read <= 0) return arrow::Status::IOError("a lake page ended early");
      const int64_t base = first + done;  // the row of levels[0]
      if (values_read == levels_read) {  // no nulls here: a row's value is at its offset
        for (; next < wanted.size() && wanted[next] < base + levels_read; ++next) {
          ARROW_RETURN_NOT_OK(append(values[static_cast<size_t>(wanted[next] - base)]));
        }
        done += levels_read;
        continue;
      }
      int64_t value = 0;  // values are dense: only defined levels have one
      for (int64_t i = 0; i < levels_read; ++i) {
        const bool defined = max_definition == 0 || levels[static_cast<size_t>(i)] == max_definition;
        const int64_t row = first + done + i;
        while (next < wanted.size() && wanted[next] == row) {
          if (defined) {
            ARROW_RETURN_NOT_OK(append(values[static_cast<size_t>(value)]));
          } else {
            ARROW_RETURN_NOT_OK(append_null());
          }
          ++next;
        }
        if (defined) ++value;
      }
      done += levels_read;
    }
  }
  if (next != wanted.size()) return arrow::Status::IOError("rows missing from a lake column chunk");
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Array>> ReadRowsOfColumn(parquet::ParquetFileReader& file, int rg,
                                                              const arrow::Field& field,
                                                              const std::vector<int64_t>& rows) {
  const int column = file.metadata()->schema()->ColumnIndex(field.name());
  auto page_index = file.GetPageIndexReader();
  if (column < 0 || !page_index) return nullptr;
  auto row_group_index = page_index->RowGroup(rg);
  auto offsets = row_group_index ? row_group_index->GetOffsetIndex(column) : nullptr;
  if (!offsets || offsets->page_locations().empty()) return nullptr;
  const int64_t chunk_rows = file.metadata()->RowGroup(rg)->num_rows();
  std::vector<int64_t> page_first, page_rows;
  for (const auto& location : offsets->page_locations()) page_first.push_back(location.first_row_index);
  for (size_t p = 0; p < page_first.size(); ++p) {
    page_rows.push_back((p + 1 < page_first.size() ? page_first[p + 1] : chunk_rows) - page_first[p]);
  }
  std::vector<uint8_t> keep_page(page_first.size(), 0);
  std::vector<int> pages;
  for (int64_t row : rows) {
    auto after = std::upper_bound(page_first.begin(), page_first.end(), row);
    if (after == page_first.begin()) return arrow::Status::IOError("row ", row, " before the first page");
    const auto p = static_cast<size_t>(after - page_first.begin() - 1);
    if (!keep_page[p]) pages.push_back(static_cast<int>(p));
    keep_page[p] = 1;
  }
  const parquet::ColumnDescriptor* descr = file.metadata()->schema()->Column(column);
  if (descr->max_repetition_level() > 0) return nullptr;
  std::shared_ptr<parquet::RowGroupReader> row_group = file.RowGroup(rg);
  std::unique_ptr<parquet::PageReader> pager = row_group->GetColumnPageReader(column);
  size_t page = 0;  // called once per data page, in order
  pager->set_data_page_filter([&keep_page, page](const parquet::DataPageStats&) mutable {
    return page < keep_page.size() ? keep_page[page++] == 0 : false;
  });
  std::shared_ptr<parquet::ColumnReader> reader = parquet::ColumnReader::Make(descr, std::move(pager));
  const int16_t max_definition = descr->max_definition_level();
  const auto& type = field.type()->id() == arrow::Type::DICTIONARY ? arrow::utf8() : field.type();
  auto read = [&](auto& typed_reader, auto& builder, auto convert) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    ARROW_RETURN_NOT_OK(ReadWanted(
        typed_reader, max_definition, page_first, page_rows, pages, rows,
        [&](const auto& value) { return builder.Append(convert(value)); }, [&] { return builder.AppendNull(); }));
    return builder.Finish();
  };
  const auto identity = [](auto value) { return value; };
  switch (descr->physical_type()) {
    case parquet::Type::BYTE_ARRAY: {
      if (type->id() != arrow::Type::STRING) return nullptr;
      arrow::StringBuilder builder;
      return read(static_cast<parquet::ByteArrayReader&>(*reader), builder, [](const parquet::ByteArray& value) {
        return std::string_view(reinterpret_cast<const char*>(value.ptr), value.len);
      });
    }
    case parquet::Type::INT32: {
      if (type->id() == arrow::Type::DATE32) {
        arrow::Date32Builder builder;
        return read(static_cast<parquet::Int32Reader&>(*reader), builder, identity);
      }
      return nullptr;
    }
    case parquet::Type::INT64: {
      if (type->id() == arrow::Type::INT64) {
        arrow::Int64Builder builder;
        return read(static_cast<parquet::Int64Reader&>(*reader), builder, identity);
      }
      if (type->id() == arrow::Type::TIMESTAMP) {
        arrow::TimestampBuilder builder(type, arrow::default_memory_pool());
        return read(static_cast<parquet::Int64Reader&>(*reader), builder, identity);
      }
      return nullptr;
    }
    default: return nullptr;
  }
}

namespace {

arrow::Result<std::vector<int>> LeafIndices(const parquet::arrow::FileReader& reader,
                                            const std::vector<std::string>& columns) {
  std::vector<int> indices;
  for (const std::string& name : columns) {
    int index = reader.parquet_reader()->metadata()->schema()->ColumnIndex(name);
    if (index < 0) return arrow::Status::Invalid("column '", name, "' is not in a lake file");
    if (std::find(indices.begin(), indices.end(), index) == indices.end()) indices.push_back(index);
  }
  return indices;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadColumns(parquet::arrow::FileReader& reader, int row_group,
                                                               const std::vector<std::string>& columns) {
  ARROW_ASSIGN_OR_RAISE(auto indices, LeafIndices(reader, columns));
  std::shared_ptr<arrow::Table> table;
  ARROW_ASSIGN_OR_RAISE(table, reader.ReadRowGroup(row_group, indices));
  return table->CombineChunksToBatch();
}

namespace {

// `needed` of `rows` of a row group, from only the pages holding them; null when a column
// cannot be read that way. Worth it while the rows are few against the row group.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadFewRows(parquet::arrow::FileReader& reader, int row_group,
                                                               const std::vector<std::string>& needed,
                                                               const std::vector<int64_t>& rows) {
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader.GetSchema(&schema));
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (const std::string& name : needed) {
    auto field = schema->GetFieldByName(name);
    if (field == nullptr) return nullptr;
    ARROW_ASSIGN_OR_RAISE(auto column, ReadRowsOfColumn(*reader.parquet_reader(), row_group, *field, rows));
    if (column == nullptr) return nullptr;
    // The file's field (its nullability too): these rows join rows read whole from the file.
    fields.push_back(field->WithType(column->type()));
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(rows.size()), columns);
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadRowsOfRowGroup(parquet::arrow::FileReader& reader, int row_group,
                                                                      const std::vector<std::string>& needed,
                                                                      const std::vector<int64_t>& rows, int few_divisor) {
  const int64_t group_rows = reader.parquet_reader()->metadata()->RowGroup(row_group)->num_rows();
  if (static_cast<int64_t>(rows.size()) * few_divisor <= group_rows) {
    ARROW_ASSIGN_OR_RAISE(auto few, ReadFewRows(reader, row_group, needed, rows));
    if (few != nullptr) return few;
  }
  ARROW_ASSIGN_OR_RAISE(auto batch, ReadColumns(reader, row_group, needed));
  const bool contiguous = !rows.empty() && rows.back() - rows.front() + 1 == static_cast<int64_t>(rows.size());
  if (contiguous && static_cast<int64_t>(rows.size()) != group_rows) {  // a range (the first rows): a slice
    batch = batch->Slice(rows.front(), static_cast<int64_t>(rows.size()));
  } else if (static_cast<int64_t>(rows.size()) != group_rows) {
    arrow::Int64Builder indices;
    ARROW_RETURN_NOT_OK(indices.AppendValues(rows));
    ARROW_ASSIGN_OR_RAISE(auto taken_indices, indices.Finish());
    ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(batch, taken_indices));
    batch = taken.record_batch();
  }
  std::vector<int> order;  // the columns in `needed`'s order, whatever the file's
  for (const std::string& name : needed) order.push_back(batch->schema()->GetFieldIndex(name));
  return batch->SelectColumns(order);
}

}  // namespace memberlake::query::internal
