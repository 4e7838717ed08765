// Request parsing and response building shared by the API service's handlers
// (server/api_service_*.cc): query parameters, the Status -> HTTP status mapping, JSON bodies.
// Internal to the service; not a public contract.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "query/export.h"
#include "query/query.h"
#include "server/access_policy.h"
#include "server/api_service.h"

namespace memberlake::server {

using Json = nlohmann::ordered_json;

constexpr int64_t kDefaultPage = 100;
constexpr int64_t kMaxPage = 10000;          // rows in one JSON page
constexpr int64_t kMaxExportRows = 100000000;  // a limit asked of a file export

// One request's caller.

struct Caller {
  Principal principal;
  AccessGrant grant;
};


struct ParsedFormat {
  query::ExportFormat format = query::ExportFormat::kJson;
  bool is_export = false;  // a file for download: needs the export permission
};

arrow::Result<std::string> ReadTextFile(const std::string& path, const char* what);
ApiResponse JsonResponse(int status, const Json& body);
// {"error": {"status", "message"}}; a 401 also carries WWW-Authenticate.
ApiResponse ErrorResponse(int status, const std::string& message);
// The edge where a Status becomes an HTTP status (denials 401/403, KeyError 404, ...).
int HttpStatusFor(const arrow::Status& status);

std::vector<std::string> Params(const ApiRequest& request, const std::string& name);
// Values of a repeatable parameter that may also be comma-separated.
std::vector<std::string> ListParam(const ApiRequest& request, const std::string& name);
// The last value of `name`, if given.
std::optional<std::string> OneParam(const ApiRequest& request, const std::string& name);
// An integer parameter in [min, max]; Invalid naming the parameter otherwise.
arrow::Result<int64_t> IntParam(const ApiRequest& request, const std::string& name, int64_t fallback, int64_t min,
                                int64_t max);
// Invalid naming the first parameter not in `allowed`.
arrow::Status OnlyParams(const ApiRequest& request, std::set<std::string> allowed);
std::string Header(const ApiRequest& request, const std::string& name);
// A member version as an entity tag: "17".
std::string VersionTag(int64_t version);
// Letters, digits, '-' and '_', 1 to 128 characters (snapshot ids).
bool SafeId(const std::string& id);
arrow::Result<ParsedFormat> FormatParam(const ApiRequest& request);
// The rows of `table` from `offset`, at most `limit` (all when nullopt).
std::shared_ptr<arrow::Table> Page(const std::shared_ptr<arrow::Table>& table, int64_t offset,
                                   std::optional<int64_t> limit);

// Paging of a list (?offset=&limit=). A JSON answer is one page: `json_default` rows unless
// asked, at most kMaxPage. A file export carries every row unless a limit is asked for.
// Either way the answer says how many rows there are and whether it holds them all.
struct PageRequest {
  int64_t offset = 0;
  std::optional<int64_t> limit;  // nullopt: every row from offset
};
arrow::Result<PageRequest> PageParams(const ApiRequest& request, const ParsedFormat& format, int64_t json_default);
// {"total", "offset", "limit", "returned", "truncated", "next"}: `next` is the offset of the
// following page, null on the last one.
Json PageJson(int64_t total, const PageRequest& page, int64_t returned);
// The same for files: X-Total-Count, X-Memberlake-Offset, X-Memberlake-Truncated and, when
// truncated, X-Memberlake-Next-Offset.
void AddPageHeaders(ApiResponse* response, int64_t total, const PageRequest& page, int64_t returned);

// Personal data: anything that lists members (not aggregates over them).
bool ListsMembers(const query::QuerySpec& spec);
// The request's parameters as one string, for cache keys.
std::string CanonicalParams(const ApiRequest& request);
// What of the data the caller sees (scope, restricted fields), for cache keys.
std::string ViewKey(const Caller& caller);
// select, where, group_by, agg, order_by of an ad-hoc query.
arrow::Result<query::QuerySpec> QueryFromParams(const ApiRequest& request);

}  // namespace memberlake::server
