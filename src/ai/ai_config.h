// The settings of AI questions: the [ai] section of the server config and the CLI's options
// of `memberlake ask` (the provider, its key's variable, the limits, k). A light header: the
// server's config includes it.
#pragma once

#include <cstdint>
#include <string>

#include <arrow/result.h>

#include "ai/chat_client.h"

namespace memberlake::ai {

struct AskOptions {
  int max_rounds = 6;                   // model turns that call tools; then it must answer
  int max_tool_calls_per_round = 8;     // more in one turn: the rest get a tool error
  int64_t question_timeout_ms = 100000; // the whole question, retries included
  int64_t daily_tokens = 200000;        // per caller (prompt + completion), Europe/Amsterdam day
  size_t max_question_chars = 2000;
};

// The [ai] settings of the server config, and the CLI's options: the provider, the limits and
// k. Questions are refused (not configured) unless `enabled`; the key comes from the variable
// `api_key_env` names when the client is made.
struct AiConfig {
  bool enabled = false;
  std::string api_key_env = "OPENROUTER_API_KEY";
  ChatClientOptions client;
  AskOptions ask;
  int k = 5;
  // The server's tokens per caller today, kept across restarts (ai/token_budget.h); empty:
  // counted in memory. Default: ask-budget.json next to a local audit log.
  std::string budget_file;

  // The client's options with the key read from the environment; AiError(kNotConfigured)
  // when disabled or the variable is unset, naming what to set.
  arrow::Result<ChatClientOptions> ClientOptions() const;
};

}  // namespace memberlake::ai
