#include "lake/partition_spill.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/api.h>

namespace memberlake::lake {
namespace {

// One enum key column: maps a value to its rank in byte order; nulls rank last.
struct KeyColumn {
  std::string name;
  std::vector<std::string> sorted_values;
  int32_t radix = 1;  // values + 1 for null

  arrow::Result<std::vector<int32_t>> RankOfDictionary(const arrow::Array& dictionary) const {
    const auto& strings = static_cast<const arrow::StringArray&>(dictionary);
    std::vector<int32_t> ranks(static_cast<size_t>(strings.length()));
    for (int64_t i = 0; i < strings.length(); ++i) {
      auto it = std::lower_bound(sorted_values.begin(), sorted_values.end(), strings.GetView(i));
      if (it == sorted_values.end() || *it != strings.GetView(i)) {
        return arrow::Status::Invalid("value '", strings.GetView(i), "' of ", name, " is not in the registry");
      }
      ranks[static_cast<size_t>(i)] = static_cast<int32_t>(it - sorted_values.begin());
    }
    return ranks;
  }
};

struct Run {
  int32_t key;
  int32_t batch;
};

struct PartitionFile {
  std::string path;
  std::shared_ptr<arrow::io::FileOutputStream> sink;
  std::shared_ptr<arrow::ipc::RecordBatchWriter> writer;
  std::vector<Run> runs;
  int64_t rows = 0;
};

// Reads one partition's spilled runs in key order, coalescing small runs into batches.
class SpillReader : public arrow::RecordBatchReader {
 public:
  SpillReader(std::shared_ptr<arrow::Schema> schema, std::shared_ptr<arrow::ipc::RecordBatchFileReader> file,
              std::vector<int32_t> order, int64_t batch_rows)
      : schema_(std::move(schema)), file_(std::move(file)), order_(std::move(order)), batch_rows_(batch_rows) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    arrow::RecordBatchVector pending;
    int64_t rows = 0;
    while (next_ < order_.size() && rows < batch_rows_) {
      ARROW_ASSIGN_OR_RAISE(auto batch, file_->ReadRecordBatch(order_[next_++]));
      rows += batch->num_rows();
      pending.push_back(std::move(batch));
    }
    if (pending.empty()) return arrow::Status::OK();
    if (pending.size() == 1) {
      *out = std::move(pending[0]);
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(*out, arrow::ConcatenateRecordBatches(pending));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::ipc::RecordBatchFileReader> file_;
  std::vector<int32_t> order_;
  int64_t batch_rows_;
  size_t next_ = 0;
};

}  // namespace

struct PartitionSpill::State {
  std::shared_ptr<const model::FieldRegistry> registry;
  std::string dir;
  std::vector<KeyColumn> keys;  // partition column first (if any), then the sort columns
  int32_t inner_radix = 1;      // keys per partition
  std::vector<PartitionFile> files;
  bool finished = false;
  int lock_fd = -1;  // holds the flock on dir/owner.lock
};

namespace {

constexpr const char* kLockName = "owner.lock";

// An exclusive, non-blocking flock on `path` (created if missing): the descriptor, or -1 when
// another open file description holds it (in this process or another).
int TryLock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Takes dir/owner.lock so that nobody ever finds it there unlocked: it is made and locked under
// a private name, then linked into place. Made as owner.lock directly, another generation's
// RemoveAbandonedSpills could take it between the open and the flock, and remove the folder
// under us. When an owner.lock is there already, it is taken only if nobody holds it.
int LockFolder(const std::string& dir) {
  static std::atomic<uint64_t> made{0};
  const std::string lock = dir + "/" + kLockName;
  const std::string setup = lock + ".setup-" + std::to_string(::getpid()) + "-" + std::to_string(++made);
  int fd = TryLock(setup);
  if (fd < 0) return -1;
  const int linked = ::link(setup.c_str(), lock.c_str());
  const int link_error = errno;
  ::unlink(setup.c_str());
  if (linked == 0) return fd;
  ::close(fd);
  return link_error == EEXIST ? TryLock(lock) : -1;
}

}  // namespace

int PartitionSpill::RemoveAbandonedSpills(const std::string& parent, const std::string& prefix,
                                          std::chrono::seconds min_age) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path dir = it->path();
    if (dir.filename().string().rfind(prefix, 0) != 0 || !it->is_directory(ec) || it->is_symlink(ec)) continue;
    const fs::path lock = dir / kLockName;
    int fd = -1;
    if (fs::exists(lock, ec)) {
      fd = TryLock(lock.string());
      if (fd < 0) continue;  // its owner is alive
    } else {
      auto modified = fs::last_write_time(dir, ec);
      if (ec || fs::file_time_type::clock::now() - modified < min_age) continue;
    }
    std::error_code remove_error;
    fs::remove_all(dir, remove_error);
    if (fd >= 0) ::close(fd);
    if (!remove_error) ++removed;
  }
  return removed;
}

