#include "aws/sigv4.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "crypto/sha256.h"
#include "model/text.h"

namespace memberlake::aws {

std::string AmzDateNow() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                                                        const std::string& region, const std::string& service,
                                                        const std::string& amz_date) {
  std::vector<std::pair<std::string, std::string>> added = {{"x-amz-date", amz_date}};
  if (!credentials.session_token.empty()) added.emplace_back("x-amz-security-token", credentials.session_token);
  // Canonical headers: lower-case names, trimmed values, sorted by name.
  std::vector<std::pair<std::string, std::string>> headers = {{"host", request.host}};
  for (const auto& [name, value] : request.headers) headers.emplace_back(model::AsciiLower(name), std::string(model::Trim(value)));
  headers.insert(headers.end(), added.begin(), added.end());
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  const std::string canonical_request = request.method + "\n" + request.path + "\n" + request.query + "\n" +
                                        canonical_headers + "\n" + signed_headers + "\n" +
                                        crypto::Sha256Hex(request.payload);
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  const std::string string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + crypto::Sha256Hex(canonical_request);
  std::string key = crypto::HmacSha256("AWS4" + credentials.secret_access_key, date);
  key = crypto::HmacSha256(key, region);
  key = crypto::HmacSha256(key, service);
  key = crypto::HmacSha256(key, "aws4_request");
  const std::string signature = crypto::HexLower(crypto::HmacSha256(key, string_to_sign));
  added.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                                          ", SignedHeaders=" + signed_headers + ", Signature=" + signature);
  return added;
}

}  // namespace memberlake::aws
