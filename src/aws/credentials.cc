#include "aws/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "model/calendar.h"
#include "model/json_members.h"
#include "model/text.h"

namespace memberlake::aws {
namespace {

using Json = nlohmann::json;
using Clock = AwsCredentialProvider::Clock;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One small HTTP exchange with a local credentials endpoint (link-local or loopback).
arrow::Result<std::string> Fetch(const std::string& method, const std::string& url,
                                 const std::vector<std::string>& headers) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return arrow::Status::IOError("cannot start libcurl");
  std::string body;
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);  // off EC2 the address does not answer
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return arrow::Status::IOError(url, ": ", curl_easy_strerror(code));
  if (status != 200) return arrow::Status::IOError(url, ": HTTP ", status);
  return body;
}

// "2026-11-25T10:00:00Z" (the credential endpoints' Expiration).
std::optional<Clock::time_point> ParseExpiration(const std::string& text) {
  if (text.size() < 19 || text[10] != 'T') return std::nullopt;
  auto date = model::ParseIsoDate(text.substr(0, 10));
  if (!date.ok()) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (std::sscanf(text.c_str() + 11, "%2d:%2d:%2d", &hour, &minute, &second) != 3) return std::nullopt;
  return Clock::time_point(std::chrono::seconds(int64_t{model::DaysFromCivil(*date)} * 86400 + hour * 3600 +
                                                minute * 60 + second));
}

arrow::Result<AwsCredentials> FromJson(const std::string& body, const std::string& source) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("AccessKeyId") || !doc.contains("SecretAccessKey")) {
    return arrow::Status::IOError(source, ": no credentials in the answer");
  }
  AwsCredentials credentials;
  // Read without exceptions: a wrong-typed value is a missing one.
  credentials.access_key_id = model::JsonString(doc, "AccessKeyId");
  credentials.secret_access_key = model::JsonString(doc, "SecretAccessKey");
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return arrow::Status::IOError(source, ": no credentials in the answer");
  }
  credentials.session_token = model::JsonString(doc, "Token");
  credentials.expiration = ParseExpiration(model::JsonString(doc, "Expiration"));
  return credentials;
}

std::optional<AwsCredentials> FromEnvironment() {
  AwsCredentials credentials;
  credentials.access_key_id = Env("AWS_ACCESS_KEY_ID");
  credentials.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  credentials.session_token = Env("AWS_SESSION_TOKEN");
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) return std::nullopt;
  return credentials;
}

std::optional<AwsCredentials> FromProfile(const std::string& file, const std::string& profile) {
  std::ifstream in(file);
  std::string line, section;
  AwsCredentials credentials;
  while (std::getline(in, line)) {
    std::string_view text = model::Trim(line);
    if (text.empty() || text[0] == '#' || text[0] == ';') continue;
    if (text.front() == '[' && text.back() == ']') {
      section = std::string(model::Trim(text.substr(1, text.size() - 2)));
      continue;
    }
    auto eq = text.find('=');
    if (section != profile || eq == std::string_view::npos) continue;
    std::string key = model::AsciiLower(std::string(model::Trim(text.substr(0, eq))));
    std::string value(model::Trim(text.substr(eq + 1)));
    if (key == "aws_access_key_id") credentials.access_key_id = value;
    if (key == "aws_secret_access_key") credentials.secret_access_key = value;
    if (key == "aws_session_token") credentials.session_token = value;
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) return std::nullopt;
  return credentials;
}

// ECS task role / EKS Pod Identity.
arrow::Result<AwsCredentials> FromContainer(const std::string& url) {
  std::vector<std::string> headers;
  std::string token = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (std::string file = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    token = std::string(model::Trim(text.str()));
  }
  if (!token.empty()) headers.push_back("Authorization: " + token);
  ARROW_ASSIGN_OR_RAISE(std::string body, Fetch("GET", url, headers));
  return FromJson(body, "container credentials " + url);
}

// EC2 instance role through IMDSv2: a session token, the role's name, then its credentials.
arrow::Result<AwsCredentials> FromInstance(const std::string& endpoint) {
  ARROW_ASSIGN_OR_RAISE(std::string token, Fetch("PUT", endpoint + "/latest/api/token",
                                                 {"X-aws-ec2-metadata-token-ttl-seconds: 21600"}));
  const std::string auth = "X-aws-ec2-metadata-token: " + std::string(model::Trim(token));
  const std::string base = endpoint + "/latest/meta-data/iam/security-credentials/";
  ARROW_ASSIGN_OR_RAISE(std::string roles, Fetch("GET", base, {auth}));
  std::string role(model::Trim(roles.substr(0, roles.find('\n'))));
  if (role.empty()) return arrow::Status::IOError("instance metadata: no IAM role attached");
  ARROW_ASSIGN_OR_RAISE(std::string body, Fetch("GET", base + role, {auth}));
  return FromJson(body, "instance metadata role " + role);
}

}  // namespace

AwsCredentialProvider::AwsCredentialProvider(std::string source, Fetch fetch, AwsCredentials first,
                                             std::function<Clock::time_point()> now)
    : source_(std::move(source)), fetch_(std::move(fetch)), now_(std::move(now)), credentials_(std::move(first)) {}

arrow::Result<AwsCredentials> AwsCredentialProvider::Current() {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = now_();
  if (!credentials_.expiration || !fetch_ || now + std::chrono::minutes(5) < *credentials_.expiration) {
    return credentials_;
  }
  auto fresh = fetch_();
  if (fresh.ok()) {
    credentials_ = std::move(*fresh);
    return credentials_;
  }
  if (now < *credentials_.expiration) return credentials_;  // still valid: try again next time
  return arrow::Status::IOError("AWS credentials from ", source_, " expired and could not be refreshed: ",
                                fresh.status().message());
}

arrow::Result<std::shared_ptr<AwsCredentialProvider>> AwsCredentialProvider::FromChain() {
  if (auto found = FromEnvironment()) {
    return std::make_shared<AwsCredentialProvider>("environment", nullptr, std::move(*found));
  }
  std::string file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) file = Env("HOME") + "/.aws/credentials";
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  if (auto found = FromProfile(file, profile)) {
    return std::make_shared<AwsCredentialProvider>("profile " + profile, nullptr, std::move(*found));
  }
  std::string looked = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), profile '" + profile + "' in " + file;
  std::string container = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (container.empty() && !Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty()) {
    container = "http://169.254.170.2" + Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  }
  if (!container.empty()) {
    Fetch fetch = [container] { return FromContainer(container); };
    auto first = fetch();
    if (first.ok()) return std::make_shared<AwsCredentialProvider>("container credentials", fetch, std::move(*first));
    looked += ", container credentials (" + first.status().message() + ")";
  }
  if (model::AsciiLower(Env("AWS_EC2_METADATA_DISABLED")) != "true") {
    std::string endpoint = Env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint.empty()) endpoint = "http://169.254.169.254";
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    Fetch fetch = [endpoint] { return FromInstance(endpoint); };
    auto first = fetch();
    if (first.ok()) return std::make_shared<AwsCredentialProvider>("instance metadata", fetch, std::move(*first));
    looked += ", instance metadata (" + first.status().message() + ")";
  }
  return arrow::Status::Invalid("no AWS credentials: looked in ", looked);
}

}  // namespace memberlake::aws
