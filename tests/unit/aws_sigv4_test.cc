#include "store/aws_sigv4.h"

#include <gtest/gtest.h>

namespace memberlake::store {
namespace {

const AwsCredentials kExample{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

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
}  // namespace memberlake::store
