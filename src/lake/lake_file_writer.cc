#include "lake/lake_file_writer.h"

#include <arrow/io/interfaces.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "crypto/sha256.h"

namespace memberlake::lake {
namespace {

// Forwards writes to the lake file and hashes and counts the bytes on the way.
class HashingOutputStream : public arrow::io::OutputStream {
 public:
  explicit HashingOutputStream(std::shared_ptr<arrow::io::OutputStream> inner)
      : inner_(std::move(inner)) {}
  arrow::Status Write(const void* data, int64_t nbytes) override {
    hash_.Update(data, nbytes);
    bytes_ += nbytes;
    return inner_->Write(data, nbytes);
  }
  arrow::Status Flush() override { return inner_->Flush(); }
  arrow::Status Close() override { return inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  arrow::Result<int64_t> Tell() const override { return bytes_; }
  int64_t bytes() const { return bytes_; }
  std::string HexDigest() { return hash_.HexDigest(); }

 private:
  std::shared_ptr<arrow::io::OutputStream> inner_;
  crypto::Sha256 hash_;
  int64_t bytes_ = 0;
};

constexpr int64_t kPageRows = 8192;
constexpr double kBloomFpp = 0.05;

// Per-column encodings, each measured on the sample members (docs/scale.md, "Smaller files"):
// dates and timestamps as deltas (DELTA_BINARY_PACKED; rows are clustered by a date, see
// cluster_by, and dates that go with it then differ by little), integers and strings the
// registry marks as identifiers (dictionary = false) as deltas and as DELTA_LENGTH_BYTE_ARRAY
// (lengths apart from the bytes, which zstd then sees back to back); everything else
// dictionary-encoded, falling back to plain where a row group's dictionary grows too large.
void SetColumnEncoding(parquet::WriterProperties::Builder& builder, const model::FieldSpec& spec) {
  using model::FieldType;
  const bool delta_ints = spec.type == FieldType::kDate || spec.type == FieldType::kTimestamp ||
                          (spec.type == FieldType::kInteger && !spec.dictionary);
  if (delta_ints) {
    builder.disable_dictionary(spec.name)->encoding(spec.name, parquet::Encoding::DELTA_BINARY_PACKED);
  } else if (spec.type == FieldType::kString && !spec.dictionary) {
    builder.disable_dictionary(spec.name)->encoding(spec.name, parquet::Encoding::DELTA_LENGTH_BYTE_ARRAY);
  } else if (!spec.dictionary) {
    builder.disable_dictionary(spec.name);
  }
}

std::shared_ptr<parquet::WriterProperties> MakeWriterProperties(
    const arrow::Schema& schema, const model::FieldRegistry& registry) {
  parquet::WriterProperties::Builder builder;
  builder.compression(parquet::Compression::ZSTD)
      ->enable_dictionary()
      ->enable_statistics()
      ->enable_write_page_index()
      ->max_row_group_length(kRowGroupRows)
      // Pages of at most 4096 rows (parquet-cpp's default is 20,000): the page index then
      // has ~10 min/max entries per column chunk, fine enough to rule out values inside a
      // row group's range, for our reader and for others (DuckDB, Spark) alike.
      ->max_rows_per_page(kPageRows)
      ->created_by("memberlake " MEMBERLAKE_VERSION);
  std::vector<parquet::SortingColumn> sorting;
  for (const std::string& name : registry.sort_by()) {
    int index = schema.GetFieldIndex(name);
    if (index < 0) break;  // a prefix of the sort order is still a valid claim
    sorting.push_back(parquet::SortingColumn{index, /*descending=*/false, /*nulls_first=*/false});
  }
  builder.set_sorting_columns(std::move(sorting));
  for (const auto* fields : {&registry.stored_fields(), &registry.calculated_fields()}) {
    for (const model::FieldSpec& spec : *fields) {
      if (schema.GetFieldIndex(spec.name) < 0) continue;
      SetColumnEncoding(builder, spec);
      // Enum pages hold RLE-encoded dictionary indices of sorted columns: already a few bytes,
      // so zstd saves next to nothing there, while a reader pays a fresh zstd context per
      // page (a third of a cold group-by's time on 1M members).
      if (spec.type == model::FieldType::kEnum) builder.compression(spec.name, parquet::Compression::UNCOMPRESSED);
      if (spec.lookup) {
        // Sized to the row group's rows and folded down to the smallest power of two that
        // keeps this rate: about 8 bits a row (16 at 0.01, a quarter of the file's growth
        // over pyarrow's); a false positive costs a lookup one more row group to decode.
        parquet::BloomFilterOptions bloom;
        bloom.fpp = kBloomFpp;
        builder.enable_bloom_filter(spec.name, bloom);
      }
    }
  }
  return builder.build();
}

}  // namespace

struct LakeFileWriter::Impl {
  SnapshotFile file;
  std::shared_ptr<HashingOutputStream> stream;
  std::unique_ptr<parquet::arrow::FileWriter> writer;
};

LakeFileWriter::~LakeFileWriter() = default;

arrow::Result<std::unique_ptr<LakeFileWriter>> LakeFileWriter::Open(
    LakeStorage& storage, SnapshotFile file, const std::shared_ptr<arrow::Schema>& schema,
    const model::FieldRegistry& registry, const LakeFileMetadata& metadata) {
  std::unique_ptr<LakeFileWriter> out(new LakeFileWriter());
  out->impl_ = std::make_unique<Impl>();
  ARROW_ASSIGN_OR_RAISE(auto sink, storage.OpenForWrite(file.path));
  out->impl_->stream = std::make_shared<HashingOutputStream>(std::move(sink));
  out->impl_->file = std::move(file);

  auto kv = arrow::key_value_metadata(
      {"generated_at", "data_version", "schema_version", "as_of", "snapshot_id"},
      {metadata.generated_at, std::to_string(metadata.data_version),
       std::to_string(metadata.schema_version), metadata.as_of, metadata.snapshot_id});
  auto file_schema = schema->WithMetadata(kv);
  auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  auto writer = parquet::arrow::FileWriter::Open(*file_schema, arrow::default_memory_pool(),
                                                 out->impl_->stream,
                                                 MakeWriterProperties(*schema, registry),
                                                 arrow_props);
  if (!writer.ok()) return writer.status();
  out->impl_->writer = std::move(*writer);
  return out;
}

arrow::Status LakeFileWriter::Append(const arrow::RecordBatch& rows) {
  if (rows.num_rows() == 0) return arrow::Status::OK();
  if (start_row_group_ && impl_->file.rows > 0) {
    ARROW_RETURN_NOT_OK(impl_->writer->NewBufferedRowGroup());
  }
  start_row_group_ = false;
  impl_->file.rows += rows.num_rows();
  return impl_->writer->WriteRecordBatch(rows);
}

arrow::Result<SnapshotFile> LakeFileWriter::Close() {
  ARROW_RETURN_NOT_OK(impl_->writer->Close());
  ARROW_RETURN_NOT_OK(impl_->stream->Close());
  impl_->file.bytes = impl_->stream->bytes();
  impl_->file.sha256 = impl_->stream->HexDigest();
  return impl_->file;
}

}  // namespace memberlake::lake
