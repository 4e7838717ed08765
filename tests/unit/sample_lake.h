// A test fixture with a real lake: a SQLite store of seeded sample members in a fresh folder and
// one snapshot generated from it, for tests that read, check or cache what a generation wrote.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "jobs/generate_snapshot.h"
#include "lake/lake_storage.h"
#include "model/field_registry.h"
#include "store/member_store.h"
#include "store/sample_members.h"
#include "temp_dir.h"

namespace memberlake {

class SampleLakeTest : public ::testing::Test {
 protected:
  // Seeds `members` sample members into <tmp>/memberlake-<name>-<pid>/m.db and generates the
  // first snapshot (reference date 2026-01-07) into its lake/ folder.
  void MakeSampleLake(const std::string& name, int members) {
    dir_ = FreshDir(name);
    registry_ = *model::FieldRegistry::LoadDefault();
    store::StoreOptions options;
    options.create_if_missing = true;
    auto store = store::OpenMemberStore("sqlite:" + (dir_ / "m.db").string(), registry_, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    store::SampleOptions sample;
    sample.members = members;
    ASSERT_TRUE(store_->ImportRaw(**store::MakeSampleMembers(registry_, sample)).ok());
    auto lake = lake::LakeStorage::Open((dir_ / "lake").string(), true);
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
    Generate();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Generates and publishes a snapshot of the store as it is now; keeps its summary.
  void Generate() {
    jobs::GenerateOptions options;
    options.as_of = {2026, 1, 7};
    auto summary = jobs::GenerateSnapshot(*store_, *lake_, options);
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    summary_ = std::move(*summary);
  }

  std::filesystem::path dir_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  std::unique_ptr<store::MemberStore> store_;
  std::shared_ptr<lake::LakeStorage> lake_;
  jobs::GenerateSummary summary_;
};

}  // namespace memberlake
