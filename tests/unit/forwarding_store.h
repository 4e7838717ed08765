// A MemberStore that forwards every call to another: tests derive from it and override the one
// call whose behaviour they change (a writer cutting in, a delete that fails).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/member_store.h"

namespace memberlake::testing_support {

class ForwardingStore : public store::MemberStore {
 public:
  explicit ForwardingStore(std::unique_ptr<store::MemberStore> inner) : inner_(std::move(inner)) {}
  arrow::Result<int64_t> DataVersion() override { return inner_->DataVersion(); }
  arrow::Result<store::StoreScan> Scan(int64_t rows) override { return inner_->Scan(rows); }
  arrow::Result<store::StoredMember> Get(const std::string& id) override { return inner_->Get(id); }
  arrow::Result<store::StoredMember> Insert(const store::FieldValues& f) override { return inner_->Insert(f); }
  arrow::Result<store::StoredMember> Update(const std::string& id, const store::FieldValues& f, int64_t v) override {
    return inner_->Update(id, f, v);
  }
  arrow::Status Delete(const std::string& id, int64_t v) override { return inner_->Delete(id, v); }
  arrow::Result<std::vector<store::StoredMember>> List(int64_t o, int64_t l) override { return inner_->List(o, l); }
  arrow::Result<std::vector<store::ChangeEntry>> ChangesSince(int64_t after) override {
    return inner_->ChangesSince(after);
  }
  arrow::Result<int64_t> ImportRaw(arrow::RecordBatchReader& b) override { return inner_->ImportRaw(b); }
  const std::shared_ptr<const model::FieldRegistry>& registry() const override { return inner_->registry(); }

 protected:
  store::MemberStore& inner() { return *inner_; }

 private:
  std::unique_ptr<store::MemberStore> inner_;
};

}  // namespace memberlake::testing_support
