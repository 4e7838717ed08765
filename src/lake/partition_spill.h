// Orders a stream of lake rows by partition and sort keys without holding the stream in
// memory. The lake's sort keys are enums (registry: [lake] sort_by, partition_field), so an
// ordering is a counting sort: every incoming batch is ordered by its composite key once and
// its runs of equal keys are appended to one Arrow IPC spill file per partition value; a
// partition is read back run by run in key order. Peak memory is a few
// batches, whatever the number of rows; the spill files live in a private temporary folder
// that is removed with the object.
//
// Order: partitions and keys in byte order of their values (as Parquet compares strings),
// nulls last, and rows with equal keys in arrival order (stable).
//
// A spill folder holds an advisory lock (flock on its `owner.lock`) for its object's lifetime,
// so a folder left by a killed process (kill -9, a Lambda timeout, a power cut) is told apart
// from one in use: RemoveAbandonedSpills deletes the former.
#pragma once

#include <chrono>

#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/field_registry.h"

namespace memberlake::lake {

class PartitionSpill {
 public:
  ~PartitionSpill();

  // `spill_dir`: a local folder for the spill files (created and locked; removed afterwards).
  static arrow::Result<std::unique_ptr<PartitionSpill>> Make(
      std::shared_ptr<const model::FieldRegistry> registry, const std::string& spill_dir);

  // Deletes the folders in `parent` whose names start with `prefix` and whose owner is gone:
  // their lock is free, or they have none and are older than `min_age` (a spill being set up
  // has no lock for a moment). Returns how many it deleted; best effort, never fails.
  static int RemoveAbandonedSpills(const std::string& parent, const std::string& prefix,
                                   std::chrono::seconds min_age = std::chrono::minutes(10));

  // Rows with registry->lake_schema(). Not thread-safe; call from one thread.
  arrow::Status Add(const std::shared_ptr<arrow::RecordBatch>& rows);
  // Ends the input. Afterwards Read() may be called from any number of threads.
  arrow::Status Finish();

  // Partition values in output order ({""} when the registry has no partition field).
  const std::vector<std::string>& partitions() const { return partitions_; }
  int64_t rows(size_t partition) const;
  // Partition `partition`'s rows in sort order, in batches of at most `batch_rows`.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Read(size_t partition,
                                                               int64_t batch_rows = 64 * 1024) const;

 private:
  PartitionSpill() = default;
  struct State;
  std::unique_ptr<State> state_;
  std::vector<std::string> partitions_;
};

}  // namespace memberlake::lake
