// CollectBody: how a transport that needs the whole body (the Lambda answer) reads a streamed one.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/api_service.h"

namespace memberlake::server {
namespace {

TEST(CollectBody, JoinsThePiecesInOrderAndConsumesTheProducer) {
  ApiResponse response;
  int runs = 0;
  response.producer = [&runs](const BodyWriter& write) {
    ++runs;
    for (std::string piece : {"ab", "", "cde", "f"}) ARROW_RETURN_NOT_OK(write(piece));
    return arrow::Status::OK();
  };
  auto body = CollectBody(response);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "abcdef");
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(response.producer);
}

TEST(CollectBody, WithoutAProducerIsTheBody) {
  ApiResponse response;
  response.body = "{\"ok\": true}";
  auto body = CollectBody(response);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, response.body);
}

TEST(CollectBody, AProducerErrorIsTheResult) {
  ApiResponse response;
  response.producer = [](const BodyWriter& write) {
    ARROW_RETURN_NOT_OK(write("partial"));
    return arrow::Status::IOError("lake file vanished");
  };
  auto body = CollectBody(response);
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.status().message().find("lake file vanished"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::server
