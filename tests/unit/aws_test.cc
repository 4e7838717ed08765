#include "aws/sigv4.h"

#include <gtest/gtest.h>

namespace memberlake::aws {
namespace {

const AwsCredentials kExample{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt};

std::string Authorization(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (name == "Authorization") return value;
  }
  return "";
}

// AWS's Signature Version 4 test suite, "get-vanilla".
TEST(SigV4Test, MatchesTheAwsTestSuite) {
  SigV4Request request;
  request.method = "GET";
  request.host = "example.amazonaws.com";
  auto headers = SignV4(request, kExample, "us-east-1", "service", "20150830T123600Z");
  EXPECT_EQ(Authorization(headers),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, SignsEveryHeaderPayloadAndToken) {
  SigV4Request request;
  request.host = "dynamodb.eu-west-1.amazonaws.com";
  request.headers = {{"X-Amz-Target", "DynamoDB_20120810.GetItem"}, {"Content-Type", "application/x-amz-json-1.0"}};
  request.payload = R"({"TableName":"Members"})";
  auto signed_once = Authorization(SignV4(request, kExample, "eu-west-1", "dynamodb", "20261125T100000Z"));
  EXPECT_NE(signed_once.find("SignedHeaders=content-type;host;x-amz-date;x-amz-target,"), std::string::npos);
  request.payload = R"({"TableName":"Other"})";
  EXPECT_NE(Authorization(SignV4(request, kExample, "eu-west-1", "dynamodb", "20261125T100000Z")), signed_once);
  AwsCredentials with_token = kExample;
  with_token.session_token = "token";
  auto headers = SignV4(request, with_token, "eu-west-1", "dynamodb", "20261125T100000Z");
  EXPECT_NE(Authorization(headers).find("x-amz-security-token"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::aws

#include "aws/credentials.h"

namespace memberlake::aws {
namespace {

TEST(AwsCredentialProvider, RefreshesTemporaryCredentialsBeforeTheyExpire) {
  using Clock = AwsCredentialProvider::Clock;
  Clock::time_point now = Clock::time_point(std::chrono::hours(1000));
  int fetches = 0;
  bool endpoint_up = true;
  auto issue = [&](const std::string& id, std::chrono::minutes valid) {
    AwsCredentials c{id, "secret", "token", std::nullopt};
    c.expiration = now + valid;
    return c;
  };
  AwsCredentialProvider provider("test", [&]() -> arrow::Result<AwsCredentials> {
    ++fetches;
    if (!endpoint_up) return arrow::Status::IOError("endpoint down");
    return issue("KEY" + std::to_string(fetches), std::chrono::minutes(60));
  }, issue("KEY0", std::chrono::minutes(60)), [&] { return now; });

  EXPECT_EQ(provider.Current()->access_key_id, "KEY0");
  now += std::chrono::minutes(50);  // 10 minutes left: still fine
  EXPECT_EQ(provider.Current()->access_key_id, "KEY0");
  EXPECT_EQ(fetches, 0);
  now += std::chrono::minutes(6);  // 4 minutes left: fetched again
  EXPECT_EQ(provider.Current()->access_key_id, "KEY1");
  EXPECT_EQ(fetches, 1);
  // A failed refresh keeps credentials that still hold, and fails once they have expired.
  endpoint_up = false;
  now += std::chrono::minutes(57);
  EXPECT_EQ(provider.Current()->access_key_id, "KEY1");
  now += std::chrono::minutes(5);
  auto expired = provider.Current();
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
  endpoint_up = true;
  EXPECT_EQ(provider.Current()->access_key_id, "KEY4");
}

TEST(AwsCredentialProvider, LongTermKeysAreNeverFetchedAgain) {
  int fetches = 0;
  AwsCredentialProvider provider("static", [&]() -> arrow::Result<AwsCredentials> {
    ++fetches;
    return arrow::Status::IOError("no");
  }, AwsCredentials{"AKID", "secret", "", std::nullopt});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(provider.Current()->access_key_id, "AKID");
  EXPECT_EQ(fetches, 0);
}

}  // namespace
}  // namespace memberlake::aws
