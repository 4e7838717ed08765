// ask: a question about the membership, answered by a language model from suppressed
// aggregates (ai/ask.h), audited like the API's questions.
#include "cli/commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ai/ask.h"
#include "cli/query_output.h"
#include "query/report_catalog.h"
#include "server/audit_log.h"

namespace memberlake::cli {
namespace {

struct AskCliOptions {
  std::string question;
  SourceOptions source;
  std::vector<std::string> regions;
  bool json = false;
  std::string audit;          // empty: beside a local lake, like the server's default
  std::string audit_key_env;
  std::string actor;          // empty: $USER
  double timeout_seconds = 60;
  double question_timeout_seconds = 100;
  bool no_stream = false;
  ai::AiConfig ai;
};

std::string DefaultAuditLog(const std::string& lake) {
  if (lake.empty() || (lake.find("://") != std::string::npos && lake.rfind("file://", 0) != 0)) return "";
  std::string path = lake.substr(lake.rfind("file://", 0) == 0 ? 7 : 0);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return (std::filesystem::absolute(path).parent_path() / "audit" / "audit.log").string();
}

// The caller's tokens today as the audit trail records them: the budget outlives the process.
arrow::Status SeedBudget(const server::AuditLog& log, const std::string& actor, ai::TokenBudget* budget) {
  const std::string day = ai::BudgetDay();
  for (int64_t after = 0;;) {
    ARROW_ASSIGN_OR_RAISE(auto records, log.Read(after, 10000));
    if (records.empty()) return arrow::Status::OK();
    for (const auto& record : records) {
      if (record.event.action == "ask" && record.event.actor == actor) {
        ARROW_RETURN_NOT_OK(budget->Add(actor, day, ai::TokensInAuditDetail(record.event.detail, day)));
      }
      after = record.seq;
    }
  }
}

void PrintText(const ai::AskAnswer& answer, bool streamed) {
  if (!streamed) std::printf("%s", answer.answer.c_str());
  std::printf("\n\n");
  for (size_t i = 0; i < answer.queries.size(); ++i) {
    const ai::ToolRun& run = answer.queries[i];
    std::printf("query %zu: %s %s\n", i + 1, run.tool.c_str(), run.query.is_null() ? run.arguments.c_str() : run.query.dump().c_str());
    if (!run.error.empty()) {
      std::printf("  refused: %s\n", run.error.c_str());
      continue;
    }
    std::string columns;
    for (const auto& column : run.result["columns"]) columns += (columns.empty() ? "" : " | ") + column.get<std::string>();
    std::printf("  %s\n", columns.c_str());
    for (const auto& row : run.result["rows"]) {
      std::string line;
      for (const auto& cell : row) line += (line.empty() ? "" : " | ") + (cell.is_string() ? cell.get<std::string>() : cell.dump());
      std::printf("  %s\n", line.c_str());
    }
    std::printf("  (%lld groups under k = %d suppressed)\n", static_cast<long long>(run.result["suppressed_groups"].get<int64_t>()),
                answer.k);
  }
  std::printf("model %s, scope %s, %d model call(s), %lld tokens\n", answer.model.c_str(), answer.scope.c_str(),
              answer.rounds, static_cast<long long>(answer.counted_tokens));
}

arrow::Status RunAsk(const GlobalOptions& global, AskCliOptions o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(auto catalog, query::ReportCatalog::LoadDefault(*registry));
  query::RegionalScope scope = query::RegionalScope::All();
  if (!o.regions.empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(*registry, o.regions));
  }
  o.ai.enabled = true;
  o.ai.client.stream = !o.no_stream;
  o.ai.client.request_timeout_ms = static_cast<int64_t>(o.timeout_seconds * 1000);
  o.ai.ask.question_timeout_ms = static_cast<int64_t>(o.question_timeout_seconds * 1000);
  const std::string audit_path = o.audit.empty() ? DefaultAuditLog(o.source.lake) : o.audit;
  if (audit_path.empty()) return arrow::Status::Invalid("--audit: give the audit log (every question is audited)");
  std::string audit_key;
  if (!o.audit_key_env.empty()) {
    const char* key = std::getenv(o.audit_key_env.c_str());
    if (key == nullptr || *key == '\0') return arrow::Status::Invalid("--audit-key-env: ", o.audit_key_env, " is not set");
    audit_key = key;
  }
  std::filesystem::create_directories(std::filesystem::path(audit_path).parent_path());
  auto log = server::AuditLog::Open(audit_path, audit_key);
  if (!log.ok()) return arrow::Status::IOError("--audit ", audit_path, ": ", log.status().message());
  const char* user = std::getenv("USER");
  const std::string actor = !o.actor.empty() ? o.actor : (user != nullptr && *user != '\0' ? user : "cli");
  ai::TokenBudget budget(o.ai.ask.daily_tokens);
  ARROW_RETURN_NOT_OK(SeedBudget(**log, actor, &budget));

  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(registry, o.source));
  ai::AskScope ask_scope{registry, catalog, scope,
                         [&](const query::QuerySpec& spec) { return open.source->Run(scope, spec); }, open.today};
  ai::AskTools tools(std::move(ask_scope), o.ai.k);
  ai::AskAnswer answer;
  auto client_options = o.ai.ClientOptions();
  bool streamed = false;
  if (!client_options.ok()) {
    answer.status = client_options.status();
    answer.question = o.question;
    answer.model = o.ai.client.model;
    answer.scope = scope.ToString();
  } else {
    ai::ChatClient client(*client_options);
    // The answer's text as it streams, on a terminal or a pipe alike (not with --json).
    auto on_text = [&](std::string_view piece) {
      streamed = true;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
    answer = ai::Ask(client, tools, o.ai.ask, &budget, actor, o.question,
                     o.json ? std::function<void(std::string_view)>() : on_text);
  }
  server::AuditEvent event;
  event.actor = actor;
  event.auth = "cli";
  event.action = "ask";
  event.scope = scope.all() ? std::vector<std::string>{"*"} : scope.regions();
  event.rows = answer.RowsReturned();
  event.target = answer.model;
  event.outcome = answer.status.ok() ? "ok" : "error";
  event.detail = answer.AuditDetail().dump();
  for (const auto& run : answer.queries) {
    if (!run.data_version.empty()) event.data_version = run.data_version;
  }
  ARROW_RETURN_NOT_OK((*log)->Append(event));
  if (o.json) {
    std::printf("%s\n", answer.ToJson().dump(2).c_str());
  } else if (answer.status.ok()) {
    PrintText(answer, streamed);
  }
  return answer.status;
}

}  // namespace