PartitionSpill::~PartitionSpill() {
  if (!state_) return;
  for (auto& file : state_->files) {
    if (file.writer) (void)file.writer->Close();
    if (file.sink) (void)file.sink->Close();
  }
  std::error_code ec;
  if (!state_->dir.empty()) std::filesystem::remove_all(state_->dir, ec);
  if (state_->lock_fd >= 0) ::close(state_->lock_fd);
}

arrow::Result<std::unique_ptr<PartitionSpill>> PartitionSpill::Make(
    std::shared_ptr<const model::FieldRegistry> registry, const std::string& spill_dir) {
  std::unique_ptr<PartitionSpill> spill(new PartitionSpill());
  spill->state_ = std::make_unique<State>();
  State& s = *spill->state_;
  s.registry = registry;
  std::error_code ec;
  std::filesystem::create_directories(spill_dir, ec);
  if (ec) return arrow::Status::IOError("cannot create spill folder ", spill_dir, ": ", ec.message());
  s.lock_fd = LockFolder(spill_dir);
  if (s.lock_fd < 0) return arrow::Status::IOError("cannot lock spill folder ", spill_dir, " (in use?)");
  s.dir = spill_dir;  // ours from here on: removed with the object

  std::vector<std::string> names;
  if (!registry->partition_field().empty()) names.push_back(registry->partition_field());
  for (const std::string& name : registry->sort_by()) {
    if (name != registry->partition_field()) names.push_back(name);
  }
  for (const std::string& name : names) {
    const model::FieldSpec* spec = registry->Find(name);
    if (spec == nullptr || spec->type != model::FieldType::kEnum) {
      return arrow::Status::Invalid("lake sort column '", name, "' must be an enum field");
    }
    KeyColumn key{name, spec->values, static_cast<int32_t>(spec->values.size()) + 1};
    std::sort(key.sorted_values.begin(), key.sorted_values.end());
    s.keys.push_back(std::move(key));
  }
  if (registry->partition_field().empty()) {
    spill->partitions_ = {""};
  } else {
    spill->partitions_ = s.keys[0].sorted_values;
  }
  for (size_t k = registry->partition_field().empty() ? 0 : 1; k < s.keys.size(); ++k) {
    s.inner_radix *= s.keys[k].radix;
  }
  s.files.resize(spill->partitions_.size());
  for (size_t p = 0; p < s.files.size(); ++p) {
    s.files[p].path = spill_dir + "/partition-" + std::to_string(p) + ".arrow";
  }
  return spill;
}

