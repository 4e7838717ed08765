#include "server/static_files.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "model/text.h"
#include "server/api_request.h"

namespace memberlake::server {

namespace fs = std::filesystem;

namespace {

std::string ContentType(const std::string& extension) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},           {".map", "application/json"},
      {".svg", "image/svg+xml"},               {".png", "image/png"},
      {".ico", "image/x-icon"},                {".webmanifest", "application/manifest+json"},
      {".woff2", "font/woff2"},                {".txt", "text/plain; charset=utf-8"}};
  auto found = kTypes.find(model::AsciiLower(extension));
  return found == kTypes.end() ? "application/octet-stream" : found->second;
}

// Scripts, styles, images, data and fonts only from this origin; no plugins, frames, forms to
// elsewhere or <base> tricks; fetches to this origin and the sign-in provider's only.
// 'unsafe-inline' for styles only: Observable Plot writes a <style> element and style
// attributes into every chart it draws (no script can be inlined).
std::string Policy(const std::vector<std::string>& connect_origins) {
  std::string connect = "'self'";
  for (const auto& origin : connect_origins) connect += " " + origin;
  return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
         "connect-src " + connect + "; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

ApiResponse Plain(int status, const std::string& text) {
  ApiResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = text;
  return response;
}

// A request path's segments, or nothing when one of them may not be served: empty paths
// below the root, dotfiles and `.`/`..`, backslashes and control characters.
std::optional<fs::path> SafeRelative(const std::string& path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  if (path == "/") return fs::path("index.html");
  fs::path relative;
  for (const std::string& segment : model::SplitNonEmpty(path.substr(1), '/')) {
    if (segment.empty() || segment[0] == '.' || segment.size() > 255) return std::nullopt;
    for (unsigned char c : segment) {
      if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return std::nullopt;
    }
    relative /= segment;
  }
  if (relative.empty() || path.back() == '/') return std::nullopt;  // no folder listings
  return relative;
}

}  // namespace

arrow::Result<std::unique_ptr<StaticFiles>> StaticFiles::Open(const std::string& root,
                                                              const std::vector<std::string>& connect_origins) {
  for (const auto& origin : connect_origins) {
    // one origin each: a space or ';' would add directives to the policy
    if (origin.find_first_of(" ;,'\"\r\n\t") != std::string::npos || origin.find("://") == std::string::npos) {
      return arrow::Status::Invalid("server.web_connect_origins: '", origin, "' is not an origin (scheme://host[:port])");
    }
  }
  std::error_code error;
  fs::path canonical = fs::canonical(root, error);
  if (error || !fs::is_directory(canonical, error)) {
    return arrow::Status::Invalid("server.web_root: ", root,
                                  " is not a folder (build the dashboard: scripts/bootstrap.sh, or npm run build in web/)");
  }
  return std::unique_ptr<StaticFiles>(new StaticFiles(canonical.string(), Policy(connect_origins)));
}

bool StaticFiles::Claims(const ApiRequest& request) {
  if (request.method != "GET") return false;
  const std::string& p = request.path;
  if (p == "/api" || p.rfind("/api/", 0) == 0) return false;
  return p != "/health" && p != "/ready" && p != "/metrics";
}

ApiResponse StaticFiles::Serve(const ApiRequest& request) const {
  const ApiResponse not_found = Plain(404, "niet gevonden\n");
  auto relative = SafeRelative(request.path);
  if (!relative) return not_found;
  // The real path, symlinks resolved, must still lie inside the root.
  std::error_code error;
  fs::path file = fs::canonical(fs::path(root_) / *relative, error);
  if (error) return not_found;
  const std::string text = file.string();
  if (text.size() <= root_.size() || text.compare(0, root_.size(), root_) != 0 || text[root_.size()] != '/') {
    return not_found;
  }
  if (!fs::is_regular_file(file, error)) return not_found;
  const std::string content_type = ContentType(file.extension().string());
  // A gzip copy written by the build (web/build.mjs) next to the file, when the client takes it.
  bool gzip = false;
  if (Header(request, "accept-encoding").find("gzip") != std::string::npos) {
    fs::path packed = fs::canonical(fs::path(file.string() + ".gz"), error);
    if (!error && packed.parent_path() == file.parent_path() && fs::is_regular_file(packed, error)) {
      file = packed;
      gzip = true;
    }
    error.clear();
  }
  const auto size = fs::file_size(file, error);
  if (error) return not_found;
  const auto modified = fs::last_write_time(file, error).time_since_epoch().count();
  if (error) return not_found;
  std::ostringstream tag;
  tag << '"' << std::hex << size << '-' << modified << (gzip ? "-gz" : "") << '"';
  ApiResponse response;
  if (gzip) response.headers.emplace_back("Content-Encoding", "gzip");
  response.headers.emplace_back("Vary", "Accept-Encoding");
  response.headers.emplace_back("ETag", tag.str());
  // Bundles carry their content hash in the name (web/build.mjs): cached for good. The rest
  // (index.html names the current bundle) is checked again on every load.
  const bool immutable = relative->begin()->string() == "assets";
  response.headers.emplace_back("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  response.headers.emplace_back("Content-Security-Policy", policy_);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  if (Header(request, "if-none-match").find(tag.str()) != std::string::npos) {
    response.status = 304;
    response.content_type.clear();
    return response;
  }
  std::ifstream in(file, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Plain(500, "interne fout\n");
  response.content_type = content_type;
  response.body = std::move(body);
  return response;
}

}  // namespace memberlake::server
