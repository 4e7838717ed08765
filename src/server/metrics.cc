#include "server/metrics.h"

#include <arpa/inet.h>

#include <algorithm>
#include <iterator>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "model/text.h"

namespace memberlake::server {

namespace {

// The address's bytes (4 or 16; an IPv4-mapped IPv6 address as its 4), or nothing.
bool ParseAddress(const std::string& text, std::array<unsigned char, 16>* bytes, int* length) {
  if (inet_pton(AF_INET, text.c_str(), bytes->data()) == 1) {
    *length = 4;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes->data()) != 1) return false;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMapped), std::end(kMapped), bytes->begin())) {
    std::copy(bytes->begin() + 12, bytes->end(), bytes->begin());
    *length = 4;
    return true;
  }
  *length = 16;
  return true;
}

}  // namespace

arrow::Result<AddressAllowlist> AddressAllowlist::Parse(const std::vector<std::string>& blocks) {
  AddressAllowlist allowlist;
  for (const std::string& text : blocks) {
    Block block;
    const size_t slash = text.find('/');
    if (!ParseAddress(text.substr(0, slash), &block.bytes, &block.length)) {
      return arrow::Status::Invalid("'", text, "' is not an IP address or CIDR block (like 10.0.0.0/8 or fd00::/8)");
    }
    block.prefix = block.length * 8;
    if (slash != std::string::npos) {
      const std::string bits = text.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(bits) > block.length * 8) {
        return arrow::Status::Invalid("'", text, "': the prefix length must be 0..", block.length * 8);
      }
      block.prefix = std::stoi(bits);
    }
    allowlist.blocks_.push_back(block);
  }
  return allowlist;
}

bool AddressAllowlist::Allows(const std::string& address) const {
  std::array<unsigned char, 16> bytes{};
  int length = 0;
  if (!ParseAddress(address, &bytes, &length)) return false;
  for (const Block& block : blocks_) {
    if (block.length != length) continue;
    int bits = block.prefix;
    bool match = true;
    for (int i = 0; bits > 0 && match; ++i, bits -= 8) {
      const unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
      match = (bytes[static_cast<size_t>(i)] & mask) == (block.bytes[static_cast<size_t>(i)] & mask);
    }
    if (match) return true;
  }
  return false;
}
namespace {

std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[400];  // fixed notation of any double fits
  // The shortest fixed form that reads back exactly: "0.0005", as Prometheus clients print bounds.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void Header(std::string* out, const std::string& name, const std::string& type, const std::string& help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string RouteTemplate(const std::string& path) {
  const std::vector<std::string> parts = model::SplitNonEmpty(path, '/');
  if (parts.size() == 1 && (parts[0] == "health" || parts[0] == "ready" || parts[0] == "metrics")) return "/" + parts[0];
  if (parts.empty() || parts[0] != "api" || parts.size() < 2) return "other";
  const std::string& resource = parts[1];
  if (parts.size() == 2 && resource == "openapi.json") return "/api/openapi.json";
  if (parts.size() == 3 && resource == "auth" && parts[2] == "config") return "/api/auth/config";
  if (parts.size() == 2 && (resource == "me" || resource == "members" || resource == "reports" || resource == "query" ||
                            resource == "snapshots" || resource == "generate" || resource == "audit" || resource == "ask" ||
                            resource == "anonymised")) {
    return "/api/" + resource;
  }
  if (parts.size() == 3 && (resource == "members" || resource == "jobs")) return "/api/" + resource + "/{id}";
  if (parts.size() == 3 && resource == "health" && parts[2] == "data") return "/api/health/data";
  if (parts.size() == 4 && resource == "members" && (parts[3] == "erase" || parts[3] == "export")) {
    return "/api/members/{id}/" + parts[3];
  }
  if (parts.size() == 3 && resource == "reports") return "/api/reports/{name}";
  if (parts.size() >= 5 && resource == "snapshots" && parts[3] == "files") return "/api/snapshots/{id}/files/{path}";
  return "other";
}

void Metrics::Histogram::Add(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++buckets[i];
      break;
    }
  }
  ++count;  // a value above the last bound counts only in +Inf (= count)
  sum += seconds;
}

