#include "server/api_request.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "model/text.h"

namespace memberlake::server {

arrow::Result<std::string> ReadTextFile(const std::string& path, const char* what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return arrow::Status::IOError("cannot read ", what, " ", path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

ApiResponse JsonResponse(int status, const Json& body) {
  ApiResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

ApiResponse ErrorResponse(int status, const std::string& message) {
  ApiResponse response = JsonResponse(status, Json{{"error", {{"status", status}, {"message", message}}}});
  if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

// The edge where a Status becomes an HTTP status. Messages of 5xx errors stay in the log:
// they may name files and paths.
int HttpStatusFor(const arrow::Status& status) {
  if (auto denial = DenialOf(status)) return *denial == DenialKind::kUnauthenticated ? 401 : 403;
  if (status.IsKeyError()) return 404;
  if (status.IsAlreadyExists()) return 409;
  if (status.IsInvalid() || status.IsTypeError() || status.IsIndexError()) return 400;
  if (status.IsNotImplemented()) return 405;
  return 500;
}

std::vector<std::string> Params(const ApiRequest& request, const std::string& name) {
  std::vector<std::string> values;
  auto [begin, end] = request.params.equal_range(name);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

// Values of a repeatable parameter that may also be comma-separated.
std::vector<std::string> ListParam(const ApiRequest& request, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& value : Params(request, name)) {
    for (auto& part : model::SplitNonEmpty(value, ',')) out.push_back(std::move(part));
  }
  return out;
}

std::optional<std::string> OneParam(const ApiRequest& request, const std::string& name) {
  auto values = Params(request, name);
  if (values.empty()) return std::nullopt;
  return values.back();
}

arrow::Result<int64_t> IntParam(const ApiRequest& request, const std::string& name, int64_t fallback, int64_t min,
                                int64_t max) {
  auto text = OneParam(request, name);
  if (!text) return fallback;
  int64_t value = 0;
  size_t used = 0;
  try {
    value = std::stoll(*text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text->size() || value < min || value > max) {
    return arrow::Status::Invalid("query parameter ", name, "='", *text, "': expected an integer from ", min, " to ",
                                  max);
  }
  return value;
}

arrow::Status OnlyParams(const ApiRequest& request, std::set<std::string> allowed) {
  for (const auto& [name, value] : request.params) {
    if (!allowed.count(name)) return arrow::Status::Invalid("unknown query parameter '", name, "'");
  }
  return arrow::Status::OK();
}

std::string Header(const ApiRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? std::string() : it->second;
}

// A member version as an entity tag: "17".
std::string VersionTag(int64_t version) {
  std::string tag = std::to_string(version);
  tag.insert(tag.begin(), '"');
  tag.push_back('"');
  return tag;
}

bool SafeId(const std::string& id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

arrow::Result<ParsedFormat> FormatParam(const ApiRequest& request) {
  ParsedFormat parsed;
  auto text = OneParam(request, "format").value_or("json");
  ARROW_ASSIGN_OR_RAISE(parsed.format, query::ParseExportFormat(text));
  if (parsed.format == query::ExportFormat::kTable) return arrow::Status::Invalid("format table is for terminals; use json");
  parsed.is_export = parsed.format != query::ExportFormat::kJson;
  return parsed;
}

// The rows of `table` from `offset`, at most `limit`.
std::shared_ptr<arrow::Table> Page(const std::shared_ptr<arrow::Table>& table, int64_t offset,
                                   std::optional<int64_t> limit) {
  if (offset >= table->num_rows()) return table->Slice(table->num_rows(), 0);
  return limit ? table->Slice(offset, *limit) : table->Slice(offset);
}

arrow::Result<PageRequest> PageParams(const ApiRequest& request, const ParsedFormat& format, int64_t json_default) {
  PageRequest page;
  ARROW_ASSIGN_OR_RAISE(page.offset, IntParam(request, "offset", 0, 0, kMaxExportRows));
  if (format.is_export) {
    if (OneParam(request, "limit")) {
      ARROW_ASSIGN_OR_RAISE(page.limit, IntParam(request, "limit", 0, 0, kMaxExportRows));
    }
  } else {
    ARROW_ASSIGN_OR_RAISE(page.limit, IntParam(request, "limit", json_default, 0, kMaxPage));
  }
  return page;
}

namespace {
std::optional<int64_t> NextOffset(int64_t total, const PageRequest& page, int64_t returned) {
  int64_t end = page.offset + returned;
  if (end >= total) return std::nullopt;
  return end;
}
}  // namespace

Json PageJson(int64_t total, const PageRequest& page, int64_t returned) {
  auto next = NextOffset(total, page, returned);
  return Json{{"total", total},
              {"offset", page.offset},
              {"limit", page.limit ? Json(*page.limit) : Json(nullptr)},
              {"returned", returned},
              {"truncated", next.has_value()},
              {"next", next ? Json(*next) : Json(nullptr)}};
}

void AddPageHeaders(ApiResponse* response, int64_t total, const PageRequest& page, int64_t returned) {
  auto next = NextOffset(total, page, returned);
  response->headers.emplace_back("X-Total-Count", std::to_string(total));
  response->headers.emplace_back("X-Memberlake-Offset", std::to_string(page.offset));
  response->headers.emplace_back("X-Memberlake-Truncated", next ? "true" : "false");
  if (next) response->headers.emplace_back("X-Memberlake-Next-Offset", std::to_string(*next));
}

// Personal data: anything that lists members (not aggregates over them).
bool ListsMembers(const query::QuerySpec& spec) { return spec.aggregates.empty() && spec.group_by.empty(); }

std::string CanonicalParams(const ApiRequest& request) {
  // Names and values are escaped, so that no value can spell a separator: otherwise
  // where=a%3Db%26where%3Dc (one filter) and where=a=b&where=c (two) would share one key and one
  // cached answer.
  auto escape = [](const std::string& text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
      if (c == '%' || c == '&' || c == '=' || c == '|' || c == '\n' || c < 0x20) {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    return out;
  };
  std::string text;
  for (const auto& [name, value] : request.params) text += escape(name) + "=" + escape(value) + "&";
  return text;
}

std::string ViewKey(const Caller& caller) {
  return caller.grant.ScopeText() + (caller.grant.restricted_fields ? "|restricted" : "|open");
}

arrow::Result<query::QuerySpec> QueryFromParams(const ApiRequest& request) {
  query::QuerySpec spec;
  spec.select = ListParam(request, "select");
  spec.group_by = ListParam(request, "group_by");
  for (const auto& text : Params(request, "where")) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.where.push_back(std::move(filter));
  }
  for (const auto& text : Params(request, "agg")) {
    ARROW_ASSIGN_OR_RAISE(auto aggregate, query::ParseAggregate(text));
    spec.aggregates.push_back(std::move(aggregate));
  }
  for (const auto& text : ListParam(request, "order_by")) {
    ARROW_ASSIGN_OR_RAISE(auto order, query::ParseOrder(text));
    spec.order_by.push_back(std::move(order));
  }
  return spec;
}

}  // namespace memberlake::server
