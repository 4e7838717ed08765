#include "jobs/data_health.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string_view>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>

#include "jobs/snapshot_checks.h"
#include "jobs/view_filter.h"
#include "model/arrow_compute.h"
#include "model/calendar.h"
#include "model/no_throw.h"
#include "transform/calculated_fields.h"

namespace memberlake::jobs {
namespace {

constexpr size_t kMaxProblems = 20;

std::shared_ptr<arrow::DataType> ValueType(const std::shared_ptr<arrow::DataType>& type) {
  if (type->id() != arrow::Type::DICTIONARY) return type;
  return static_cast<const arrow::DictionaryType&>(*type).value_type();
}

const lake::SnapshotFile* FullFile(const lake::SnapshotManifest& manifest) {
  for (const auto& file : manifest.files) {
    if (file.kind == lake::SnapshotFileKind::kFull) return &file;
  }
  return nullptr;
}

std::string ValueText(const arrow::Array& array, int64_t row) {
  auto scalar = array.GetScalar(row);
  if (!scalar.ok() || !(*scalar)->is_valid) return "null";
  return (*scalar)->ToString();
}

// Recomputes the calculated fields of one row group of the full dataset and compares them.
class CalculatedCheck {
 public:
  CalculatedCheck(std::shared_ptr<const model::FieldRegistry> registry, transform::CalculatedFields calculated,
                  CheckResult* result)
      : registry_(std::move(registry)), calculated_(std::move(calculated)), result_(result) {}

  arrow::Status Check(const arrow::Table& table) {
    const int64_t rows = table.num_rows();
    const auto& lake_fields = registry_->lake_schema()->fields();
    arrow::ArrayVector stored;
    arrow::FieldVector stored_fields;
    for (size_t i = 0; i < registry_->stored_fields().size(); ++i) {
      const auto& field = lake_fields[i];
      ARROW_ASSIGN_OR_RAISE(auto column, CombinedColumn(table, field->name()));
      if (column == nullptr) {  // added to the registry after this snapshot: null, as readers see it
        ARROW_ASSIGN_OR_RAISE(column, arrow::MakeArrayOfNull(field->type(), rows));
      } else if (!column->type()->Equals(*field->type())) {
        Note("cannot recompute: stored field '" + field->name() + "' is " + column->type()->ToString() +
             " in the snapshot, " + field->type()->ToString() + " in the registry");
        return arrow::Status::OK();
      }
      stored.push_back(std::move(column));
      stored_fields.push_back(field);
    }
    auto typed = arrow::RecordBatch::Make(arrow::schema(stored_fields), rows, std::move(stored));
    ARROW_ASSIGN_OR_RAISE(auto recomputed, calculated_.Append(typed));
    ARROW_ASSIGN_OR_RAISE(auto ids, CombinedColumn(table, "member_id"));
    for (const model::FieldSpec& spec : registry_->calculated_fields()) {
      ARROW_ASSIGN_OR_RAISE(auto actual, CombinedColumn(table, spec.name));
      if (actual == nullptr) {
        Note("'" + spec.name + "' is not stored in this snapshot");
        continue;
      }
      auto expected = recomputed->GetColumnByName(spec.name);
      ARROW_ASSIGN_OR_RAISE(auto differ, DifferingRows(expected, actual));
      const int64_t count = differ->true_count();
      if (count == 0) continue;
      for (int64_t row = 0, shown = 0; row < rows && shown < 3; ++row) {
        if (!differ->Value(row)) continue;
        ++shown;
        result_->Fail("member " + (ids ? ValueText(*ids, row) : "row " + std::to_string(row)) + ": " + spec.name +
                      " is " + ValueText(*actual, row) + ", recomputed for as_of " +
                      model::FormatIsoDate(calculated_.as_of()) + ": " + ValueText(*expected, row));
      }
      result_->mismatches += count - std::min<int64_t>(count, 3);
      result_->passed = false;
    }
    result_->rows_checked += rows;
    return arrow::Status::OK();
  }

