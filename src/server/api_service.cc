#include "server/api_service.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <set>
#include <sstream>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "jobs/generation_jobs.h"
#include "jobs/generation_triggers.h"
#include "lake/sha256.h"
#include "lake/snapshot_manifest.h"
#include "model/calendar.h"
#include "model/member_json.h"
#include "model/text.h"
#include "query/export.h"
#include "query/member_source.h"
#include "query/report_catalog.h"
#include "query/result_cache.h"
#include "query/result_format.h"
#include "server/access_policy.h"
#include "server/api_keys.h"
#include "server/audit_log.h"
#include "server/jwt_verifier.h"
#include "server/metrics.h"
#include "store/store_pool.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kDefaultPage = 100;
constexpr int64_t kMaxPage = 10000;

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

struct ParsedFormat {
  query::ExportFormat format = query::ExportFormat::kJson;
  bool is_export = false;  // a file for download: needs the export permission
};

arrow::Result<ParsedFormat> FormatParam(const ApiRequest& request) {
  ParsedFormat parsed;
  auto text = OneParam(request, "format").value_or("json");
  ARROW_ASSIGN_OR_RAISE(parsed.format, query::ParseExportFormat(text));
  if (parsed.format == query::ExportFormat::kTable) return arrow::Status::Invalid("format table is for terminals; use json");
  parsed.is_export = parsed.format != query::ExportFormat::kJson;
  return parsed;
}

// The rows of `table` from `offset`, at most `limit`.
std::shared_ptr<arrow::Table> Page(const std::shared_ptr<arrow::Table>& table, int64_t offset, int64_t limit) {
  if (offset >= table->num_rows()) return table->Slice(table->num_rows(), 0);
  return table->Slice(offset, limit);
}

}  // namespace

// One request's caller.
struct Caller {
  Principal principal;
  AccessGrant grant;
};

// What a request leaves in the audit trail; appended once, when it ends.
struct AuditNote {
  std::string action;  // empty: not audited
  std::string target;
  int64_t rows = -1;
  std::string data_version;
  std::string scope;
  std::string detail;
};

class ApiService::Impl {
 public:
  ServerConfig config;
  std::shared_ptr<const model::FieldRegistry> registry;
  std::shared_ptr<const AccessPolicy> policy;
  std::shared_ptr<const query::ReportCatalog> catalog;
  std::shared_ptr<lake::LakeStorage> lake;
  std::unique_ptr<store::StorePool> stores;
  std::unique_ptr<query::ResultCache> cache;
  // Rendered answers by request and data: a hot report costs a lookup, not a JSON rendering.
  struct Rendered {
    ApiResponse response;
    int64_t rows = -1;
    std::string data_version;
  };
  std::unique_ptr<query::LruCache<Rendered>> rendered;
  // Identical requests that miss the cache together wait for one computation (after a new
  // snapshot every key is cold at once; without this each waiting connection computes it).
  std::mutex inflight_mutex;
  std::unordered_map<std::string, std::shared_future<arrow::Result<Rendered>>> inflight;
  std::unique_ptr<JwtVerifier> jwt;
  std::unique_ptr<ApiKeyStore> api_keys;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<jobs::GenerationJobs> generation;
  std::unique_ptr<jobs::GenerationTriggers> triggers;  // stopped before `generation` goes
  model::CivilDate fixed_as_of{};
  bool has_fixed_as_of = false;

  Metrics metrics;

  model::CivilDate Today() const {
    return has_fixed_as_of ? fixed_as_of : model::TodayInAmsterdam(std::chrono::system_clock::now());
  }
  // Handles and records the request in `metrics`.
  ApiResponse Handle(const ApiRequest& request);
  void WriteAudit(const Caller& caller, const AuditNote& note, const arrow::Status& status);

 private:
  arrow::Result<Caller> Authenticate(const ApiRequest& request) const;
  arrow::Result<ApiResponse> Route(const ApiRequest& request, const Caller& caller, AuditNote* note);

  query::ReadOptions ReadOpts() const {
    query::ReadOptions options;
    options.max_snapshot_age_seconds = config.max_snapshot_age_seconds;
    options.as_of = Today();
    return options;
  }

  // Runs `run` against a MemberSource (lake + a pooled store), with ETag handling: `key`
  // names the request (route, parameters, caller's view); the ETag adds the data it read.
  using SourceRun = std::function<arrow::Result<ApiResponse>(query::MemberSource&)>;
  arrow::Result<ApiResponse> WithSource(const ApiRequest& request, const std::string& key, AuditNote* note,
                                        const SourceRun& run);

  arrow::Result<ApiResponse> Render(const ApiRequest& request, const query::QueryResult& result,
                                    const query::RegionalScope& scope, const ParsedFormat& format,
                                    const std::string& name, Json extra);

