#include "jobs/generate_snapshot.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <chrono>
#include <cstdio>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <nlohmann/json.hpp>

#include "lake/lake_file_writer.h"
#include "transform/member_transform.h"

namespace memberlake::jobs {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string UtcNowIso() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Rows of each partition value, in scan order, as transformed batches.
class Partitioner {
 public:
  Partitioner(const model::FieldRegistry& registry) {
    const model::FieldSpec* field = registry.Find(registry.partition_field());
    if (field != nullptr) {
      column_ = field->name;
      values_ = field->values;
    } else {
      values_ = {""};  // no partitioning: one bucket
    }
    buckets_.resize(values_.size());
  }

  arrow::Status Add(const std::shared_ptr<arrow::RecordBatch>& rows) {
    if (rows->num_rows() == 0) return arrow::Status::OK();
    if (column_.empty()) {
      buckets_[0].push_back(rows);
      return arrow::Status::OK();
    }
    auto column = std::static_pointer_cast<arrow::DictionaryArray>(rows->GetColumnByName(column_));
    // Map the batch's dictionary onto the registry's value order once per batch.
    auto dictionary = std::static_pointer_cast<arrow::StringArray>(column->dictionary());
    std::vector<int> bucket_of(dictionary->length(), -1);
    for (int64_t i = 0; i < dictionary->length(); ++i) {
      auto it = std::find(values_.begin(), values_.end(), dictionary->GetView(i));
      if (it != values_.end()) bucket_of[i] = static_cast<int>(it - values_.begin());
    }
    std::vector<arrow::Int32Builder> selections(values_.size());
    auto indices = std::static_pointer_cast<arrow::Int32Array>(column->indices());
    for (int64_t row = 0; row < rows->num_rows(); ++row) {
      if (indices->IsNull(row)) return arrow::Status::Invalid("partition field ", column_, " is null");
      int bucket = bucket_of[indices->Value(row)];
      if (bucket < 0) return arrow::Status::Invalid("unexpected ", column_, " value");
      ARROW_RETURN_NOT_OK(selections[bucket].Append(static_cast<int32_t>(row)));
    }
    for (size_t b = 0; b < values_.size(); ++b) {
      if (selections[b].length() == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto selection, selections[b].Finish());
      if (selection->length() == rows->num_rows()) {
        buckets_[b].push_back(rows);
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(rows, selection));
      buckets_[b].push_back(taken.record_batch());
    }
    return arrow::Status::OK();
  }

  // Partition values in byte order: the order of the partition column in sorted files.
  std::vector<size_t> SortedBuckets() const {
    std::vector<size_t> order(values_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values_[a] < values_[b]; });
    return order;
  }
  const std::string& value(size_t bucket) const { return values_[bucket]; }
  bool partitioned() const { return !column_.empty(); }
  std::vector<std::shared_ptr<arrow::RecordBatch>> Release(size_t bucket) {
    return std::move(buckets_[bucket]);
  }

 private:
  std::string column_;
  std::vector<std::string> values_;
  std::vector<std::vector<std::shared_ptr<arrow::RecordBatch>>> buckets_;
};

// `column IN values` as a boolean mask; dictionary columns are matched on their dictionary.
arrow::Result<std::shared_ptr<arrow::ChunkedArray>> MatchIn(const arrow::ChunkedArray& column,
                                                           const std::vector<std::string>& values) {
  arrow::StringBuilder set_builder;
  ARROW_RETURN_NOT_OK(set_builder.AppendValues(values));
  ARROW_ASSIGN_OR_RAISE(auto value_set, set_builder.Finish());
  arrow::ArrayVector masks;
  for (const auto& chunk : column.chunks()) {
    std::shared_ptr<arrow::Array> values_chunk = chunk;
    if (chunk->type_id() == arrow::Type::DICTIONARY) {
      ARROW_ASSIGN_OR_RAISE(values_chunk, arrow::compute::Cast(*chunk, arrow::utf8()));
    }
    ARROW_ASSIGN_OR_RAISE(arrow::Datum mask,
                          arrow::compute::IsIn(values_chunk, arrow::compute::SetLookupOptions(value_set)));
    masks.push_back(mask.make_array());
  }
  return std::make_shared<arrow::ChunkedArray>(std::move(masks), arrow::boolean());
}