arrow::Status PartitionSpill::Add(const std::shared_ptr<arrow::RecordBatch>& rows) {
  State& s = *state_;
  if (s.finished) return arrow::Status::Invalid("PartitionSpill::Add after Finish");
  const int64_t n = rows->num_rows();
  if (n == 0) return arrow::Status::OK();
  const bool partitioned = !s.registry->partition_field().empty();

  // Composite key per row: partition rank * inner_radix + the sort columns' ranks (mixed radix).
  std::vector<int32_t> key(static_cast<size_t>(n), 0);
  std::vector<int32_t> partition(static_cast<size_t>(n), 0);
  for (size_t k = 0; k < s.keys.size(); ++k) {
    const KeyColumn& column = s.keys[k];
    auto array = rows->GetColumnByName(column.name);
    if (array == nullptr || array->type_id() != arrow::Type::DICTIONARY) {
      return arrow::Status::Invalid("sort column '", column.name, "' is not dictionary-encoded");
    }
    const auto& dict = static_cast<const arrow::DictionaryArray&>(*array);
    ARROW_ASSIGN_OR_RAISE(auto ranks, column.RankOfDictionary(*dict.dictionary()));
    const bool is_partition = partitioned && k == 0;
    for (int64_t i = 0; i < n; ++i) {
      const auto row = static_cast<size_t>(i);
      if (is_partition) {
        if (dict.IsNull(i)) return arrow::Status::Invalid("partition field ", column.name, " is null");
        partition[row] = ranks[static_cast<size_t>(dict.GetValueIndex(i))];
      } else {
        int32_t rank = dict.IsNull(i) ? column.radix - 1 : ranks[static_cast<size_t>(dict.GetValueIndex(i))];
        key[row] = key[row] * column.radix + rank;
      }
    }
  }
  for (size_t row = 0; row < key.size(); ++row) key[row] += partition[row] * s.inner_radix;
  // Stable counting sort of the rows by key.
  const int32_t key_space = s.inner_radix * static_cast<int32_t>(partitions_.size());
  std::vector<int32_t> start(static_cast<size_t>(key_space) + 1, 0);
  for (int32_t k : key) ++start[static_cast<size_t>(k) + 1];
  for (size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
  arrow::Int32Builder order;
  ARROW_RETURN_NOT_OK(order.Resize(n));
  std::vector<int32_t> positions(start.begin(), start.end() - 1);
  std::vector<int32_t> permutation(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) permutation[static_cast<size_t>(positions[static_cast<size_t>(key[static_cast<size_t>(i)])]++)] = static_cast<int32_t>(i);
  ARROW_RETURN_NOT_OK(order.AppendValues(permutation));
  ARROW_ASSIGN_OR_RAISE(auto indices, order.Finish());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(rows, indices));
  std::shared_ptr<arrow::RecordBatch> sorted = taken.record_batch();

  // Append each run of equal keys to its partition's spill file.
  for (int32_t k = 0; k < key_space; ++k) {
    const int32_t begin = start[static_cast<size_t>(k)], end = start[static_cast<size_t>(k) + 1];
    if (begin == end) continue;
    PartitionFile& file = s.files[static_cast<size_t>(k / s.inner_radix)];
    if (!file.writer) {
      ARROW_ASSIGN_OR_RAISE(file.sink, arrow::io::FileOutputStream::Open(file.path));
      ARROW_ASSIGN_OR_RAISE(file.writer, arrow::ipc::MakeFileWriter(file.sink, rows->schema()));
    }
    ARROW_RETURN_NOT_OK(file.writer->WriteRecordBatch(*sorted->Slice(begin, end - begin)));
    file.runs.push_back({k, static_cast<int32_t>(file.runs.size())});
    file.rows += end - begin;
  }
  return arrow::Status::OK();
}

arrow::Status PartitionSpill::Finish() {
  for (auto& file : state_->files) {
    if (file.writer) {
      ARROW_RETURN_NOT_OK(file.writer->Close());
      ARROW_RETURN_NOT_OK(file.sink->Close());
      file.writer.reset();
      file.sink.reset();
    }
    // Key order; equal keys keep arrival order.
    std::stable_sort(file.runs.begin(), file.runs.end(), [](const Run& a, const Run& b) { return a.key < b.key; });
  }
  state_->finished = true;
  return arrow::Status::OK();
}

int64_t PartitionSpill::rows(size_t partition) const { return state_->files[partition].rows; }

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> PartitionSpill::Read(size_t partition,
                                                                             int64_t batch_rows) const {
  const State& s = *state_;
  if (!s.finished) return arrow::Status::Invalid("PartitionSpill::Read before Finish");
  const PartitionFile& file = s.files.at(partition);
  if (file.runs.empty()) {
    return arrow::RecordBatchReader::Make({}, s.registry->lake_schema());
  }
  // Plain reads, not a memory map: mapped pages would count as resident for as long as the
  // reader lives, and memory must not grow with the partition.
  ARROW_ASSIGN_OR_RAISE(auto input, arrow::io::ReadableFile::Open(file.path));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(input));
  std::vector<int32_t> order;
  order.reserve(file.runs.size());
  for (const Run& run : file.runs) order.push_back(run.batch);
  return std::make_shared<SpillReader>(reader->schema(), std::move(reader), std::move(order), batch_rows);
}

}  // namespace memberlake::lake
