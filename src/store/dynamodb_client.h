// DynamoDB's HTTP JSON API (x-amz-json-1.0, SigV4) over libcurl, with retries: throttling
// (including DynamoDB Streams' LimitExceededException), 5xx answers and transport errors are
// retried with exponential backoff and full jitter. Answers are parsed without exceptions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "aws/credentials.h"
#include "aws/sigv4.h"

namespace memberlake::store {

struct DynamoDbOptions {
  std::string endpoint;        // e.g. http://127.0.0.1:8000; empty: https://dynamodb.<region>.amazonaws.com
  std::string region = "eu-west-1";
  int max_attempts = 8;        // per call, the first included
  int base_backoff_ms = 20;    // doubled per attempt, capped, then a uniform random share (full jitter)
  int max_backoff_ms = 2000;
  int timeout_seconds = 30;
  // DynamoDB Streams instead of DynamoDB: target prefix DynamoDBStreams_20120810 and, without an
  // endpoint, https://streams.dynamodb.<region>.amazonaws.com (SigV4 service name "dynamodb" for both;
  // DynamoDB Local serves streams on its one endpoint).
  bool streams = false;
};

// One connection's worth of client; not thread-safe (make one per thread, they are cheap).
class DynamoDbClient {
 public:
  // Invalid without credentials (aws::AwsCredentialProvider::FromChain) or with a bad endpoint.
  static arrow::Result<std::unique_ptr<DynamoDbClient>> Make(const DynamoDbOptions& options);
  ~DynamoDbClient();

  // Calls `operation` (e.g. "GetItem") and returns the answer. Service errors map to:
  // ConditionalCheckFailedException -> AlreadyExists; ResourceNotFoundException -> KeyError;
  // ValidationException, SerializationException -> Invalid; access and signature errors,
  // anything still failing after the retries -> IOError; each message names the error type.
  arrow::Result<nlohmann::json> Call(const std::string& operation, const nlohmann::json& request);

  // TransactWriteItems with `items` (all or nothing). A cancelled transaction is
  // Status::AlreadyExists, with one reason code per item in `reasons` ("None",
  // "ConditionalCheckFailed", "TransactionConflict", ...) so callers can tell which
  // condition failed.
  arrow::Status TransactWrite(const nlohmann::json& items, std::vector<std::string>* reasons);

  // The service's error type of the last failed call ("TrimmedDataAccessException", ...), or "".
  const std::string& last_error_type() const { return last_error_type_; }

  int64_t requests() const { return requests_; }
  int64_t retries() const { return retries_; }
  const DynamoDbOptions& options() const { return options_; }

  struct Transport;

 private:
  DynamoDbClient(DynamoDbOptions options, std::shared_ptr<aws::AwsCredentialProvider> credentials, std::string host,
                 std::unique_ptr<Transport> transport);
  DynamoDbOptions options_;
  std::shared_ptr<aws::AwsCredentialProvider> credentials_;
  std::string host_;
  std::unique_ptr<Transport> transport_;
  int64_t requests_ = 0, retries_ = 0;
  nlohmann::json last_error_answer_;  // the body of the last failed call
  std::string last_error_type_;
};

}  // namespace memberlake::store