  arrow::Result<ApiResponse> Me(const Caller& caller);
  arrow::Result<ApiResponse> Ready();
  ApiResponse HandleUnmetered(const ApiRequest& request);
  ApiResponse MetricsResponse();
  arrow::Result<ApiResponse> ListMembers(const ApiRequest& request, const Caller& caller, AuditNote* note);
  arrow::Result<ApiResponse> GetMember(const Caller& caller, const std::string& id, AuditNote* note);
  arrow::Result<ApiResponse> WriteMember(const ApiRequest& request, const Caller& caller, Action action,
                                         const std::string& id, AuditNote* note);
  arrow::Result<ApiResponse> ListReports(const Caller& caller);
  arrow::Result<ApiResponse> RunReport(const ApiRequest& request, const Caller& caller, const std::string& name,
                                       AuditNote* note);
  arrow::Result<ApiResponse> AdHocQuery(const ApiRequest& request, const Caller& caller, AuditNote* note);
  arrow::Result<ApiResponse> ListSnapshots(const Caller& caller);
  arrow::Result<ApiResponse> Download(const ApiRequest& request, const Caller& caller, const std::string& id,
                                      const std::string& path, AuditNote* note);
  arrow::Result<ApiResponse> StartGeneration(const ApiRequest& request, const Caller& caller, AuditNote* note);
  arrow::Result<ApiResponse> GetJob(const Caller& caller, const std::string& id);
  arrow::Result<ApiResponse> ReadAudit(const ApiRequest& request, const Caller& caller);

  std::string MemberJson(const Caller& caller, const store::StoredMember& member) const;
  std::optional<std::string> RegionOf(const model::MemberRecord& record) const;
};

ApiService::ApiService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiService::~ApiService() { Drain(); }

void ApiService::Drain() {
  impl_->triggers.reset();  // no new jobs
  if (impl_->generation) impl_->generation.reset();  // joins a running job
  if (impl_->audit) (void)impl_->audit->Sync();
}

ApiResponse ApiService::Handle(const ApiRequest& request) { return impl_->Handle(request); }

arrow::Result<std::unique_ptr<ApiService>> ApiService::Make(const ServerConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  // The one way every entry point finds the registry: the setting, else $MEMBERLAKE_REGISTRY,
  // else the built-in one (so the server, the CLI and Lambda never disagree on the schema).
  ARROW_ASSIGN_OR_RAISE(impl->registry, model::FieldRegistry::Load(config.registry));
  if (config.access_policy.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->policy, AccessPolicy::LoadDefault(impl->registry));
  } else {
    ARROW_ASSIGN_OR_RAISE(std::string text, ReadTextFile(config.access_policy, "access policy"));
    ARROW_ASSIGN_OR_RAISE(impl->policy, AccessPolicy::LoadString(text, config.access_policy, impl->registry));
  }
  ARROW_ASSIGN_OR_RAISE(impl->catalog, query::ReportCatalog::LoadDefault(*impl->registry));
  if (!config.as_of.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->fixed_as_of, model::ParseIsoDate(config.as_of));
    impl->has_fixed_as_of = true;
  }
  if (!config.lake.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->lake, lake::LakeStorage::Open(config.lake, /*create=*/true));
  }
  if (!config.store.empty()) {
    auto registry = impl->registry;
    std::string uri = config.store;
    store::StorePool::Opener opener = [uri, registry] { return store::OpenMemberStore(uri, registry); };
    // Fail at start, not on the first request, when the store cannot be opened.
    ARROW_RETURN_NOT_OK(opener().status());
    impl->stores = std::make_unique<store::StorePool>(opener, static_cast<size_t>(config.threads) + 2);
    if (impl->lake) {
      Impl* self = impl.get();
      std::optional<lake::RetentionPolicy> retention;
      if (config.keep_snapshots > 0) {
        retention = lake::RetentionPolicy{};
        retention->keep_last = static_cast<int>(config.keep_snapshots);
      }
      auto on_finish = [self](const jobs::JobStatus& job) {
        self->metrics.RecordGeneration(job.state == "succeeded", job.seconds);
        Caller system;
        system.principal.subject = job.requested_by;
        system.principal.auth_method = "job";
        std::string detail = job.state == "succeeded" ? "snapshot " + job.snapshot_id : job.error;
        if (!job.pruned_snapshots.empty()) {
          detail += "; pruned " + std::to_string(job.pruned_snapshots.size()) + " old snapshot(s) from " +
                    job.pruned_snapshots.front() + " to " + job.pruned_snapshots.back();
        }
        if (!job.retention_error.empty()) detail += "; pruning failed: " + job.retention_error;
        AuditNote note{"generate.finish", job.id, job.members, std::to_string(job.data_version), "all", detail};
        self->WriteAudit(system, note, job.state == "succeeded" ? arrow::Status::OK() : arrow::Status::IOError(job.error));
      };
      impl->generation = std::make_unique<jobs::GenerationJobs>(opener, impl->lake.get(), on_finish, retention);
      if (config.triggers.enabled()) {
        auto probe = [self]() -> arrow::Result<std::pair<int64_t, int64_t>> {
          ARROW_ASSIGN_OR_RAISE(auto lease, self->stores->Acquire());
          ARROW_ASSIGN_OR_RAISE(int64_t live, lease->DataVersion());
          auto manifest = lake::ReadCurrentManifest(*self->lake);
          if (!manifest.ok() && !manifest.status().IsKeyError()) return manifest.status();
          return std::make_pair(live, manifest.ok() ? manifest->data_version : int64_t{0});
        };
        impl->triggers = std::make_unique<jobs::GenerationTriggers>(config.triggers, impl->generation.get(), probe,
                                                                     [self] { return self->Today(); });
      }
    }
  }
  if (config.cache_bytes > 0) {
    impl->cache = std::make_unique<query::ResultCache>(config.cache_bytes);
    impl->rendered = std::make_unique<query::LruCache<Impl::Rendered>>(config.cache_bytes);
  }
  if (!config.issuer.empty() && !config.audience.empty()) {
    JwtOptions options;
    options.issuer = config.issuer;
    options.audience = config.audience;
    options.hs256_secret = config.hs256_secret;
    options.leeway_seconds = config.leeway_seconds;
    if (!config.jwks_file.empty()) {
      ARROW_ASSIGN_OR_RAISE(options.jwks_json, ReadTextFile(config.jwks_file, "JWKS file"));
    }
    ARROW_ASSIGN_OR_RAISE(impl->jwt, JwtVerifier::Make(options));
  }
  if (!config.api_keys_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->api_keys, ApiKeyStore::LoadFile(config.api_keys_file));
  }
  ARROW_ASSIGN_OR_RAISE(impl->audit, AuditLog::Open(config.audit_log, config.audit_key));
  return std::unique_ptr<ApiService>(new ApiService(std::move(impl)));
}

