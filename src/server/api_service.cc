#include "server/api_service_impl.h"

#include <chrono>
#include <cstdio>
#include <set>
#include <utility>

#include "lake/snapshot_manifest.h"
#include "model/text.h"
#include "query/export.h"

namespace memberlake::server {

// config/openapi.json, compiled in (CMakeLists.txt memberlake_embed).
extern const std::string_view kOpenApiJson;

ApiService::ApiService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiService::~ApiService() { Drain(); }

void ApiService::Drain() {
  impl_->health_schedule.reset();  // no new data checks
  impl_->triggers.reset();  // no new jobs
  if (impl_->generation) impl_->generation.reset();  // joins a running job
  if (impl_->audit) (void)impl_->audit->Sync();
}

ApiResponse ApiService::Handle(const ApiRequest& request) { return impl_->Handle(request); }
std::optional<ApiResponse> ApiService::HandleIfQuick(const ApiRequest& request) { return impl_->HandleIfQuick(request); }

namespace {

thread_local int quick_only_depth = 0;

class WouldBlockDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "memberlake::server::WouldBlock";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "answered by Handle on a worker"; }
};

// The internal "not answered" status of HandleUnmetered in quick-only mode; never sent.
constexpr int kNotAnswered = 0;

ApiResponse NotAnswered() {
  ApiResponse response;
  response.status = kNotAnswered;
  return response;
}

// The authenticated routes HandleIfQuick may answer: reads that are cheap or whose rendered
// answer may be cached. Checked before authentication, so nothing else pays for it twice.
bool QuickRoute(const ApiRequest& request) {
  if (request.method != "GET") return false;
  const std::string& path = request.path;
  return path == "/api/me" || path == "/api/members" || path == "/api/query" ||
         (path.rfind("/api/reports/", 0) == 0 && path.find('/', 13) == std::string::npos && path.size() > 13);
}

}  // namespace

QuickOnlyScope::QuickOnlyScope() { ++quick_only_depth; }
QuickOnlyScope::~QuickOnlyScope() { --quick_only_depth; }
bool QuickOnlyScope::Active() { return quick_only_depth > 0; }

arrow::Status WouldBlock() {
  return arrow::Status::Cancelled("would block").WithDetail(std::make_shared<WouldBlockDetail>());
}

bool IsWouldBlock(const arrow::Status& status) {
  return status.IsCancelled() && status.detail() != nullptr &&
         std::string_view(status.detail()->type_id()) == WouldBlockDetail::kTypeId;
}

arrow::Result<std::string> ApiService::ApplyRetentionRules() {
  if (impl_->config.retention.rules.empty() || !impl_->stores || !impl_->lake) return std::string();
  ARROW_ASSIGN_OR_RAISE(auto lease, impl_->stores->Acquire());
  return impl_->ApplyRetentionRules(*lease);
}

arrow::Result<std::string> CollectBody(ApiResponse& response) {
  if (!response.producer) return response.body;
  BodyProducer producer = std::exchange(response.producer, nullptr);
  ARROW_ASSIGN_OR_RAISE(auto source, producer());
  return query::Collect(*source);
}

