#include "lake/lake_storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include <arrow/filesystem/localfs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/buffer.h>
#include <arrow/io/api.h>
#include <arrow/util/uri.h>

#include "lake/s3_object_client.h"

namespace memberlake::lake {
namespace {

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string out(12, '0');
  uint64_t bits = rng();
  for (char& c : out) {
    c = kHex[bits & 15];
    bits >>= 4;
  }
  return out;
}

std::string ParentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Arrow's S3 filesystem, initialised on first use (ShutdownLakeStorage finalises it).
arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> OpenS3(const std::string& location, std::string* root) {
  ARROW_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
  ARROW_ASSIGN_OR_RAISE(auto options, arrow::fs::S3Options::FromUri(location, root));
  if (root->empty() || root->front() == '/') return arrow::Status::Invalid("expected s3://bucket[/prefix]");
  ARROW_ASSIGN_OR_RAISE(auto s3, arrow::fs::S3FileSystem::Make(options));
  return std::static_pointer_cast<arrow::fs::FileSystem>(s3);
}

}  // namespace

void ShutdownLakeStorage() { (void)arrow::fs::EnsureS3Finalized(); }

arrow::Result<std::shared_ptr<LakeStorage>> LakeStorage::Open(const std::string& location,
                                                              bool create) {
  if (location.empty()) return arrow::Status::Invalid("lake location is empty");
  auto scheme_end = location.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : location.substr(0, scheme_end);
  if (!scheme.empty() && scheme != "file" && scheme != "s3") {
    return arrow::Status::Invalid("unsupported lake location '", location,
                                  "': expected a path, a file:// URI or s3://bucket/prefix");
  }
  std::string root;
  arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> fs;
  if (scheme == "s3") {
    fs = OpenS3(location, &root);
  } else {
    // Arrow takes absolute paths only; a relative lake folder is relative to the working folder.
    std::string uri = scheme.empty() ? std::filesystem::absolute(location).lexically_normal().string() : location;
    fs = arrow::fs::FileSystemFromUriOrPath(uri, &root);
  }
  if (!fs.ok()) {
    return arrow::Status::Invalid("invalid lake location '", location, "': ", fs.status().message());
  }
  auto storage = std::shared_ptr<LakeStorage>(new LakeStorage(*fs, root, location));
  if (create) {
    auto made = (*fs)->CreateDir(root, /*recursive=*/true);
    if (!made.ok()) {
      return arrow::Status::IOError("cannot create lake folder '", location, "': ", made.message());
    }
    // Prove the folder is writable before any work starts, so a failure costs nothing.
    std::string probe = ".write-probe-" + RandomSuffix();
    auto out = (*fs)->OpenOutputStream(storage->FullPath(probe));
    if (!out.ok() || !(*out)->Close().ok()) {
      return arrow::Status::IOError("lake folder '", location, "' is not writable");
    }
    ARROW_RETURN_NOT_OK((*fs)->DeleteFile(storage->FullPath(probe)));
  } else {
    ARROW_ASSIGN_OR_RAISE(auto info, (*fs)->GetFileInfo(root));
    if (info.type() != arrow::fs::FileType::Directory) {
      return arrow::Status::IOError("no lake at '", location, "'");
    }
  }
  return storage;
}

LakeStorage::LakeStorage(std::shared_ptr<arrow::fs::FileSystem> fs, std::string root, std::string location)
    : fs_(std::move(fs)), root_(std::move(root)), location_(std::move(location)) {}
LakeStorage::~LakeStorage() = default;

std::string LakeStorage::FullPath(std::string_view relative) const {
  if (relative.empty()) return root_;
  return root_ + "/" + std::string(relative);
}

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> LakeStorage::OpenForWrite(
    std::string_view relative) {
  std::string path = FullPath(relative);
  ARROW_RETURN_NOT_OK(fs_->CreateDir(ParentOf(path), /*recursive=*/true));
  return fs_->OpenOutputStream(path);
}