arrow::Result<Caller> ApiService::Impl::Authenticate(const ApiRequest& request) const {
  std::string key = Header(request, "x-api-key");
  std::string authorization = Header(request, "authorization");
  std::string token;
  if (authorization.size() > 7 && (authorization.compare(0, 7, "Bearer ") == 0 || authorization.compare(0, 7, "bearer ") == 0)) {
    token = authorization.substr(7);
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  } else if (!authorization.empty()) {
    return Unauthenticated("unsupported Authorization scheme (use Bearer)");
  }
  if (key.empty() && token.rfind("mlk_", 0) == 0) key.swap(token);
  Caller caller;
  if (!key.empty()) {
    if (!api_keys) return Unauthenticated("API keys are not enabled");
    auto principal = api_keys->Authenticate(key);
    if (!principal.ok()) return Unauthenticated("invalid API key");
    caller.principal = *principal;
  } else if (!token.empty()) {
    if (!jwt) return Unauthenticated("bearer tokens are not enabled");
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    auto principal = jwt->Verify(token, now.count());
    if (!principal.ok()) return Unauthenticated("invalid token: " + principal.status().message());
    caller.principal = *principal;
  } else {
    return Unauthenticated("authentication required: send Authorization: Bearer <token> or X-API-Key");
  }
  caller.grant = policy->GrantFor(caller.principal);
  return caller;
}

void ApiService::Impl::WriteAudit(const Caller& caller, const AuditNote& note, const arrow::Status& status) {
  AuditEvent event;
  event.actor = caller.principal.subject;
  event.auth = caller.principal.auth_method;
  event.roles = caller.principal.groups;
  event.action = note.action;
  std::string scope = note.scope.empty() ? caller.grant.ScopeText() : note.scope;
  event.scope = scope == "all" ? std::vector<std::string>{"*"} : model::SplitNonEmpty(scope, ',');  // regions hold no ','
  event.rows = note.rows;
  event.data_version = note.data_version;
  event.target = note.target;
  if (status.ok()) {
    event.outcome = "ok";
    event.detail = note.detail;
  } else {
    event.outcome = DenialOf(status) ? "denied" : "error";
    event.detail = status.message();
  }
  auto appended = audit->Append(event);
  if (!appended.ok()) {
    metrics.RecordAuditFailure();
    std::fprintf(stderr, "memberlake: audit append failed: %s\n", appended.ToString().c_str());
  }
}

