// The API service's state and handlers, shared by its source files: api_service.cc (start-up,
// authentication, routing, audit, health and metrics), api_members.cc, api_queries.cc (reports,
// ad-hoc queries, the response cache), api_snapshots.cc, api_jobs.cc (generation jobs, audit
// reads), api_health.cc (the deep data check: schedule, results, webhook). Internal to the service.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "jobs/data_health.h"
#include "ai/ask.h"
#include "jobs/generation_jobs.h"
#include "jobs/generation_triggers.h"
#include "lake/snapshot_manifest.h"
#include "model/calendar.h"
#include "query/lru_cache.h"
#include "query/member_source.h"
#include "query/report_catalog.h"
#include "query/result_cache.h"
#include "server/access_policy.h"
#include "server/api_keys.h"
#include "server/api_request.h"
#include "server/api_service.h"
#include "server/audit_log.h"
#include "server/jwt_verifier.h"
#include "server/metrics.h"
#include "server/static_files.h"
#include "store/store_pool.h"

namespace memberlake::server {

// A member id taken from a URL path (api_members.cc): Invalid unless it keeps to a safe alphabet.
arrow::Status CheckPathMemberId(const std::string& id);

// What a request leaves in the audit trail; appended once, when it ends.
struct AuditNote {
  std::string action;  // empty: not audited
  std::string target;
  int64_t rows = -1;
  std::string data_version;
  std::string scope;
  std::string detail;
};

// While one is alive on a thread, the service answers on that thread only what it can answer
// without waiting (ApiService::HandleIfQuick): a route that would scan, write, call out or wait
// for another request's computation returns WouldBlock() instead, before doing anything.
class QuickOnlyScope {
 public:
  QuickOnlyScope();
  ~QuickOnlyScope();
  QuickOnlyScope(const QuickOnlyScope&) = delete;
  QuickOnlyScope& operator=(const QuickOnlyScope&) = delete;
  static bool Active();  // on this thread
};
// "Not answered quickly": the request needs Handle on a thread that may wait.
arrow::Status WouldBlock();
bool IsWouldBlock(const arrow::Status& status);

// RS256 keys come from the issuer (jwks_uri or discovery), fetched again when they rotate (api_auth.cc).
bool FetchesSigningKeys(const ServerConfig& config);
// The verifier's settings from the config, with its RS256 key source (api_auth.cc).
arrow::Result<JwtOptions> JwtOptionsFor(const ServerConfig& config);

class ApiService::Impl {
 public:
  ServerConfig config;
  std::shared_ptr<const model::FieldRegistry> registry;
  std::shared_ptr<const AccessPolicy> policy;
  std::unique_ptr<model::MemberNormalizer> normalizer;  // the store's rules, for input checks
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
  // Shared: a streamed answer captured for it (CaptureForCache) may finish after a shutdown began.
  std::shared_ptr<query::LruCache<Rendered>> rendered;
  // Identical requests that miss the cache together wait for one computation (after a new
  // snapshot every key is cold at once; without this each waiting connection computes it).
  std::mutex inflight_mutex;
  std::unordered_map<std::string, std::shared_future<arrow::Result<Rendered>>> inflight;
  std::unique_ptr<JwtVerifier> jwt;
  std::unique_ptr<ApiKeyStore> api_keys;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<StaticFiles> static_files;  // the dashboard (server.web_root), or none
  model::CivilDate fixed_as_of{};
  bool has_fixed_as_of = false;
  Metrics metrics;
  // HandleIfQuick may answer: quick_answers is on and nothing on its path waits on the network.
  bool quick_capable = false;
  std::unique_ptr<ai::TokenBudget> ask_budget;  // tokens per caller per day (config.ai.budget_file)
  store::StorePool::Opener store_opener;
  // Last, so that they go first: their threads use everything above (see ~Impl).
  std::unique_ptr<jobs::GenerationJobs> generation;
  std::unique_ptr<jobs::GenerationTriggers> triggers;  // stopped before `generation` goes
  // The deep data check (api_health.cc): one run at a time, the last report, the schedule.
  std::mutex health_run_mutex;
  std::mutex health_mutex;
  std::optional<jobs::HealthReport> last_health;
  std::unique_ptr<jobs::PeriodicTask> health_schedule;  // stopped first (~Impl, Drain)

