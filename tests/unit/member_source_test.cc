#include "query/member_source.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace memberlake::query {
namespace {

namespace fs = std::filesystem;

// A store whose first DataVersion() call lets another writer in just before it answers, the
// way a concurrent insert can land between two reads of a hybrid query.
class WriterCutsIn : public store::MemberStore {
 public:
  explicit WriterCutsIn(std::unique_ptr<store::MemberStore> inner) : inner_(std::move(inner)) {}
  arrow::Result<int64_t> DataVersion() override {
    if (!cut_in_) {
      cut_in_ = true;
      auto added = inner_->Insert({{"voornaam", "Cor"}, {"achternaam", "Concurrent"}, {"email", "cor@example.nl"},
                                   {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Utrecht"}});
      if (!added.ok()) return added.status();
    }
    return inner_->DataVersion();
  }
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

 private:
  std::unique_ptr<store::MemberStore> inner_;
  bool cut_in_ = false;
};

TEST(ReadLiveDelta, NeverClaimsAVersionItsRowsDoNotReflect) {
  const fs::path dir = fs::temp_directory_path() / ("memberlake-delta-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto registry = *model::FieldRegistry::LoadDefault();
  store::StoreOptions options;
  options.create_if_missing = true;
  auto sqlite = store::OpenMemberStore("sqlite:" + (dir / "m.db").string(), registry, options);
  ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
  WriterCutsIn store(std::move(*sqlite));
  auto delta = ReadLiveDelta(store, 0, {2026, 1, 7});
  ASSERT_TRUE(delta.ok()) << delta.status().ToString();
  // The concurrent insert is version 1. If the delta claims version 1, it must hold that member.
  ASSERT_GE(delta->data_version, 1);
  EXPECT_EQ(delta->rows->num_rows(), 1);
  EXPECT_EQ(delta->replaced_ids.size(), 1u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace memberlake::query