ApiResponse ApiService::Impl::Handle(const ApiRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  ApiResponse response = HandleUnmetered(request);
  static const std::set<std::string> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  metrics.RecordRequest(RouteTemplate(request.path), kMethods.count(request.method) ? request.method : "other",
                        response.status,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return response;
}

ApiResponse ApiService::Impl::HandleUnmetered(const ApiRequest& request) {
  try {
    if (request.method == "GET" && request.path == "/health") return JsonResponse(200, Json{{"status", "ok"}});
    if (request.method == "GET" && request.path == "/metrics") return MetricsResponse();
    if (request.method == "GET" && request.path == "/ready") {
      auto ready = Ready();
      return ready.ok() ? *ready : ErrorResponse(503, ready.status().message());
    }
    auto caller = Authenticate(request);
    if (!caller.ok()) return ErrorResponse(401, caller.status().message());
    AuditNote note;
    auto response = Route(request, *caller, &note);
    if (!note.action.empty()) WriteAudit(*caller, note, response.status());
    if (!response.ok()) {
      int status = HttpStatusFor(response.status());
      if (status >= 500) {
        std::fprintf(stderr, "memberlake: %s %s: %s\n", request.method.c_str(), request.path.c_str(),
                     response.status().ToString().c_str());
      }
      ApiResponse error = ErrorResponse(status, status >= 500 ? "internal error" : response.status().message());
      error.actor = caller->principal.subject;
      return error;
    }
    response->actor = caller->principal.subject;
    return *response;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memberlake: %s %s: exception: %s\n", request.method.c_str(), request.path.c_str(), e.what());
    return ErrorResponse(500, "internal error");
  }
}

arrow::Result<ApiResponse> ApiService::Impl::Route(const ApiRequest& request, const Caller& caller, AuditNote* note) {
  const auto parts = model::SplitNonEmpty(request.path, '/');
  const std::string& m = request.method;
  auto method_not_allowed = [&] { return arrow::Status::NotImplemented("method ", m, " not allowed on ", request.path); };
  if (parts.size() < 2 || parts[0] != "api") return arrow::Status::KeyError("no such endpoint: ", request.path);
  const std::string& resource = parts[1];
  if (resource == "me" && parts.size() == 2) {
    if (m != "GET") return method_not_allowed();
    return Me(caller);
  }
  if (resource == "members") {
    if (parts.size() == 2) {
      if (m == "GET") return ListMembers(request, caller, note);
      if (m == "POST") return WriteMember(request, caller, Action::kCreate, "", note);
      return method_not_allowed();
    }
    if (parts.size() == 3) {
      if (m == "GET") return GetMember(caller, parts[2], note);
      if (m == "PATCH" || m == "PUT") return WriteMember(request, caller, Action::kUpdate, parts[2], note);
      if (m == "DELETE") return WriteMember(request, caller, Action::kDelete, parts[2], note);
      return method_not_allowed();
    }
  }
  if (resource == "reports") {
    if (m != "GET") return method_not_allowed();
    if (parts.size() == 2) return ListReports(caller);
    if (parts.size() == 3) return RunReport(request, caller, parts[2], note);
  }
  if (resource == "query" && parts.size() == 2) {
    if (m != "GET") return method_not_allowed();
    return AdHocQuery(request, caller, note);
  }
  if (resource == "snapshots") {
    if (m != "GET") return method_not_allowed();
    if (parts.size() == 2) return ListSnapshots(caller);
    if (parts.size() >= 5 && parts[3] == "files") {
      // The file's lake-relative path is the rest of the URL path, exactly as the manifest lists it.
      std::string prefix = "/api/snapshots/" + parts[2] + "/files/";
      if (request.path.rfind(prefix, 0) != 0) return arrow::Status::KeyError("no such endpoint: ", request.path);
      return Download(request, caller, parts[2], request.path.substr(prefix.size()), note);
    }
  }
  if (resource == "generate" && parts.size() == 2) {
    if (m != "POST") return method_not_allowed();
    return StartGeneration(request, caller, note);
  }
  if (resource == "jobs" && parts.size() == 3) {
    if (m != "GET") return method_not_allowed();
    return GetJob(caller, parts[2]);
  }
  if (resource == "audit" && parts.size() == 2) {
    if (m != "GET") return method_not_allowed();
    return ReadAudit(request, caller);
  }
  return arrow::Status::KeyError("no such endpoint: ", request.path);
}

arrow::Result<ApiResponse> ApiService::Impl::Ready() {
  Json problems = Json::array();
  if (lake) {
    auto manifest = lake::ReadCurrentManifest(*lake);
    if (!manifest.ok() && !manifest.status().IsKeyError()) problems.push_back("lake unreadable");
  }
  if (stores) {
    auto lease = stores->Acquire();
    if (!lease.ok() || !(*lease)->DataVersion().ok()) problems.push_back("store unavailable");
  }
  if (!problems.empty()) return arrow::Status::IOError("not ready: ", problems.dump());
  return JsonResponse(200, Json{{"status", "ready"}});
}

ApiResponse ApiService::Impl::MetricsResponse() {
  using Sample = Metrics::Sample;
  std::vector<Sample> samples;
  std::optional<int64_t> snapshot_version;
  if (lake) {
    if (auto manifest = lake::ReadCurrentManifest(*lake); manifest.ok()) {
      snapshot_version = manifest->data_version;
      samples.push_back({"memberlake_snapshot_data_version", "gauge", "data_version of the current snapshot.",
                         static_cast<double>(manifest->data_version)});
      samples.push_back({"memberlake_snapshot_members", "gauge", "Members in the current snapshot's full dataset.",
                         static_cast<double>(manifest->members)});
      if (auto generated = lake::SnapshotIdTime(manifest->snapshot_id)) {
        samples.push_back({"memberlake_snapshot_age_seconds", "gauge", "Seconds since the current snapshot was generated.",
                           std::chrono::duration<double>(std::chrono::system_clock::now() - *generated).count()});
      }
    }
  }
  if (stores) {
    if (auto lease = stores->Acquire(); lease.ok()) {
      if (auto version = (*lease)->DataVersion(); version.ok()) {
        samples.push_back({"memberlake_live_data_version", "gauge", "data_version of the live store.",
                           static_cast<double>(*version)});
        if (snapshot_version) {
          samples.push_back({"memberlake_live_changes_since_snapshot", "gauge",
                             "Live changes not yet in a snapshot (hybrid reads merge them).",
                             static_cast<double>(*version - *snapshot_version)});
        }
      }
    }
  }
  auto cache_samples = [&](const std::string& prefix, const std::string& what, const query::CacheStats& stats) {
    samples.push_back({prefix + "_hits_total", "counter", what + " hits.", static_cast<double>(stats.hits)});
    samples.push_back({prefix + "_misses_total", "counter", what + " misses.", static_cast<double>(stats.misses)});
    samples.push_back({prefix + "_evictions_total", "counter", what + " evictions.", static_cast<double>(stats.evictions)});
    samples.push_back({prefix + "_entries", "gauge", what + " entries.", static_cast<double>(stats.entries)});
    samples.push_back({prefix + "_bytes", "gauge", what + " size in bytes.", static_cast<double>(stats.bytes)});
  };
  if (cache) cache_samples("memberlake_result_cache", "Query result cache", cache->stats());
  if (rendered) cache_samples("memberlake_response_cache", "Rendered response cache", rendered->stats());
  ApiResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = metrics.Render(samples);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::Me(const Caller& caller) {
  Json actions = Json::array();
  for (Action action : caller.grant.actions) actions.push_back(std::string(ActionName(action)));
  Json regions = caller.grant.all_regions ? Json::array({"*"}) : Json(caller.grant.regions);
  return JsonResponse(200, Json{{"subject", caller.principal.subject},
                                {"auth", caller.principal.auth_method},
                                {"groups", caller.principal.groups},
                                {"actions", actions},
                                {"regions", regions},
                                {"restricted_fields", caller.grant.restricted_fields},
                                {"reports", caller.grant.all_reports ? "all"
                                            : caller.grant.communication_reports ? "communication" : "none"}});
}

arrow::Result<ApiResponse> ApiService::Impl::WithSource(const ApiRequest& request, const std::string& key,
                                                        AuditNote* note, const SourceRun& run) {
  std::optional<store::StorePool::Lease> lease;
  if (stores) {
    ARROW_ASSIGN_OR_RAISE(auto acquired, stores->Acquire());
    lease.emplace(std::move(acquired));
  }
  query::MemberSource source(lake.get(), lease ? lease->get() : nullptr, registry, ReadOpts(), cache.get());
  ARROW_ASSIGN_OR_RAISE(std::string before, source.DataKey());
  std::string etag = "\"" + lake::Sha256Hex(key + "\n" + before).substr(0, 32) + "\"";
  std::string if_none_match = Header(request, "if-none-match");
  if (!if_none_match.empty() && if_none_match.find(etag) != std::string::npos) {
    ApiResponse not_modified;
    not_modified.status = 304;
    not_modified.content_type.clear();
    not_modified.headers.emplace_back("ETag", etag);
    return not_modified;
  }
  const std::string rendered_key = key + "\n" + before;
  if (rendered) {
    if (auto hit = rendered->Get(rendered_key)) {
      note->rows = hit->rows;
      note->data_version = hit->data_version;
      return hit->response;
    }
  }
  std::promise<arrow::Result<Rendered>> promise;
  {
    std::unique_lock<std::mutex> lock(inflight_mutex);
    auto running = inflight.find(rendered_key);
    if (running != inflight.end()) {
      auto future = running->second;
      lock.unlock();
      ARROW_ASSIGN_OR_RAISE(Rendered shared, future.get());
      note->rows = shared.rows;
      note->data_version = shared.data_version;
      return shared.response;
    }
    inflight.emplace(rendered_key, promise.get_future().share());
  }
  auto compute = [&]() -> arrow::Result<Rendered> {
    ARROW_ASSIGN_OR_RAISE(ApiResponse response, run(source));
    response.headers.emplace_back("Cache-Control", "private, no-cache");
    // Only an answer that certainly came from the data the tag names carries it (and is kept).
    ARROW_ASSIGN_OR_RAISE(std::string after, source.DataKey());
    Rendered result{std::move(response), note->rows, note->data_version};
    if (after == before) {
      result.response.headers.emplace_back("ETag", etag);
      if (rendered) rendered->Put(rendered_key, result, static_cast<int64_t>(result.response.body.size()) + 512);
    }
    return result;
  };
  arrow::Result<Rendered> result = arrow::Status::UnknownError("not computed");
  try {
    result = compute();
  } catch (const std::exception& e) {
    result = arrow::Status::UnknownError("exception: ", e.what());
  }
  promise.set_value(result);
  {
    std::lock_guard<std::mutex> lock(inflight_mutex);
    inflight.erase(rendered_key);
  }
  ARROW_ASSIGN_OR_RAISE(Rendered done, std::move(result));
  ApiResponse response = std::move(done.response);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::Render(const ApiRequest& request, const query::QueryResult& result,
                                                    const query::RegionalScope& scope, const ParsedFormat& format,
                                                    const std::string& name, Json extra) {
  ApiResponse response;
  if (format.format == query::ExportFormat::kJson) {
    ARROW_ASSIGN_OR_RAISE(response.body, query::ResultToJsonDocument(result, scope.ToString(), false, extra.dump()));
    return response;
  }
  query::ExportOptions options;
  if (auto separator = OneParam(request, "csv_separator")) {
    if (*separator != ";" && *separator != ",") return arrow::Status::Invalid("csv_separator must be ';' or ','");
    options.csv_separator = (*separator)[0];
  }
  ARROW_ASSIGN_OR_RAISE(response.body, query::ExportTable(*result.table, format.format, options));
  response.content_type = std::string(query::ContentType(format.format));
  std::string date = result.snapshot_id.substr(0, 8);
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + (date.empty() ? "" : "-" + date) +
                                                           "." + std::string(query::FileExtension(format.format)) + "\"");
  response.headers.emplace_back("X-Memberlake-Source", result.source);
  response.headers.emplace_back("X-Memberlake-Snapshot", result.snapshot_id);
  response.headers.emplace_back("X-Memberlake-Live-Data-Version", std::to_string(result.live_data_version));
  return response;
}

// Personal data: anything that lists members (not aggregates over them).
static bool ListsMembers(const query::QuerySpec& spec) { return spec.aggregates.empty() && spec.group_by.empty(); }

static std::string CanonicalParams(const ApiRequest& request) {
  std::string text;
  for (const auto& [name, value] : request.params) text += name + "=" + value + "&";
  return text;
}

static std::string ViewKey(const Caller& caller) {
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

arrow::Result<ApiResponse> ApiService::Impl::ListMembers(const ApiRequest& request, const Caller& caller,
                                                         AuditNote* note) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region", "where", "order_by", "select", "limit", "offset", "format",
                                           "csv_separator"}));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  note->action = format.is_export ? "member.export" : "member.list";
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  note->scope = scope.ToString();
  ARROW_ASSIGN_OR_RAISE(int64_t limit, IntParam(request, "limit", kDefaultPage, 0, kMaxPage));
  ARROW_ASSIGN_OR_RAISE(int64_t offset, IntParam(request, "offset", 0, 0, 10'000'000));
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, QueryFromParams(request));
  if (!spec.group_by.empty() || !spec.aggregates.empty()) return arrow::Status::Invalid("use /api/query to aggregate");
  if (spec.order_by.empty()) spec.order_by.push_back({"lidnummer", false});
  spec.limit = offset + limit;
  ARROW_ASSIGN_OR_RAISE(spec, policy->AuthorizeQuery(caller.grant, std::move(spec), format.is_export));
  query::QuerySpec count;
  count.where = spec.where;
  count.aggregates.push_back({query::AggregateFn::kCountAll, "", "members"});
  std::string key = "members?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    ARROW_ASSIGN_OR_RAISE(auto result, source.Run(scope, spec));
    ARROW_ASSIGN_OR_RAISE(auto total, source.Run(scope, count));
    int64_t members = total.table->num_rows() == 0
                          ? 0
                          : std::static_pointer_cast<arrow::Int64Array>(total.table->column(0)->chunk(0))->Value(0);
    result.table = Page(result.table, offset, limit);
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    return Render(request, result, scope, format, "members",
                  Json{{"total", members}, {"offset", offset}, {"limit", limit}});
  });
}

