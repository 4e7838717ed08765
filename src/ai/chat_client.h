// A client of an OpenAI-compatible Chat Completions endpoint (POST {base_url}/chat/completions)
// over libcurl: tool calling, streaming (server-sent events), timeouts, and retries with
// backoff on 429 and 5xx that honour Retry-After. OpenRouter is the default provider; any
// endpoint speaking the same protocol (a local llama.cpp server, a test's fake) works.
//
// Errors are arrow::Status values carrying an AiErrorKind (AiErrorOf), so the edges can map
// them: the CLI to a message and an exit code, the HTTP API to 502/503/504. Messages never
// contain the API key or a request body.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>
#include <nlohmann/json.hpp>

namespace memberlake::ai {

using Json = nlohmann::ordered_json;

enum class AiErrorKind {
  kNotConfigured,  // no API key, no model
  kProviderAuth,   // the provider refused the key (401/403)
  kRateLimited,    // 429 after every retry
  kProvider,       // 5xx after every retry, another 4xx, or an answer that is not the protocol
  kUnreachable,    // no connection
  kTimeout,        // no (complete) answer in time: a hung connection
  kBudget,         // the caller's daily tokens are used up
  kRounds,         // the model kept calling tools past the limit
};
std::string_view AiErrorKindName(AiErrorKind kind);
arrow::Status AiError(AiErrorKind kind, std::string message);
// The kind of a status made by AiError, or nullopt for any other status.
std::optional<AiErrorKind> AiErrorOf(const arrow::Status& status);

struct ChatClientOptions {
  std::string base_url = "https://openrouter.ai/api/v1";
  std::string model = "openai/gpt-4o-mini";
  std::string api_key;  // sent as "Authorization: Bearer"; empty: every call is kNotConfigured
  // OpenRouter's recommended attribution headers (HTTP-Referer, X-Title); empty: not sent.
  std::string referer = "https://github.com/memberlake/memberlake";
  std::string title = "memberlake";
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 60000;  // one attempt, connection to last byte
  int max_retries = 3;                 // after the first attempt, on 429, 5xx and failed connects
  int64_t initial_backoff_ms = 500;    // doubled per retry
  int64_t max_wait_ms = 10000;         // cap of any one wait, Retry-After included
  bool stream = true;                  // "stream": true, answer read as server-sent events
  int64_t max_tokens = 1024;           // completion tokens per call
  int64_t max_response_bytes = 4 << 20;
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // as the model wrote them: JSON text, perhaps malformed
};

struct ChatUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct ChatResponse {
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;
  std::string model;  // as the provider reports it
  ChatUsage usage;
  int attempts = 1;
  int64_t request_bytes = 0;  // size of the body sent (last attempt)
};

class ChatClient {
 public:
  explicit ChatClient(ChatClientOptions options);

  // Sends `request` (an object with "messages" and optionally "tools", "tool_choice"; "model",
  // "stream" and "max_tokens" are set here) and returns the assistant's message. With
  // streaming, `on_text` receives each piece of content as it arrives. Gives up at
  // `deadline_ms` (steady clock, ms since its epoch; 0: no deadline besides the per-attempt
  // timeout), never waiting past it. Thread-safe (no shared state).
  arrow::Result<ChatResponse> Complete(const Json& request, int64_t deadline_ms = 0,
                                       const std::function<void(std::string_view)>& on_text = {}) const;

  const ChatClientOptions& options() const { return options_; }

 private:
  ChatClientOptions options_;
};

// Milliseconds on the steady clock, the unit of deadlines.
int64_t SteadyNowMs();

// Parses a complete (non-streamed) Chat Completions answer. Exposed for tests.
arrow::Result<ChatResponse> ParseCompletion(std::string_view body);

// Reassembles a streamed answer from its server-sent events. Feed it the body as it arrives.
class StreamAssembler {
 public:
  explicit StreamAssembler(std::function<void(std::string_view)> on_text = {}) : on_text_(std::move(on_text)) {}
  // An error in the stream (a JSON chunk that does not parse, an {"error": ...} event).
  arrow::Status Feed(std::string_view bytes);
  // The answer once the body ended; Invalid when the stream stopped before [DONE] or a finish.
  arrow::Result<ChatResponse> Finish();

 private:
  arrow::Status Event(std::string_view data);
  std::function<void(std::string_view)> on_text_;
  std::string pending_;  // an incomplete line
  ChatResponse response_;
  bool done_ = false;
};

}  // namespace memberlake::ai
