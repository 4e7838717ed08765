// The transport-free half of the HTTP edge (server/http_server.h): turning a request target into
// the path and decoded query parameters ApiService expects, the JSON body of errors the edge
// answers itself, and the access log (one JSON line per request).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace memberlake::server {

// %XX escapes decoded; a malformed escape is kept as written (lenient, like most servers).
// `plus_as_space` for query strings (application/x-www-form-urlencoded), not for paths.
std::string PercentDecode(std::string_view text, bool plus_as_space);

struct RequestTarget {
  std::string path;                                // decoded, without the query string
  std::multimap<std::string, std::string> params;  // decoded; repeated names kept in order
};

// "/api/members?region=Noord%20Holland&select=a&select=b" -> path and params. A name without
// '=' gets an empty value; empty pieces ("a=1&&b=2") are skipped.
RequestTarget SplitTarget(std::string_view target);

// {"error": {"status": N, "message": "..."}}, the shape ApiService uses for its own errors.
std::string ErrorBody(int status, std::string_view message);

struct AccessEntry {
  std::string remote, method, path, actor;  // actor empty: nobody authenticated for this request
  int status = 0;
  uint64_t bytes = 0;                        // response body bytes
  double ms = 0;                             // from the start of the request to the end of the response
};

// One JSON line per request; to a file, stderr ("-"), or nowhere (""). Thread-safe.
class AccessLog {
 public:
  static arrow::Result<std::unique_ptr<AccessLog>> Open(const std::string& target);
  ~AccessLog();
  static std::string Format(const AccessEntry& entry);  // the line, without the newline
  void Write(const AccessEntry& entry);
  bool enabled() const { return file_ != nullptr; }

 private:
  AccessLog() = default;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
};

}  // namespace memberlake::server
