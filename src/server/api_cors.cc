// CORS for the club's browser frontend (server.cors_origins). Tokens travel in the
// Authorization header, never in cookies, so no credentials mode is needed; only listed
// origins get Access-Control-Allow-Origin, and every answer varies by Origin so that a shared
// cache never hands one origin's answer to another.
#include "server/api_service_impl.h"

#include <algorithm>

namespace memberlake::server {
namespace {

constexpr const char* kAllowedMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
constexpr const char* kAllowedHeaders = "Authorization, Content-Type, If-Match, If-None-Match, X-API-Key";
// What a script may read of an answer besides the safe-listed headers.
constexpr const char* kExposedHeaders =
    "ETag, Location, Content-Disposition, X-Total-Count, X-Memberlake-Offset, X-Memberlake-Truncated, "
    "X-Memberlake-Next-Offset, X-Memberlake-Source, X-Memberlake-Snapshot, X-Memberlake-Live-Data-Version";
constexpr const char* kPreflightMaxAge = "600";

bool Listed(const std::vector<std::string>& origins, const std::string& origin) {
  return !origin.empty() && std::find(origins.begin(), origins.end(), origin) != origins.end();
}

}  // namespace

ApiResponse ApiService::Impl::Preflight(const ApiRequest& request) const {
  const std::string origin = Header(request, "origin");
  if (origin.empty()) {  // a plain OPTIONS: which methods the API has
    ApiResponse response;
    response.status = 204;
    response.content_type.clear();
    response.headers.emplace_back("Allow", kAllowedMethods);
    return response;
  }
  if (!Listed(config.cors_origins, origin)) return ErrorResponse(403, "origin not allowed");
  const std::string method = Header(request, "access-control-request-method");
  static const std::vector<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (!method.empty() && std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
    return ErrorResponse(403, "method " + method + " not allowed");
  }
  ApiResponse response;
  response.status = 204;
  response.content_type.clear();
  response.headers.emplace_back("Access-Control-Allow-Methods", kAllowedMethods);
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