std::optional<std::string> ApiService::Impl::RegionOf(const model::MemberRecord& record) const {
  int index = registry->StoredIndex(registry->partition_field());
  if (index < 0 || static_cast<size_t>(index) >= record.size()) return std::nullopt;
  return record[index];
}

std::string ApiService::Impl::MemberJson(const Caller& caller, const store::StoredMember& member) const {
  model::MemberRecord visible = member.record;
  auto shown = policy->VisibleStoredFields(caller.grant);
  for (size_t i = 0; i < visible.size() && i < shown.size(); ++i) {
    if (!shown[i]) visible[i].reset();
  }
  return model::MemberToJson(*registry, visible, member.version);
}

arrow::Result<ApiResponse> ApiService::Impl::GetMember(const Caller& caller, const std::string& id, AuditNote* note) {
  note->action = "member.read";
  note->target = id;
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  auto member = lease->Get(id);
  if (!member.ok() && !member.status().IsKeyError()) return member.status();
  std::optional<std::string> region = member.ok() ? RegionOf(member->record) : std::nullopt;
  ARROW_RETURN_NOT_OK(policy->AuthorizeMemberRead(caller.grant, id, region));
  note->rows = 1;
  note->data_version = std::to_string(member->version);
  ApiResponse response;
  response.body = MemberJson(caller, *member);
  response.headers.emplace_back("ETag", VersionTag(member->version));
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::WriteMember(const ApiRequest& request, const Caller& caller, Action action,
                                                         const std::string& id, AuditNote* note) {
  note->action = action == Action::kCreate ? "member.create" : action == Action::kUpdate ? "member.update" : "member.delete";
  note->target = id;
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"version"}));
  store::FieldValues fields;
  int64_t expected = -1;
  if (action != Action::kDelete) {
    ARROW_ASSIGN_OR_RAISE(fields, model::ParseMemberJson(request.body));
    // The version the caller last saw may travel in the body as `_version` (as a read gave it).
    Json doc = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("_version")) {
      if (!doc["_version"].is_number_integer()) return arrow::Status::Invalid("_version must be an integer");
      expected = doc["_version"].get<int64_t>();
    }
  }
  if (action != Action::kCreate) {
    std::string if_match = Header(request, "if-match");
    if (!if_match.empty()) {
      std::string digits;
      for (char c : if_match) if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
      if (digits.empty() || digits.size() > 18) return arrow::Status::Invalid("If-Match must be a member version");
      expected = std::stoll(digits);
    } else if (auto version = OneParam(request, "version")) {
      ARROW_ASSIGN_OR_RAISE(expected, IntParam(request, "version", -1, 0, INT64_MAX));
    }
    if (expected < 0) return arrow::Status::Invalid("give the member version you last read (If-Match header or _version)");
  }
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  std::optional<std::string> current_region;
  if (action != Action::kCreate) {
    auto current = lease->Get(id);
    if (!current.ok() && !current.status().IsKeyError()) return current.status();
    if (current.ok()) current_region = RegionOf(current->record);
  }
  ARROW_RETURN_NOT_OK(policy->AuthorizeMemberWrite(caller.grant, action, id, current_region, fields));
  ApiResponse response;
  if (action == Action::kDelete) {
    ARROW_RETURN_NOT_OK(lease->Delete(id, expected));
    response.status = 204;
    response.content_type.clear();
    note->rows = 1;
    return response;
  }
  store::StoredMember written;
  if (action == Action::kCreate) {
    ARROW_ASSIGN_OR_RAISE(written, lease->Insert(fields));
    response.status = 201;
  } else {
    ARROW_ASSIGN_OR_RAISE(written, lease->Update(id, fields, expected));
  }
  // The policy checked the region as given; the stored (normalised) one must agree.
  auto stored_region = RegionOf(written.record);
  if (!stored_region || !caller.grant.InScope(*stored_region)) {
    return arrow::Status::IOError("stored region outside the caller's scope after a checked write");
  }
  int index = registry->StoredIndex("member_id");
  if (index >= 0 && written.record[index]) note->target = *written.record[index];
  note->rows = 1;
  note->data_version = std::to_string(written.version);
  response.body = MemberJson(caller, written);
  response.headers.emplace_back("ETag", VersionTag(written.version));
  if (action == Action::kCreate) response.headers.emplace_back("Location", "/api/members/" + note->target);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::ListReports(const Caller& caller) {
  Json reports = Json::array();
  for (const auto& report : catalog->reports()) {
    if (!policy->AuthorizeReport(caller.grant, report, false).ok()) continue;
    reports.push_back(Json{{"name", report.name},
                           {"description", report.description},
                           {"params", report.params},
                           {"audience", report.audience.empty() ? "members" : report.audience},
                           {"export", caller.grant.Can(Action::kExport)}});
  }
  return JsonResponse(200, Json{{"reports", reports}});
}

