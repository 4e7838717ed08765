// A bounded, thread-safe LRU map from text keys to values, sized in bytes the caller states.
// Used for query results (ResultCache) and for rendered HTTP responses.
#pragma once

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
  explicit LruCache(int64_t max_bytes) : max_bytes_(max_bytes) {}

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

  // Keeps `value` unless it alone exceeds the bound; evicts least recently used entries.
  void Put(const std::string& key, Value value, int64_t value_bytes) {
    const int64_t bytes = static_cast<int64_t>(key.size()) + value_bytes;
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > max_bytes_) return;
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
  int64_t max_bytes_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
  CacheStats stats_;
};

}  // namespace memberlake::query