arrow::Status LakeStorage::PutAtomic(std::string_view relative, std::string_view bytes) {
  std::string path = FullPath(relative);
  ARROW_RETURN_NOT_OK(fs_->CreateDir(ParentOf(path), /*recursive=*/true));
  const bool local = fs_->type_name() == "local";
  // Object stores publish a PUT all at once; a local file needs write-then-rename.
  std::string target = local ? path + ".tmp-" + RandomSuffix() : path;
  ARROW_ASSIGN_OR_RAISE(auto out, fs_->OpenOutputStream(target));
  ARROW_RETURN_NOT_OK(out->Write(bytes.data(), static_cast<int64_t>(bytes.size())));
  ARROW_RETURN_NOT_OK(out->Close());
  if (local) ARROW_RETURN_NOT_OK(fs_->Move(target, path));
  return arrow::Status::OK();
}

namespace {

// An exclusive flock(2) on a lock file, released when it goes out of scope.
class FileLock {
 public:
  static arrow::Result<FileLock> Take(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return arrow::Status::IOError("cannot open lock file ", path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd);
        return arrow::Status::IOError("cannot lock ", path);
      }
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

arrow::Result<bool> LakeStorage::ReplaceIf(std::string_view relative, const std::optional<std::string>& expected,
                                           std::string_view bytes) {
  if (fs_->type_name() == "s3") {
    ARROW_ASSIGN_OR_RAISE(S3ObjectClient * client, ConditionalWriter());
    ARROW_ASSIGN_OR_RAISE(auto current, client->Get(relative));
    if (current.has_value() != expected.has_value() || (current && current->body != *expected)) return false;
    return client->PutIf(relative, bytes, current ? std::optional<std::string>(current->etag) : std::nullopt);
  }
  if (fs_->type_name() != "local") {
    return arrow::Status::NotImplemented("compare-and-swap on a '", fs_->type_name(), "' lake");
  }
  // The lock lives outside the lake's data folders, where lifecycle never removes it (a lock
  // file deleted while held would let the next process lock a new file).
  const std::string lock_path = FullPath(".locks/" + std::string(relative));
  ARROW_RETURN_NOT_OK(fs_->CreateDir(ParentOf(lock_path), /*recursive=*/true));
  ARROW_ASSIGN_OR_RAISE(auto lock, FileLock::Take(lock_path));
  ARROW_ASSIGN_OR_RAISE(bool exists, Exists(relative));
  if (exists != expected.has_value()) return false;
  if (exists) {
    ARROW_ASSIGN_OR_RAISE(std::string current, ReadAll(relative));
    if (current != *expected) return false;
  }
  ARROW_RETURN_NOT_OK(PutAtomic(relative, bytes));
  return true;
}

arrow::Result<S3ObjectClient*> LakeStorage::ConditionalWriter() {
  std::lock_guard<std::mutex> lock(s3_mutex_);
  if (!s3_) {
    ARROW_ASSIGN_OR_RAISE(s3_, S3ObjectClient::Make(location_));
  }
  return s3_.get();
}

arrow::Result<bool> LakeStorage::CreateIfAbsent(std::string_view relative, std::string_view bytes) {
  if (fs_->type_name() == "s3") {
    ARROW_ASSIGN_OR_RAISE(S3ObjectClient * client, ConditionalWriter());
    return client->PutIf(relative, bytes, std::nullopt);  // If-None-Match: *
  }
  if (fs_->type_name() != "local") {
    return arrow::Status::NotImplemented("create-if-absent on a '", fs_->type_name(), "' lake");
  }
  // Write the whole content under a temporary name, then link(2) it to the final name: link
  // never replaces an existing file, so the object appears complete or not at all, and of two
  // writers exactly one wins, with no lock file left behind.
  const std::string path = FullPath(relative);
  ARROW_RETURN_NOT_OK(fs_->CreateDir(ParentOf(path), /*recursive=*/true));
  const std::string temp = path + ".tmp-" + RandomSuffix();
  {
    ARROW_ASSIGN_OR_RAISE(auto out, fs_->OpenOutputStream(temp));
    ARROW_RETURN_NOT_OK(out->Write(bytes.data(), static_cast<int64_t>(bytes.size())));
    ARROW_RETURN_NOT_OK(out->Close());
  }
  const int linked = ::link(temp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked == 0) return true;
  if (link_errno == EEXIST) return false;
  return arrow::Status::IOError("cannot create ", path, ": ", std::strerror(link_errno));
}

arrow::Result<std::string> LakeStorage::ReadAll(std::string_view relative) const {
  ARROW_ASSIGN_OR_RAISE(auto in, fs_->OpenInputStream(FullPath(relative)));
  std::string out;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, in->Read(1 << 20));
    if (chunk->size() == 0) break;
    out.append(reinterpret_cast<const char*>(chunk->data()), static_cast<size_t>(chunk->size()));
  }
  return out;
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> LakeStorage::OpenForRead(
    std::string_view relative) const {
  return fs_->OpenInputFile(FullPath(relative));
}

arrow::Result<bool> LakeStorage::Exists(std::string_view relative) const {
  ARROW_ASSIGN_OR_RAISE(auto info, fs_->GetFileInfo(FullPath(relative)));
  return info.type() != arrow::fs::FileType::NotFound;
}

arrow::Result<std::vector<std::string>> LakeStorage::List(std::string_view relative_dir) const {
  arrow::fs::FileSelector selector;
  selector.base_dir = FullPath(relative_dir);
  selector.allow_not_found = true;
  ARROW_ASSIGN_OR_RAISE(auto infos, fs_->GetFileInfo(selector));
  std::vector<std::string> names;
  for (const auto& info : infos) names.push_back(info.base_name());
  std::sort(names.begin(), names.end());
  return names;
}

arrow::Result<std::vector<LakeStorage::StoredEntry>> LakeStorage::ListTree(std::string_view relative_dir) const {
  arrow::fs::FileSelector selector;
  selector.base_dir = FullPath(relative_dir);
  selector.allow_not_found = true;
  selector.recursive = true;
  ARROW_ASSIGN_OR_RAISE(auto infos, fs_->GetFileInfo(selector));
  std::vector<StoredEntry> entries;
  const std::string prefix = root_.empty() ? "" : root_ + "/";
  for (const auto& info : infos) {
    if (info.path().compare(0, prefix.size(), prefix) != 0) continue;  // outside the root: never ours
    StoredEntry entry;
    entry.path = info.path().substr(prefix.size());
    entry.is_dir = info.IsDirectory();
    entry.bytes = info.IsFile() ? info.size() : 0;
    entry.modified = std::chrono::time_point_cast<std::chrono::system_clock::duration>(info.mtime());
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const StoredEntry& a, const StoredEntry& b) { return a.path < b.path; });
  return entries;
}