arrow::Result<ApiResponse> ApiService::Impl::RunReport(const ApiRequest& request, const Caller& caller,
                                                       const std::string& name, AuditNote* note) {
  ARROW_ASSIGN_OR_RAISE(const query::ReportSpec* report, catalog->Find(name));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  std::set<std::string> allowed = {"region", "format", "csv_separator", "year"};
  allowed.insert(report->params.begin(), report->params.end());
  ARROW_RETURN_NOT_OK(OnlyParams(request, allowed));
  ARROW_RETURN_NOT_OK(policy->AuthorizeReport(caller.grant, *report, format.is_export));
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  std::map<std::string, std::string> params;
  for (const auto& param : report->params) {
    if (auto value = OneParam(request, param)) params[param] = *value;
  }
  if (auto year = OneParam(request, "year")) params["year"] = *year;
  const bool personal = report->kind != query::ReportKind::kDistribution &&
                        (report->kind == query::ReportKind::kAlvJubilee || ListsMembers(report->base));
  if (personal || format.is_export) note->action = format.is_export ? "report.export" : "report.read";
  note->target = name;
  note->scope = scope.ToString();
  std::string key = "report/" + name + "?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    auto run = [&](const query::QuerySpec& spec) -> arrow::Result<query::QueryResult> {
      ARROW_RETURN_NOT_OK(policy->CheckColumns(caller.grant, spec));  // every query the report runs
      return source.Run(scope, spec);
    };
    ARROW_ASSIGN_OR_RAISE(auto result, query::ReportCatalog::Run(run, *report, params, Today()));
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    Json param_json = Json::object();
    for (const auto& [k, v] : params) param_json[k] = v;
    return Render(request, result, scope, format, name, Json{{"report", name}, {"params", param_json}});
  });
}