class ViewWriter {
 public:
  static arrow::Result<std::unique_ptr<ViewWriter>> Open(lake::LakeStorage& lake,
                                                        const model::ViewSpec& view,
                                                        const model::FieldRegistry& registry,
                                                        const lake::LakeFileMetadata& meta) {
    auto out = std::unique_ptr<ViewWriter>(new ViewWriter());
    out->view_ = &view;
    const auto& schema = registry.lake_schema();
    if (view.columns.empty()) {
      for (int i = 0; i < schema->num_fields(); ++i) out->columns_.push_back(i);
    } else {
      for (const std::string& name : view.columns) out->columns_.push_back(schema->GetFieldIndex(name));
    }
    arrow::FieldVector fields;
    for (int index : out->columns_) fields.push_back(schema->field(index));
    lake::SnapshotFile file;
    file.path = lake::SnapshotManifest::ViewPath(view.name, meta.snapshot_id);
    file.kind = lake::SnapshotFileKind::kView;
    file.view = view.name;
    ARROW_ASSIGN_OR_RAISE(out->writer_, lake::LakeFileWriter::Open(lake, std::move(file),
                                                                    arrow::schema(fields), registry, meta));
    return out;
  }

  arrow::Status Write(const std::shared_ptr<arrow::Table>& rows) {
    arrow::Datum mask;
    for (const model::ViewPredicate& predicate : view_->where) {
      auto column = rows->GetColumnByName(predicate.field);
      arrow::Datum clause;
      if (predicate.not_null) {
        ARROW_ASSIGN_OR_RAISE(clause, arrow::compute::CallFunction("is_valid", {column}));
      }
      if (!predicate.in.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto in, MatchIn(*column, predicate.in));
        if (clause.is_value()) {
          ARROW_ASSIGN_OR_RAISE(clause, arrow::compute::And(clause, in));
        } else {
          clause = in;
        }
      }
      if (mask.is_value()) {
        ARROW_ASSIGN_OR_RAISE(mask, arrow::compute::And(mask, clause));
      } else {
        mask = clause;
      }
    }
    std::shared_ptr<arrow::Table> selected = rows;
    if (mask.is_value()) {
      ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(rows, mask));
      selected = filtered.table();
    }
    ARROW_ASSIGN_OR_RAISE(auto projected, selected->SelectColumns(columns_));
    return writer_->Write(*projected);
  }

  arrow::Result<lake::SnapshotFile> Close() { return writer_->Close(); }

 private:
  const model::ViewSpec* view_ = nullptr;
  std::vector<int> columns_;
  std::unique_ptr<lake::LakeFileWriter> writer_;
};

// Sorts one region's rows by the registry's sort order (byte order of the values). Arrow
// cannot sort dictionary columns of a table, so the keys are decoded into a small key table
// first; the rows themselves stay dictionary-encoded and are only permuted.
arrow::Result<std::shared_ptr<arrow::Table>> SortRows(
    const std::shared_ptr<arrow::Table>& rows, const model::FieldRegistry& registry) {
  std::vector<arrow::compute::SortKey> keys;
  arrow::FieldVector key_fields;
  arrow::ChunkedArrayVector key_columns;
  for (const std::string& name : registry.sort_by()) {
    if (name == registry.partition_field()) continue;
    auto column = rows->GetColumnByName(name);
    if (column->type()->id() == arrow::Type::DICTIONARY) {
      ARROW_ASSIGN_OR_RAISE(arrow::Datum decoded, arrow::compute::Cast(column, arrow::utf8()));
      column = decoded.chunked_array();
    }
    keys.emplace_back(name);
    key_fields.push_back(arrow::field(name, column->type()));
    key_columns.push_back(std::move(column));
  }
  if (keys.empty() || rows->num_rows() == 0) return rows;
  auto key_table = arrow::Table::Make(arrow::schema(key_fields), key_columns, rows->num_rows());
  ARROW_ASSIGN_OR_RAISE(auto order, arrow::compute::SortIndices(arrow::Datum(key_table),
                                                                arrow::compute::SortOptions(keys)));
  ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, arrow::compute::Take(rows, order));
  ARROW_ASSIGN_OR_RAISE(auto combined, sorted.table()->CombineChunks());
  return combined;
}

