#include "ai/ask.h"

#include <chrono>
#include <cstdlib>

#include "model/calendar.h"

namespace memberlake::ai {
namespace {

std::string SystemPrompt(const AskTools& tools) {
  const auto& scope = tools.scope();
  std::string prompt =
      "You answer questions of a motorcycle club's board and volunteers about its membership. You cannot see "
      "members, only counts and aggregates: call run_query or run_report and answer from their results. Groups "
      "of fewer than " +
      std::to_string(tools.guard().k()) +
      " members are left out of every result (suppressed_groups says how many); say so when it matters. "
      "Personal data (names, addresses, contact details, member numbers) is not available: do not ask for it. "
      "The data is as of " +
      model::FormatIsoDate(tools.today()) + ". The caller may see " +
      (scope.all() ? std::string("all regions") : "the regions " + scope.ToString() + " only") +
      ". Answer briefly, in the language of the question, and name the figures you used.\n"
      "Columns (name (type: values) description):\n" +
      tools.SchemaText();
  return prompt;
}

Json AssistantMessage(const ChatResponse& response) {
  Json calls = Json::array();
  for (const auto& call : response.tool_calls) {
    calls.push_back(Json{{"id", call.id},
                         {"type", "function"},
                         {"function", Json{{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return Json{{"role", "assistant"},
              {"content", response.content.empty() ? Json() : Json(response.content)},
              {"tool_calls", std::move(calls)}};
}

// Tokens of a call: as the provider counts them, else estimated (4 bytes a token) so that the
// daily budget also holds against a provider that reports no usage.
int64_t TokensOf(const ChatResponse& response) {
  const int64_t reported = response.usage.prompt_tokens + response.usage.completion_tokens;
  if (reported > 0) return reported;
  return (response.request_bytes + static_cast<int64_t>(response.content.size())) / 4 + 1;
}

}  // namespace

arrow::Result<ChatClientOptions> AiConfig::ClientOptions() const {
  if (!enabled) return AiError(AiErrorKind::kNotConfigured, "AI questions are not configured (no [ai] section)");
  const char* key = api_key_env.empty() ? nullptr : std::getenv(api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    return AiError(AiErrorKind::kNotConfigured, "no API key for the model provider: the variable " +
                                                    (api_key_env.empty() ? std::string("(none)") : api_key_env) +
                                                    " is not set");
  }
  ChatClientOptions options = client;
  options.api_key = key;
  return options;
}

int64_t TokensInAuditDetail(std::string_view detail, std::string_view day) {
  Json parsed = Json::parse(detail, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("tokens") || !parsed["tokens"].is_object()) return 0;
  if (!parsed.contains("day") || !parsed["day"].is_string() || parsed["day"].get<std::string>() != day) return 0;
  return parsed["tokens"].value("counted", int64_t{0});
}

int64_t AskAnswer::RowsReturned() const {
  int64_t rows = 0;
  for (const auto& run : queries) rows += run.rows;
  return rows;
}

namespace {

Json TokensJson(const AskAnswer& a) {
  return Json{{"prompt", a.usage.prompt_tokens},
              {"completion", a.usage.completion_tokens},
              {"total", a.usage.prompt_tokens + a.usage.completion_tokens},
              {"counted", a.counted_tokens}};
}

Json ErrorJson(const AskAnswer& a) {
  if (a.status.ok()) return Json();
  auto kind = AiErrorOf(a.status);
  return Json{{"kind", kind ? std::string(AiErrorKindName(*kind)) : std::string("invalid")},
              {"message", a.status.message()}};
}

}  // namespace

Json AskAnswer::ToJson() const {
  Json runs = Json::array();
  for (const auto& run : queries) {
    Json entry{{"tool", run.tool}, {"arguments", run.arguments}, {"query", run.query}};
    if (run.error.empty()) {
      entry["result"] = run.result;
    } else {
      entry["error"] = run.error;
    }
    runs.push_back(std::move(entry));
  }
  Json out{{"question", question}, {"answer", answer},     {"model", model}, {"scope", scope},
           {"as_of", as_of},       {"k", k},               {"queries", std::move(runs)},
           {"rounds", rounds},     {"tokens", TokensJson(*this)},
           {"elapsed_ms", elapsed_ms}, {"model_ms", model_ms}};
  if (!status.ok()) out["error"] = ErrorJson(*this);
  return out;
}

Json AskAnswer::AuditDetail() const {
  Json runs = Json::array();
  for (const auto& run : queries) {
    Json entry{{"tool", run.tool}, {"query", run.query.is_null() ? Json(run.arguments) : run.query}, {"rows", run.rows}};
    if (!run.error.empty()) entry["error"] = run.error;
    runs.push_back(std::move(entry));
  }
  Json out{{"model", model},   {"scope", scope},   {"k", k}, {"queries", std::move(runs)}, {"rows", RowsReturned()},
           {"rounds", rounds}, {"tokens", TokensJson(*this)}, {"day", day}, {"question_chars", question.size()}};
  if (!status.ok()) out["error"] = ErrorJson(*this);
  return out;
}

AskAnswer Ask(const ChatClient& client, const AskTools& tools, const AskOptions& options, TokenBudget* budget,
              const std::string& actor, const std::string& question,
              const std::function<void(std::string_view)>& on_text) {
  const int64_t started = SteadyNowMs();
  const int64_t deadline = started + options.question_timeout_ms;
  AskAnswer a;
  a.question = question;
  a.model = client.options().model;
  a.scope = tools.scope().ToString();
  a.as_of = model::FormatIsoDate(tools.today());
  a.k = tools.guard().k();
  auto finish = [&](arrow::Status status) {
    a.status = std::move(status);
    a.elapsed_ms = SteadyNowMs() - started;
    return a;
  };
  if (question.find_first_not_of(" \t\r\n") == std::string::npos) {
    return finish(arrow::Status::Invalid("question: empty"));
  }
  if (question.size() > options.max_question_chars) {
    return finish(arrow::Status::Invalid("question: longer than ", options.max_question_chars, " characters"));
  }
  const std::string day = a.day = budget != nullptr ? budget->Today() : BudgetDay();
  Json messages = Json::array({Json{{"role", "system"}, {"content", SystemPrompt(tools)}},
                               Json{{"role", "user"}, {"content", question}}});
  int tool_rounds = 0;
  for (;;) {
    const bool last = tool_rounds >= options.max_rounds;
    if (budget != nullptr) {
      if (auto status = budget->Check(actor, day); !status.ok()) return finish(status);
    }
    Json request{{"messages", messages}, {"tools", tools.Definitions()}, {"tool_choice", last ? "none" : "auto"},
                 {"temperature", 0}};
    const int64_t call_started = SteadyNowMs();
    auto response = client.Complete(request, deadline, on_text);
    a.model_ms += SteadyNowMs() - call_started;
    ++a.rounds;
    if (!response.ok()) return finish(response.status());
    a.request_bytes += response->request_bytes;
    a.usage.prompt_tokens += response->usage.prompt_tokens;
    a.usage.completion_tokens += response->usage.completion_tokens;
    a.counted_tokens += TokensOf(*response);
    if (budget != nullptr) {
      // Spent either way; a budget that cannot be saved ends the question (a restart would
      // otherwise forget these tokens) with the reason, rather than answer over it.
      if (auto saved = budget->Add(actor, day, TokensOf(*response)); !saved.ok()) return finish(saved);
    }
    if (!response->model.empty()) a.model = response->model;
    if (response->tool_calls.empty()) {
      if (response->content.empty()) {
        return finish(AiError(AiErrorKind::kProvider, "the model returned neither an answer nor a tool call"));
      }
      a.answer = response->content;
      return finish(arrow::Status::OK());
    }
    if (last) {
      return finish(AiError(AiErrorKind::kRounds, "the model kept calling tools after " +
                                                      std::to_string(options.max_rounds) +
                                                      " rounds without answering"));
    }
    ++tool_rounds;
    for (size_t i = 0; i < response->tool_calls.size(); ++i) {
      ToolCall& call = response->tool_calls[i];
      if (call.id.empty()) call.id = "call_" + std::to_string(a.rounds) + "_" + std::to_string(i);
    }
    messages.push_back(AssistantMessage(*response));
    for (size_t i = 0; i < response->tool_calls.size(); ++i) {
      const ToolCall& call = response->tool_calls[i];
      ToolRun run;
      if (static_cast<int>(i) >= options.max_tool_calls_per_round) {
        run.tool = call.name;
        run.arguments = call.arguments;
        run.error = "too many tool calls in one turn (at most " + std::to_string(options.max_tool_calls_per_round) + ")";
      } else {
        run = tools.Run(call);
      }
      messages.push_back(Json{{"role", "tool"}, {"tool_call_id", call.id}, {"content", AskTools::Content(run)}});
      a.queries.push_back(std::move(run));
    }
  }
}

}  // namespace memberlake::ai