 private:
  void Note(const std::string& note) {
    if (std::find(result_->notes.begin(), result_->notes.end(), note) == result_->notes.end()) {
      result_->notes.push_back(note);
    }
  }
  std::shared_ptr<const model::FieldRegistry> registry_;
  transform::CalculatedFields calculated_;
  CheckResult* result_;
};

// The full dataset's member ids, each as a 128-bit hash (two independent 64-bit hashes) with
// its row, sorted: 24 bytes a member. A hash map of the id strings took over 130 (with the
// region per row as a string, most of a 10M-member check's 2.2 GB). Ids are only ever needed
// again for a report of something wrong, read back from the file then (IdsAtRows).
class IdIndex {
 public:
  void Add(std::string_view id, int64_t row) { entries_.push_back({Hash(id), row}); }
  void Reserve(size_t rows) { entries_.reserve(rows); }
  // Sorts the ids; the rows whose id an earlier row already had, ascending.
  std::vector<int64_t> Finish() {
    std::sort(entries_.begin(), entries_.end());
    std::vector<int64_t> repeated;
    for (size_t i = 1; i < entries_.size(); ++i) {
      if (entries_[i].key == entries_[i - 1].key) repeated.push_back(entries_[i].row);
    }
    std::sort(repeated.begin(), repeated.end());
    return repeated;
  }
  // The first row with `id` (after Finish).
  std::optional<int64_t> Find(std::string_view id) const {
    const Key key = Hash(id);
    auto at = std::lower_bound(entries_.begin(), entries_.end(), Entry{key, 0});
    if (at == entries_.end() || at->key != key) return std::nullopt;
    return at->row;
  }

 private:
  struct Key {
    uint64_t a, b;
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    Key key;
    int64_t row;
    auto operator<=>(const Entry&) const = default;
  };
  static Key Hash(std::string_view id) {
    uint64_t fnv = 14695981039346656037ULL;  // FNV-1a, independent of std::hash's murmur
    for (unsigned char c : id) fnv = (fnv ^ c) * 1099511628211ULL;
    return {std::hash<std::string_view>{}(id), fnv};
  }
  std::vector<Entry> entries_;
};

// What each row of the full dataset should look like in the regional files and views.
struct FullIndex {
  IdIndex ids;                                      // member_id -> row
  std::vector<uint16_t> region_of;                  // region per row, an index into regions
  std::vector<std::string> regions;                 // "" for none
  std::map<std::vector<std::string>, std::vector<uint64_t>> hashes;  // per column set, per row
  std::map<std::string, std::vector<uint8_t>> in_view;               // view -> row in it
  std::string path;                                                  // the full dataset's
  int64_t rows() const { return static_cast<int64_t>(region_of.size()); }
  void Reserve(int64_t rows) {
    const auto n = static_cast<size_t>(rows);
    ids.Reserve(n);
    region_of.reserve(n);
    for (auto& [columns, per_row] : hashes) per_row.reserve(n);
    for (auto& [view, per_row] : in_view) per_row.reserve(n);
  }
};

// How a report names a member whose id is not known: by its row.
std::string AtRow(int64_t row) { return "at row " + std::to_string(row); }

// The member ids at `rows` of a lake file (for reports of what is wrong), read from its
// member_id column alone; a row whose id cannot be read maps to AtRow(row).
std::map<int64_t, std::string> IdsAtRows(const lake::LakeStorage& lake, const std::string& path,
                                         const std::vector<int64_t>& rows) {
  std::map<int64_t, std::string> ids;
  for (int64_t row : rows) ids[row] = AtRow(row);
  (void)model::CatchAll("read member ids of " + path, [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto input, lake.OpenForRead(path));
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    const int column = reader->parquet_reader()->metadata()->schema()->ColumnIndex("member_id");
    if (column < 0) return arrow::Status::OK();
    std::shared_ptr<arrow::ChunkedArray> values;
    ARROW_RETURN_NOT_OK(reader->ReadColumn(column, &values));
    for (auto& [row, id] : ids) {
      if (row >= values->length()) continue;
      ARROW_ASSIGN_OR_RAISE(auto scalar, values->GetScalar(row));
      if (scalar->is_valid) id = scalar->ToString();
    }
    return arrow::Status::OK();
  });
  return ids;
}

// The columns a file holds, in order.
std::vector<std::string> ColumnNames(const arrow::Schema& schema) {
  std::vector<std::string> names;
  for (const auto& field : schema.fields()) names.push_back(field->name());
  return names;
}

// Compares one regional file or view with the rows the full dataset says it should hold.
arrow::Status CompareWithFull(const lake::LakeStorage& lake, const lake::SnapshotFile& file,
                              const std::vector<std::string>& columns, const model::FieldRegistry& registry,
                              const FullIndex& full, CheckResult* completeness, CheckResult* integrity) {
  const bool regional = file.kind == lake::SnapshotFileKind::kRegional;
  auto region_code = std::find(full.regions.begin(), full.regions.end(), file.region);
  const auto region = static_cast<uint16_t>(region_code - full.regions.begin());  // size(): none such
  auto expected = [&](int64_t row) {
    if (regional) return full.region_of[static_cast<size_t>(row)] == region;
    return full.in_view.at(file.view)[static_cast<size_t>(row)] != 0;
  };
  const std::vector<uint64_t>& want = full.hashes.at(columns);
  std::vector<uint8_t> seen(static_cast<size_t>(full.rows()), 0);
  int64_t extra = 0, misplaced = 0, differing = 0, duplicates = 0, matched = 0;
  const std::string what = regional ? "region " + file.region : "view " + file.view;
  auto each = [&](const arrow::Table& table) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto ids_array, CombinedColumn(table, "member_id"));
    if (ids_array == nullptr || ids_array->type_id() != arrow::Type::STRING) {
      return arrow::Status::Invalid(file.path, ": no member_id column");
    }
    const auto& ids = static_cast<const arrow::StringArray&>(*ids_array);
    ARROW_ASSIGN_OR_RAISE(auto hashes, RowHashes(table, columns));
    for (int64_t i = 0; i < ids.length(); ++i) {
      const std::string_view id = ids.GetView(i);
      std::optional<int64_t> found = full.ids.Find(id);
      if (!found) {
        ++extra;
        completeness->Fail(file.path + ": member " + std::string(id) + " is not in the full dataset");
      } else if (!expected(*found)) {
        ++misplaced;
        completeness->Fail(file.path + ": member " + std::string(id) + " does not belong in " + what);
      } else if (seen[static_cast<size_t>(*found)]++) {
        ++duplicates;
        completeness->Fail(file.path + ": member " + std::string(id) + " appears more than once");
      } else if (hashes[static_cast<size_t>(i)] != want[static_cast<size_t>(*found)]) {
        ++differing;
        completeness->Fail(file.path + ": member " + std::string(id) + " differs from the full dataset's row");
      } else {
        ++matched;
      }
    }
    return arrow::Status::OK();
  };
  ARROW_ASSIGN_OR_RAISE(bool read, ScanLakeFile(lake, file, registry, integrity, each));
  if (!read) {
    completeness->Fail(file.path + ": could not be compared (unreadable, see integrity)");
    return arrow::Status::OK();
  }
  int64_t missing = 0, first_missing = -1;
  for (size_t row = 0; row < seen.size(); ++row) {
    if (expected(static_cast<int64_t>(row)) && !seen[row] && missing++ == 0) first_missing = static_cast<int64_t>(row);
  }
  if (missing > 0) {
    completeness->Fail(file.path + ": " + std::to_string(missing) + " member(s) of " + what +
                       " in the full dataset are missing, e.g. " +
                       IdsAtRows(lake, full.path, {first_missing})[first_missing]);
    completeness->mismatches += missing - 1;
  }
  completeness->rows_checked += matched + extra + misplaced + differing + duplicates;
  return arrow::Status::OK();
}

}  // namespace

