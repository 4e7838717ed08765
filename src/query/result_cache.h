// A bounded, thread-safe LRU cache of query results. Keys name the query, the scope and the
// data the answer was computed from (snapshot id and live data_version), so an entry can
// never be served once the data moved on: a new snapshot or a live change makes a new key,
// and the stale entries age out of the LRU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "query/lru_cache.h"
#include "query/query.h"

namespace memberlake::query {

// The canonical text of a query in a scope (same query, same text).
std::string CanonicalQueryText(const QuerySpec& spec, const RegionalScope& scope);

class ResultCache {
 public:
  explicit ResultCache(int64_t max_bytes) : cache_(max_bytes) {}
  std::optional<QueryResult> Get(const std::string& key) { return cache_.Get(key); }
  // Keeps `result` unless it alone exceeds the bound; evicts least recently used entries.
  void Put(const std::string& key, const QueryResult& result);
  void Clear() { cache_.Clear(); }  // an erasure: entries may hold the erased member
  using Stats = CacheStats;
  Stats stats() const { return cache_.stats(); }

 private:
  LruCache<QueryResult> cache_;
};

}  // namespace memberlake::query
