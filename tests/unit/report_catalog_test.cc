#include "query/report_catalog.h"

#include <gtest/gtest.h>

namespace memberlake::query {
namespace {

std::shared_ptr<const model::FieldRegistry> Registry() {
  static auto registry = *model::FieldRegistry::LoadDefault();
  return registry;
}

TEST(ReportCatalog, BuiltInReportsLoadAndInstantiate) {
  auto catalog = ReportCatalog::LoadDefault(*Registry());
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  auto birthdays = (*catalog)->Find("birthdays");
  ASSERT_TRUE(birthdays.ok());
  auto spec = ReportCatalog::Instantiate(**birthdays, {{"month", "9"}});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_EQ(spec->where.size(), 2u);
  EXPECT_EQ(spec->where[1].column, "geboortedatum");
  EXPECT_EQ(spec->where[1].op, FilterOp::kMonth);
  EXPECT_EQ(spec->where[1].values, std::vector<std::string>{"9"});
  EXPECT_TRUE((*catalog)->Find("financial-view").ValueOrDie()->restricted);
  EXPECT_TRUE((*catalog)->Find("nope").status().IsKeyError());
}

struct BadCatalog {
  std::string toml, message;
};

void PrintTo(const BadCatalog& c, std::ostream* os) { *os << c.message; }

class ReportCatalogErrors : public ::testing::TestWithParam<BadCatalog> {};

TEST_P(ReportCatalogErrors, NameTheReportAndTheProblem) {
  auto catalog = ReportCatalog::LoadString(GetParam().toml, "bad.toml", *Registry());
  ASSERT_FALSE(catalog.ok());
  EXPECT_NE(catalog.status().message().find(GetParam().message), std::string::npos) << catalog.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReportCatalogErrors,
    ::testing::Values(
        BadCatalog{"[[report]]\nname = \"x\"\nselect = [\"kleur\"]\n", "report 'x': unknown column 'kleur'"},
        BadCatalog{"[[report]]\nname = \"x\"\nwhere = [\"kleur=rood\"]\n", "report 'x': unknown column 'kleur'"},
        BadCatalog{"[[report]]\nname = \"x\"\nwhere = [\"geboortedatum.month={maand}\"]\n",
                   "needs the parameter 'maand'"},
        BadCatalog{"[[report]]\nname = \"x\"\naggregates = [\"mode(leeftijd)\"]\n", "unknown function 'mode'"},
        BadCatalog{"[[report]]\nname = \"x\"\n[[report]]\nname = \"x\"\n", "duplicate report name"},
        BadCatalog{"[[report]\n", "bad.toml: line 1"}));

}  // namespace
}  // namespace memberlake::query