arrow::Status WriteQuarantine(lake::LakeStorage& lake, const lake::SnapshotManifest& manifest,
                              const std::vector<model::RecordProblem>& problems) {
  nlohmann::ordered_json doc;
  doc["snapshot_id"] = manifest.snapshot_id;
  doc["data_version"] = manifest.data_version;
  doc["quarantined_records"] = manifest.quarantined;
  auto& list = doc["problems"] = nlohmann::ordered_json::array();
  for (const auto& problem : problems) {
    list.push_back({{"member_id", problem.member_id}, {"field", problem.field},
                    {"problem", problem.problem}});
  }
  ARROW_ASSIGN_OR_RAISE(auto out, lake.OpenForWrite(manifest.quarantine_path));
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ARROW_RETURN_NOT_OK(out->Write(text.data(), static_cast<int64_t>(text.size())));
  return out->Close();
}

}  // namespace

arrow::Result<GenerateSummary> GenerateSnapshot(store::MemberStore& store, lake::LakeStorage& lake,
                                                const GenerateOptions& options) {
  ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
  const auto started = Clock::now();
  auto progress = [&](std::string_view stage, int64_t done, int64_t total) {
    if (options.progress) options.progress(stage, done, total);
  };
  const std::shared_ptr<const model::FieldRegistry>& registry = store.registry();
  ARROW_ASSIGN_OR_RAISE(auto transform, transform::MemberTransform::Make(registry, options.as_of));

  GenerateSummary summary;
  lake::SnapshotManifest& manifest = summary.manifest;
  if (auto current = lake::ReadCurrentManifest(lake); current.ok()) {
    manifest.previous_snapshot_id = current->snapshot_id;
  }
  manifest.snapshot_id = lake::NewSnapshotIdAfter(manifest.previous_snapshot_id);
  manifest.generated_at = UtcNowIso();
  manifest.as_of = model::FormatIsoDate(options.as_of);
  manifest.schema_version = registry->schema_version();
  manifest.quarantine_path = lake::SnapshotManifest::QuarantinePath(manifest.snapshot_id);

  // Scan and transform, partitioning by region as batches arrive.
  ARROW_ASSIGN_OR_RAISE(store::StoreScan scan, store.Scan());
  manifest.data_version = scan.data_version;
  Partitioner partitioner(*registry);
  std::vector<model::RecordProblem> problems;
  int64_t scanned = 0;
  while (true) {
    auto t0 = Clock::now();
    std::shared_ptr<arrow::RecordBatch> raw;
    ARROW_RETURN_NOT_OK(scan.reader->ReadNext(&raw));
    summary.scan_seconds += SecondsSince(t0);
    if (raw == nullptr) break;
    auto t1 = Clock::now();
    ARROW_ASSIGN_OR_RAISE(transform::TransformedBatch batch, transform.Apply(*raw));
    ARROW_RETURN_NOT_OK(partitioner.Add(batch.rows));
    manifest.quarantined += batch.rejected_rows;
    std::move(batch.quarantined.begin(), batch.quarantined.end(), std::back_inserter(problems));
    summary.transform_seconds += SecondsSince(t1);
    scanned += raw->num_rows();
    progress("scan", scanned, scan.row_count);
  }
  scan.reader.reset();  // ends the store's read transaction

  // Write: every region sorted on its own; then two lanes run side by side (one per core),
  // each taking the regions in sort order: lane 0 the full dataset and the full-width views,
  // lane 1 the regional files and the projected views. Row groups stay region-pure.
  auto t_write = Clock::now();
  lake::LakeFileMetadata meta{manifest.snapshot_id, manifest.generated_at, manifest.as_of,
                              manifest.data_version, manifest.schema_version};
  std::vector<size_t> order = partitioner.SortedBuckets();
  std::vector<std::shared_ptr<arrow::Table>> sorted(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto region_rows, arrow::Table::FromRecordBatches(
                                                registry->lake_schema(), partitioner.Release(order[i])));
    ARROW_ASSIGN_OR_RAISE(sorted[i], SortRows(region_rows, *registry));
  }

  lake::SnapshotFile full_file;
  full_file.path = lake::SnapshotManifest::FullDatasetPath(manifest.snapshot_id);
  full_file.kind = lake::SnapshotFileKind::kFull;
  ARROW_ASSIGN_OR_RAISE(auto full, lake::LakeFileWriter::Open(lake, full_file, registry->lake_schema(),
                                                              *registry, meta));
  std::vector<std::unique_ptr<ViewWriter>> lane_views[2];
  for (const model::ViewSpec& view : registry->views()) {
    ARROW_ASSIGN_OR_RAISE(auto writer, ViewWriter::Open(lake, view, *registry, meta));
    lane_views[view.columns.empty() ? 0 : 1].push_back(std::move(writer));
  }
  std::atomic<int64_t> written{0};
  const int64_t to_write = scanned - manifest.quarantined;
  auto lane0 = [&]() -> arrow::Status {
    for (const auto& rows : sorted) {
      ARROW_RETURN_NOT_OK(full->Write(*rows));
      for (auto& view : lane_views[0]) ARROW_RETURN_NOT_OK(view->Write(rows));
      progress("write", written += rows->num_rows(), to_write);
    }
    return arrow::Status::OK();
  };
  std::vector<lake::SnapshotFile> regional_files;
  auto lane1 = [&]() -> arrow::Status {
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (partitioner.partitioned()) {
        lake::SnapshotFile file;
        const std::string& region = partitioner.value(order[i]);
        file.path = lake::SnapshotManifest::RegionalPath(region, manifest.snapshot_id);
        file.kind = lake::SnapshotFileKind::kRegional;
        file.region = region;
        ARROW_ASSIGN_OR_RAISE(auto writer, lake::LakeFileWriter::Open(
                                               lake, std::move(file), registry->lake_schema(), *registry, meta));
        ARROW_RETURN_NOT_OK(writer->Write(*sorted[i]));
        ARROW_ASSIGN_OR_RAISE(auto written_file, writer->Close());
        regional_files.push_back(std::move(written_file));
      }
      for (auto& view : lane_views[1]) ARROW_RETURN_NOT_OK(view->Write(sorted[i]));
    }
    return arrow::Status::OK();
  };
  auto lane1_done = std::async(std::launch::async, lane1);
  arrow::Status lane0_status = lane0();
  ARROW_RETURN_NOT_OK(lane1_done.get());
  ARROW_RETURN_NOT_OK(lane0_status);
  sorted.clear();

  ARROW_ASSIGN_OR_RAISE(auto full_written, full->Close());
  manifest.members = full_written.rows;
  manifest.files.push_back(std::move(full_written));
  for (auto& file : regional_files) manifest.files.push_back(std::move(file));
  for (auto& lane : lane_views) {
    for (auto& view : lane) {
      ARROW_ASSIGN_OR_RAISE(auto file, view->Close());
      manifest.files.push_back(std::move(file));
    }
  }
  summary.write_seconds = SecondsSince(t_write);

  // Publish: the quarantine report, then the manifest, then CURRENT.
  auto t_publish = Clock::now();
  ARROW_RETURN_NOT_OK(WriteQuarantine(lake, manifest, problems));
  ARROW_RETURN_NOT_OK(lake::PublishManifest(lake, manifest));
  progress("publish", 1, 1);
  summary.publish_seconds = SecondsSince(t_publish);
  summary.total_seconds = SecondsSince(started);
  return summary;
}

std::string GenerateSummary::ToJson() const {
  nlohmann::ordered_json doc;
  doc["snapshot_id"] = manifest.snapshot_id;
  doc["data_version"] = manifest.data_version;
  doc["as_of"] = manifest.as_of;
  doc["members"] = manifest.members;
  doc["quarantined"] = manifest.quarantined;
  doc["quarantine_report"] = manifest.quarantine_path;
  doc["manifest"] = lake::SnapshotManifest::ManifestPath(manifest.snapshot_id);
  auto& files = doc["files"] = nlohmann::ordered_json::array();
  for (const auto& file : manifest.files) {
    files.push_back({{"path", file.path}, {"rows", file.rows}, {"bytes", file.bytes}});
  }
  doc["seconds"] = {{"scan", scan_seconds}, {"transform", transform_seconds},
                    {"write", write_seconds}, {"publish", publish_seconds}, {"total", total_seconds}};
  return doc.dump(2);
}

}  // namespace memberlake::jobs
