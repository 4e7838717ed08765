#include "jobs/generate_snapshot.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <malloc.h>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <nlohmann/json.hpp>

#include "jobs/view_filter.h"
#include "jobs/erasure.h"
#include "lake/cluster_windows.h"
#include "lake/lake_file_writer.h"
#include "lake/partition_spill.h"
#include "model/arrow_compute.h"
#include "model/no_throw.h"
#include "transform/member_transform.h"

namespace memberlake::jobs {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Reads the store on its own thread, a couple of batches ahead of the transform.
class ScanAhead {
 public:
  explicit ScanAhead(std::shared_ptr<arrow::RecordBatchReader> reader)
      : reader_(std::move(reader)), thread_([this] { Run(); }) {}
  ~ScanAhead() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  // The next batch, nullptr at the end, or the scan's error.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (!queue_.empty()) {
      auto batch = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
      return batch;
    }
    ARROW_RETURN_NOT_OK(status_);
    return std::shared_ptr<arrow::RecordBatch>();
  }
  double busy_seconds() const { return busy_seconds_; }

 private:
  void Run() {
    while (true) {
      auto start = Clock::now();
      std::shared_ptr<arrow::RecordBatch> batch;
      arrow::Status status = model::CatchAll("store scan", [&] { return reader_->ReadNext(&batch); });
      busy_seconds_ += SecondsSince(start);
      std::unique_lock<std::mutex> lock(mutex_);
      if (!status.ok() || batch == nullptr) {
        status_ = status;
        done_ = true;
        break;
      }
      queue_.push_back(std::move(batch));
      changed_.notify_all();
      changed_.wait(lock, [&] { return queue_.size() < kAhead || stopped_; });
      if (stopped_) {
        done_ = true;
        break;
      }
    }
    reader_.reset();  // ends the store's read transaction on the thread that used it
    changed_.notify_all();
  }

  static constexpr size_t kAhead = 2;
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> queue_;
  arrow::Status status_;
  bool done_ = false;
  bool stopped_ = false;
  double busy_seconds_ = 0;
  std::thread thread_;  // last: starts after the members above exist
};

// One filtered view of the snapshot: its predicates, its columns, its file.
class ViewWriter {
 public:
  static arrow::Result<std::unique_ptr<ViewWriter>> Open(lake::LakeStorage& lake, const model::ViewSpec& view,
                                                        const model::FieldRegistry& registry,
                                                        const lake::LakeFileMetadata& meta) {
    auto out = std::unique_ptr<ViewWriter>(new ViewWriter());
    out->view_ = &view;
    const auto& schema = registry.lake_schema();
    for (int i = 0; i < schema->num_fields(); ++i) {
      if (view.columns.empty()) out->columns_.push_back(i);
    }
    for (const std::string& name : view.columns) out->columns_.push_back(schema->GetFieldIndex(name));
    arrow::FieldVector fields;
    for (int index : out->columns_) fields.push_back(schema->field(index));
    lake::SnapshotFile file;
    file.path = lake::SnapshotManifest::ViewPath(view.name, meta.snapshot_id);
    file.kind = lake::SnapshotFileKind::kView;
    file.view = view.name;
    ARROW_ASSIGN_OR_RAISE(out->writer_, lake::LakeFileWriter::Open(lake, std::move(file), arrow::schema(fields),
                                                                    registry, meta));
    return out;
  }

  void StartRowGroup() { writer_->StartRowGroup(); }
  const std::string& name() const { return view_->name; }

  arrow::Status Append(const std::shared_ptr<arrow::RecordBatch>& rows) {
    ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, ViewRowMask(*view_, *rows));
    std::shared_ptr<arrow::RecordBatch> selected = rows;
    if (mask.is_value()) {
      ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(rows, mask));
      selected = filtered.record_batch();
    }
    ARROW_ASSIGN_OR_RAISE(auto projected, selected->SelectColumns(columns_));
    return writer_->Append(*projected);
  }

  arrow::Result<lake::SnapshotFile> Close() { return writer_->Close(); }

 private:
  const model::ViewSpec* view_ = nullptr;
  std::vector<int> columns_;
  std::unique_ptr<lake::LakeFileWriter> writer_;
};