arrow::Result<std::unique_ptr<ApiService>> ApiService::Make(const ServerConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  // The one way every entry point finds the registry: the setting, else $MEMBERLAKE_REGISTRY,
  // else the built-in one (so the server, the CLI and Lambda never disagree on the schema).
  ARROW_ASSIGN_OR_RAISE(impl->registry, model::FieldRegistry::Load(config.registry));
  impl->normalizer = std::make_unique<model::MemberNormalizer>(impl->registry);
  ARROW_RETURN_NOT_OK(config.retention.Validate(*impl->registry));
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
  // The budget's day is the server's today: data.as_of when fixed (tests), else Europe/Amsterdam.
  Impl* self = impl.get();
  ai::TokenBudget::DayClock day = [self] { return model::FormatIsoDate(self->Today()); };
  if (config.ai.budget_file.empty()) {
    impl->ask_budget = std::make_unique<ai::TokenBudget>(config.ai.ask.daily_tokens, day);
  } else {
    ARROW_ASSIGN_OR_RAISE(impl->ask_budget, ai::TokenBudget::Open(config.ai.ask.daily_tokens, config.ai.budget_file, day));
  }
  if (!config.lake.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->lake, lake::LakeStorage::Open(config.lake, /*create=*/true));
    // A registry that would make a kept snapshot unreadable is refused before it serves.
    ARROW_RETURN_NOT_OK(jobs::CheckRegistryAgainstLake(*impl->lake, *impl->registry));
  }
  if (!config.store.empty()) {
    auto registry = impl->registry;
    std::string uri = config.store;
    store::StorePool::Opener opener = [uri, registry] { return store::OpenMemberStore(uri, registry); };
    // Fail at start, not on the first request, when the store cannot be opened.
    ARROW_RETURN_NOT_OK(opener().status());
    impl->stores = std::make_unique<store::StorePool>(opener, static_cast<size_t>(config.threads) + 2);
    impl->store_opener = opener;
  }
  if (config.cache_bytes > 0) {
    impl->cache = std::make_unique<query::ResultCache>(config.cache_bytes);
    impl->rendered = std::make_shared<query::LruCache<Impl::Rendered>>(config.cache_bytes, config.cache_entry_bytes);
  }
  if (!config.issuer.empty() && !config.audience.empty()) {
    ARROW_ASSIGN_OR_RAISE(JwtOptions options, JwtOptionsFor(config));
    ARROW_ASSIGN_OR_RAISE(impl->jwt, JwtVerifier::Make(options));
  }
  if (!config.api_keys_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->api_keys, ApiKeyStore::LoadFile(config.api_keys_file));
  }
  ARROW_ASSIGN_OR_RAISE(impl->audit, AuditLog::Open(config.audit_log, config.audit_key));
  // The quick path reads CURRENT and the store's data version and may append an audit line:
  // local files only. RS256 keys from an issuer may be fetched again on an unknown kid.
  auto local = [](const std::string& location) { return location.rfind("s3://", 0) != 0; };
  const bool fetches_keys = impl->jwt && FetchesSigningKeys(config);
  impl->quick_capable = config.quick_answers && local(config.lake) && local(config.audit_log) &&
                        (config.store.empty() || config.store.rfind("sqlite:", 0) == 0) && !fetches_keys;
  if (!config.web_root.empty()) {
    // The page fetches the issuer's discovery document itself (OpenID sign-in).
    std::vector<std::string> origins = config.web_connect_origins;
    if (auto scheme = config.issuer.find("://"); scheme != std::string::npos) {
      origins.push_back(config.issuer.substr(0, config.issuer.find('/', scheme + 3)));
    }
    ARROW_ASSIGN_OR_RAISE(impl->static_files, StaticFiles::Open(config.web_root, origins));
  }
  // An erasure a killed process left half done completes before any request is answered.
  ARROW_RETURN_NOT_OK(impl->ResumeErasures());
  // Threads last: once everything they use (audit log, metrics, stores) is in place, and after
  // every step that can fail, so a failed start leaves no job running.
  impl->StartJobs();
  impl->StartHealthSchedule();
  return std::unique_ptr<ApiService>(new ApiService(std::move(impl)));
}

