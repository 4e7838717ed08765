// POST /api/ask: a question answered by a language model from the caller's scoped, suppressed
// aggregates (ai/ask.h, docs/ai.md). Every question is audited (action "ask"): the model, the
// queries, rows returned and tokens, never the answer text; failures as well.
#include "server/api_service_impl.h"

namespace memberlake::server {
namespace {

int HttpStatusOf(ai::AiErrorKind kind) {
  switch (kind) {
    case ai::AiErrorKind::kNotConfigured: return 503;
    case ai::AiErrorKind::kRateLimited: return 503;
    case ai::AiErrorKind::kBudget: return 429;
    case ai::AiErrorKind::kTimeout: return 504;
    default: return 502;  // the provider failed or misbehaved
  }
}

}  // namespace

arrow::Result<ApiResponse> ApiService::Impl::Ask(const ApiRequest& request, const Caller& caller, AuditNote* note) {
  note->action = "ask";  // refusals are audited too
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region"}));
  // A question reads member data as aggregates: the member-data read of an ad-hoc query.
  query::QuerySpec probe;
  probe.aggregates.push_back(query::AggregateSpec{});
  ARROW_RETURN_NOT_OK(policy->AuthorizeQuery(caller.grant, probe, false).status());
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  note->scope = scope.ToString();
  Json body = Json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("question") || !body["question"].is_string()) {
    return arrow::Status::Invalid("body: expected a JSON object {\"question\": \"...\"}");
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "question") return arrow::Status::Invalid("body: unknown member '", key, "'");
  }
  const std::string question = body["question"];
  // Off unless configured: 404 like a route the server does not have (a 5xx would be an
  // outage to monitoring and clients; the dashboard hides its question box on 404).
  if (!config.ai.enabled) {
    return arrow::Status::KeyError("AI questions are not enabled on this server (no [ai] section in its config)");
  }

  auto run = [&](const query::QuerySpec& spec) -> arrow::Result<query::QueryResult> {
    // A store connection per query, not for the whole conversation with the model.
    std::optional<store::StorePool::Lease> lease;
    if (stores) {
      ARROW_ASSIGN_OR_RAISE(auto acquired, stores->Acquire());
      lease.emplace(std::move(acquired));
    }
    query::MemberSource source(lake.get(), lease ? lease->get() : nullptr, registry, ReadOpts(), cache.get());
    return source.Run(scope, spec);
  };
  ai::AskAnswer answer;
  auto client_options = config.ai.ClientOptions();
  if (!client_options.ok()) {
    answer.status = client_options.status();
    answer.model = config.ai.client.model;
    answer.scope = scope.ToString();
  } else {
    ai::AskTools tools(ai::AskScope{registry, catalog, scope, run, Today()}, config.ai.k);
    ai::ChatClient client(*client_options);
    answer = ai::Ask(client, tools, config.ai.ask, ask_budget.get(), caller.principal.subject, question);
  }
  note->target = answer.model;
  note->rows = answer.RowsReturned();
  for (const auto& query_run : answer.queries) {
    if (!query_run.data_version.empty()) note->data_version = query_run.data_version;
  }
  const Json detail = answer.AuditDetail();
  if (answer.status.ok()) {
    note->detail = detail.dump();
    return JsonResponse(200, answer.ToJson());
  }
  auto kind = ai::AiErrorOf(answer.status);
  if (!kind) return answer.status;  // a bad question: 400
  // Audited here with the whole trace (WriteAudit keeps only an error's message).
  AuditNote failed = *note;
  note->action.clear();
  WriteAudit(caller, failed, arrow::Status::IOError(detail.dump()));
  // The kind as well, so the dashboard can say in Dutch what went wrong without parsing English.
  const int status = HttpStatusOf(*kind);
  ApiResponse error = JsonResponse(status, Json{{"error", {{"status", status},
                                                           {"message", answer.status.message()},
                                                           {"kind", ai::AiErrorKindName(*kind)}}}});
  if (*kind == ai::AiErrorKind::kRateLimited) error.headers.emplace_back("Retry-After", "30");
  return error;
}

}  // namespace memberlake::server