arrow::Status WriteQuarantine(lake::LakeStorage& lake, const lake::SnapshotManifest& manifest,
                              const std::vector<model::RecordProblem>& problems) {
  nlohmann::ordered_json doc;
  doc["snapshot_id"] = manifest.snapshot_id;
  doc["data_version"] = manifest.data_version;
  doc["quarantined_records"] = manifest.quarantined;
  auto& list = doc["problems"] = nlohmann::ordered_json::array();
  for (const auto& problem : problems) {
    list.push_back({{"member_id", problem.member_id}, {"field", problem.field}, {"problem", problem.problem}});
  }
  ARROW_ASSIGN_OR_RAISE(auto out, lake.OpenForWrite(manifest.quarantine_path));
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ARROW_RETURN_NOT_OK(out->Write(text.data(), static_cast<int64_t>(text.size())));
  return out->Close();
}

constexpr const char* kSpillPrefix = "memberlake-spill-";

std::filesystem::path SpillBase(const GenerateOptions& options) {
  return options.spill_dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(options.spill_dir);
}

// Best effort: what lifecycle would otherwise remove as orphans after its grace period.
void RemoveUnpublished(lake::LakeStorage& lake, const lake::SnapshotManifest& manifest) {
  (void)lake.DeleteFile(lake::SnapshotManifest::ManifestPath(manifest.snapshot_id));
  (void)lake.DeleteFile(manifest.quarantine_path);
  for (const auto& file : manifest.files) (void)lake.DeleteFile(file.path);
}

}  // namespace