arrow::Status LakeStorage::DeleteFile(std::string_view relative) { return fs_->DeleteFile(FullPath(relative)); }

arrow::Result<int64_t> LakeStorage::DeleteAllVersions(std::string_view relative, bool* versioning_api) {
  if (versioning_api != nullptr) *versioning_api = false;
  if (fs_->type_name() == "s3") {
    ARROW_ASSIGN_OR_RAISE(S3ObjectClient * client, ConditionalWriter());
    auto versions = client->ListVersions(relative);
    if (versions.ok()) {
      if (versioning_api != nullptr) *versioning_api = true;
      for (const S3ObjectVersion& version : *versions) ARROW_RETURN_NOT_OK(client->Delete(relative, version.version_id));
      if (!versions->empty()) return static_cast<int64_t>(versions->size());
    } else if (!versions.status().IsNotImplemented()) {
      return versions.status();
    }
    ARROW_ASSIGN_OR_RAISE(bool exists, Exists(relative));
    if (!exists) return 0;
    ARROW_RETURN_NOT_OK(client->Delete(relative, ""));
    return 1;
  }
  ARROW_ASSIGN_OR_RAISE(bool exists, Exists(relative));
  if (!exists) return 0;
  ARROW_RETURN_NOT_OK(DeleteFile(relative));
  return 1;
}

arrow::Status LakeStorage::DeleteDirIfEmpty(std::string_view relative) {
  arrow::fs::FileSelector selector;
  selector.base_dir = FullPath(relative);
  selector.allow_not_found = true;
  ARROW_ASSIGN_OR_RAISE(auto inside, fs_->GetFileInfo(selector));
  if (!inside.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto info, fs_->GetFileInfo(FullPath(relative)));
  if (info.type() != arrow::fs::FileType::Directory) return arrow::Status::OK();
  return fs_->DeleteDir(FullPath(relative));
}

}  // namespace memberlake::lake
