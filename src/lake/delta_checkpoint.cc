#include "lake/delta_checkpoint.h"

#include <cstdio>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/json/from_string.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

namespace memberlake::lake {
namespace {

using Json = nlohmann::json;

// The checkpoint schema of the Delta protocol ("Checkpoint Schema"), the actions we write.
std::shared_ptr<arrow::DataType> CheckpointRowType() {
  using arrow::field;
  auto text = arrow::utf8();
  auto string_map = arrow::map(text, text);
  auto protocol = arrow::struct_({field("minReaderVersion", arrow::int32()), field("minWriterVersion", arrow::int32())});
  auto format = arrow::struct_({field("provider", text), field("options", string_map)});
  auto metadata = arrow::struct_({field("id", text), field("name", text), field("description", text),
                                  field("format", format), field("schemaString", text),
                                  field("partitionColumns", arrow::list(text)), field("configuration", string_map),
                                  field("createdTime", arrow::int64())});
  auto add = arrow::struct_({field("path", text), field("partitionValues", string_map), field("size", arrow::int64()),
                             field("modificationTime", arrow::int64()), field("dataChange", arrow::boolean()),
                             field("stats", text), field("tags", string_map)});
  auto remove = arrow::struct_({field("path", text), field("deletionTimestamp", arrow::int64()),
                                field("dataChange", arrow::boolean()), field("extendedFileMetadata", arrow::boolean()),
                                field("partitionValues", string_map), field("size", arrow::int64())});
  auto txn = arrow::struct_({field("appId", text), field("version", arrow::int64()), field("lastUpdated", arrow::int64())});
  return arrow::struct_({field("txn", txn), field("add", add), field("remove", remove), field("metaData", metadata),
                         field("protocol", protocol)});
}

// A commit's JSON value in the shape Arrow's JSON array reader wants for `type`: structs keep
// only the schema's fields (absent ones null), maps become lists of [key, value] pairs.
Json ForArrow(const Json& value, const arrow::DataType& type) {
  if (value.is_null()) return nullptr;
  switch (type.id()) {
    case arrow::Type::STRUCT: {
      Json out = Json::object();
      for (const auto& child : type.fields()) {
        auto it = value.find(child->name());
        out[child->name()] = it == value.end() ? Json(nullptr) : ForArrow(*it, *child->type());
      }
      return out;
    }
    case arrow::Type::MAP: {
      Json pairs = Json::array();
      for (const auto& [key, item] : value.items()) pairs.push_back(Json::array({key, item}));
      return pairs;
    }
    default: return value;
  }
}

std::string CheckpointName(int64_t version) {
  char name[48];
  std::snprintf(name, sizeof name, "%020lld.checkpoint.parquet", static_cast<long long>(version));
  return name;
}

}  // namespace

arrow::Status WriteDeltaCheckpoint(LakeStorage& lake, const std::string& table_root, int64_t version,
                                   const std::vector<Json>& actions) {
  const auto row_type = CheckpointRowType();
  Json rows = Json::array();
  int64_t add_files = 0;
  for (const Json& action : actions) {
    if (!action.is_object() || action.size() != 1 || !static_cast<const arrow::StructType&>(*row_type).GetFieldByName(action.begin().key())) {
      return arrow::Status::Invalid("Delta checkpoint of ", table_root, ": not a checkpoint action: ", action.dump());
    }
    if (action.contains("add")) ++add_files;
    Json row = Json::object();
    row[action.begin().key()] = action.begin().value();
    rows.push_back(ForArrow(row, *row_type));
  }
  ARROW_ASSIGN_OR_RAISE(auto array, arrow::json::ArrayFromJSONString(row_type, rows.dump()));
  ARROW_ASSIGN_OR_RAISE(auto batch, arrow::RecordBatch::FromStructArray(array));
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches({batch}));

  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  auto properties = parquet::WriterProperties::Builder().compression(parquet::Compression::ZSTD)->build();
  ARROW_RETURN_NOT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink,
                                                 parquet::DEFAULT_MAX_ROW_GROUP_LENGTH, properties));
  ARROW_ASSIGN_OR_RAISE(auto buffer, sink->Finish());
  const std::string log = table_root + "/_delta_log/";
  ARROW_RETURN_NOT_OK(lake.PutAtomic(log + CheckpointName(version), buffer->ToString()));
  const Json last = {{"version", version}, {"size", static_cast<int64_t>(actions.size())},
                     {"sizeInBytes", buffer->size()}, {"numOfAddFiles", add_files}};
  return lake.PutAtomic(log + "_last_checkpoint", last.dump());
}

}  // namespace memberlake::lake
