#include "lake/s3_object_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstring>
#include <mutex>

#include <arrow/filesystem/s3fs.h>

#include "crypto/sha256.h"
#include "model/text.h"
#include "aws/sigv4.h"

namespace memberlake::lake {
namespace {

size_t CollectBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t CollectETag(char* data, size_t size, size_t count, void* out) {
  std::string_view line(data, size * count);
  if (line.size() > 5 && model::AsciiLower(std::string(line.substr(0, 5))) == "etag:") {
    *static_cast<std::string*>(out) = std::string(model::Trim(line.substr(5)));
  }
  return size * count;
}

// RFC 3986 unreserved characters stay, everything else is %XX; '/' stays in a key (it
// separates segments), not in a query value. The form S3 expects in the request line and in
// SigV4's canonical request.
std::string PercentEncode(std::string_view text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}
std::string EncodeKey(std::string_view key) { return PercentEncode(key, /*keep_slash=*/true); }
std::string EncodeQueryValue(std::string_view value) { return PercentEncode(value, /*keep_slash=*/false); }

// The text of every <name>...</name> element, in order (S3's XML answers are flat enough).
std::vector<std::string> Elements(std::string_view xml, const std::string& name) {
  std::vector<std::string> out;
  const std::string open = "<" + name + ">", close = "</" + name + ">";
  for (size_t at = xml.find(open); at != std::string_view::npos; at = xml.find(open, at)) {
    const size_t start = at + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    out.emplace_back(xml.substr(start, end - start));
    at = end + close.size();
  }
  return out;
}

std::string XmlUnescape(std::string text) {
  const std::pair<const char*, const char*> entities[] = {
      {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (const auto& [entity, plain] : entities) {
    for (size_t at = text.find(entity); at != std::string::npos; at = text.find(entity, at + 1)) {
      text.replace(at, std::strlen(entity), plain);
    }
  }
  return text;
}

// " (<Code>: <Message>)" from an S3 error document, or "" when there is none.
std::string ErrorCode(const std::string& body) {
  auto element = [&](const std::string& name) {
    auto start = body.find("<" + name + ">");
    auto end = body.find("</" + name + ">");
    if (start == std::string::npos || end == std::string::npos || end < start) return std::string();
    start += name.size() + 2;
    return body.substr(start, std::min<size_t>(end - start, 200));
  };
  const std::string code = element("Code");
  return code.empty() ? std::string() : " (" + code + ": " + element("Message") + ")";
}

}  // namespace

S3VersionPage ParseListVersions(std::string_view xml, std::string_view full_key) {
  S3VersionPage page;
  for (const char* kind : {"Version", "DeleteMarker"}) {
    for (const std::string& entry : Elements(xml, kind)) {
      auto keys = Elements(entry, "Key");
      auto ids = Elements(entry, "VersionId");
      if (keys.empty() || ids.empty() || XmlUnescape(keys.front()) != full_key) continue;  // a longer key
      page.versions.push_back(S3ObjectVersion{XmlUnescape(ids.front()), std::string_view(kind) == "DeleteMarker"});
    }
  }
  auto truncated = Elements(xml, "IsTruncated");
  auto next_key = Elements(xml, "NextKeyMarker");
  // Another page only while it may still hold versions of this key.
  if (!truncated.empty() && truncated.front() == "true" && !next_key.empty() &&
      XmlUnescape(next_key.front()) == full_key) {
    auto next_version = Elements(xml, "NextVersionIdMarker");
    page.next_key_marker = XmlUnescape(next_key.front());
    page.next_version_marker = next_version.empty() ? "" : XmlUnescape(next_version.front());
  }
  return page;
}

struct S3ObjectClient::Impl {
  arrow::fs::S3Options options;
  std::string scheme, host, region;
  std::string path_prefix;  // "/bucket/prefix/" (path style) or "/prefix/" (virtual-hosted)
  std::string bucket_path;  // "/bucket/" (path style) or "/" (virtual-hosted): bucket requests
  std::string key_prefix;   // "prefix/": the lake's root inside the bucket
  std::mutex mutex;         // one curl handle
  CURL* curl = nullptr;
  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }

  struct Answer {
    long status = 0;
    std::string body, etag;
  };

  arrow::Result<Answer> Send(const std::string& method, std::string_view key, std::string_view payload,
                             std::vector<std::pair<std::string, std::string>> headers) {
    return SendPath(method, EncodeKey(path_prefix + std::string(key)), "", payload, std::move(headers));
  }

  // `path` already encoded; `query` canonical (sorted, encoded).
  arrow::Result<Answer> SendPath(const std::string& method, const std::string& path, const std::string& query,
                                 std::string_view payload, std::vector<std::pair<std::string, std::string>> headers) {
    aws::AwsCredentials credentials;
    credentials.access_key_id = options.GetAccessKey();
    credentials.secret_access_key = options.GetSecretKey();
    credentials.session_token = options.GetSessionToken();
    if (credentials.access_key_id.empty()) return arrow::Status::IOError("S3: no credentials");
    aws::SigV4Request request;
    request.method = method;
    request.host = host;
    request.path = path;
    request.query = query;
    request.payload = std::string(payload);
    headers.emplace_back("x-amz-content-sha256", crypto::Sha256Hex(request.payload));
    request.headers = headers;
    auto signed_headers = aws::SignV4(request, credentials, region, "s3", aws::AmzDateNow());

    std::lock_guard<std::mutex> lock(mutex);
    curl_easy_reset(curl);
    const std::string url = scheme + "://" + host + request.path + (query.empty() ? "" : "?" + query);
    struct curl_slist* list = nullptr;
    for (const auto& [name, value] : headers) list = curl_slist_append(list, (name + ": " + value).c_str());
    for (const auto& [name, value] : signed_headers) list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, "Expect:");
    Answer answer;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectETag);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.etag);
    if (method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.payload.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.payload.size()));
    } else if (method == "DELETE") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (code != CURLE_OK) return arrow::Status::IOError("S3 ", method, " ", path, ": ", curl_easy_strerror(code));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
    return answer;
  }
};

