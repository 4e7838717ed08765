#include "jobs/retention.h"

#include <cstdlib>
#include <numeric>

#include <gtest/gtest.h>

#include "jobs/retention_statistics.h"
#include "server/server_config.h"

namespace memberlake::jobs {
namespace {

int64_t Total(const std::vector<RetentionStatisticsGroup>& groups) {
  return std::accumulate(groups.begin(), groups.end(), int64_t{0},
                         [](int64_t sum, const RetentionStatisticsGroup& g) { return sum + g.members; });
}

bool AllStars(const RetentionStatisticsGroup& g) {
  return g.leave_year == "*" && g.regio == "*" && g.age_band == "*" && g.status == "*";
}

TEST(RetentionStatistics, GroupsBelowKAreGeneralisedAndTheRestHasNoAttribute) {
  std::vector<RetentionStatisticsInput> members;
  for (int i = 0; i < 6; ++i) members.push_back({"Opgezegd", "Utrecht", 2016, 55});     // a full group
  for (int i = 0; i < 3; ++i) members.push_back({"Opgezegd", "Utrecht", 2016, 31 + i});  // other band
  for (int i = 0; i < 2; ++i) members.push_back({"Opgezegd", "Limburg", 2016, 70});     // other regio
  members.push_back({"Opgezegd", "Oost", 2019, std::nullopt});
  members.push_back({"Geschorst", "Oost", 2019, 40});
  const auto groups = AggregateRetentionStatistics(members, 5);
  EXPECT_EQ(Total(groups), static_cast<int64_t>(members.size()));  // everyone counted once
  for (const auto& g : groups) {
    EXPECT_TRUE(g.members >= 5 || AllStars(g)) << g.leave_year << " " << g.regio << " " << g.age_band << " " << g.members;
  }
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].regio, "Utrecht");
  EXPECT_EQ(groups[0].age_band, "50-59");
  EXPECT_EQ(groups[0].members, 6);
  // The three younger Utrecht leavers and the two from Limburg: 2016 without regio and band.
  EXPECT_EQ(groups[1].leave_year, "2016");
  EXPECT_EQ(groups[1].regio, "*");
  EXPECT_EQ(groups[1].status, "Opgezegd");
  EXPECT_EQ(groups[1].members, 5);
  EXPECT_TRUE(AllStars(groups[2]));
  EXPECT_EQ(groups[2].members, 2);
}

TEST(RetentionStatistics, FewMembersGiveOnlyACount) {
  const auto groups = AggregateRetentionStatistics({{"Opgezegd", "Utrecht", 2016, 55}}, 5);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_TRUE(AllStars(groups[0]));
  EXPECT_TRUE(AggregateRetentionStatistics({}, 5).empty());
}

TEST(RetentionStatistics, AgeBands) {
  EXPECT_EQ(AgeBand(std::nullopt), "unknown");
  EXPECT_EQ(AgeBand(12), "<30");
  EXPECT_EQ(AgeBand(30), "30-39");
  EXPECT_EQ(AgeBand(69), "60-69");
  EXPECT_EQ(AgeBand(70), "70+");
}

TEST(RetentionConfig, ParsesTheSectionAndOnlyIt) {
  auto config = RetentionConfig::FromToml(R"(
[server]
port = 1
[retention]
dry_run = true
k = 7
rules = [{ status = "Opgezegd", years = 7, action = "anonymise" }, { status = "Geschorst", years = 2 }]
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->dry_run);
  EXPECT_EQ(config->k, 7);
  ASSERT_EQ(config->rules.size(), 2u);
  EXPECT_EQ(config->rules[0].action, RetentionAction::kAnonymise);
  EXPECT_EQ(config->rules[1].action, RetentionAction::kErase);
  EXPECT_EQ(config->rules[1].years, 2);
  auto none = RetentionConfig::FromToml("[data]\nlake = \"x\"\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->rules.empty());
}

TEST(RetentionConfig, BadRulesNameTheProblem) {
  const char* bad[][2] = {
      {"[retention]\nrules = [{ status = \"Opgezegd\", years = 0 }]", "years"},
      {"[retention]\nrules = [{ status = \"Opgezegd\", years = 3, action = \"shred\" }]", "shred"},
      {"[retention]\nrules = [{ years = 3 }]", "status"},
      {"[retention]\nrules = [{ status = \"Opgezegd\", years = 3, when = 1 }]", "when"},
      {"[retention]\nrules = [{ status = \"Opgezegd\", years = 3 }, { status = \"Opgezegd\", years = 4 }]", "second"},
      {"[retention]\nk = 1", "retention.k"},
      {"[retention]\ncolour = 1", "colour"},
  };
  for (const auto& [text, word] : bad) {
    auto config = RetentionConfig::FromToml(text);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_NE(config.status().message().find(word), std::string::npos) << config.status().message();
  }
}

TEST(RetentionConfig, CommandLineRulesReplaceTheirStatus) {
  auto config = *RetentionConfig::FromToml("[retention]\nrules = [{ status = \"Opgezegd\", years = 7, action = \"anonymise\" }]");
  ASSERT_TRUE(config.Override("Opgezegd=3").ok());
  ASSERT_TRUE(config.Override("Geschorst=2:anonymise").ok());
  ASSERT_EQ(config.rules.size(), 2u);
  EXPECT_EQ(config.rules[0].years, 3);
  EXPECT_EQ(config.rules[0].action, RetentionAction::kErase);
  EXPECT_EQ(config.rules[1].action, RetentionAction::kAnonymise);
  for (const char* bad : {"Opgezegd", "=3", "Opgezegd=0", "Opgezegd=x", "Opgezegd=3:shred"}) {
    EXPECT_FALSE(config.Override(bad).ok()) << bad;
  }
  auto registry = *model::FieldRegistry::LoadDefault();
  EXPECT_TRUE(config.Validate(*registry).ok());
  ASSERT_TRUE(config.Override("Weg=3").ok());
  auto invalid = config.Validate(*registry);
  EXPECT_FALSE(invalid.ok());
  EXPECT_NE(invalid.message().find("Weg"), std::string::npos);
}

TEST(RetentionConfig, TheServerConfigCarriesItAndRulesNeedThePseudonymKey) {
  const std::string base = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n";
  const std::string rules = "[retention]\nrules = [{ status = \"Opgezegd\", years = 7, action = \"anonymise\" }]\n";
  auto without_key = server::ServerConfig::LoadString(base + rules, "/tmp");
  ASSERT_FALSE(without_key.ok());
  EXPECT_NE(without_key.status().message().find("pseudonym_key_env"), std::string::npos);
  auto dry = server::ServerConfig::LoadString(base + rules + "dry_run = true\n", "/tmp");
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  ASSERT_EQ(dry->retention.rules.size(), 1u);
  EXPECT_TRUE(dry->retention.dry_run);
  ::setenv("MEMBERLAKE_RETENTION_TEST_KEY", "retention-unit-test-key-0123456789", 1);
  auto keyed = server::ServerConfig::LoadString(
      base + "[privacy]\npseudonym_key_env = \"MEMBERLAKE_RETENTION_TEST_KEY\"\n" + rules, "/tmp");
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  EXPECT_EQ(keyed->retention.rules[0].action, RetentionAction::kAnonymise);
  EXPECT_FALSE(server::ServerConfig::LoadString(base + "[retention]\nkeep = 3\n", "/tmp").ok());
}

}  // namespace
}  // namespace memberlake::jobs
