// The HTTP API as a function: ApiRequest in, ApiResponse out. Transport-free, so the HTTP
// server (server/http_server.h), the Lambda handler and tests all drive the same code.
//
// Every request except /health, /ready, /metrics, /api/openapi.json and CORS preflights is
// authenticated (Bearer JWT or API key), gets an
// AccessGrant from the AccessPolicy, and runs inside the grant's scope. Audited actions
// (generation, download, export, reads of personal data, member mutations, and denials of
// those) are appended to the hash-chained audit log.
//
// Routes (JSON unless a format is asked for):
//   GET    /health, /ready, /metrics (Prometheus text; no member data; club-wide figures for a
//          trusted scraper only, see server/metrics.h)
//   GET    /api/openapi.json (the contract, config/openapi.json; no authentication)
//   GET    /api/me
//   GET    /api/members?region=&where=&order_by=&select=&limit=&offset=   (lake + live delta)
//   POST   /api/members                 GET/PATCH/DELETE /api/members/{id}
//   GET    /api/reports                 GET /api/reports/{name}?format=&region=&<param>=
//   GET    /api/query?select=&where=&group_by=&agg=&order_by=&limit=&offset=&region=&format=
//   (lists and queries: JSON pages say total/truncated/next; file exports hold every row)
//   GET    /api/snapshots               GET /api/snapshots/{id}/files/{path}
//   (streamed bodies, ApiResponse::producer: snapshot downloads (256 KiB or, with restricted columns
//   removed, a row group a piece), exports in every format and large JSON documents)
//   POST   /api/generate                GET /api/jobs/{id}
//   GET    /api/audit?after=&limit=
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "query/piece_source.h"
#include "server/server_config.h"

namespace memberlake::server {

struct ApiRequest {
  std::string method;                               // GET, POST, PATCH, PUT, DELETE
  std::string path;                                 // without the query string
  std::multimap<std::string, std::string> params;   // decoded query parameters
  std::map<std::string, std::string> headers;       // names in lower case
  std::string body;
  std::string remote;  // the peer's IP address (the HTTP edge sets it; empty elsewhere)
};

// A streamed body, pulled a piece at a time (query/piece_source.h).
using BodySource = query::PieceSource;
// Opens the body; it runs after Handle returned, on the thread that sends the answer, and may run
// more than once (an answer shared by concurrent identical requests), so it must own or share
// only what does not change, and every call gives a fresh source.
using BodyProducer = std::function<arrow::Result<std::unique_ptr<BodySource>>()>;

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the body is the pieces of the source `producer` opens instead of `body` (which
  // stays empty): the HTTP edge asks for each piece on its worker pool once the previous one is
  // written, so a slow reader holds neither a worker nor more than a piece (chunked encoding).
  BodyProducer producer;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string actor;  // who asked (for the access log); empty when unauthenticated
};

// The methods `path` answers ("GET, HEAD, OPTIONS"), for Allow, preflights and 405s; empty for a
// path that is no route (api_cors.cc).
std::string AllowedMethods(const std::string& path);

// The whole body of `response`: `body`, or every piece of its producer (which is then consumed).
// For transports that need the body at once (the Lambda answer) and for tests.
arrow::Result<std::string> CollectBody(ApiResponse& response);

class ApiService {
 public:
  // Opens the lake, the store pool, the audit log, the authenticators and the policy named by
  // `config`; errors name the setting that is wrong.
  static arrow::Result<std::unique_ptr<ApiService>> Make(const ServerConfig& config);
  ~ApiService();

  // Thread-safe; never throws. Errors become JSON bodies {"error": {"status", "message"}}.
  ApiResponse Handle(const ApiRequest& request);

  // The answer to `request` when it takes no real work: the probes (/health, /metrics, the
  // contract, the sign-in settings), CORS preflights, /api/me, and member lists, reports and
  // queries whose rendered answer is cached for the current data, with their authentication,
  // access checks, audit entry and metrics as Handle gives them. Anything else is nullopt, with
  // nothing done: no audit entry, no metric; the caller then runs Handle on a thread that may
  // wait. Always nullopt when a step of the quick path could wait on the network (a lake, store
  // or audit trail that is not a local file, RS256 keys fetched from an issuer) or when
  // server.quick_answers is off. The answer has a whole body (never a producer).
  // Why: the HTTP edge answers these on its event loop instead of handing them to a worker and
  // back, two thread switches that cost a third of a cached answer's time.
  std::optional<ApiResponse> HandleIfQuick(const ApiRequest& request);

  // Waits for a running generation and flushes the audit log (graceful shutdown).
  void Drain();

  // The lifecycle's [retention] rules at the service's today, audited, as the service's own
  // generation jobs apply them after each generation: for a runtime that generates outside
  // those jobs (Lambda). A summary line; empty without rules, a store or a lake.
  arrow::Result<std::string> ApplyRetentionRules();

  class Impl;

 private:
  explicit ApiService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace memberlake::server