arrow::Result<GenerateSummary> GenerateSnapshot(store::MemberStore& store, lake::LakeStorage& lake,
                                                const GenerateOptions& options) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  const auto started = Clock::now();
  auto progress = [&](std::string_view stage, int64_t done, int64_t total) {
    if (options.progress) options.progress(stage, done, total);
  };
  const std::shared_ptr<const model::FieldRegistry>& registry = store.registry();
  // A registry that would make a kept snapshot unreadable is refused before it writes anything.
  ARROW_RETURN_NOT_OK(CheckRegistryAgainstLake(lake, *registry));
  ARROW_ASSIGN_OR_RAISE(auto transform, transform::MemberTransform::Make(registry, options.as_of));

  GenerateSummary summary;
  lake::SnapshotManifest& manifest = summary.manifest;
  if (auto current = lake::ReadCurrentManifest(lake); current.ok()) {
    manifest.previous_snapshot_id = current->snapshot_id;
  }
  manifest.snapshot_id = lake::NewSnapshotIdAfter(manifest.previous_snapshot_id);
  manifest.generated_at = model::UtcNowIso();
  manifest.as_of = model::FormatIsoDate(options.as_of);
  manifest.schema_version = registry->schema_version();
  manifest.quarantine_path = lake::SnapshotManifest::QuarantinePath(manifest.snapshot_id);

  // Scan (its own thread) and transform; rows are ordered into the spill as they arrive.
  // Spill folders of generations that were killed (kill -9, a Lambda timeout) would pile up
  // in the temp folder, which a warm Lambda keeps between invocations.
  lake::PartitionSpill::RemoveAbandonedSpills(SpillBase(options).string(), kSpillPrefix);
  ARROW_ASSIGN_OR_RAISE(auto spill, lake::PartitionSpill::Make(
                                        registry, (SpillBase(options) / (kSpillPrefix + manifest.snapshot_id)).string()));
  ARROW_ASSIGN_OR_RAISE(store::StoreScan scan, store.Scan());
  manifest.data_version = scan.data_version;
  std::vector<model::RecordProblem> problems;
  int64_t scanned = 0;
  {
    ScanAhead ahead(std::move(scan.reader));
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto raw, ahead.Next());
      if (raw == nullptr) break;
      auto t0 = Clock::now();
      ARROW_ASSIGN_OR_RAISE(transform::TransformedBatch batch, transform.Apply(*raw));
      ARROW_RETURN_NOT_OK(spill->Add(batch.rows));
      manifest.quarantined += batch.rejected_rows;
      std::move(batch.quarantined.begin(), batch.quarantined.end(), std::back_inserter(problems));
      summary.transform_seconds += SecondsSince(t0);
      scanned += raw->num_rows();
      progress("scan", scanned, scan.row_count);
    }
    summary.scan_seconds = ahead.busy_seconds();
  }
  ARROW_RETURN_NOT_OK(spill->Finish());

  // Write: two lanes side by side (one per core), each streaming the partitions in order from
  // the spill: lane 0 the full dataset and the full-width views, lane 1 the regional files and
  // the projected views. Every partition starts a new row group, so row groups never span
  // two regions.
  auto t_write = Clock::now();
  lake::LakeFileMetadata meta{manifest.snapshot_id, manifest.generated_at, manifest.as_of,
                              manifest.data_version, manifest.schema_version};
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
  const auto& partitions = spill->partitions();
  const bool partitioned = !registry->partition_field().empty();
  std::atomic<int64_t> written{0};
  const int64_t to_write = scanned - manifest.quarantined;

  // Both lanes cut a partition into the same windows (row groups) and order each the same way.
  auto ReadClustered = [&](size_t p) -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto sorted, spill->Read(p));
    return lake::ClusterWindows(std::move(sorted), *registry, lake::kRowGroupRows);
  };
  auto lane0 = [&]() -> arrow::Status {
    for (size_t p = 0; p < partitions.size(); ++p) {
      ARROW_ASSIGN_OR_RAISE(auto reader, ReadClustered(p));
      full->StartRowGroup();
      for (auto& view : lane_views[0]) view->StartRowGroup();
      std::shared_ptr<arrow::RecordBatch> batch;
      while (true) {
        ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_RETURN_NOT_OK(full->Append(*batch));
        for (auto& view : lane_views[0]) ARROW_RETURN_NOT_OK(view->Append(batch));
        progress("write", written += batch->num_rows(), to_write);
      }
    }
    return arrow::Status::OK();
  };
  std::vector<lake::SnapshotFile> regional_files;
  auto lane1 = [&]() -> arrow::Status {
    for (size_t p = 0; p < partitions.size(); ++p) {
      ARROW_ASSIGN_OR_RAISE(auto reader, ReadClustered(p));
      std::unique_ptr<lake::LakeFileWriter> regional;
      if (partitioned) {
        lake::SnapshotFile file;
        file.path = lake::SnapshotManifest::RegionalPath(partitions[p], manifest.snapshot_id);
        file.kind = lake::SnapshotFileKind::kRegional;
        file.region = partitions[p];
        ARROW_ASSIGN_OR_RAISE(regional, lake::LakeFileWriter::Open(lake, std::move(file), registry->lake_schema(),
                                                                   *registry, meta));
      }
      for (auto& view : lane_views[1]) view->StartRowGroup();
      std::shared_ptr<arrow::RecordBatch> batch;
      bool drop_first = options.inject_fault_for_test && p == 0;
      while (true) {
        ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
        if (batch == nullptr) break;
        if (regional && drop_first && batch->num_rows() > 0) {
          drop_first = false;
          ARROW_RETURN_NOT_OK(regional->Append(*batch->Slice(1)));
        } else if (regional) {
          ARROW_RETURN_NOT_OK(regional->Append(*batch));
        }
        for (auto& view : lane_views[1]) ARROW_RETURN_NOT_OK(view->Append(batch));
      }
      if (regional) {
        ARROW_ASSIGN_OR_RAISE(auto file, regional->Close());
        regional_files.push_back(std::move(file));
      }
    }
    return arrow::Status::OK();
  };
  auto lane1_done = std::async(std::launch::async, lane1);
  arrow::Status lane0_status = lane0();
  ARROW_RETURN_NOT_OK(lane1_done.get());
  ARROW_RETURN_NOT_OK(lane0_status);
  spill.reset();  // removes the spill files

  ARROW_ASSIGN_OR_RAISE(auto full_written, full->Close());
  manifest.members = full_written.rows;
  manifest.files.push_back(std::move(full_written));
  for (auto& file : regional_files) manifest.files.push_back(std::move(file));
  for (const model::ViewSpec& view : registry->views()) {  // manifest lists views in registry order
    for (auto& lane : lane_views) {
      for (auto& writer : lane) {
        if (writer && writer->name() == view.name) {
          ARROW_ASSIGN_OR_RAISE(auto file, writer->Close());
          manifest.files.push_back(std::move(file));
          writer.reset();
        }
      }
    }
  }
  summary.write_seconds = SecondsSince(t_write);

  if (options.deep_check) {
    // The writers' buffers are free now, but kept by the allocators for reuse (the process's
    // trim threshold is raised for queries): handed back first, the check's index does not sit
    // on top of them (10M members: the peak was the check plus what writing had left behind).
    arrow::default_memory_pool()->ReleaseUnused();
    malloc_trim(0);
    progress("check", 0, 1);
    DeepCheckOptions check;
    check.source_rows = scanned;
    check.all_kept_snapshots = false;  // the registry was checked against them at the start
    auto health = DeepCheck(lake, manifest, registry, check);
    arrow::Status passed = health.ok() ? health->ToStatus() : health.status();
    if (!passed.ok()) {
      RemoveUnpublished(lake, manifest);
      return arrow::Status::Invalid("generation not published: ", passed.message());
    }
    summary.check_seconds = health->seconds;
    summary.health = std::move(*health);
    progress("check", 1, 1);
  }

  // Publish: the quarantine report, then the manifest, then CURRENT.
  auto t_publish = Clock::now();
  if (options.pause_before_publish.count() > 0) std::this_thread::sleep_for(options.pause_before_publish);
  ARROW_RETURN_NOT_OK(WriteQuarantine(lake, manifest, problems));
  if (arrow::Status published = lake::PublishManifest(lake, manifest); !published.ok()) {
    if (published.IsCancelled()) RemoveUnpublished(lake, manifest);  // overtaken: nobody will read these
    return published;
  }
  progress("publish", 1, 1);
  summary.publish_seconds = SecondsSince(t_publish);
  if (options.retention) {
    auto pruned = lake::ApplyRetention(lake, *options.retention, std::chrono::system_clock::now(), /*dry_run=*/false);
    if (pruned.ok()) {
      summary.retention = std::move(*pruned);
    } else {
      summary.retention_error = pruned.status().ToString();
    }
  }
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
                    {"write", write_seconds}, {"check", check_seconds}, {"publish", publish_seconds}, {"total", total_seconds}};
  if (retention) {
    doc["retention"] = {{"expired_snapshots", retention->expired_snapshots},
                        {"removed_files", retention->removed_files.size()},
                        {"orphan_files", retention->orphan_files},
                        {"bytes_freed", retention->bytes_freed}};
  }
  if (!retention_error.empty()) doc["retention_error"] = retention_error;
  if (health) {
    auto& checks = doc["deep_check"] = {{"passed", health->passed()}, {"seconds", health->seconds}};
    for (const auto& check : health->checks) {
      checks[check.name] = {{"rows_checked", check.rows_checked}, {"mismatches", check.mismatches}};
    }
  }
  return doc.dump(2);
}

GenerateOptions UnattendedOptions(int64_t keep_snapshots, bool deep_check) {
  GenerateOptions options;
  if (keep_snapshots > 0) {
    options.retention = lake::RetentionPolicy{};
    options.retention->keep_last = static_cast<int>(keep_snapshots);
  }
  options.deep_check = deep_check;
  return options;
}

arrow::Result<GenerateSummary> GenerateFromUris(const std::string& store_uri, const std::string& lake_uri,
                                                std::shared_ptr<const model::FieldRegistry> registry,
                                                const GenerateOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto store, store::OpenMemberStore(store_uri, std::move(registry)));
  ARROW_ASSIGN_OR_RAISE(auto lake, lake::LakeStorage::Open(lake_uri, /*create=*/true));
  // An erasure a killed process left half done completes first, so this generation neither
  // reads the member from the store nor keeps them in an older snapshot. (No audit log here:
  // the completed journal, without personal data, waits for `erase` or the server to record it.)
  ARROW_RETURN_NOT_OK(ResumeErasures(*store, *lake, ErasureOptions{}).status());
  return GenerateSnapshot(*store, *lake, options);
}

}  // namespace memberlake::jobs
