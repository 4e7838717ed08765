#include "store/dynamodb_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "store/dynamodb_items.h"

namespace memberlake::store {
namespace {

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

bool Retryable(long http_status, const std::string& type) {
  if (http_status >= 500) return true;
  static const char* kThrottles[] = {"ProvisionedThroughputExceededException", "ThrottlingException",
                                     "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                                     "LimitExceededException"};
  return std::any_of(std::begin(kThrottles), std::end(kThrottles), [&](const char* t) { return type == t; });
}

}  // namespace

struct DynamoDbClient::Transport {
  CURL* curl = nullptr;
  std::mt19937_64 rng{std::random_device{}()};
  ~Transport() {
    if (curl) curl_easy_cleanup(curl);
  }
};

DynamoDbClient::DynamoDbClient(DynamoDbOptions options, std::shared_ptr<aws::AwsCredentialProvider> credentials, std::string host,
                               std::unique_ptr<Transport> transport)
    : options_(std::move(options)), credentials_(std::move(credentials)), host_(std::move(host)),
      transport_(std::move(transport)) {}
DynamoDbClient::~DynamoDbClient() = default;

arrow::Result<std::unique_ptr<DynamoDbClient>> DynamoDbClient::Make(const DynamoDbOptions& given) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  DynamoDbOptions options = given;
  if (options.region.empty()) return arrow::Status::Invalid("DynamoDB needs a region");
  if (options.endpoint.empty()) {
    options.endpoint = std::string(options.streams ? "https://streams.dynamodb." : "https://dynamodb.") + options.region +
                       ".amazonaws.com";
  }
  auto scheme = options.endpoint.find("://");
  if (scheme == std::string::npos) return arrow::Status::Invalid("DynamoDB endpoint '", options.endpoint, "' needs http:// or https://");
  std::string host = options.endpoint.substr(scheme + 3);
  host = host.substr(0, host.find('/'));
  if (host.empty()) return arrow::Status::Invalid("DynamoDB endpoint '", options.endpoint, "' has no host");
  ARROW_ASSIGN_OR_RAISE(auto credentials, aws::AwsCredentialProvider::FromChain());
  auto transport = std::make_unique<Transport>();
  transport->curl = curl_easy_init();
  if (transport->curl == nullptr) return arrow::Status::IOError("cannot start libcurl");
  return std::unique_ptr<DynamoDbClient>(new DynamoDbClient(options, credentials, host, std::move(transport)));
}

arrow::Result<nlohmann::json> DynamoDbClient::Call(const std::string& operation, const nlohmann::json& request) {
  // Replacing invalid UTF-8 (a member's text may hold any bytes) rather than throwing.
  const std::string payload = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string last_error;
  last_error_type_.clear();
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      ++retries_;
      int64_t cap = std::min<int64_t>(options_.max_backoff_ms, int64_t{options_.base_backoff_ms} << std::min(attempt - 2, 20));
      std::uniform_int_distribution<int64_t> jitter(0, cap);
      std::this_thread::sleep_for(std::chrono::milliseconds(jitter(transport_->rng)));
    }
    aws::SigV4Request signing;
    signing.host = host_;
    signing.headers = {{"content-type", "application/x-amz-json-1.0"},
                       {"x-amz-target", (options_.streams ? "DynamoDBStreams_20120810." : "DynamoDB_20120810.") + operation}};
    signing.payload = payload;
    ARROW_ASSIGN_OR_RAISE(aws::AwsCredentials credentials, credentials_->Current());
    auto signed_headers = aws::SignV4(signing, credentials, options_.region, "dynamodb", aws::AmzDateNow());
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : signing.headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
    for (const auto& [name, value] : signed_headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
    headers = curl_slist_append(headers, "Expect:");
    std::string body;
    CURL* curl = transport_->curl;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, (options_.endpoint + "/").c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(options_.timeout_seconds));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    ++requests_;
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      last_error = std::string("transport error: ") + curl_easy_strerror(code);
      continue;
    }
    nlohmann::json answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (status == 200) {
      // Every DynamoDB answer is a JSON object; anything else is no answer at all.
      if (!answer.is_object()) return arrow::Status::IOError("DynamoDB ", operation, ": unreadable answer");
      return answer;
    }
    std::string type, message;
    if (answer.is_object()) {
      type = JsonString(answer, "__type");
      type = type.substr(type.find('#') == std::string::npos ? 0 : type.find('#') + 1);
      message = JsonString(answer, "message", JsonString(answer, "Message"));
    }
    last_error = (type.empty() ? "HTTP " + std::to_string(status) : type) + (message.empty() ? "" : ": " + message);
    last_error_answer_ = answer.is_object() ? answer : nlohmann::json::object();
    last_error_type_ = type;
    if (Retryable(status, type)) continue;
    if (type == "TransactionCanceledException") return arrow::Status::AlreadyExists("DynamoDB ", operation, ": ", last_error);
    if (type == "ConditionalCheckFailedException") return arrow::Status::AlreadyExists("DynamoDB ", operation, ": ", last_error);
    if (type == "ResourceNotFoundException") return arrow::Status::KeyError("DynamoDB ", operation, ": ", last_error);
    if (type == "ValidationException" || type == "SerializationException") {
      return arrow::Status::Invalid("DynamoDB ", operation, ": ", last_error);
    }
    return arrow::Status::IOError("DynamoDB ", operation, ": ", last_error);
  }
  return arrow::Status::IOError("DynamoDB ", operation, ": gave up after ", options_.max_attempts, " attempts: ", last_error);
}

arrow::Status DynamoDbClient::TransactWrite(const nlohmann::json& items, std::vector<std::string>* reasons) {
  last_error_answer_ = nlohmann::json::object();
  auto answer = Call("TransactWriteItems", {{"TransactItems", items}});
  if (answer.ok() || !answer.status().IsAlreadyExists() || reasons == nullptr) return answer.status();
  reasons->clear();
  const nlohmann::json* listed = JsonMember(last_error_answer_, "CancellationReasons");
  if (listed && listed->is_array()) {
    for (const auto& reason : *listed) reasons->push_back(JsonString(reason, "Code", "None"));
  }
  if (reasons->empty()) {
    // Some implementations list the codes only in the message: "... reasons [None, ConditionalCheckFailed]".
    const std::string message = answer.status().message();
    const size_t open = message.rfind('['), close = message.rfind(']');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      std::string codes = message.substr(open + 1, close - open - 1);
      size_t start = 0;
      while (start <= codes.size()) {
        size_t comma = codes.find(',', start);
        if (comma == std::string::npos) comma = codes.size();
        std::string code = codes.substr(start, comma - start);
        code.erase(0, code.find_first_not_of(' '));
        code.erase(code.find_last_not_of(' ') + 1);
        reasons->push_back(code);
        start = comma + 1;
      }
    }
  }
  return answer.status();
}

}  // namespace memberlake::store
