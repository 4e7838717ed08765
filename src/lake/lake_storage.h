// Where a lake lives: a root folder on an Arrow FileSystem, local disk or S3 (Arrow's S3
// filesystem: large files go up as multipart uploads). Paths given to LakeStorage are
// relative to the root, '/'-separated.
//
// The publish protocol relies on two guarantees of this class:
//  - files are written under names that are never reused (callers choose unique names), so a
//    half-written data file is never visible through a manifest;
//  - PutAtomic replaces a small object all at once: on local disk by writing a temporary file
//    and renaming it, on object stores by a single PUT.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
#include <arrow/result.h>

namespace memberlake::lake {

class S3ObjectClient;

class LakeStorage {
 public:
  ~LakeStorage();
  // `location` is a local path, a file:// URI or s3://bucket/prefix with Arrow's query options
  // (region=, endpoint_override=host:port, scheme=http|https). S3 credentials come from the
  // standard AWS chain: environment, profile, instance role. With `create`, the root folder
  // is made if missing (never the bucket) and checked to be writable (Status::IOError naming
  // the location otherwise).
  static arrow::Result<std::shared_ptr<LakeStorage>> Open(const std::string& location, bool create);

  const std::shared_ptr<arrow::fs::FileSystem>& filesystem() const { return fs_; }
  // The FileSystem path of a lake-relative path.
  std::string FullPath(std::string_view relative) const;
  const std::string& location() const { return location_; }

  // A fresh stream for a new file (parent folders are created).
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenForWrite(std::string_view relative);
  arrow::Status PutAtomic(std::string_view relative, std::string_view bytes);
  // Compare-and-swap of a small object: writes `bytes` only if the object still holds
  // `expected` (nullopt: only if there is none), as one step against every other process that
  // uses this method: under an exclusive lock file (.locks/<relative>, flock; a local file
  // system only), by a conditional PUT on S3 (If-Match with the ETag of the value read,
  // If-None-Match: * for a new object). Returns false, having written nothing, when the object
  // holds something else.
  arrow::Result<bool> ReplaceIf(std::string_view relative, const std::optional<std::string>& expected,
                                std::string_view bytes);
  // Creates a small object only if nothing has that name yet, all at once: true when this call
  // created it, false (having written nothing) when the name was taken. Local disk: a complete
  // temporary file hard-linked to the name; S3: a PUT with If-None-Match: *.
  arrow::Result<bool> CreateIfAbsent(std::string_view relative, std::string_view bytes);
  arrow::Result<std::string> ReadAll(std::string_view relative) const;
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenForRead(std::string_view relative) const;
  arrow::Result<bool> Exists(std::string_view relative) const;
  // File names (not paths) directly inside a folder; empty when the folder is missing.
  arrow::Result<std::vector<std::string>> List(std::string_view relative_dir) const;

  struct StoredEntry {
    std::string path;  // lake-relative
    bool is_dir = false;
    int64_t bytes = 0;
    std::chrono::system_clock::time_point modified;
  };
  // Every file and folder below a folder, recursively, sorted by path; empty when it is missing.
  arrow::Result<std::vector<StoredEntry>> ListTree(std::string_view relative_dir) const;
  arrow::Status DeleteFile(std::string_view relative);
  // Removes a file for good (privacy erasure): on S3 every stored version of it, so a versioned
  // bucket keeps no copy (ListObjectVersions, then DeleteObject per versionId; the plain delete
  // when the server has no versioning API). A missing file is not an error. Returns how many
  // versions went (local disk: 1, or 0 when there was no file); `versioning_api` (optional) says
  // whether the server answered ListObjectVersions.
  arrow::Result<int64_t> DeleteAllVersions(std::string_view relative, bool* versioning_api = nullptr);
  // Removes a folder only when it holds nothing (object stores: a no-op without a marker).
  arrow::Status DeleteDirIfEmpty(std::string_view relative);

 private:
  LakeStorage(std::shared_ptr<arrow::fs::FileSystem> fs, std::string root, std::string location);
  arrow::Result<S3ObjectClient*> ConditionalWriter();  // s3_ (conditional writes, versions), made on first use
  std::shared_ptr<arrow::fs::FileSystem> fs_;
  std::string root_;
  std::string location_;
  std::mutex s3_mutex_;
  std::unique_ptr<S3ObjectClient> s3_;  // conditional writes on S3, made on first use
};

// Releases process-wide storage state (the AWS SDK behind S3 lakes). Call once at the end of
// main, after every LakeStorage is gone: the SDK must not outlive it into static destruction.
void ShutdownLakeStorage();

}  // namespace memberlake::lake
