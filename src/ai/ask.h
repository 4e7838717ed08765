// A question about the membership, answered by a language model that sees only the schema
// and suppressed aggregates (ai/ask_tools.h): the model calls run_query / run_report, gets
// their results, and answers. The answer carries every query that ran and what it returned,
// so a volunteer can check the numbers. Limits: tool rounds per question, time per question,
// tokens per caller per day.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "ai/ask_tools.h"
#include "ai/ai_config.h"
#include "ai/chat_client.h"
#include "ai/token_budget.h"

namespace memberlake::ai {


struct AskAnswer {
  arrow::Status status;  // not ok: the question failed (the trace below is still filled)
  std::string question;
  std::string answer;    // the model's final text
  std::string model;
  std::string scope;
  std::string as_of;
  std::string day;       // the budget's day (Europe/Amsterdam) the question was asked on
  int k = 0;
  std::vector<ToolRun> queries;
  int rounds = 0;        // model calls
  ChatUsage usage;
  int64_t counted_tokens = 0; // charged to the budget: usage, or an estimate without one
  int64_t request_bytes = 0;  // bytes sent to the model, all calls
  int64_t elapsed_ms = 0;
  int64_t model_ms = 0;       // of which waiting for the model

  int64_t RowsReturned() const;
  // Everything, for --json and the API: question, answer, queries with their results, tokens.
  Json ToJson() const;
  // For the audit trail: model, scope, queries (without results), rows, tokens, rounds and the
  // error; never the answer text.
  Json AuditDetail() const;
};

// Answers `question` for `actor` (the budget's key; the day is the budget's, else BudgetDay()). `on_text` receives the answer's text as it
// streams. Never throws; problems are in AskAnswer::status (AiErrorOf tells the kind, Invalid
// for a bad question).
AskAnswer Ask(const ChatClient& client, const AskTools& tools, const AskOptions& options, TokenBudget* budget,
              const std::string& actor, const std::string& question,
              const std::function<void(std::string_view)>& on_text = {});


// Tokens recorded for `day` in an audit detail made by AskAnswer::AuditDetail (0 for other
// text or another day): lets a budget resume from the audit trail.
int64_t TokensInAuditDetail(std::string_view detail, std::string_view day);

}  // namespace memberlake::ai
