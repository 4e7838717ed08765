// Anonymised datasets (transform/anonymisation.h): k-anonymity over every released
// quasi-identifier together, l-diverse status, identifiers refused, determinism, and the
// policy's checks against the registry.
#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "club_registry.h"
#include "transform/anonymisation.h"
#include "transform/anonymisation_policy.h"

namespace memberlake::transform {
namespace {

// Members as a lake holds them: a small club with a long tail (rare motor types, old bikes).
std::shared_ptr<arrow::Table> Members(int n, uint32_t seed) {
  std::mt19937 random(seed);
  const std::vector<std::string> regions = {"Utrecht", "Oost", "Limburg", "Noord-Holland", "Friesland", "Duitsland"};
  const std::vector<std::string> makes = {"Harley-Davidson", "Harley-Davidson", "Harley-Davidson", "Indian", "Buell"};
  const std::vector<std::string> statuses = {"Actief", "Actief", "Actief", "Opgezegd", "Geschorst"};
  arrow::StringBuilder geslacht, regio, motormerk, motortype, status, land, lidmaatschap, member_id;
  arrow::Int64Builder leeftijd, bouwjaar;
  arrow::Date32Builder ingangsdatum;
  for (int i = 0; i < n; ++i) {
    char id[16];  // not "m" + std::to_string(i): GCC 12 warns falsely (-Wrestrict) on that
    std::snprintf(id, sizeof id, "m%d", i);
    (void)member_id.Append(id);
    (void)geslacht.Append(random() % 5 == 0 ? "V" : "M");
    (void)regio.Append(regions[random() % regions.size()]);
    const std::string make = makes[random() % makes.size()];
    (void)motormerk.Append(make);
    (void)motortype.Append(make.substr(0, 3) + " type " + std::to_string(random() % 40));
    (void)status.Append(statuses[random() % statuses.size()]);
    (void)land.Append(random() % 50 == 0 ? "Belgie" : "Nederland");
    (void)lidmaatschap.Append(random() % 4 == 0 ? "Gezins lid" : "Gewoon lid");
    (void)leeftijd.Append(20 + static_cast<int64_t>(random() % 60));
    (void)bouwjaar.Append(1950 + static_cast<int64_t>(random() % 75));
    (void)ingangsdatum.Append(static_cast<int32_t>(3650 + random() % 18000));  // 1980 .. 2029
  }
  auto finish = [](auto& builder) { return *builder.Finish(); };
  auto schema = arrow::schema({arrow::field("member_id", arrow::utf8()), arrow::field("geslacht", arrow::utf8()),
                               arrow::field("regio", arrow::utf8()), arrow::field("motormerk", arrow::utf8()),
                               arrow::field("motortype", arrow::utf8()), arrow::field("status", arrow::utf8()),
                               arrow::field("land", arrow::utf8()), arrow::field("lidmaatschap", arrow::utf8()),
                               arrow::field("leeftijd", arrow::int64()),
                               arrow::field("bouwjaar", arrow::int64()), arrow::field("ingangsdatum", arrow::date32())});
  return arrow::Table::Make(schema, {finish(member_id), finish(geslacht), finish(regio), finish(motormerk),
                                     finish(motortype), finish(status), finish(land), finish(lidmaatschap), finish(leeftijd),
                                     finish(bouwjaar), finish(ingangsdatum)});
}

std::string Cell(const arrow::Table& table, int column, int64_t row) {
  auto scalar = *table.column(column)->GetScalar(row);
  return scalar->is_valid ? scalar->ToString() : "<null>";
}

// The equivalence classes over the released quasi-identifiers: their sizes and statuses.
std::map<std::string, std::pair<int64_t, std::set<std::string>>> Classes(const AnonymisedDataset& dataset) {
  std::map<std::string, std::pair<int64_t, std::set<std::string>>> classes;
  const auto& table = *dataset.rows;
  const int status = table.schema()->GetFieldIndex("status");
  for (int64_t row = 0; row < table.num_rows(); ++row) {
    std::string key;
    for (const auto& name : dataset.quasi_identifiers) key += Cell(table, table.schema()->GetFieldIndex(name), row) + "\x1f";
    auto& entry = classes[key];
    ++entry.first;
    if (status >= 0) entry.second.insert(Cell(table, status, row));
  }
  return classes;
}

class AnonymisationTest : public ::testing::Test {
 protected:
  std::shared_ptr<const model::FieldRegistry> registry = model::ClubRegistry();
  std::shared_ptr<const AnonymisationPolicy> policy = *AnonymisationPolicy::LoadDefault(*registry);
};

TEST_F(AnonymisationTest, EveryClassOverAllReleasedQuasiIdentifiersHoldsKRowsAndLStatuses) {
  auto members = Members(3000, 7);
  for (int k : {2, 5, 10}) {
    AnonymiseOptions options;
    options.k = k;
    options.columns = {"geslacht", "regio", "leeftijd", "ingangsdatum", "motormerk", "motortype", "bouwjaar", "land",
                       "status"};
    auto dataset = Anonymise(*members, *registry, *policy, options);
    ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
    // Every column of the file but status is a released quasi-identifier.
    std::set<std::string> quasi(dataset->quasi_identifiers.begin(), dataset->quasi_identifiers.end());
    for (const auto& name : dataset->rows->schema()->field_names()) {
      EXPECT_TRUE(name == "status" || quasi.count(name)) << name;
    }
    ASSERT_GT(dataset->rows->num_rows(), 0);
    EXPECT_EQ(dataset->rows->num_rows() + dataset->suppressed, 3000);
    auto classes = Classes(*dataset);
    EXPECT_EQ(static_cast<int64_t>(classes.size()), dataset->classes);
    for (const auto& [key, entry] : classes) {
      EXPECT_GE(entry.first, k) << key;
      EXPECT_GE(entry.second.size(), 2u) << key;
    }
    EXPECT_GE(dataset->smallest_class, k);
    EXPECT_GT(dataset->ncp, 0.0);
    EXPECT_LE(dataset->ncp, 1.0);
    EXPECT_EQ(dataset->sensitive_handling.at("status"), "l-diverse (l = 2)");
  }
}

TEST_F(AnonymisationTest, TheSuppressionCapMakesTheSearchGeneraliseInstead) {
  auto members = Members(2000, 3);
  AnonymiseOptions options;
  options.columns = {"regio", "leeftijd", "bouwjaar", "motortype"};
  options.max_suppression = 0.01;
  auto dataset = Anonymise(*members, *registry, *policy, options);
  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_LE(dataset->suppressed, 20);
  // 40 types of 3 makes over 2000 rows cannot stay exact next to age and build year.
  bool generalised = false;
  for (const auto& column : dataset->generalisation) generalised |= column.level > 0;
  EXPECT_TRUE(generalised);
  EXPECT_EQ(dataset->sensitive_handling.at("status"), "left out");
  EXPECT_EQ(dataset->rows->schema()->GetFieldIndex("status"), -1);
}

TEST_F(AnonymisationTest, GeneralisationIsDeterministic) {
  auto members = Members(1500, 11);
  AnonymiseOptions options;
  auto first = Anonymise(*members, *registry, *policy, options);
  auto second = Anonymise(*members, *registry, *policy, options);
  ASSERT_TRUE(first.ok() && second.ok()) << first.status().ToString();
  EXPECT_TRUE(first->rows->Equals(*second->rows));
  ASSERT_EQ(first->generalisation.size(), second->generalisation.size());
  for (size_t i = 0; i < first->generalisation.size(); ++i) {
    EXPECT_EQ(first->generalisation[i].level, second->generalisation[i].level);
  }
}

TEST_F(AnonymisationTest, BandsAndRareValuesAreWhatTheLevelsSay) {
  auto members = Members(1000, 5);
  AnonymiseOptions options;
  options.k = 2;
  options.columns = {"leeftijd"};
  auto dataset = Anonymise(*members, *registry, *policy, options);
  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  ASSERT_EQ(dataset->generalisation[0].generalisation, "band:5");  // 60 ages over 1000 rows: bands of 5 hold
  EXPECT_EQ(dataset->suppressed, 0);
  auto ages = std::static_pointer_cast<arrow::Int64Array>(members->GetColumnByName("leeftijd")->chunk(0));
  for (int64_t row = 0; row < 50; ++row) {
    int64_t low = ages->Value(row) / 5 * 5;
    EXPECT_EQ(Cell(*dataset->rows, 0, row), std::to_string(low) + "-" + std::to_string(low + 4));
  }
}

TEST_F(AnonymisationTest, IdentifiersAndUnreleasedFieldsAreRefusedByName) {
  auto members = Members(100, 1);
  for (const std::string column : {"email", "member_id", "bankrekeningnummer", "geboortedatum", "nonsense"}) {
    AnonymiseOptions options;
    options.columns = {"regio", column};
    auto dataset = Anonymise(*members, *registry, *policy, options);
    ASSERT_FALSE(dataset.ok()) << column;
    EXPECT_TRUE(dataset.status().IsInvalid());
    EXPECT_NE(dataset.status().message().find("'" + column + "'"), std::string::npos) << dataset.status().message();
  }
  AnonymiseOptions options;
  options.k = 1;
  EXPECT_TRUE(Anonymise(*members, *registry, *policy, options).status().IsInvalid());
}

TEST_F(AnonymisationTest, APolicyReleasingAnIdentifierOrWithoutATopLevelIsRefused) {
  // (column, its levels, what the refusal names)
  const std::vector<std::array<std::string, 3>> cases = {{"email", R"(["value", "*"])", "email"},
                                                         {"regio", R"(["value"])", "\"*\""},
                                                         {"leeftijd", R"(["year", "*"])", "'year'"}};
  for (const auto& [column, levels, named] : cases) {
    const std::string toml = "[defaults]\ncolumns = [\"" + column + "\"]\n[[column]]\nname = \"" + column +
                             "\"\nrole = \"quasi\"\nlevels = " + levels + "\n";
    auto refused = AnonymisationPolicy::LoadString(toml, "test", *registry);
    ASSERT_FALSE(refused.ok()) << toml;
    EXPECT_NE(refused.status().message().find(named), std::string::npos) << refused.status().message();
  }
}

}  // namespace
}  // namespace memberlake::transform
