// S3's conditional requests, which Arrow's S3 filesystem does not expose: read a small object
// with its ETag, and PUT it only if it still has that ETag (If-Match) or does not exist yet
// (If-None-Match: *). These make CURRENT a compare-and-swap register and let several writers
// append to one audit chain without a lock server. Spoken over libcurl with SigV4 (aws/sigv4.h),
// with the credentials of Arrow's S3 filesystem for the same lake (the AWS SDK's chain).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace memberlake::lake {

struct S3Object {
  std::string body;
  std::string etag;  // as S3 sends it, quotes included
};

class S3ObjectClient {
 public:
  // `location` is an s3:// lake location as LakeStorage::Open takes it (bucket, prefix and the
  // region=, endpoint_override=, scheme= options). Invalid without credentials.
  static arrow::Result<std::unique_ptr<S3ObjectClient>> Make(const std::string& location);
  ~S3ObjectClient();

  // The object at the lake-relative `key`; nullopt when there is none.
  arrow::Result<std::optional<S3Object>> Get(std::string_view key);

  // Writes `body` at `key` only if the object's ETag is still `if_match` (nullopt: only if
  // there is no object). Returns false, having written nothing, when the condition failed
  // (412, or 409 from a concurrent conditional write), true when written.
  arrow::Result<bool> PutIf(std::string_view key, std::string_view body, const std::optional<std::string>& if_match);

  struct Impl;

 private:
  explicit S3ObjectClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace memberlake::lake
