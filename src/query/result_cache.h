// A bounded, thread-safe LRU cache of query results. Keys name the query, the scope and the
// data the answer was computed from (snapshot id and live data_version), so an entry can
// never be served once the data moved on: a new snapshot or a live change makes a new key,
// and the stale entries age out of the LRU.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "query/query.h"

namespace memberlake::query {

// The canonical text of a query in a scope (same query, same text).
std::string CanonicalQueryText(const QuerySpec& spec, const RegionalScope& scope);

class ResultCache {
 public:
  explicit ResultCache(int64_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<QueryResult> Get(const std::string& key);
  // Keeps `result` unless it alone exceeds the bound; evicts least recently used entries.
  void Put(const std::string& key, const QueryResult& result);

  struct Stats {
    int64_t entries = 0, bytes = 0, hits = 0, misses = 0, evictions = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    QueryResult result;
    int64_t bytes;
  };
  mutable std::mutex mutex_;
  int64_t max_bytes_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  Stats stats_;
};

}  // namespace memberlake::query
