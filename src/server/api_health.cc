// The deep data check in the server (docs/health.md): GET /api/health/data, the [health]
// schedule, metrics per check, an audit entry per run and the webhook for failures.
#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "server/api_service_impl.h"

namespace memberlake::server {
namespace {

Caller SystemCaller(const std::string& subject) {
  Caller caller;
  caller.principal.subject = subject;
  caller.principal.auth_method = "job";
  return caller;
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

arrow::Result<jobs::HealthReport> ApiService::Impl::RunDataHealth(const Caller& caller) {
  if (!lake) return arrow::Status::KeyError("no lake configured: nothing to check");
  std::lock_guard<std::mutex> running(health_run_mutex);  // one run at a time: it reads every file
  ARROW_ASSIGN_OR_RAISE(auto manifest, lake::ReadCurrentManifest(*lake));
  jobs::DeepCheckOptions options;
  std::optional<store::StorePool::Lease> lease;
  if (stores) {
    if (auto acquired = stores->Acquire(); acquired.ok()) {
      lease.emplace(std::move(*acquired));
      options.store = &**lease;
    }
  }
  auto report = jobs::DeepCheck(*lake, manifest, registry, options);
  lease.reset();
  AuditNote note{"health.check", manifest.snapshot_id, -1, std::to_string(manifest.data_version), "all", ""};
  if (!report.ok()) {
    WriteAudit(caller, note, report.status());
    PostHealthWebhook("data_check_error", report.status().ToString(), "");
    return report.status();
  }
  const double now = UnixNow();
  int64_t rows = 0;
  for (const auto& check : report->checks) {
    metrics.RecordDataCheck(check.name, check.passed, check.rows_checked, check.mismatches, now);
    if (check.name == "calculated_fields") rows = check.rows_checked;
  }
  note.rows = rows;
  note.detail = report->passed() ? "all checks passed" : "";
  WriteAudit(caller, note, report->ToStatus());
  {
    std::lock_guard<std::mutex> lock(health_mutex);
    last_health = *report;
  }
  if (!report->passed()) PostHealthWebhook("data_check_failed", report->ToStatus().message(), report->ToJson());
  return report;
}

void ApiService::Impl::StartHealthSchedule() {
  if (!lake || config.deep_check_interval_seconds <= 0) return;
  Impl* self = this;
  health_schedule = std::make_unique<jobs::PeriodicTask>(
      std::chrono::seconds(config.deep_check_interval_seconds), [self] {
        auto report = self->RunDataHealth(SystemCaller("schedule:health"));
        if (!report.ok() && !report.status().IsKeyError()) {
          std::fprintf(stderr, "memberlake: scheduled data check: %s\n", report.status().ToString().c_str());
        }
      });
}

void ApiService::Impl::PostHealthWebhook(const std::string& event, const std::string& detail,
                                         const std::string& report_json) {
  const std::string& url = config.health_webhook_url;
  if (url.empty()) return;
  Json body = {{"source", "memberlake"}, {"event", event}, {"detail", detail}, {"sent_at", model::UtcNowIso()}};
  if (!report_json.empty()) body["report"] = Json::parse(report_json, nullptr, false);
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // scheme://host[:port] and the path after it
  const size_t slash = url.find('/', url.find("://") + 3);
  const std::string origin = url.substr(0, slash);
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  auto delay = std::chrono::milliseconds(500);
  for (int64_t attempt = 1; attempt <= config.health_webhook_attempts; ++attempt) {
    httplib::Client client(origin);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    auto answer = client.Post(path, text, "application/json");
    if (answer && answer->status < 300) return;
    const bool retry = !answer || answer->status >= 500 || answer->status == 429;
    std::fprintf(stderr, "memberlake: health webhook attempt %lld of %lld failed (%s)\n",
                 static_cast<long long>(attempt), static_cast<long long>(config.health_webhook_attempts),
                 answer ? ("status " + std::to_string(answer->status)).c_str() : httplib::to_string(answer.error()).c_str());
    if (!retry) return;
    if (attempt < config.health_webhook_attempts) {
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
  }
}

arrow::Result<ApiResponse> ApiService::Impl::DataHealth(const ApiRequest& request, const Caller& caller) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"run"}));
  // Problems name member ids of every region: the audit role's whole-lake view.
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kAudit));
  bool run = false;
  if (auto text = OneParam(request, "run")) {
    if (*text != "true" && *text != "false") return arrow::Status::Invalid("run: expected true or false");
    run = *text == "true";
  }
  std::optional<jobs::HealthReport> report;
  if (!run) {
    std::lock_guard<std::mutex> lock(health_mutex);
    report = last_health;
  }
  if (!report) {
    ARROW_ASSIGN_OR_RAISE(auto fresh, RunDataHealth(caller));
    report = std::move(fresh);
  }
  ApiResponse response;
  response.body = report->ToJson();
  return response;
}

}  // namespace memberlake::server
