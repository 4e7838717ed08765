// AWS Signature Version 4, for memberlake's own AWS clients: DynamoDB's JSON API (store/) and
// S3's conditional writes (lake/). Where credentials come from: aws/credentials.h.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

namespace memberlake::aws {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  std::optional<std::chrono::system_clock::time_point> expiration;  // temporary credentials
};

struct SigV4Request {
  std::string method = "POST";
  std::string host;        // as sent in the Host header (with :port when not the default)
  std::string path = "/";
  std::string query;       // canonical query string (already sorted and encoded), usually empty
  std::vector<std::pair<std::string, std::string>> headers;  // besides host and x-amz-date
  std::string payload;
};

// The headers to add to the request: x-amz-date, x-amz-security-token (with a session token)
// and Authorization. `amz_date` is "YYYYMMDDTHHMMSSZ" (explicit for tests; AmzDateNow()).
std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                                                        const std::string& region, const std::string& service,
                                                        const std::string& amz_date);
std::string AmzDateNow();

}  // namespace memberlake::aws