void CheckResult::Fail(std::string problem) {
  passed = false;
  ++mismatches;
  if (problems.size() < kMaxProblems) problems.push_back(std::move(problem));
}

SchemaDiff CompareSchema(const arrow::Schema& file_schema, const model::FieldRegistry& registry, bool projected) {
  SchemaDiff diff;
  const auto& lake_schema = *registry.lake_schema();
  for (const auto& field : file_schema.fields()) {
    auto want = lake_schema.GetFieldByName(field->name());
    if (want == nullptr) {
      diff.removed.push_back(field->name());
    } else if (!ValueType(want->type())->Equals(*ValueType(field->type()))) {
      diff.retyped.push_back(field->name() + ": " + field->type()->ToString() + " in the snapshot, " +
                             want->type()->ToString() + " in the registry");
    }
  }
  if (!projected) {
    for (const auto& field : lake_schema.fields()) {
      if (file_schema.GetFieldIndex(field->name()) < 0) diff.added.push_back(field->name());
    }
  }
  return diff;
}

namespace {

// Schema evolution of one snapshot into `result`; the diff's retyped fields fail it.
void CheckSnapshotSchema(const lake::LakeStorage& lake, const lake::SnapshotManifest& manifest,
                         const model::FieldRegistry& registry, CheckResult* result) {
  const lake::SnapshotFile* full = FullFile(manifest);
  if (full == nullptr) return;
  auto schema = ReadFileSchema(lake, full->path);
  if (!schema.ok()) {
    result->Fail("snapshot " + manifest.snapshot_id + ": schema unreadable: " + schema.status().message());
    return;
  }
  ++result->rows_checked;
  SchemaDiff diff = CompareSchema(**schema, registry);
  for (const auto& field : diff.retyped) {
    result->Fail("snapshot " + manifest.snapshot_id + ": field " + field + " (unreadable)");
  }
  auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
    return text;
  };
  if (!diff.added.empty()) {
    result->notes.push_back("snapshot " + manifest.snapshot_id + ": added since, read as null: " + join(diff.added));
  }
  if (!diff.removed.empty()) {
    result->notes.push_back("snapshot " + manifest.snapshot_id + ": removed from the registry: " + join(diff.removed));
  }
}

}  // namespace