arrow::Result<ApiResponse> ApiService::Impl::AdHocQuery(const ApiRequest& request, const Caller& caller,
                                                        AuditNote* note) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region", "where", "order_by", "select", "group_by", "agg", "limit",
                                           "format", "csv_separator"}));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, QueryFromParams(request));
  ARROW_ASSIGN_OR_RAISE(int64_t limit, IntParam(request, "limit", kMaxPage, 0, kMaxPage));
  spec.limit = limit;
  ARROW_ASSIGN_OR_RAISE(spec, policy->AuthorizeQuery(caller.grant, std::move(spec), format.is_export));
  if (ListsMembers(spec) || format.is_export) note->action = format.is_export ? "query.export" : "query.read";
  note->scope = scope.ToString();
  std::string key = "query?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    ARROW_ASSIGN_OR_RAISE(auto result, source.Run(scope, spec));
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    return Render(request, result, scope, format, "query", Json::object());
  });
}

arrow::Result<ApiResponse> ApiService::Impl::ListSnapshots(const Caller& caller) {
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kRead));
  if (!caller.grant.all_reports) return Forbidden("your roles allow the communication views only");
  if (!lake) return arrow::Status::NotImplemented("no lake configured");
  ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(*lake));
  std::string current;
  if (auto manifest = lake::ReadCurrentManifest(*lake); manifest.ok()) current = manifest->snapshot_id;
  Json snapshots = Json::array();
  for (const auto& id : ids) {
    auto manifest = lake::ReadManifest(*lake, id);
    if (!manifest.ok()) continue;  // a manifest being written or damaged: not listed
    Json files = Json::array();
    int64_t rows_in_scope = 0;
    for (const auto& file : manifest->files) {
      if (!policy->MaySeeFile(caller.grant, file)) continue;
      const char* kind = file.kind == lake::SnapshotFileKind::kFull ? "full"
                         : file.kind == lake::SnapshotFileKind::kRegional ? "regional" : "view";
      files.push_back(Json{{"path", file.path}, {"kind", kind}, {"region", file.region}, {"view", file.view},
                           {"rows", file.rows}, {"bytes", file.bytes}, {"sha256", file.sha256},
                           {"url", "/api/snapshots/" + id + "/files/" + file.path}});
      if (file.kind == lake::SnapshotFileKind::kRegional || caller.grant.all_regions) {
        rows_in_scope += file.kind == lake::SnapshotFileKind::kView ? 0 : file.rows;
      }
    }
    Json entry = {{"snapshot_id", id}, {"current", id == current}, {"generated_at", manifest->generated_at},
                  {"data_version", manifest->data_version}, {"as_of", manifest->as_of},
                  {"schema_version", manifest->schema_version}, {"members_in_scope", rows_in_scope}, {"files", files}};
    // Totals and the quarantine (raw bad values of every region) only for all-regions callers.
    if (caller.grant.all_regions) {
      entry["members"] = manifest->members;
      entry["quarantined"] = manifest->quarantined;
    }
    snapshots.push_back(std::move(entry));
  }
  return JsonResponse(200, Json{{"current", current}, {"snapshots", snapshots}});
}

