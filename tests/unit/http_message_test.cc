#include "server/http_message.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace memberlake::server {
namespace {

TEST(PercentDecode, DecodesEscapesAndPlusOnlyWhenAsked) {
  EXPECT_EQ(PercentDecode("Noord%20Holland%2Fx", false), "Noord Holland/x");
  EXPECT_EQ(PercentDecode("%C3%ABlla+de+Wit", true), "\xC3\xABlla de Wit");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
}

TEST(PercentDecode, KeepsMalformedEscapes) {
  EXPECT_EQ(PercentDecode("100%", true), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", true), "%zz%4");
  EXPECT_EQ(PercentDecode("%4a", true), "J");
}

TEST(SplitTarget, SplitsPathAndMultiValuedParams) {
  RequestTarget t = SplitTarget("/api/mem%62ers?region=Noord%20Holland&select=a&select=b%2Cc&flag&&where=x%3D1+2");
  EXPECT_EQ(t.path, "/api/members");
  ASSERT_EQ(t.params.size(), 5u);
  EXPECT_EQ(t.params.find("region")->second, "Noord Holland");
  auto [first, last] = t.params.equal_range("select");
  ASSERT_EQ(std::distance(first, last), 2);
  EXPECT_EQ(first->second, "a");
  EXPECT_EQ(std::next(first)->second, "b,c");
  EXPECT_EQ(t.params.find("flag")->second, "");
  EXPECT_EQ(t.params.find("where")->second, "x=1 2");
}

TEST(SplitTarget, PathWithoutQueryAndPlusInPath) {
  RequestTarget t = SplitTarget("/a+b");
  EXPECT_EQ(t.path, "/a+b");
  EXPECT_TRUE(t.params.empty());
  EXPECT_TRUE(SplitTarget("/x?#frag").params.empty());
}

TEST(ErrorBody, HasTheServiceShape) {
  auto body = nlohmann::json::parse(ErrorBody(413, "request body too large"));
  EXPECT_EQ(body["error"]["status"], 413);
  EXPECT_EQ(body["error"]["message"], "request body too large");
}

TEST(AccessLog, FormatsOneJsonLineWithTheGivenActor) {
  AccessEntry entry{"127.0.0.1", "GET", "/api/me", "", 431, 57, 1.23456};
  auto line = AccessLog::Format(entry);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["status"], 431);
  EXPECT_EQ(json["actor"], "");
  EXPECT_EQ(json["bytes"], 57);
  EXPECT_DOUBLE_EQ(json["ms"].get<double>(), 1.235);
  std::vector<std::string> keys;
  for (auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_EQ(keys.size(), 8u);
}

}  // namespace
}  // namespace memberlake::server