arrow::Result<HealthReport> DeepCheck(const lake::LakeStorage& lake, const lake::SnapshotManifest& manifest,
                                      const std::shared_ptr<const model::FieldRegistry>& registry,
                                      const DeepCheckOptions& options) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  const auto started = std::chrono::steady_clock::now();
  HealthReport report;
  report.snapshot_id = manifest.snapshot_id;
  report.data_version = manifest.data_version;
  report.as_of = manifest.as_of;
  report.checked_at = model::UtcNowIso();
  CheckResult calculated, completeness, integrity, schema;
  calculated.name = kDataChecks[0];
  completeness.name = kDataChecks[1];
  integrity.name = kDataChecks[2];
  schema.name = kDataChecks[3];

  // Schema evolution first: the other checks read the files through the same registry.
  if (options.all_kept_snapshots) {
    ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(lake));
    for (const auto& id : ids) {
      if (id == manifest.snapshot_id) continue;
      auto kept = lake::ReadManifest(lake, id);
      if (!kept.ok()) {
        schema.Fail("snapshot " + id + ": manifest unreadable: " + kept.status().message());
        continue;
      }
      CheckSnapshotSchema(lake, *kept, *registry, &schema);
    }
  }
  CheckSnapshotSchema(lake, manifest, *registry, &schema);
  schema.notes.insert(schema.notes.begin(), std::to_string(schema.rows_checked) + " snapshot schema(s) compared");

  const lake::SnapshotFile* full_file = FullFile(manifest);
  auto as_of = model::ParseIsoDate(manifest.as_of);
  if (full_file == nullptr || !as_of.ok()) {
    completeness.Fail(full_file == nullptr ? "the manifest lists no full dataset" : "the manifest's as_of is not a date");
  } else {
    ARROW_ASSIGN_OR_RAISE(auto calc, transform::CalculatedFields::Make(registry, *as_of));
    CalculatedCheck calc_check(registry, std::move(calc), &calculated);
    // The column sets the other files hold, to hash the full dataset's rows by.
    FullIndex index;
    std::map<const lake::SnapshotFile*, std::vector<std::string>> columns_of;
    for (const auto& file : manifest.files) {
      if (&file == full_file) continue;
      auto file_schema = ReadFileSchema(lake, file.path);
      if (!file_schema.ok()) {
        integrity.Fail(file.path + ": unreadable: " + file_schema.status().message());
        completeness.Fail(file.path + ": could not be compared (unreadable, see integrity)");
        continue;
      }
      if (file.kind == lake::SnapshotFileKind::kView) {
        const model::ViewSpec* spec = nullptr;
        for (const auto& view : registry->views()) {
          if (view.name == file.view) spec = &view;
        }
        if (spec == nullptr) {
          completeness.notes.push_back("view " + file.view + " is no longer in the registry: not compared");
          continue;
        }
        index.in_view[file.view];
      }
      columns_of[&file] = ColumnNames(**file_schema);
      index.hashes[columns_of[&file]];
    }
    // Sized once for the rows the manifest promises: grown by doubling, the per-row vectors
    // held up to twice that, and both copies while moving (a 10M-member check's peak).
    index.Reserve(std::clamp<int64_t>(full_file->rows, 0, int64_t{1} << 31));
    const std::string& partition = registry->partition_field();
    auto each = [&](const arrow::Table& table) -> arrow::Status {
      ARROW_RETURN_NOT_OK(calc_check.Check(table));
      ARROW_ASSIGN_OR_RAISE(auto ids_array, CombinedColumn(table, "member_id"));
      if (ids_array == nullptr || ids_array->type_id() != arrow::Type::STRING) {
        return arrow::Status::Invalid(full_file->path, ": no member_id column");
      }
      const auto& ids = static_cast<const arrow::StringArray&>(*ids_array);
      std::shared_ptr<arrow::Array> regions;
      if (!partition.empty()) {
        ARROW_ASSIGN_OR_RAISE(regions, CombinedColumn(table, partition));
        if (regions && regions->type_id() == arrow::Type::DICTIONARY) {
          ARROW_ASSIGN_OR_RAISE(regions, arrow::compute::Cast(*regions, arrow::utf8()));
        }
      }
      const auto* text = static_cast<const arrow::StringArray*>(regions.get());
      for (int64_t i = 0; i < ids.length(); ++i) {
        index.ids.Add(ids.GetView(i), index.rows());
        const std::string_view region = text && !text->IsNull(i) ? text->GetView(i) : std::string_view();
        auto known = std::find(index.regions.begin(), index.regions.end(), region);
        if (known == index.regions.end()) {
          if (index.regions.size() >= std::numeric_limits<uint16_t>::max()) {
            return arrow::Status::Invalid(full_file->path, ": more than 65,534 regions");
          }
          known = index.regions.insert(known, std::string(region));
        }
        index.region_of.push_back(static_cast<uint16_t>(known - index.regions.begin()));
      }
      for (auto& [columns, hashes] : index.hashes) {
        ARROW_ASSIGN_OR_RAISE(auto part, RowHashes(table, columns));
        hashes.insert(hashes.end(), part.begin(), part.end());
      }
      if (!index.in_view.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto batch, table.CombineChunksToBatch());
        for (auto& [name, rows] : index.in_view) {
          for (const auto& view : registry->views()) {
            if (view.name != name) continue;
            ARROW_ASSIGN_OR_RAISE(arrow::Datum mask, ViewRowMask(view, *batch));
            if (!mask.is_value()) {
              rows.insert(rows.end(), static_cast<size_t>(batch->num_rows()), 1);
              continue;
            }
            auto bits = std::static_pointer_cast<arrow::BooleanArray>(mask.make_array());
            for (int64_t i = 0; i < bits->length(); ++i) rows.push_back(bits->IsValid(i) && bits->Value(i) ? 1 : 0);
          }
        }
      }
      return arrow::Status::OK();
    };
    ARROW_ASSIGN_OR_RAISE(bool read, ScanLakeFile(lake, *full_file, *registry, &integrity, each));
    index.path = full_file->path;
    const std::vector<int64_t> repeated = index.ids.Finish();
    if (!repeated.empty()) {
      auto ids = IdsAtRows(lake, full_file->path, {repeated.begin(), repeated.begin() + std::min<size_t>(repeated.size(), kMaxProblems)});
      for (int64_t row : repeated) {
        auto id = ids.find(row);
        completeness.Fail(full_file->path + ": member " + (id != ids.end() ? id->second : AtRow(row)) +
                          " appears more than once");
      }
    }
    const int64_t full_rows = index.rows();
    if (!read) {
      completeness.Fail(full_file->path + ": could not be read to the end: nothing compared (see integrity)");
    } else {
      completeness.rows_checked += full_rows;
      if (full_rows != manifest.members) {
        completeness.Fail("full dataset: " + std::to_string(full_rows) + " rows, the manifest says " +
                          std::to_string(manifest.members) + " members");
      }
      if (options.source_rows >= 0 && full_rows + manifest.quarantined != options.source_rows) {
        completeness.Fail("rows + quarantined = " + std::to_string(full_rows + manifest.quarantined) + ", but " +
                          std::to_string(options.source_rows) + " records were read from the store");
      }
      std::map<std::string, int64_t> region_rows;
      for (uint16_t region : index.region_of) ++region_rows[index.regions[region]];
      for (const auto& file : manifest.files) {
        if (file.kind == lake::SnapshotFileKind::kRegional) region_rows.erase(file.region);
        auto columns = columns_of.find(&file);
        if (columns == columns_of.end()) continue;
        ARROW_RETURN_NOT_OK(CompareWithFull(lake, file, columns->second, *registry, index, &completeness, &integrity));
      }
      if (!partition.empty()) {
        for (const auto& [region, rows] : region_rows) {
          completeness.Fail("region '" + region + "': " + std::to_string(rows) +
                            " row(s) in the full dataset but no regional file");
        }
      }
    }
  }

  if (options.store != nullptr) {
    // The store's count is comparable only at the snapshot's own data_version.
    ARROW_ASSIGN_OR_RAISE(store::StoreScan scan, options.store->Scan());
    scan.reader.reset();
    if (scan.data_version != manifest.data_version) {
      completeness.notes.push_back("live store at data_version " + std::to_string(scan.data_version) +
                                   ", snapshot at " + std::to_string(manifest.data_version) +
                                   ": the store moved on, its member count is not comparable");
    } else if (manifest.members + manifest.quarantined != scan.row_count) {
      completeness.Fail("members " + std::to_string(manifest.members) + " + quarantined " +
                        std::to_string(manifest.quarantined) + " != " + std::to_string(scan.row_count) +
                        " members in the live store at data_version " + std::to_string(scan.data_version));
    } else {
      completeness.notes.push_back("members + quarantined = " + std::to_string(scan.row_count) +
                                   " live members at data_version " + std::to_string(scan.data_version));
    }
  } else if (options.source_rows < 0) {
    completeness.notes.push_back("no store given: rows + quarantined not compared with the live store");
  }
  report.checks = {std::move(calculated), std::move(completeness), std::move(integrity), std::move(schema)};
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

