#include "query/result_cache.h"

#include <unistd.h>

#include <filesystem>

#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include "jobs/generate_snapshot.h"
#include "query/member_source.h"
#include "store/sample_members.h"
#include "sample_lake.h"

namespace memberlake::query {
namespace {

namespace fs = std::filesystem;

class ResultCacheTest : public SampleLakeTest {
 protected:
  void SetUp() override { MakeSampleLake("cache", 2000); }

  QuerySpec CountActive() {
    QuerySpec spec;
    spec.where.push_back(*ParseFilter("status=Actief"));
    spec.group_by = {"regio"};
    spec.aggregates.push_back(*ParseAggregate("count"));
    spec.order_by.push_back(*ParseOrder("regio"));
    return spec;
  }

  int64_t Total(const QueryResult& result) {
    auto counts = std::static_pointer_cast<arrow::Int64Array>(result.table->GetColumnByName("count")->chunk(0));
    int64_t total = 0;
    for (int64_t i = 0; i < counts->length(); ++i) total += counts->Value(i);
    return total;
  }
};

TEST_F(ResultCacheTest, ServesRepeatsAndNeverStaleData) {
  ResultCache cache(64 << 20);
  ReadOptions options;
  options.as_of = {2026, 1, 7};
  MemberSource source(lake_.get(), store_.get(), registry_, options, &cache);
  auto scope = RegionalScope::All();

  auto first = source.Run(scope, CountActive());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->cached);
  auto second = source.Run(scope, CountActive());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cached);
  EXPECT_TRUE(second->table->Equals(*first->table));

  // another scope is another answer
  auto utrecht = source.Run(*RegionalScope::Regions(*registry_, {"Utrecht"}), CountActive());
  ASSERT_TRUE(utrecht.ok());
  EXPECT_FALSE(utrecht->cached);
  EXPECT_LT(Total(*utrecht), Total(*first));

  // a live change moves the data_version: the next answer is recomputed and includes it
  auto added = store_->Insert({{"voornaam", "Nieuw"}, {"achternaam", "Lid"}, {"email", "n@l.nl"},
                               {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Oost"}});
  ASSERT_TRUE(added.ok());
  auto third = source.Run(scope, CountActive());
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->cached);
  EXPECT_EQ(Total(*third), Total(*first) + 1);
  EXPECT_EQ(third->source, "hybrid");

  // a new snapshot is new data too (same answer, recomputed from the new snapshot)
  Generate();
  auto fourth = source.Run(scope, CountActive());
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(fourth->cached);
  EXPECT_EQ(fourth->source, "snapshot");
  EXPECT_EQ(Total(*fourth), Total(*third));
  EXPECT_EQ(cache.stats().hits, 1);
}

TEST_F(ResultCacheTest, StaysWithinItsBound) {
  ReadOptions options;
  options.mode = ReadMode::kSnapshotOnly;
  // one region's answer, as the cache accounts it
  ResultCache sizer(1 << 20);
  MemberSource probe(lake_.get(), nullptr, registry_, options, &sizer);
  ASSERT_TRUE(probe.Run(*RegionalScope::Regions(*registry_, {"Oost"}), CountActive()).ok());
  const int64_t one = sizer.stats().bytes;
  ResultCache cache(3 * one + one / 2);
  MemberSource source(lake_.get(), nullptr, registry_, options, &cache);
  for (const char* region : {"Utrecht", "Oost", "Limburg", "Friesland", "Overig"}) {
    ASSERT_TRUE(source.Run(*RegionalScope::Regions(*registry_, {region}), CountActive()).ok());
  }
  auto stats = cache.stats();
  EXPECT_LE(stats.bytes, 3 * one + one / 2);
  EXPECT_GE(stats.evictions, 2);
  EXPECT_LE(stats.entries, 3);
  // the most recent entry is still there, the oldest is gone
  EXPECT_TRUE(source.Run(*RegionalScope::Regions(*registry_, {"Overig"}), CountActive())->cached);
  EXPECT_FALSE(source.Run(*RegionalScope::Regions(*registry_, {"Utrecht"}), CountActive())->cached);
}

TEST(CanonicalQueryText, DiffersWheneverTheQueryDoes) {
  QuerySpec a, b;
  a.where.push_back(*ParseFilter("regio=Utrecht"));
  b.where.push_back(*ParseFilter("regio=Utrech"));
  b.where.push_back(*ParseFilter("t=x"));
  EXPECT_NE(CanonicalQueryText(a, RegionalScope::All()), CanonicalQueryText(b, RegionalScope::All()));
  EXPECT_EQ(CanonicalQueryText(a, RegionalScope::All()), CanonicalQueryText(a, RegionalScope::All()));
  auto registry = *model::FieldRegistry::LoadDefault();
  EXPECT_NE(CanonicalQueryText(a, RegionalScope::All()),
            CanonicalQueryText(a, *RegionalScope::Regions(*registry, {"Utrecht"})));
}

}  // namespace
}  // namespace memberlake::query