S3ObjectClient::S3ObjectClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3ObjectClient::~S3ObjectClient() = default;

arrow::Result<std::unique_ptr<S3ObjectClient>> S3ObjectClient::Make(const std::string& location) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  ARROW_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
  auto impl = std::make_unique<Impl>();
  std::string root;
  ARROW_ASSIGN_OR_RAISE(impl->options, arrow::fs::S3Options::FromUri(location, &root));
  const auto slash = root.find('/');
  const std::string bucket = root.substr(0, slash);
  const std::string prefix = slash == std::string::npos ? "" : root.substr(slash + 1) + "/";
  if (bucket.empty()) return arrow::Status::Invalid("expected s3://bucket[/prefix]");
  impl->region = impl->options.region.empty() ? "us-east-1" : impl->options.region;
  impl->scheme = impl->options.scheme.empty() ? "https" : impl->options.scheme;
  if (!impl->options.endpoint_override.empty()) {
    std::string endpoint = impl->options.endpoint_override;
    if (auto at = endpoint.find("://"); at != std::string::npos) endpoint = endpoint.substr(at + 3);
    impl->host = endpoint;
    impl->path_prefix = "/" + bucket + "/" + prefix;
    impl->bucket_path = "/" + bucket + "/";
  } else {
    impl->host = bucket + ".s3." + impl->region + ".amazonaws.com";
    impl->path_prefix = "/" + prefix;
    impl->bucket_path = "/";
  }
  impl->key_prefix = prefix;
  impl->curl = curl_easy_init();
  if (impl->curl == nullptr) return arrow::Status::IOError("cannot start libcurl");
  return std::unique_ptr<S3ObjectClient>(new S3ObjectClient(std::move(impl)));
}

