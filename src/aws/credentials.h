// The AWS credential chain of memberlake's own AWS client (DynamoDB), in the SDKs' order:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, AWS_PROFILE;
//   3. container credentials (ECS tasks, EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_FULL_URI
//      or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE);
//   4. EC2 instance metadata (IMDSv2: a session token first), unless
//      AWS_EC2_METADATA_DISABLED=true; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address.
// Temporary credentials (3, 4) are fetched again five minutes before they expire, so a server
// running for days keeps working. (The S3 lake uses the AWS SDK's own chain, the same order.)
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <arrow/result.h>

#include "aws/sigv4.h"

namespace memberlake::aws {

class AwsCredentialProvider {
 public:
  using Clock = std::chrono::system_clock;
  using Fetch = std::function<arrow::Result<AwsCredentials>()>;

  // The first source of the chain that has credentials; Invalid naming every place looked at.
  static arrow::Result<std::shared_ptr<AwsCredentialProvider>> FromChain();
  // A provider over one source (tests; `now` stands in for the clock).
  AwsCredentialProvider(std::string source, Fetch fetch, AwsCredentials first,
                        std::function<Clock::time_point()> now = Clock::now);

  // Credentials good for at least five more minutes: temporary ones are fetched again when
  // they get closer to expiring (a failed refresh keeps the old ones while they still hold).
  // Thread-safe.
  arrow::Result<AwsCredentials> Current();
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  Fetch fetch_;
  std::function<Clock::time_point()> now_;
  std::mutex mutex_;
  AwsCredentials credentials_;
};

}  // namespace memberlake::aws
