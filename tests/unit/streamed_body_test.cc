// CollectBody: how a transport that needs the whole body (the Lambda answer) reads a streamed one.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "server/api_service.h"

namespace memberlake::server {
namespace {

// The given pieces, then the end or `error`.
class ListedPieces : public BodySource {
 public:
  ListedPieces(std::vector<std::string> pieces, arrow::Status error) : pieces_(std::move(pieces)), error_(std::move(error)) {}
  arrow::Result<std::optional<std::string>> Next() override {
    if (next_ < pieces_.size()) return pieces_[next_++];
    if (!error_.ok()) return error_;
    return std::nullopt;
  }

 private:
  std::vector<std::string> pieces_;
  arrow::Status error_;
  size_t next_ = 0;
};

BodyProducer Producing(std::vector<std::string> pieces, arrow::Status error, int* opened) {
  return [pieces, error, opened]() -> arrow::Result<std::unique_ptr<BodySource>> {
    ++*opened;
    return std::make_unique<ListedPieces>(pieces, error);
  };
}

TEST(CollectBody, JoinsThePiecesInOrderAndConsumesTheProducer) {
  ApiResponse response;
  int opened = 0;
  response.producer = Producing({"ab", "cde", "f"}, arrow::Status::OK(), &opened);
  auto body = CollectBody(response);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "abcdef");
  EXPECT_EQ(opened, 1);
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
  int opened = 0;
  response.producer = Producing({"partial"}, arrow::Status::IOError("lake file vanished"), &opened);
  auto body = CollectBody(response);
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.status().message().find("lake file vanished"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::server