void ApiService::Impl::StartJobs() {
  if (!stores || !lake) return;
  Impl* self = this;
  jobs::GenerateOptions base = jobs::UnattendedOptions(config.keep_snapshots, config.verify == "deep");
  auto on_finish = [self](const jobs::JobStatus& job) {
    self->metrics.RecordGeneration(job.state == "succeeded", job.seconds);
    if (job.state == "failed") self->PostHealthWebhook("generation_failed", job.error, "");
    Caller system;
    system.principal.subject = job.requested_by;
    system.principal.auth_method = "job";
    std::string detail = job.state == "succeeded" ? "snapshot " + job.snapshot_id : job.error;
    if (!job.pruned_snapshots.empty()) {
      detail += "; pruned " + std::to_string(job.pruned_snapshots.size()) + " old snapshot(s) from " +
                job.pruned_snapshots.front() + " to " + job.pruned_snapshots.back();
    }
    if (!job.retention_error.empty()) detail += "; pruning failed: " + job.retention_error;
    if (!job.lifecycle.empty()) detail += "; " + job.lifecycle;
    if (!job.lifecycle_error.empty()) detail += "; retention rules failed: " + job.lifecycle_error;
    AuditNote note{"generate.finish", job.id, job.members, std::to_string(job.data_version), "all", detail};
    self->WriteAudit(system, note, job.state == "succeeded" ? arrow::Status::OK() : arrow::Status::IOError(job.error));
  };
  jobs::GenerationJobs::LifecycleFn lifecycle;
  if (!config.retention.rules.empty()) {
    lifecycle = [self](store::MemberStore& store, const jobs::JobStatus&) { return self->ApplyRetentionRules(store); };
  }
  generation = std::make_unique<jobs::GenerationJobs>(store_opener, lake.get(), on_finish, base,
                                                      jobs::GenerationJobs::kDefaultKeepFinished, lifecycle);
  if (config.triggers.enabled()) {
    auto probe = [self]() -> arrow::Result<std::pair<int64_t, int64_t>> {
      ARROW_ASSIGN_OR_RAISE(auto lease, self->stores->Acquire());
      ARROW_ASSIGN_OR_RAISE(int64_t live, lease->DataVersion());
      auto manifest = lake::ReadCurrentManifest(*self->lake);
      if (!manifest.ok() && !manifest.status().IsKeyError()) return manifest.status();
      return std::make_pair(live, manifest.ok() ? manifest->data_version : int64_t{0});
    };
    triggers = std::make_unique<jobs::GenerationTriggers>(config.triggers, generation.get(), probe,
                                                          [self] { return self->Today(); });
  }
}

ApiService::Impl::~Impl() {
  // The job threads use the audit log, the metrics and the stores: they stop first.
  health_schedule.reset();
  triggers.reset();
  generation.reset();
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
    if (!principal.ok() && principal.status().IsIOError()) return principal.status();  // no keys: 503
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
  return *HandleMetered(request);
}

std::optional<ApiResponse> ApiService::Impl::HandleIfQuick(const ApiRequest& request) {
  if (!quick_capable) return std::nullopt;
  QuickOnlyScope quick;
  return HandleMetered(request);
}

