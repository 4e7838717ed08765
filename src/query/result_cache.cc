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
  return out;
}

std::optional<QueryResult> ResultCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->result;
}

void ResultCache::Put(const std::string& key, const QueryResult& result) {
  int64_t bytes = static_cast<int64_t>(key.size()) + 256;
  if (result.table) bytes += arrow::util::TotalBufferSize(*result.table);
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes > max_bytes_) return;
  if (auto it = index_.find(key); it != index_.end()) {
    stats_.bytes -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, result, bytes});
  index_[key] = lru_.begin();
  stats_.bytes += bytes;
  while (stats_.bytes > max_bytes_ && !lru_.empty()) {
    stats_.bytes -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
  stats_.entries = static_cast<int64_t>(lru_.size());
}

ResultCache::Stats ResultCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats out = stats_;
  out.entries = static_cast<int64_t>(lru_.size());
  return out;
}

}  // namespace memberlake::query