arrow::Status CheckRegistryAgainstLake(const lake::LakeStorage& lake, const model::FieldRegistry& registry) {
  ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(lake));
  for (const auto& id : ids) {
    auto manifest = lake::ReadManifest(lake, id);
    if (!manifest.ok()) continue;  // a half-pruned snapshot: lifecycle's business, not the registry's
    const lake::SnapshotFile* full = FullFile(*manifest);
    if (full == nullptr) continue;
    auto schema = ReadFileSchema(lake, full->path);
    if (!schema.ok()) continue;
    SchemaDiff diff = CompareSchema(**schema, registry);
    if (!diff.retyped.empty()) {
      return arrow::Status::Invalid("field registry refused: field ", diff.retyped.front(), " (kept snapshot ", id,
                                    " would become unreadable); keep the field's type, or add a new field "
                                    "and remove this one, or prune the snapshots that hold it");
    }
  }
  return arrow::Status::OK();
}

bool HealthReport::passed() const {
  return std::all_of(checks.begin(), checks.end(), [](const CheckResult& c) { return c.passed; });
}

const CheckResult* HealthReport::Find(const std::string& name) const {
  for (const auto& check : checks) {
    if (check.name == name) return &check;
  }
  return nullptr;
}

std::string HealthReport::ToJson() const {
  nlohmann::ordered_json doc;
  doc["snapshot_id"] = snapshot_id;
  doc["data_version"] = data_version;
  doc["as_of"] = as_of;
  doc["checked_at"] = checked_at;
  doc["seconds"] = seconds;
  doc["passed"] = passed();
  auto& list = doc["checks"] = nlohmann::ordered_json::array();
  for (const auto& check : checks) {
    list.push_back({{"name", check.name}, {"passed", check.passed}, {"rows_checked", check.rows_checked},
                    {"mismatches", check.mismatches}, {"problems", check.problems}, {"notes", check.notes}});
  }
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string HealthReport::ToText() const {
  char line[512];
  std::snprintf(line, sizeof line, "deep check of snapshot %s (data_version %lld, as_of %s): %s in %.2f s\n",
                snapshot_id.c_str(), static_cast<long long>(data_version), as_of.c_str(),
                passed() ? "passed" : "FAILED", seconds);
  std::string text = line;
  for (const auto& check : checks) {
    std::snprintf(line, sizeof line, "  %-18s %-6s  rows checked %lld  mismatches %lld\n", check.name.c_str(),
                  check.passed ? "passed" : "FAILED", static_cast<long long>(check.rows_checked),
                  static_cast<long long>(check.mismatches));
    text += line;
    for (const auto& problem : check.problems) text += "    problem: " + problem + "\n";
    for (const auto& note : check.notes) text += "    note: " + note + "\n";
  }
  return text;
}

arrow::Status HealthReport::ToStatus() const {
  if (passed()) return arrow::Status::OK();
  std::string failed;
  for (const auto& check : checks) {
    if (check.passed) continue;
    failed += (failed.empty() ? "" : "; ") + check.name + " (" + std::to_string(check.mismatches) + " mismatch(es)";
    if (!check.problems.empty()) failed += ", e.g. " + check.problems.front();
    failed += ")";
  }
  return arrow::Status::Invalid("deep data check failed for snapshot ", snapshot_id, ": ", failed);
}

}  // namespace memberlake::jobs
