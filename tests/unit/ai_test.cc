// The AI module's pieces without a network: which columns a model may name (from the
// registry), small-group and complementary suppression, the stream and completion parsers,
// the token budget, and the [ai] server settings.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ai/ask.h"
#include "ai/chat_client.h"
#include "ai/privacy_guard.h"
#include "club_registry.h"
#include "temp_dir.h"
#include "server/server_config.h"

namespace memberlake::ai {
namespace {

using query::AggregateFn;
using query::QuerySpec;

std::shared_ptr<arrow::Table> Groups(const std::vector<std::vector<std::string>>& keys, const std::vector<int64_t>& n,
                                     const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder builder;
    for (const auto& row : keys) EXPECT_TRUE(builder.Append(row[c]).ok());
    fields.push_back(arrow::field(names[c], arrow::utf8()));
    columns.push_back(*builder.Finish());
  }
  arrow::Int64Builder counts;
  EXPECT_TRUE(counts.AppendValues(n).ok());
  fields.push_back(arrow::field(std::string(PrivacyGuard::kCountColumn), arrow::int64()));
  columns.push_back(*counts.Finish());
  return arrow::Table::Make(arrow::schema(fields), columns);
}

std::vector<std::string> Column(const arrow::Table& table, int index) {
  std::vector<std::string> out;
  auto chunked = table.column(index);
  for (const auto& chunk : chunked->chunks()) {
    auto strings = std::static_pointer_cast<arrow::StringArray>(chunk);
    for (int64_t i = 0; i < strings->length(); ++i) out.push_back(strings->GetString(i));
  }
  return out;
}

TEST(PrivacyGuard, UsableColumnsComeFromTheRegistrysSensitivity) {
  PrivacyGuard guard(*model::ClubRegistry(), 5);
  for (const char* column : {"status", "lidmaatschap", "regio", "geslacht", "leeftijd", "jaren_lid", "motormerk",
                             "ingangsdatum", "aanmeldingsjaar"}) {
    EXPECT_TRUE(guard.Usable(column)) << column;
  }
  for (const char* column : {"member_id", "lidnummer", "voornaam", "achternaam", "korte_naam", "email", "telefoon",
                             "straat", "postcode", "woonplaats", "geboortedatum", "verjaardag", "kenteken",
                             "bankrekeningnummer", "betaalwijze", "notities", "created_at"}) {
    EXPECT_FALSE(guard.Usable(column)) << column;
  }
}

TEST(PrivacyGuard, RefusesSelectsIdentifiersExtremesOfQuasiIdentifiersAndLimits) {
  PrivacyGuard guard(*model::ClubRegistry(), 5);
  auto refused = [&](QuerySpec spec) { return guard.CheckSpec(spec).message(); };
  QuerySpec ok;
  ok.group_by = {"regio", "geslacht"};
  ok.aggregates = {*query::ParseAggregate("avg(leeftijd)"), *query::ParseAggregate("max(bouwjaar)")};
  ok.order_by = {{"avg_leeftijd", true}};
  EXPECT_TRUE(guard.CheckSpec(ok).ok()) << guard.CheckSpec(ok).ToString();
  QuerySpec select;
  select.select = {"status"};
  EXPECT_NE(refused(select).find("only aggregates"), std::string::npos);
  QuerySpec filter;
  filter.where = {*query::ParseFilter("email is not null")};
  EXPECT_NE(refused(filter).find("'email' is personal data"), std::string::npos);
  QuerySpec restricted;
  restricted.group_by = {"betaalwijze"};
  EXPECT_NE(refused(restricted).find("restricted"), std::string::npos);
  QuerySpec quasi;
  quasi.group_by = {"postcode"};
  EXPECT_NE(refused(quasi).find("quasi-identifier"), std::string::npos);
  QuerySpec oldest;
  oldest.aggregates = {*query::ParseAggregate("max(leeftijd)")};
  EXPECT_NE(refused(oldest).find("one member"), std::string::npos);
  QuerySpec limited = ok;
  limited.limit = 3;
  EXPECT_NE(refused(limited).find("limit"), std::string::npos);
  QuerySpec wide;
  wide.group_by = {"regio", "geslacht", "status", "lidmaatschap"};
  EXPECT_NE(refused(wide).find("at most 3"), std::string::npos);
  QuerySpec order;
  order.order_by = {{"achternaam", false}};
  EXPECT_FALSE(guard.CheckSpec(order).ok());
}

TEST(PrivacyGuard, FilterTextNamingAnUnusableFieldIsRefusedWhateverItsForm) {
  PrivacyGuard guard(*model::ClubRegistry(), 5);
  EXPECT_TRUE(guard.CheckFilterText("status=Actief").ok());
  EXPECT_TRUE(guard.CheckFilterText("ingangsdatum>=2020-01-01").ok());
  // Forms the parser may learn (alternatives, between) cannot smuggle a column past the guard.
  EXPECT_FALSE(guard.CheckFilterText("status=Actief or achternaam=Jansen").ok());
  EXPECT_FALSE(guard.CheckFilterText("(postcode between 3500 and 3599)").ok());
}

TEST(PrivacyGuard, GroupsUnderKAreSuppressedAndAtKReleased) {
  PrivacyGuard guard(*model::ClubRegistry(), 5);
  auto released = guard.Suppress(*Groups({{"Utrecht"}, {"Oost"}, {"Limburg"}, {"Friesland"}}, {4, 5, 40, 30}, {"regio"}),
                                 {"regio"});
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  // 4 alone would be total - released; the smallest other group (5) goes with it.
  EXPECT_EQ(Column(*released->table, 0), (std::vector<std::string>{"Limburg", "Friesland"}));
  EXPECT_EQ(released->suppressed_groups, 2);
  EXPECT_EQ(released->table->num_columns(), 1);  // the member count does not leave

  auto exact = guard.Suppress(*Groups({{"Utrecht"}, {"Oost"}}, {5, 6}, {"regio"}), {"regio"});
  EXPECT_EQ(exact->table->num_rows(), 2);
  // Two small groups that together reach k need no complement.
  auto pair = guard.Suppress(*Groups({{"a"}, {"b"}, {"c"}}, {2, 3, 9}, {"regio"}), {"regio"});
  EXPECT_EQ(Column(*pair->table, 0), std::vector<std::string>{"c"});
  // One row (no group): under k it is gone.
  auto single = guard.Suppress(*Groups({{}}, {4}, {}), {});
  EXPECT_EQ(single->table->num_rows(), 0);
}

TEST(PrivacyGuard, ComplementsHoldAlongEveryLineOfATwoWayTable) {
  PrivacyGuard guard(*model::ClubRegistry(), 5);
  // regio x geslacht; Utrecht/X has 3. Row line Utrecht: its complement is Utrecht/V (20).
  // Column line X: Utrecht/X and Oost/X (3 + 0 suppressed so far) need another X cell too.
  auto table = Groups({{"Utrecht", "M"}, {"Utrecht", "V"}, {"Utrecht", "X"}, {"Oost", "M"}, {"Oost", "V"},
                       {"Oost", "X"}, {"Limburg", "M"}, {"Limburg", "X"}},
                      {50, 20, 3, 40, 30, 9, 60, 12}, {"regio", "geslacht"});
  auto released = guard.Suppress(*table, {"regio", "geslacht"});
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  std::map<std::string, bool> shown;
  auto regio = Column(*released->table, 0), geslacht = Column(*released->table, 1);
  for (size_t i = 0; i < regio.size(); ++i) shown[regio[i] + "/" + geslacht[i]] = true;
  EXPECT_FALSE(shown["Utrecht/X"]);
  // Whatever else went, no line has a suppressed total of 1..4.
  const std::vector<std::tuple<std::string, std::string, int>> cells = {
      {"Utrecht", "M", 50}, {"Utrecht", "V", 20}, {"Utrecht", "X", 3}, {"Oost", "M", 40},
      {"Oost", "V", 30},    {"Oost", "X", 9},     {"Limburg", "M", 60}, {"Limburg", "X", 12}};
  std::map<std::string, int> hidden;
  for (const auto& [r, g, n] : cells) {
    if (!shown[r + "/" + g]) {
      hidden["r:" + r] += n;
      hidden["g:" + g] += n;
    }
  }
  for (const auto& [line, total] : hidden) EXPECT_TRUE(total == 0 || total >= 5) << line << " " << total;
  EXPECT_EQ(released->suppressed_groups, static_cast<int64_t>(cells.size() - regio.size()));
}

TEST(StreamAssembler, ReassemblesContentAndToolCallsFromPieces) {
  std::string seen;
  StreamAssembler stream([&](std::string_view piece) { seen += piece; });
  const std::string body =
      ": OPENROUTER PROCESSING\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"run_query\","
      "\"arguments\":\"{\\\"gro\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"up_by\\\":[]}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7},\"model\":\"m\"}\n\n"
      "data: [DONE]\n\n";
  // Fed in awkward pieces: a line may be split anywhere.
  for (size_t i = 0; i < body.size(); i += 5) ASSERT_TRUE(stream.Feed(body.substr(i, 5)).ok());
  auto response = stream.Finish();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->content, "Hallo");
  EXPECT_EQ(seen, "Hallo");
  ASSERT_EQ(response->tool_calls.size(), 1u);
  EXPECT_EQ(response->tool_calls[0].id, "c1");
  EXPECT_EQ(response->tool_calls[0].name, "run_query");
  EXPECT_EQ(response->tool_calls[0].arguments, "{\"group_by\":[]}");
  EXPECT_EQ(response->usage.prompt_tokens, 11);
  EXPECT_EQ(response->finish_reason, "tool_calls");
}