arrow::Result<ApiResponse> ApiService::Impl::Download(const ApiRequest& request, const Caller& caller,
                                                      const std::string& id, const std::string& path, AuditNote* note) {
  note->action = "snapshot.download";
  note->target = id + "/" + path;
  ARROW_RETURN_NOT_OK(OnlyParams(request, {}));
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kDownload));
  if (!caller.grant.all_reports) return Forbidden("your roles allow the communication views only");
  if (!lake) return arrow::Status::NotImplemented("no lake configured");
  if (!SafeId(id)) return arrow::Status::KeyError("no snapshot ", id);
  auto manifest = lake::ReadManifest(*lake, id);
  if (!manifest.ok()) return arrow::Status::KeyError("no snapshot ", id);
  // Only files the manifest lists can be named, so no path escapes the lake; a file outside
  // the caller's scope is reported like a file that does not exist.
  auto file = std::find_if(manifest->files.begin(), manifest->files.end(),
                           [&](const lake::SnapshotFile& f) { return f.path == path; });
  if (file == manifest->files.end() || !policy->MaySeeFile(caller.grant, *file)) {
    return arrow::Status::KeyError("no file ", path, " in snapshot ", id);
  }
  note->scope = file->kind == lake::SnapshotFileKind::kRegional ? file->region : "all";
  note->data_version = std::to_string(manifest->data_version);
  ApiResponse response;
  response.content_type = "application/vnd.apache.parquet";
  std::string name = path.substr(path.rfind('/') + 1);
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  const bool whole = caller.grant.restricted_fields;
  std::string etag = "\"" + file->sha256.substr(0, 32) + (whole ? "" : "-p") + "\"";
  response.headers.emplace_back("ETag", etag);
  if (Header(request, "if-none-match").find(etag) != std::string::npos) {
    response.status = 304;
    response.body.clear();
    response.content_type.clear();
    note->action.clear();  // nothing was sent
    return response;
  }
  note->rows = file->rows;
  if (whole) {
    ARROW_ASSIGN_OR_RAISE(response.body, lake->ReadAll(path));
    return response;
  }
  // Roles without restricted access get the same file without the restricted columns.
  ARROW_ASSIGN_OR_RAISE(auto table, query::ReadLakeFile(*lake, path, policy->VisibleColumns(caller.grant)));
  ARROW_ASSIGN_OR_RAISE(response.body, query::ExportTable(*table, query::ExportFormat::kParquet));
  note->detail = "restricted columns removed";
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::StartGeneration(const ApiRequest& request, const Caller& caller,
                                                             AuditNote* note) {
  note->action = "generate";
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"as_of"}));
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kGenerate));
  if (!generation) return arrow::Status::NotImplemented("generation needs both a store and a lake");
  model::CivilDate as_of = Today();
  if (auto text = OneParam(request, "as_of")) {
    ARROW_ASSIGN_OR_RAISE(as_of, model::ParseIsoDate(*text));
  }
  ARROW_ASSIGN_OR_RAISE(auto job, generation->Submit(caller.principal.subject, as_of));
  note->target = job.id;
  ApiResponse response;
  response.status = 202;
  response.body = job.ToJson();
  response.headers.emplace_back("Location", "/api/jobs/" + job.id);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::GetJob(const Caller& caller, const std::string& id) {
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kGenerate));
  if (!generation) return arrow::Status::KeyError("no job ", id);
  auto job = generation->Get(id);
  if (!job) return arrow::Status::KeyError("no job ", id);
  ApiResponse response;
  response.body = job->ToJson();
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::ReadAudit(const ApiRequest& request, const Caller& caller) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"after", "limit"}));
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kAudit));
  ARROW_ASSIGN_OR_RAISE(int64_t after, IntParam(request, "after", 0, 0, INT64_MAX));
  ARROW_ASSIGN_OR_RAISE(int64_t limit, IntParam(request, "limit", 100, 1, 10000));
  ARROW_ASSIGN_OR_RAISE(auto records, audit->Read(after, limit));
  std::string body = "{\"entries\":[";
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0) body += ',';
    body += AuditLog::ToJson(records[i]);
  }
  body += "]}";
  ApiResponse response;
  response.body = std::move(body);
  return response;
}

}  // namespace memberlake::server
