// Server metrics in the Prometheus text exposition format (GET /metrics): request counts and
// latency histograms per route, generation outcomes, plus gauges the caller samples at scrape
// time (snapshot age, live lag, caches). Labels are bounded by construction: route templates
// (never raw paths, which hold member ids and file names), methods and status codes. Nothing
// names a member or a region, so the endpoint needs no authentication, like /health; figures
// that tell the size of the membership (member counts, data versions, live lag) are added only
// for a trusted scraper: one that sends the token (server.metrics_token_env) or connects from an
// address in server.metrics_allow (AddressAllowlist; see server/api_service.cc).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/result.h>

namespace memberlake::server {

// "/api/members/{id}" for "/api/members/6f1c...", "/api/reports/{name}", ...; paths outside
// the API's routes become "other".
std::string RouteTemplate(const std::string& path);

// Peer addresses trusted by CIDR block, IPv4 and IPv6 ("10.0.0.0/8", "::1/128"; a bare address
// is one host). An IPv4 peer seen through an IPv6 socket (::ffff:10.1.2.3) counts as IPv4.
class AddressAllowlist {
 public:
  // Status::Invalid naming the entry that is not an address or has a bad prefix length.
  static arrow::Result<AddressAllowlist> Parse(const std::vector<std::string>& blocks);
  bool Allows(const std::string& address) const;
  bool empty() const { return blocks_.empty(); }

 private:
  struct Block {
    std::array<unsigned char, 16> bytes{};
    int length = 0;  // bytes used: 4 (IPv4) or 16
    int prefix = 0;  // bits
  };
  std::vector<Block> blocks_;
};

class Metrics {
 public:
  // A value sampled at scrape time; `type` is "gauge" or "counter".
  struct Sample {
    std::string name, type, help;
    double value = 0;
  };

  void RecordRequest(const std::string& route, const std::string& method, int status, double seconds);
  void RecordGeneration(bool succeeded, double seconds);
  void RecordAuditFailure();
  // One check of a deep data check run (jobs/data_health.h; `check` is one of a fixed few
  // names): when it ran (unix seconds), whether it passed, rows checked, mismatches found.
  void RecordDataCheck(const std::string& check, bool passed, int64_t rows_checked, int64_t mismatches,
                       double unix_seconds);

  // The exposition text: recorded series first, then `sampled`. Without `sizes` (an untrusted
  // scraper) the data checks' rows_checked, which tells the membership's size, is left out.
  std::string Render(const std::vector<Sample>& sampled, bool sizes = true) const;

  // Upper bounds of the latency buckets, in seconds (+Inf implied).
  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10};

 private:
  struct Histogram {
    std::array<int64_t, kBuckets.size()> buckets{};  // not cumulative; Render sums them
    int64_t count = 0;
    double sum = 0;
    void Add(double seconds);
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, int64_t> requests_;  // route, method, status
  std::map<std::pair<std::string, std::string>, Histogram> latency_;      // route, method
  int64_t generations_succeeded_ = 0, generations_failed_ = 0;
  Histogram generation_seconds_;
  int64_t audit_failures_ = 0;
  struct DataCheck {
    bool passed = true;
    int64_t rows_checked = 0, mismatches = 0, runs = 0, failures = 0;
    double last_run = 0;
  };
  std::map<std::string, DataCheck> data_checks_;
};

}  // namespace memberlake::server