TEST(StreamAssembler, AStreamCutShortOrCarryingAnErrorIsAProviderError) {
  StreamAssembler cut;
  ASSERT_TRUE(cut.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n").ok());
  auto response = cut.Finish();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(AiErrorOf(response.status()), AiErrorKind::kProvider);
  StreamAssembler failing;
  auto status = failing.Feed("data: {\"error\":{\"message\":\"upstream overloaded\"}}\n\n");
  EXPECT_NE(status.message().find("upstream overloaded"), std::string::npos);
  StreamAssembler garbage;
  EXPECT_FALSE(garbage.Feed("data: {not json\n").ok());
}

TEST(ParseCompletion, ReadsMessageToolCallsAndUsage) {
  auto response = ParseCompletion(
      R"({"model":"x","choices":[{"message":{"content":null,"tool_calls":[{"id":"a","type":"function",
          "function":{"name":"run_report","arguments":{"name":"regional-stats"}}}]},"finish_reason":"tool_calls"}],
          "usage":{"prompt_tokens":3,"completion_tokens":4}})");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->tool_calls.size(), 1u);
  EXPECT_EQ(response->tool_calls[0].arguments, R"({"name":"regional-stats"})");  // an object, as text
  EXPECT_EQ(response->usage.completion_tokens, 4);
  EXPECT_FALSE(ParseCompletion("{\"choices\":[]}").ok());
  auto error = ParseCompletion(R"({"error":{"message":"no credits"}})");
  EXPECT_NE(error.status().message().find("no credits"), std::string::npos);
}