void Metrics::RecordRequest(const std::string& route, const std::string& method, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, method, status}];
  latency_[{route, method}].Add(seconds);
}

void Metrics::RecordGeneration(bool succeeded, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(succeeded ? generations_succeeded_ : generations_failed_);
  generation_seconds_.Add(seconds);
}

void Metrics::RecordAuditFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++audit_failures_;
}

void Metrics::RecordDataCheck(const std::string& check, bool passed, int64_t rows_checked, int64_t mismatches,
                              double unix_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  DataCheck& c = data_checks_[check];
  c.passed = passed;
  c.rows_checked = rows_checked;
  c.mismatches = mismatches;
  c.last_run = unix_seconds;
  ++c.runs;
  if (!passed) ++c.failures;
}

std::string Metrics::Render(const std::vector<Sample>& sampled, bool sizes) const {
  std::string out;
  auto histogram = [&](const std::string& name, const std::string& labels, const Histogram& h) {
    const std::string sep = labels.empty() ? "" : ",";
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out += name + "_bucket{" + labels + sep + "le=\"" + Number(kBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " + Number(h.sum) + "\n";
    out += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
  };
  std::lock_guard<std::mutex> lock(mutex_);
  Header(&out, "memberlake_http_requests_total", "counter", "Requests answered, by route template, method and status.");
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out += "memberlake_http_requests_total{route=\"" + route + "\",method=\"" + method + "\",status=\"" +
           std::to_string(status) + "\"} " + std::to_string(count) + "\n";
  }
  Header(&out, "memberlake_http_request_duration_seconds", "histogram",
         "Time from a parsed request to its response, by route template and method.");
  for (const auto& [key, h] : latency_) {
    histogram("memberlake_http_request_duration_seconds", "route=\"" + key.first + "\",method=\"" + key.second + "\"", h);
  }
  Header(&out, "memberlake_generations_total", "counter", "Generation jobs finished, by outcome.");
  out += "memberlake_generations_total{outcome=\"succeeded\"} " + std::to_string(generations_succeeded_) + "\n";
  out += "memberlake_generations_total{outcome=\"failed\"} " + std::to_string(generations_failed_) + "\n";
  Header(&out, "memberlake_generation_duration_seconds", "histogram", "Wall time of generation jobs.");
  histogram("memberlake_generation_duration_seconds", "", generation_seconds_);
  Header(&out, "memberlake_audit_append_failures_total", "counter", "Audit events that could not be written.");
  out += "memberlake_audit_append_failures_total " + std::to_string(audit_failures_) + "\n";
  if (!data_checks_.empty()) {
    // Series per check: a failure shows as passed 0 (and a growing failures counter) until
    // a later run passes.
    auto series = [&](const std::string& name, const std::string& type, const std::string& help, auto value) {
      Header(&out, name, type, help);
      for (const auto& [check, c] : data_checks_) out += name + "{check=\"" + check + "\"} " + Number(value(c)) + "\n";
    };
    series("memberlake_data_check_passed", "gauge", "1 when the last deep data check passed this check, else 0.",
           [](const DataCheck& c) { return c.passed ? 1.0 : 0.0; });
    series("memberlake_data_check_last_run_timestamp_seconds", "gauge", "When the check last ran (unix seconds).",
           [](const DataCheck& c) { return c.last_run; });
    if (sizes) {
      series("memberlake_data_check_rows_checked", "gauge", "Rows (or schemas) the last run checked.",
             [](const DataCheck& c) { return static_cast<double>(c.rows_checked); });
    }
    series("memberlake_data_check_mismatches", "gauge", "Mismatches the last run found.",
           [](const DataCheck& c) { return static_cast<double>(c.mismatches); });
    series("memberlake_data_check_runs_total", "counter", "Runs of the check.",
           [](const DataCheck& c) { return static_cast<double>(c.runs); });
    series("memberlake_data_check_failures_total", "counter", "Runs in which the check failed.",
           [](const DataCheck& c) { return static_cast<double>(c.failures); });
  }
  for (const Sample& sample : sampled) {
    Header(&out, sample.name, sample.type, sample.help);
    out += sample.name + " " + Number(sample.value) + "\n";
  }
  return out;
}

}  // namespace memberlake::server
