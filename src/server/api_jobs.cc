#include "server/api_service_impl.h"


namespace memberlake::server {

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
