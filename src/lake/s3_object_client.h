// S3's conditional requests, which Arrow's S3 filesystem does not expose: read a small object
// with its ETag, and PUT it only if it still has that ETag (If-Match) or does not exist yet
// (If-None-Match: *); and list and delete every version of an object. These make CURRENT a
// compare-and-swap register, let several writers append to one audit chain without a lock
// server, and let an erasure remove the old copies a versioned bucket keeps. Spoken over
// libcurl with SigV4 (aws/sigv4.h), with the credentials of Arrow's S3 filesystem for the same lake (the AWS SDK's chain).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace memberlake::lake {

struct S3Object {
  std::string body;
  std::string etag;  // as S3 sends it, quotes included
};

struct S3ObjectVersion {
  std::string version_id;
  bool delete_marker = false;
};

// One page of a ListObjectVersions answer, keeping the versions of `full_key` (bucket-relative)
// alone; next_key_marker is empty when no further page can hold more of them.
struct S3VersionPage {
  std::vector<S3ObjectVersion> versions;
  std::string next_key_marker, next_version_marker;
};
S3VersionPage ParseListVersions(std::string_view xml, std::string_view full_key);

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

  // Every stored version of the object at `key` (delete markers included), newest first, from
  // ListObjectVersions (on an unversioned bucket: the one object, version id "null"). Status
  // NotImplemented when the server has no versioning API.
  arrow::Result<std::vector<S3ObjectVersion>> ListVersions(std::string_view key);
  // DeleteObject: with a `version_id`, that version is removed for good (a versioned bucket keeps
  // no copy); without, the current object (a versioned bucket then only adds a delete marker).
  // Deleting what is not there is not an error.
  arrow::Status Delete(std::string_view key, const std::string& version_id);

  struct Impl;

 private:
  explicit S3ObjectClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace memberlake::lake
