#include "store/store_pool.h"

namespace memberlake::store {

arrow::Result<StorePool::Lease> StorePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      auto store = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(store));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto store, opener_());
  return Lease(this, std::move(store));
}

void StorePool::Return(std::unique_ptr<MemberStore> store) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(store));
}

}  // namespace memberlake::store