TEST(ChatClient, NoKeyAndNoServerGiveClearErrorsQuickly) {
  ChatClientOptions options;
  options.api_key = "";
  auto no_key = ChatClient(options).Complete(Json{{"messages", Json::array()}});
  EXPECT_EQ(AiErrorOf(no_key.status()), AiErrorKind::kNotConfigured);
  options.api_key = "k";
  options.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
  options.max_retries = 2;
  options.initial_backoff_ms = 10;
  const int64_t started = SteadyNowMs();
  auto refused = ChatClient(options).Complete(Json{{"messages", Json::array()}});
  EXPECT_EQ(AiErrorOf(refused.status()), AiErrorKind::kUnreachable);
  EXPECT_NE(refused.status().message().find("3 attempts"), std::string::npos) << refused.status().ToString();
  EXPECT_LT(SteadyNowMs() - started, 2000);
}

TEST(TokenBudget, CountsPerCallerAndDay) {
  TokenBudget budget(100);
  ASSERT_TRUE(budget.Add("anna", "2026-03-01", 60).ok());
  EXPECT_TRUE(budget.Check("anna", "2026-03-01").ok());
  ASSERT_TRUE(budget.Add("anna", "2026-03-01", 40).ok());
  auto spent = budget.Check("anna", "2026-03-01");
  EXPECT_EQ(AiErrorOf(spent), AiErrorKind::kBudget);
  EXPECT_TRUE(budget.Check("bert", "2026-03-01").ok());
  EXPECT_TRUE(budget.Check("anna", "2026-03-02").ok());  // a new day
  EXPECT_EQ(TokensInAuditDetail(R"({"tokens":{"counted":70},"day":"2026-03-01"})", "2026-03-01"), 70);
  EXPECT_EQ(TokensInAuditDetail(R"({"tokens":{"counted":70},"day":"2026-02-28"})", "2026-03-01"), 0);
  EXPECT_EQ(TokensInAuditDetail("not json", "2026-03-01"), 0);
}

