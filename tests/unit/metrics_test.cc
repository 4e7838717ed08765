#include "server/metrics.h"

#include <sstream>

#include <gtest/gtest.h>

namespace memberlake::server {
namespace {

// The value of the one line starting with `series ` (a metric name with its labels).
double ValueOf(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  double value = -1;
  int found = 0;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      value = std::stod(line.substr(series.size() + 1));
      ++found;
    }
  }
  EXPECT_EQ(found, 1) << series;
  return value;
}

TEST(RouteTemplate, NeverCarriesIdsOrNames) {
  EXPECT_EQ(RouteTemplate("/api/members/6f1c0a2e-1111-2222-3333-444455556666"), "/api/members/{id}");
  EXPECT_EQ(RouteTemplate("/api/members"), "/api/members");
  EXPECT_EQ(RouteTemplate("/api/reports/regional-stats"), "/api/reports/{name}");
  EXPECT_EQ(RouteTemplate("/api/snapshots/20260107-101500123-abcd/files/parquet/regional/utrecht/members-x.parquet"),
            "/api/snapshots/{id}/files/{path}");
  EXPECT_EQ(RouteTemplate("/api/jobs/7"), "/api/jobs/{id}");
  EXPECT_EQ(RouteTemplate("/api/auth/config"), "/api/auth/config");
  EXPECT_EQ(RouteTemplate("/api/auth/other"), "other");
  EXPECT_EQ(RouteTemplate("/health"), "/health");
  EXPECT_EQ(RouteTemplate("/metrics"), "/metrics");
  EXPECT_EQ(RouteTemplate("/api/members/x/y"), "other");
  EXPECT_EQ(RouteTemplate("/jan.jansen@example.nl"), "other");
  EXPECT_EQ(RouteTemplate("/"), "other");
}

TEST(AddressAllowlist, MatchesCidrBlocksOfBothFamilies) {
  auto allowlist = AddressAllowlist::Parse({"127.0.0.1/32", "10.0.0.0/8", "192.168.1.128/25", "fd00::/8", "::1"});
  ASSERT_TRUE(allowlist.ok()) << allowlist.status().ToString();
  for (const char* allowed : {"127.0.0.1", "10.255.1.2", "192.168.1.200", "fd12:3456::1", "::1", "::ffff:10.1.2.3"}) {
    EXPECT_TRUE(allowlist->Allows(allowed)) << allowed;
  }
  for (const char* refused : {"127.0.0.2", "11.0.0.1", "192.168.1.127", "fe80::1", "::2", "", "not an address",
                              "::ffff:11.1.2.3"}) {
    EXPECT_FALSE(allowlist->Allows(refused)) << refused;
  }
  auto everyone = AddressAllowlist::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(everyone.ok());
  EXPECT_TRUE(everyone->Allows("8.8.8.8"));
  EXPECT_FALSE(everyone->Allows("2001:db8::1"));  // an IPv4 block says nothing of IPv6 peers
  EXPECT_TRUE(AddressAllowlist::Parse({}).ok());
  EXPECT_FALSE(AddressAllowlist::Parse({}).ValueOrDie().Allows("127.0.0.1"));
}

TEST(Metrics, CountsRequestsAndBuildsCumulativeHistograms) {
  Metrics metrics;
  metrics.RecordRequest("/api/reports/{name}", "GET", 200, 0.0004);
  metrics.RecordRequest("/api/reports/{name}", "GET", 200, 0.003);
  metrics.RecordRequest("/api/reports/{name}", "GET", 403, 20.0);  // above the last bucket
  metrics.RecordGeneration(true, 1.5);
  metrics.RecordGeneration(false, 0.2);
  metrics.RecordAuditFailure();
  const std::string text = metrics.Render({{"memberlake_snapshot_data_version", "gauge", "v.", 1234}});

  EXPECT_EQ(ValueOf(text, R"(memberlake_http_requests_total{route="/api/reports/{name}",method="GET",status="200"})"), 2);
  EXPECT_EQ(ValueOf(text, R"(memberlake_http_requests_total{route="/api/reports/{name}",method="GET",status="403"})"), 1);
  const std::string h = R"(memberlake_http_request_duration_seconds_bucket{route="/api/reports/{name}",method="GET",le=)";
  EXPECT_EQ(ValueOf(text, h + R"("0.0005"})"), 1);
  EXPECT_EQ(ValueOf(text, h + R"("0.001"})"), 1);
  EXPECT_EQ(ValueOf(text, h + R"("0.005"})"), 2);
  EXPECT_EQ(ValueOf(text, h + R"("10"})"), 2);
  EXPECT_EQ(ValueOf(text, h + R"("+Inf"})"), 3);
  EXPECT_EQ(ValueOf(text, R"(memberlake_http_request_duration_seconds_count{route="/api/reports/{name}",method="GET"})"), 3);
  EXPECT_NEAR(ValueOf(text, R"(memberlake_http_request_duration_seconds_sum{route="/api/reports/{name}",method="GET"})"),
              20.0034, 1e-9);
  EXPECT_EQ(ValueOf(text, R"(memberlake_generations_total{outcome="succeeded"})"), 1);
  EXPECT_EQ(ValueOf(text, R"(memberlake_generations_total{outcome="failed"})"), 1);
  EXPECT_EQ(ValueOf(text, R"(memberlake_generation_duration_seconds_bucket{le="2.5"})"), 2);
  EXPECT_EQ(ValueOf(text, R"(memberlake_generation_duration_seconds_bucket{le="0.1"})"), 0);
  EXPECT_EQ(ValueOf(text, "memberlake_audit_append_failures_total"), 1);
  EXPECT_EQ(ValueOf(text, "memberlake_snapshot_data_version"), 1234);
  EXPECT_NE(text.find("# TYPE memberlake_snapshot_data_version gauge\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE memberlake_http_request_duration_seconds histogram\n"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::server
