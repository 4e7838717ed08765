#include "query/member_source.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "forwarding_store.h"

namespace memberlake::query {
namespace {

namespace fs = std::filesystem;

// A store whose first DataVersion() call lets another writer in just before it answers, the
// way a concurrent insert can land between two reads of a hybrid query.
class WriterCutsIn : public testing_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  arrow::Result<int64_t> DataVersion() override {
    if (!cut_in_) {
      cut_in_ = true;
      auto added = inner().Insert({{"voornaam", "Cor"}, {"achternaam", "Concurrent"}, {"email", "cor@example.nl"},
                                   {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Utrecht"}});
      if (!added.ok()) return added.status();
    }
    return inner().DataVersion();
  }

 private:
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