TEST(TokenBudget, AFileKeepsTheDayAcrossARestartAndForgetsPastDays) {
  const auto dir = FreshDir("token-budget");
  const std::string path = (dir / "state" / "ask-budget.json").string();
  std::string today = "2026-03-01";
  auto clock = [&today] { return today; };
  {
    auto budget = TokenBudget::Open(100, path, clock);
    ASSERT_TRUE(budget.ok()) << budget.status().ToString();
    EXPECT_EQ((*budget)->Today(), "2026-03-01");
    ASSERT_TRUE((*budget)->Add("anna", "2026-02-28", 30).ok());  // yesterday: not kept
    ASSERT_TRUE((*budget)->Add("bert", "2026-03-01", 100).ok());
    ASSERT_TRUE((*budget)->Add("anna", "2026-03-01", 40).ok());
  }
  auto again = TokenBudget::Open(100, path, clock);  // the restart
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->Used("anna", "2026-03-01"), 40);
  EXPECT_EQ(AiErrorOf((*again)->Check("bert", "2026-03-01")), AiErrorKind::kBudget);
  EXPECT_TRUE((*again)->Check("bert", "2026-03-02").ok());  // the next day is fresh
  today = "2026-03-02";
  EXPECT_EQ((*again)->Today(), "2026-03-02");
  ASSERT_TRUE((*again)->Add("anna", "2026-03-02", 5).ok());
  std::ifstream file(path);
  const std::string text((std::istreambuf_iterator<char>(file)), {});
  EXPECT_NE(text.find(R"("anna":{"day":"2026-03-02","tokens":5})"), std::string::npos) << text;
  EXPECT_EQ(text.find("bert"), std::string::npos) << text;  // a past day is dropped on the next save
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));
}

TEST(TokenBudget, AFileThatIsNotABudgetIsRefusedNamingIt) {
  const auto dir = FreshDir("token-budget-bad");
  const std::string path = (dir / "ask-budget.json").string();
  std::ofstream(path) << "{\"used\": 3}";
  auto budget = TokenBudget::Open(100, path);
  ASSERT_FALSE(budget.ok());
  EXPECT_NE(budget.status().message().find(path), std::string::npos) << budget.status().ToString();
}

TEST(TokenBudget, ConcurrentAddsAreAllCountedAndSaved) {
  const auto dir = FreshDir("token-budget-threads");
  const std::string path = (dir / "ask-budget.json").string();
  auto budget = TokenBudget::Open(1000000, path, [] { return std::string("2026-03-01"); });
  ASSERT_TRUE(budget.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) EXPECT_TRUE((*budget)->Add("actor" + std::to_string(t % 2), "2026-03-01", 1).ok());
    });
  }
  for (auto& thread : threads) thread.join();
  auto reread = TokenBudget::Open(1000000, path);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ((*reread)->Used("actor0", "2026-03-01"), 100);
  EXPECT_EQ((*reread)->Used("actor1", "2026-03-01"), 100);
}

TEST(AiConfig, TheServerSectionIsReadCheckedAndOptional) {
  const std::string base = "[data]\nstore = \"sqlite:m.db\"\n[auth]\napi_keys_file = \"k.toml\"\n";
  auto none = server::ServerConfig::LoadString(base, "/tmp");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->ai.enabled);
  EXPECT_EQ(AiErrorOf(none->ai.ClientOptions().status()), AiErrorKind::kNotConfigured);
  auto set = server::ServerConfig::LoadString(
      base + "[ai]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\napi_key_env = \"MEMBERLAKE_UNIT_AI_KEY\"\n"
             "timeout_seconds = 1.5\nmax_rounds = 2\nk = 7\n",
      "/tmp");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->ai.enabled);
  EXPECT_EQ(set->ai.client.request_timeout_ms, 1500);
  EXPECT_EQ(set->ai.k, 7);
  EXPECT_EQ(set->ai.client.base_url, "http://127.0.0.1:9/v1");
  // The token budget's file: next to the audit log by default, else the setting, relative to the config.
  EXPECT_EQ(set->ai.budget_file,
            (std::filesystem::path(set->audit_log).parent_path() / "ask-budget.json").string());
  EXPECT_TRUE(none->ai.budget_file.empty());
  auto placed = server::ServerConfig::LoadString(base + "[ai]\nbudget_file = \"state/budget.json\"\n", "/tmp");
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  EXPECT_EQ(placed->ai.budget_file, "/tmp/state/budget.json");
  unsetenv("MEMBERLAKE_UNIT_AI_KEY");
  auto unset = set->ai.ClientOptions();
  EXPECT_NE(unset.status().message().find("MEMBERLAKE_UNIT_AI_KEY is not set"), std::string::npos);
  setenv("MEMBERLAKE_UNIT_AI_KEY", "secret", 1);
  EXPECT_EQ(set->ai.ClientOptions()->api_key, "secret");
  unsetenv("MEMBERLAKE_UNIT_AI_KEY");
  for (const char* bad : {"k = 1\n", "max_rounds = 0\n", "base_url = \"ftp://x\"\n", "question_timeout_seconds = 500\n",
                          "timeout_seconds = \"5\"\n", "nonsense = 1\n"}) {
    EXPECT_FALSE(server::ServerConfig::LoadString(base + "[ai]\n" + bad, "/tmp").ok()) << bad;
  }
}

}  // namespace
}  // namespace memberlake::ai