  ~Impl();
  // Starts the generation jobs and triggers (with a store and a lake); the last step of Make.
  void StartJobs();
  // Completes erasures a killed process left journaled in the lake (api_privacy.cc; at start).
  arrow::Status ResumeErasures();
  // The [retention] rules at Today(), after a generation (the lifecycle): audited, caches
  // emptied when anyone was erased. Returns the job's account ("retention: N member(s) ...").
  arrow::Result<std::string> ApplyRetentionRules(store::MemberStore& store);

  model::CivilDate Today() const {
    return has_fixed_as_of ? fixed_as_of : model::TodayInAmsterdam(std::chrono::system_clock::now());
  }
  // Handles and records the request in `metrics`.
  ApiResponse Handle(const ApiRequest& request);
  std::optional<ApiResponse> HandleIfQuick(const ApiRequest& request);
  void WriteAudit(const Caller& caller, const AuditNote& note, const arrow::Status& status);
  // The deep data check of the current snapshot, on behalf of `caller`: metrics, an audit
  // entry ("health.check"), the webhook when a check fails; the report is kept for the API.
  arrow::Result<jobs::HealthReport> RunDataHealth(const Caller& caller);
  // [health] the schedule; the last step of Make.
  void StartHealthSchedule();
  // [health] webhook_url: a JSON POST, retried with backoff; failures go to stderr.
  void PostHealthWebhook(const std::string& event, const std::string& detail, const std::string& report_json);

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

  // Render with the page's total, truncated and next (JSON members, or headers of a file).
  arrow::Result<ApiResponse> RenderPage(const ApiRequest& request, const query::QueryResult& result,
                                        const query::RegionalScope& scope, const ParsedFormat& format,
                                        const std::string& name, Json extra, int64_t total, const PageRequest& page);
  arrow::Result<ApiResponse> Render(const ApiRequest& request, const query::QueryResult& result,
                                    const query::RegionalScope& scope, const ParsedFormat& format,
                                    const std::string& name, Json extra);

  arrow::Result<ApiResponse> Me(const Caller& caller);
  ApiResponse AuthConfig() const;  // api_auth.cc
  arrow::Result<ApiResponse> Ready();
  ApiResponse HandleUnmetered(const ApiRequest& request);
  // Handle's work; nullopt when HandleUnmetered did not answer (quick-only mode).
  std::optional<ApiResponse> HandleMetered(const ApiRequest& request);
  // CORS (api_cors.cc): the answer to OPTIONS, and the headers every answer gets.
  ApiResponse Preflight(const ApiRequest& request) const;
  void AddCorsHeaders(const ApiRequest& request, ApiResponse* response) const;
  ApiResponse MetricsResponse(const ApiRequest& request);
  bool TrustedScraper(const ApiRequest& request) const;
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
  arrow::Result<ApiResponse> DataHealth(const ApiRequest& request, const Caller& caller);
  arrow::Result<ApiResponse> Ask(const ApiRequest& request, const Caller& caller, AuditNote* note);  // api_ask.cc
  // GET /api/anonymised (api_anonymised.cc): export and all regions; audited.
  arrow::Result<ApiResponse> Anonymised(const ApiRequest& request, const Caller& caller, AuditNote* note);
  // Privacy rights (api_privacy.cc): erasure with confirmation, and the subject access export.
  arrow::Result<ApiResponse> EraseMember(const ApiRequest& request, const Caller& caller, const std::string& id,
                                         AuditNote* note);
  arrow::Result<ApiResponse> ExportSubject(const Caller& caller, const std::string& id, AuditNote* note);

  // 400 for a malformed member_id or a lidnummer out of range in a member's JSON.
  arrow::Status CheckMemberValues(const store::FieldValues& fields) const;
  arrow::Status CheckChosenIdentity(const Caller& caller, store::MemberStore& store, const store::FieldValues& fields,
                                    const std::optional<store::StoredMember>& current);
  std::string MemberJson(const Caller& caller, const store::StoredMember& member) const;
  std::optional<std::string> RegionOf(const model::MemberRecord& record) const;
};

}  // namespace memberlake::server