arrow::Result<std::optional<S3Object>> S3ObjectClient::Get(std::string_view key) {
  ARROW_ASSIGN_OR_RAISE(auto answer, impl_->Send("GET", key, "", {}));
  if (answer.status == 404) return std::nullopt;
  if (answer.status != 200) return arrow::Status::IOError("S3 GET ", key, ": HTTP ", answer.status, ErrorCode(answer.body));
  return S3Object{std::move(answer.body), std::move(answer.etag)};
}

arrow::Result<bool> S3ObjectClient::PutIf(std::string_view key, std::string_view body,
                                          const std::optional<std::string>& if_match) {
  // An explicit type: libcurl's default for a body (a form) makes some servers parse it as one.
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/octet-stream"}};
  if (if_match) {
    headers.emplace_back("If-Match", *if_match);
  } else {
    headers.emplace_back("If-None-Match", "*");
  }
  ARROW_ASSIGN_OR_RAISE(auto answer, impl_->Send("PUT", key, body, std::move(headers)));
  if (answer.status == 200) return true;
  // 412: the condition failed; 409: another conditional write to the key was in flight.
  if (answer.status == 412 || answer.status == 409) return false;
  if (answer.status == 501) {
    return arrow::Status::NotImplemented("S3 PUT ", key, ": this S3 server does not support conditional writes");
  }
  return arrow::Status::IOError("S3 PUT ", key, ": HTTP ", answer.status, ErrorCode(answer.body));
}

arrow::Result<std::vector<S3ObjectVersion>> S3ObjectClient::ListVersions(std::string_view key) {
  const std::string full_key = impl_->key_prefix + std::string(key);
  std::vector<S3ObjectVersion> versions;
  std::string key_marker, version_marker;
  while (true) {
    // Canonical order: parameters sorted by name.
    std::string query;
    if (!key_marker.empty()) query += "key-marker=" + EncodeQueryValue(key_marker) + "&";
    query += "prefix=" + EncodeQueryValue(full_key);
    if (!version_marker.empty()) query += "&version-id-marker=" + EncodeQueryValue(version_marker);
    query += "&versions=";
    ARROW_ASSIGN_OR_RAISE(auto answer, impl_->SendPath("GET", impl_->bucket_path, query, "", {}));
    if (answer.status == 501 || answer.body.find("<Code>NotImplemented</Code>") != std::string::npos) {
      return arrow::Status::NotImplemented("S3 ListObjectVersions: this S3 server has no versioning API");
    }
    if (answer.status != 200) {
      return arrow::Status::IOError("S3 ListObjectVersions ", key, ": HTTP ", answer.status, ErrorCode(answer.body));
    }
    if (answer.body.find("ListVersionsResult") == std::string::npos) {
      // A server that ignores ?versions answers with a plain listing: no versioning API.
      return arrow::Status::NotImplemented("S3 ListObjectVersions: this S3 server has no versioning API");
    }
    S3VersionPage page = ParseListVersions(answer.body, full_key);
    versions.insert(versions.end(), page.versions.begin(), page.versions.end());
    if (page.next_key_marker.empty()) break;
    key_marker = page.next_key_marker;
    version_marker = page.next_version_marker;
  }
  return versions;
}

arrow::Status S3ObjectClient::Delete(std::string_view key, const std::string& version_id) {
  const std::string path = EncodeKey(impl_->path_prefix + std::string(key));
  const std::string query = version_id.empty() ? "" : "versionId=" + EncodeQueryValue(version_id);
  ARROW_ASSIGN_OR_RAISE(auto answer, impl_->SendPath("DELETE", path, query, "", {}));
  if (answer.status == 200 || answer.status == 204 || answer.status == 404) return arrow::Status::OK();
  return arrow::Status::IOError("S3 DELETE ", key, version_id.empty() ? "" : " version " + version_id, ": HTTP ",
                                answer.status, ErrorCode(answer.body));
}

}  // namespace memberlake::lake