void AddAskCommands(CLI::App& app, const CommandContext& context) {
  auto o = std::make_shared<AskCliOptions>();
  auto* ask = app.add_subcommand(
      "ask", "Ask a language model about the membership: it sees the schema and k-suppressed aggregates only "
             "(docs/ai.md); the answer lists every query it ran");
  ask->add_option("question", o->question, "The question, e.g. \"how did the age of our Utrecht members change?\"")
      ->required();
  o->source.AddTo(ask);
  ask->add_option("--region", o->regions, "Limit the scope to this region (repeatable; default: all)");
  ask->add_flag("--json", o->json, "Print the answer, every query with its (suppressed) result and the tokens as JSON");
  ask->add_option("--base-url", o->ai.client.base_url, "OpenAI-compatible API base URL")
      ->envname("MEMBERLAKE_AI_BASE_URL")->capture_default_str();
  ask->add_option("--model", o->ai.client.model, "Model id")->envname("MEMBERLAKE_AI_MODEL")->capture_default_str();
  ask->add_option("--api-key-env", o->ai.api_key_env, "Variable holding the API key")->capture_default_str();
  ask->add_option("--timeout", o->timeout_seconds, "Seconds one model call may take")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  ask->add_option("--question-timeout", o->question_timeout_seconds, "Seconds the whole question may take")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  ask->add_option("--max-retries", o->ai.client.max_retries, "Retries on 429 and 5xx (honouring Retry-After)")
      ->capture_default_str()->check(CLI::Range(0, 10));
  ask->add_option("--max-rounds", o->ai.ask.max_rounds, "Model turns that may call tools")
      ->capture_default_str()->check(CLI::Range(1, 20));
  ask->add_option("--daily-tokens", o->ai.ask.daily_tokens, "Tokens per caller per day (counted from the audit log)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  ask->add_option("--k", o->ai.k, "Suppress groups of fewer members")->capture_default_str()->check(CLI::Range(2, 1000));
  ask->add_flag("--no-stream", o->no_stream, "Ask for the whole answer at once instead of streaming it");
  ask->add_option("--audit", o->audit, "Audit log file (default: <lake>/../audit/audit.log)");
  ask->add_option("--audit-key-env", o->audit_key_env, "Variable holding the audit chain's HMAC key");
  ask->add_option("--actor", o->actor, "Who asks, for the audit trail and the token budget (default: $USER)");
  ask->callback([=] { context.Finish(RunAsk(*context.global, *o)); });
}

}  // namespace memberlake::cli
