// Privacy rights over the API (docs/privacy.md): POST /api/members/{id}/erase and
// GET /api/members/{id}/export, for Members_CRUD or System_CRUD with all regions only (they
// reach every region's data and every snapshot). Erasure needs a confirmation in its body,
// {"confirm": "<the member id>"}: stateless, so it works the same behind Lambda, and a
// mistyped or replayed URL alone never erases anyone.
#include <nlohmann/json.hpp>

#include "jobs/erasure.h"
#include "server/api_service_impl.h"
#include "server/privacy_audit.h"

namespace memberlake::server {
namespace {

arrow::Status RequireWholeClubRights(const AccessGrant& grant, const char* what) {
  if (grant.Can(Action::kDelete) && grant.all_regions) return arrow::Status::OK();
  return Forbidden(std::string(what) + " needs Members_CRUD or System_CRUD with all regions");
}

}  // namespace

arrow::Status ApiService::Impl::ResumeErasures() {
  if (!stores || !lake) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  jobs::ErasureOptions options;
  options.pseudonym_key = config.pseudonym_key;
  options.record = [this](const jobs::ErasureReport& report) {
    return audit->Append(ErasureAuditEvent(report, {}, {"*"}));
  };
  ARROW_ASSIGN_OR_RAISE(auto finished, jobs::ResumeErasures(*lease, *lake, options));
  if (!finished.empty()) {
    if (cache) cache->Clear();
    if (rendered) rendered->Clear();
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> ApiService::Impl::ApplyRetentionRules(store::MemberStore& store) {
  if (config.retention.rules.empty() || !lake) return std::string();
  jobs::RetentionRunOptions options;
  options.as_of = Today();
  options.dry_run = config.retention.dry_run;
  options.requested_by = "lifecycle";
  options.erasure.pseudonym_key = config.pseudonym_key;
  options.erasure.record = [this](const jobs::ErasureReport& report) {
    return audit->Append(ErasureAuditEvent(report, {}, {"*"}));
  };
  auto report = jobs::ApplyRetentionRules(store, *lake, config.retention, options);
  if (!report.ok()) {
    ARROW_RETURN_NOT_OK(audit->Append(RetentionFailureAuditEvent(options.dry_run, report.status(), "lifecycle", "job")));
    return report.status();
  }
  if (!report->dry_run && !report->members.empty()) {
    if (cache) cache->Clear();
    if (rendered) rendered->Clear();
  }
  ARROW_RETURN_NOT_OK(audit->Append(RetentionAuditEvent(*report, "lifecycle", "job")));
  return "retention" + std::string(report->dry_run ? " (dry run)" : "") + ": " +
         std::to_string(report->members.size()) + " member(s) " + (report->dry_run ? "due" : "erased or anonymised") +
         ", run " + report->run_id;
}

arrow::Result<ApiResponse> ApiService::Impl::EraseMember(const ApiRequest& request, const Caller& caller,
                                                         const std::string& id, AuditNote* note) {
  // Every attempt is audited, by pseudonym: the trail never names an erased member.
  note->action = "member.erase.request";
  note->target = config.pseudonym_key.empty() ? "unkeyed" : jobs::MemberPseudonym(config.pseudonym_key, id);
  ARROW_RETURN_NOT_OK(RequireWholeClubRights(caller.grant, "erasure"));
  ARROW_RETURN_NOT_OK(CheckPathMemberId(id));
  Json body = Json::parse(request.body.empty() ? "{}" : request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return arrow::Status::Invalid("body: expected a JSON object");
  if (!body.contains("confirm") || !body["confirm"].is_string() || body["confirm"].get<std::string>() != id) {
    return arrow::Status::Invalid("confirm: must be the member id of the path (erasure cannot be undone)");
  }
  std::string reason = "subject request";
  if (body.contains("reason")) {
    if (!body["reason"].is_string() || body["reason"].get<std::string>().size() > 200) {
      return arrow::Status::Invalid("reason: expected text of at most 200 characters");
    }
    reason = body["reason"].get<std::string>();
  }
  if (!stores || !lake) return arrow::Status::IOError("erasure needs a live store and a lake");
  if (config.pseudonym_key.empty()) {
    return arrow::Status::IOError("erasure needs [privacy] pseudonym_key_env in the server config");
  }
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  jobs::ErasureRequest erasure{id, caller.principal.subject, caller.principal.auth_method, reason};
  jobs::ErasureOptions options;
  options.pseudonym_key = config.pseudonym_key;
  options.record = [&](const jobs::ErasureReport& report) {
    return audit->Append(ErasureAuditEvent(report, caller.principal.groups, {"*"}));
  };
  ARROW_ASSIGN_OR_RAISE(auto report, jobs::EraseMember(*lease, *lake, erasure, options));
  // Cached answers and rendered responses may hold the member: none survives the erasure.
  if (cache) cache->Clear();
  if (rendered) rendered->Clear();
  note->rows = report.rows_removed;
  return JsonResponse(200, Json::parse(report.ToJson()));
}

arrow::Result<ApiResponse> ApiService::Impl::ExportSubject(const Caller& caller, const std::string& id,
                                                           AuditNote* note) {
  note->action = "member.subject_export";
  note->target = id;
  ARROW_RETURN_NOT_OK(RequireWholeClubRights(caller.grant, "a subject access export"));
  ARROW_RETURN_NOT_OK(CheckPathMemberId(id));
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  ARROW_ASSIGN_OR_RAISE(auto entries, AuditEntriesNaming(*audit, id));
  ARROW_ASSIGN_OR_RAISE(std::string doc, jobs::SubjectExport(*lease, lake.get(), id, entries));
  ApiResponse response;
  response.body = std::move(doc);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace memberlake::server
