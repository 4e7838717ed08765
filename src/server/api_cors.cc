// CORS for the club's browser frontend (server.cors_origins). Tokens travel in the
// Authorization header, never in cookies, so no credentials mode is needed; only listed
// origins get Access-Control-Allow-Origin, and every answer varies by Origin so that a shared
// cache never hands one origin's answer to another.
#include "server/api_service_impl.h"

#include <algorithm>

#include "model/text.h"
#include "server/metrics.h"

namespace memberlake::server {
namespace {

constexpr const char* kAllowedHeaders = "Authorization, Content-Type, If-Match, If-None-Match, X-API-Key";
// What a script may read of an answer besides the safe-listed headers.
constexpr const char* kExposedHeaders =
    "ETag, Location, Content-Disposition, X-Total-Count, X-Memberlake-Offset, X-Memberlake-Truncated, "
    "X-Memberlake-Next-Offset, X-Memberlake-Source, X-Memberlake-Snapshot, X-Memberlake-Live-Data-Version";
constexpr const char* kPreflightMaxAge = "600";

bool Listed(const std::vector<std::string>& origins, const std::string& origin) {
  return !origin.empty() && std::find(origins.begin(), origins.end(), origin) != origins.end();
}

// Whether `method` is one of the comma-separated `methods`.
bool Among(const std::string& methods, const std::string& method) {
  for (const auto& listed : model::SplitNonEmpty(methods, ',')) {
    if (model::Trim(listed) == method) return true;
  }
  return false;
}

}  // namespace

std::string AllowedMethods(const std::string& path) {
  const std::string route = RouteTemplate(path);
  if (route == "other") return "";
  if (route == "/api/members") return "GET, HEAD, POST, OPTIONS";
  if (route == "/api/members/{id}") return "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";
  if (route == "/api/generate" || route == "/api/ask" || route == "/api/members/{id}/erase") return "POST, OPTIONS";
  return "GET, HEAD, OPTIONS";  // every other route only reads
}

ApiResponse ApiService::Impl::Preflight(const ApiRequest& request) const {
  const std::string allowed = AllowedMethods(request.path);
  if (allowed.empty()) return ErrorResponse(404, "no such endpoint: " + request.path);
  ApiResponse response;
  response.status = 204;
  response.content_type.clear();
  response.headers.emplace_back("Allow", allowed);
  const std::string origin = Header(request, "origin");
  if (origin.empty()) return response;  // a plain OPTIONS: which methods the path has
  if (!Listed(config.cors_origins, origin)) return ErrorResponse(403, "origin not allowed");
  const std::string method = Header(request, "access-control-request-method");
  if (!method.empty() && (method == "OPTIONS" || !Among(allowed, method))) {
    return ErrorResponse(403, "method " + method + " not allowed on " + request.path);
  }
  response.headers.emplace_back("Access-Control-Allow-Methods", allowed);
  response.headers.emplace_back("Access-Control-Allow-Headers", kAllowedHeaders);
  response.headers.emplace_back("Access-Control-Max-Age", kPreflightMaxAge);
  return response;
}

void ApiService::Impl::AddCorsHeaders(const ApiRequest& request, ApiResponse* response) const {
  if (config.cors_origins.empty()) return;
  response->headers.emplace_back("Vary", "Origin");
  const std::string origin = Header(request, "origin");
  if (!Listed(config.cors_origins, origin)) return;
  response->headers.emplace_back("Access-Control-Allow-Origin", origin);
  if (request.method != "OPTIONS") response->headers.emplace_back("Access-Control-Expose-Headers", kExposedHeaders);
}

}  // namespace memberlake::server
