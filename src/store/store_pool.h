// Stores for many threads: a MemberStore is not thread-safe, so each request borrows one.
// Stores are opened on demand and kept for reuse; the pool never holds more than
// `max_idle` idle ones.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <arrow/result.h>

#include "store/member_store.h"

namespace memberlake::store {

class StorePool {
 public:
  using Opener = std::function<arrow::Result<std::unique_ptr<MemberStore>>()>;

  // A borrowed store, returned to the pool when the lease goes away.
  class Lease {
   public:
    Lease(StorePool* pool, std::unique_ptr<MemberStore> store) : pool_(pool), store_(std::move(store)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (pool_ != nullptr && store_) pool_->Return(std::move(store_));
    }
    MemberStore& operator*() const { return *store_; }
    MemberStore* operator->() const { return store_.get(); }
    MemberStore* get() const { return store_.get(); }

   private:
    StorePool* pool_;
    std::unique_ptr<MemberStore> store_;
  };

  StorePool(Opener opener, size_t max_idle) : opener_(std::move(opener)), max_idle_(max_idle) {}

  // Thread-safe. Errors are the opener's.
  arrow::Result<Lease> Acquire();

 private:
  void Return(std::unique_ptr<MemberStore> store);

  Opener opener_;
  size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<MemberStore>> idle_;
};

}  // namespace memberlake::store
