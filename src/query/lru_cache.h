// A bounded, thread-safe LRU map from text keys to values, sized in bytes the caller states.
// Used for query results (ResultCache) and for rendered HTTP responses.
#pragma once

#include <algorithm>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace memberlake::query {

struct CacheStats {
  int64_t entries = 0, bytes = 0, hits = 0, misses = 0, evictions = 0;
};

template <typename Value>
class LruCache {
 public:
  // An entry larger than `max_entry_bytes` (default: the whole bound) is not kept.
  explicit LruCache(int64_t max_bytes, int64_t max_entry_bytes = -1)
      : max_bytes_(max_bytes), max_entry_bytes_(max_entry_bytes < 0 ? max_bytes : std::min(max_entry_bytes, max_bytes)) {}

  int64_t max_entry_bytes() const { return max_entry_bytes_; }
  // Changes with every Clear: a value computed before an erasure cleared the cache may hold the
  // erased member, so it is put only with the generation it began in (Put's `generation`).
  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return generation_;
  }

  std::optional<Value> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->value;
  }

  // Keeps `value` unless it alone exceeds the entry bound or the cache was cleared since
  // `generation` (when given); evicts least recently used entries.
  void Put(const std::string& key, Value value, int64_t value_bytes, std::optional<uint64_t> generation = std::nullopt) {
    const int64_t bytes = static_cast<int64_t>(key.size()) + value_bytes;
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > max_entry_bytes_ || (generation && *generation != generation_)) return;
    if (auto it = index_.find(key); it != index_.end()) {
      stats_.bytes -= it->second->bytes;
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.push_front(Entry{key, std::move(value), bytes});
    index_[key] = lru_.begin();
    stats_.bytes += bytes;
    while (stats_.bytes > max_bytes_ && !lru_.empty()) {
      stats_.bytes -= lru_.back().bytes;
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++stats_.evictions;
    }
  }

  // Drops every entry: after an erasure, cached answers may hold the erased member.
  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.evictions += static_cast<int64_t>(lru_.size());
    ++generation_;
    lru_.clear();
    index_.clear();
    stats_.bytes = 0;
  }

  CacheStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    CacheStats out = stats_;
    out.entries = static_cast<int64_t>(lru_.size());
    return out;
  }

 private:
  struct Entry {
    std::string key;
    Value value;
    int64_t bytes;
  };
  mutable std::mutex mutex_;
  const int64_t max_bytes_, max_entry_bytes_;
  uint64_t generation_ = 0;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
  CacheStats stats_;
};

}  // namespace memberlake::query