std::optional<ApiResponse> ApiService::Impl::HandleMetered(const ApiRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  // Preflights carry no credentials: answered before authentication.
  ApiResponse response = request.method == "OPTIONS" ? Preflight(request) : HandleUnmetered(request);
  if (response.status == kNotAnswered) return std::nullopt;
  AddCorsHeaders(request, &response);
  static const std::set<std::string> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  metrics.RecordRequest(RouteTemplate(request.path), kMethods.count(request.method) ? request.method : "other",
                        response.status,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return response;
}

ApiResponse ApiService::Impl::HandleUnmetered(const ApiRequest& request) {
  try {
    if (request.method == "GET" && request.path == "/health") return JsonResponse(200, Json{{"status", "ok"}});
    if (request.method == "GET" && request.path == "/metrics") return MetricsResponse(request);
    if (request.method == "GET" && request.path == "/api/openapi.json") {
      // The contract is no secret: tools fetch it before they hold a token.
      ApiResponse contract;
      contract.body = std::string(kOpenApiJson);
      return contract;
    }
    // The dashboard's files are public (it signs in through the API): no credentials asked.
    const bool quick_only = QuickOnlyScope::Active();
    if (static_files && StaticFiles::Claims(request)) return quick_only ? NotAnswered() : static_files->Serve(request);
    if (request.method == "GET" && request.path == "/ready") {
      if (quick_only) return NotAnswered();
      auto ready = Ready();
      return ready.ok() ? *ready : ErrorResponse(503, ready.status().message());
    }
    if (request.method != "GET" && (request.path == "/health" || request.path == "/ready" ||
                                    request.path == "/metrics" || request.path == "/api/openapi.json")) {
      ApiResponse refused = ErrorResponse(405, "method " + request.method + " not allowed on " + request.path);
      refused.headers.emplace_back("Allow", AllowedMethods(request.path));
      return refused;
    }
    if (request.method == "GET" && request.path == "/api/auth/config") return AuthConfig();  // before sign-in
    if (quick_only && !QuickRoute(request)) return NotAnswered();
    auto caller = Authenticate(request);
    if (!caller.ok() && caller.status().IsIOError()) {
      // The issuer's signing keys cannot be fetched (jwks_cache.cc logs why, once per attempt):
      // not the caller's fault, and signing in again would not help.
      return ErrorResponse(503, "sign-in is unavailable: the token signing keys cannot be fetched");
    }
    if (!caller.ok()) return ErrorResponse(401, caller.status().message());
    AuditNote note;
    auto response = Route(request, *caller, &note);
    if (!response.ok() && IsWouldBlock(response.status())) return NotAnswered();  // nothing done: not audited
    if (!note.action.empty()) WriteAudit(*caller, note, response.status());
    if (!response.ok()) {
      int status = HttpStatusFor(response.status());
      if (status >= 500) {
        std::fprintf(stderr, "memberlake: %s %s: %s\n", request.method.c_str(), request.path.c_str(),
                     response.status().ToString().c_str());
      }
      ApiResponse error = ErrorResponse(status, status >= 500 ? "internal error" : response.status().message());
      if (status == 405) error.headers.emplace_back("Allow", AllowedMethods(request.path));
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
  if (resource == "members" && parts.size() == 4 && parts[3] == "erase") {
    if (m != "POST") return method_not_allowed();
    return EraseMember(request, caller, parts[2], note);
  }
  if (resource == "members" && parts.size() == 4 && parts[3] == "export") {
    if (m != "GET") return method_not_allowed();
    return ExportSubject(caller, parts[2], note);
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
  if (resource == "health" && parts.size() == 3 && parts[2] == "data") {
    if (m != "GET") return method_not_allowed();
    return DataHealth(request, caller);
  }
  if (resource == "ask" && parts.size() == 2) {
    if (m != "POST") return method_not_allowed();
    return Ask(request, caller, note);
  }
  if (resource == "anonymised" && parts.size() == 2) return m == "GET" ? Anonymised(request, caller, note) : method_not_allowed();
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

// Only a scraper that connects from an address in server.metrics_allow or presents the
// configured token counts as trusted; the comparison takes the same time wherever the tokens differ.
bool ApiService::Impl::TrustedScraper(const ApiRequest& request) const {
  if (!config.metrics_allow.empty() && !request.remote.empty()) {
    auto allowlist = AddressAllowlist::Parse(config.metrics_allow);  // valid: checked at load
    if (allowlist.ok() && allowlist->Allows(request.remote)) return true;
  }
  if (config.metrics_token.empty()) return false;
  const std::string expected = "Bearer " + config.metrics_token;
  const std::string given = Header(request, "authorization");
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < given.size(); ++i) difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return difference == 0;
}

ApiResponse ApiService::Impl::MetricsResponse(const ApiRequest& request) {
  using Sample = Metrics::Sample;
  std::vector<Sample> samples;
  std::optional<int64_t> snapshot_version;
  // Member counts and data versions (whose steps count the club's edits) tell the size and
  // activity of the membership: for a trusted scraper only. The rest names nothing of it.
  const bool trusted = TrustedScraper(request);
  if (lake) {
    if (auto manifest = lake::ReadCurrentManifest(*lake); manifest.ok()) {
      snapshot_version = manifest->data_version;
      if (trusted) {
        samples.push_back({"memberlake_snapshot_data_version", "gauge", "data_version of the current snapshot.",
                           static_cast<double>(manifest->data_version)});
        samples.push_back({"memberlake_snapshot_members", "gauge", "Members in the current snapshot's full dataset.",
                           static_cast<double>(manifest->members)});
      }
      if (auto generated = lake::SnapshotIdTime(manifest->snapshot_id)) {
        samples.push_back({"memberlake_snapshot_age_seconds", "gauge", "Seconds since the current snapshot was generated.",
                           std::chrono::duration<double>(std::chrono::system_clock::now() - *generated).count()});
      }
    }
  }
  if (stores && trusted) {
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
  response.body = metrics.Render(samples, trusted);
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
                                // may ask questions (POST /api/ask): enabled here, and the member-data read
                                {"ask", config.ai.enabled && caller.grant.all_reports && caller.grant.Can(Action::kRead)},
                                {"reports", caller.grant.all_reports ? "all"
                                            : caller.grant.communication_reports ? "communication" : "none"}});
}

}  // namespace memberlake::server
