#include "query/result_cache.h"

#include <arrow/util/byte_size.h>

namespace memberlake::query {

std::string CanonicalQueryText(const QuerySpec& spec, const RegionalScope& scope) {
  // Lengths before every string, so no two different queries give the same text.
  std::string out;
  auto add = [&](const std::string& text) { out += std::to_string(text.size()) + ":" + text + ";"; };
  add(scope.ToString());
  out += "select";
  for (const auto& column : spec.select) add(column);
  out += "where";
  for (const auto& filter : spec.where) {
    add(filter.column);
    out += std::to_string(static_cast<int>(filter.op));
    for (const auto& value : filter.values) add(value);
    out += "|";
  }
  out += "group";
  for (const auto& column : spec.group_by) add(column);
  out += "agg";
  for (const auto& a : spec.aggregates) {
    out += std::to_string(static_cast<int>(a.fn));
    add(a.column);
    add(a.name);
  }
  out += "order";
  for (const auto& o : spec.order_by) {
    add(o.column);
    out += o.descending ? "d" : "a";
  }
  out += "limit" + (spec.limit ? std::to_string(*spec.limit) : std::string("-"));
  out += spec.count_pages ? "|pages" : "";
  return out;
}

void ResultCache::Put(const std::string& key, const QueryResult& result) {
  int64_t bytes = 256;
  if (result.table) bytes += arrow::util::TotalBufferSize(*result.table);
  cache_.Put(key, result, bytes);
}

}  // namespace memberlake::query
