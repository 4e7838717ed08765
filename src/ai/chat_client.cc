#include "ai/chat_client.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <curl/curl.h>

namespace memberlake::ai {
namespace {

class AiErrorDetail : public arrow::StatusDetail {
 public:
  explicit AiErrorDetail(AiErrorKind kind) : kind_(kind) {}
  const char* type_id() const override { return "memberlake::ai::AiErrorDetail"; }
  std::string ToString() const override { return std::string(AiErrorKindName(kind_)); }
  AiErrorKind kind() const { return kind_; }

 private:
  AiErrorKind kind_;
};

// What the provider said went wrong ({"error": {"message": ...}}), short; empty if nothing.
std::string ProviderMessage(std::string_view body) {
  Json parsed = Json::parse(body, nullptr, false);
  std::string message;
  if (parsed.is_object() && parsed.contains("error")) {
    const Json& error = parsed["error"];
    if (error.is_object() && error.contains("message") && error["message"].is_string()) {
      message = error["message"].get<std::string>();
    } else if (error.is_string()) {
      message = error.get<std::string>();
    }
  }
  if (message.size() > 200) message = message.substr(0, 200) + "...";
  return message;
}

std::string Trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// One attempt's state, filled by curl's callbacks.
struct Transfer {
  int status = 0;
  int64_t retry_after_ms = -1;  // -1: no Retry-After header
  std::string raw;               // the body (also kept when streaming, for error answers)
  int64_t max_bytes = 0;
  bool too_large = false;
  StreamAssembler* stream = nullptr;
  arrow::Status stream_error;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new status line (after a 100 Continue too)
    const size_t space = line.find(' ');
    t->status = space == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(space + 1, 3)).c_str());
    t->retry_after_ms = -1;
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name == "retry-after") {
    std::string value = Trimmed(line.substr(colon + 1));
    if (!value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
      t->retry_after_ms = std::min<int64_t>(std::atoll(value.c_str()), 86400) * 1000;
    } else if (!value.empty()) {
      const time_t when = curl_getdate(value.c_str(), nullptr);  // an HTTP date
      if (when > 0) t->retry_after_ms = std::max<int64_t>(0, (when - std::time(nullptr))) * 1000;
    }
  }
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (static_cast<int64_t>(t->raw.size() + n) > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->raw.append(data, n);
  if (t->stream != nullptr && t->status == 200 && t->stream_error.ok()) {
    t->stream_error = t->stream->Feed(std::string_view(data, n));
  }
  return n;
}

std::once_flag curl_once;

// The outcome of one attempt: an answer, or an error and whether another attempt may help.
struct Attempt {
  arrow::Result<ChatResponse> result = arrow::Status::UnknownError("not run");
  bool retryable = false;
  int64_t retry_after_ms = -1;
};

}  // namespace

std::string_view AiErrorKindName(AiErrorKind kind) {
  switch (kind) {
    case AiErrorKind::kNotConfigured: return "not_configured";
    case AiErrorKind::kProviderAuth: return "provider_auth";
    case AiErrorKind::kRateLimited: return "rate_limited";
    case AiErrorKind::kProvider: return "provider_error";
    case AiErrorKind::kUnreachable: return "unreachable";
    case AiErrorKind::kTimeout: return "timeout";
    case AiErrorKind::kBudget: return "token_budget";
    case AiErrorKind::kRounds: return "tool_rounds";
  }
  return "?";
}

arrow::Status AiError(AiErrorKind kind, std::string message) {
  return arrow::Status(arrow::StatusCode::IOError, std::move(message), std::make_shared<AiErrorDetail>(kind));
}

std::optional<AiErrorKind> AiErrorOf(const arrow::Status& status) {
  if (status.ok() || status.detail() == nullptr) return std::nullopt;
  if (std::string_view(status.detail()->type_id()) != "memberlake::ai::AiErrorDetail") return std::nullopt;
  return static_cast<const AiErrorDetail&>(*status.detail()).kind();
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

arrow::Result<ChatResponse> ParseCompletion(std::string_view body) {
  Json parsed = Json::parse(body, nullptr, false);
  if (!parsed.is_object()) return AiError(AiErrorKind::kProvider, "the model provider's answer is not JSON");
  if (parsed.contains("error")) {
    return AiError(AiErrorKind::kProvider, "the model provider reported an error: " + ProviderMessage(body));
  }
  if (!parsed.contains("choices") || !parsed["choices"].is_array() || parsed["choices"].empty() ||
      !parsed["choices"][0].is_object() || !parsed["choices"][0].contains("message") ||
      !parsed["choices"][0]["message"].is_object()) {
    return AiError(AiErrorKind::kProvider, "the model provider's answer has no choices[0].message");
  }
  ChatResponse response;
  const Json& choice = parsed["choices"][0];
  const Json& message = choice["message"];
  if (message.contains("content") && message["content"].is_string()) response.content = message["content"];
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    response.finish_reason = choice["finish_reason"];
  }
  if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
    for (const Json& call : message["tool_calls"]) {
      if (!call.is_object()) continue;
      ToolCall tool;
      if (call.contains("id") && call["id"].is_string()) tool.id = call["id"];
      if (call.contains("function") && call["function"].is_object()) {
        const Json& function = call["function"];
        if (function.contains("name") && function["name"].is_string()) tool.name = function["name"];
        if (function.contains("arguments")) {
          tool.arguments = function["arguments"].is_string() ? function["arguments"].get<std::string>()
                                                              : function["arguments"].dump();
        }
      }
      response.tool_calls.push_back(std::move(tool));
    }
  }
  if (parsed.contains("model") && parsed["model"].is_string()) response.model = parsed["model"];
  if (parsed.contains("usage") && parsed["usage"].is_object()) {
    response.usage.prompt_tokens = parsed["usage"].value("prompt_tokens", int64_t{0});
    response.usage.completion_tokens = parsed["usage"].value("completion_tokens", int64_t{0});
  }
  return response;
}

arrow::Status StreamAssembler::Feed(std::string_view bytes) {
  pending_.append(bytes);
  size_t start = 0;
  size_t newline;
  std::string data;
  while ((newline = pending_.find('\n', start)) != std::string::npos) {
    std::string_view line(pending_.data() + start, newline - start);
    start = newline + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // One event per "data:" line: providers send each chunk on one line, and a blank line
    // between; comments (": OPENROUTER PROCESSING") and other fields are ignored.
    if (line.rfind("data:", 0) != 0) continue;
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    ARROW_RETURN_NOT_OK(Event(line));
  }
  pending_.erase(0, start);
  return arrow::Status::OK();
}

arrow::Status StreamAssembler::Event(std::string_view data) {
  if (data == "[DONE]") {
    done_ = true;
    return arrow::Status::OK();
  }
  Json chunk = Json::parse(data, nullptr, false);
  if (!chunk.is_object()) return AiError(AiErrorKind::kProvider, "the model provider's stream holds an event that is not JSON");
  if (chunk.contains("error")) {
    return AiError(AiErrorKind::kProvider, "the model provider reported an error in the stream: " +
                                               ProviderMessage(data));
  }
  if (chunk.contains("model") && chunk["model"].is_string()) response_.model = chunk["model"];
  if (chunk.contains("usage") && chunk["usage"].is_object()) {
    response_.usage.prompt_tokens = chunk["usage"].value("prompt_tokens", int64_t{0});
    response_.usage.completion_tokens = chunk["usage"].value("completion_tokens", int64_t{0});
  }
  if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return arrow::Status::OK();
  const Json& choice = chunk["choices"][0];
  if (!choice.is_object()) return arrow::Status::OK();
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    response_.finish_reason = choice["finish_reason"];
  }
  if (!choice.contains("delta") || !choice["delta"].is_object()) return arrow::Status::OK();
  const Json& delta = choice["delta"];
  if (delta.contains("content") && delta["content"].is_string()) {
    const std::string& piece = delta["content"].get_ref<const std::string&>();
    response_.content += piece;
    if (on_text_ && !piece.empty()) on_text_(piece);
  }
  if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
    for (const Json& part : delta["tool_calls"]) {
      if (!part.is_object()) continue;
      // Pieces of one call share its index; the first carries id and name.
      const size_t index = part.contains("index") && part["index"].is_number_unsigned() ? part["index"].get<size_t>()
                                                                                         : response_.tool_calls.size();
      if (index > 64) return AiError(AiErrorKind::kProvider, "the model provider's stream names tool call " + std::to_string(index));
      if (response_.tool_calls.size() <= index) response_.tool_calls.resize(index + 1);
      ToolCall& call = response_.tool_calls[index];
      if (part.contains("id") && part["id"].is_string()) call.id = part["id"];
      if (part.contains("function") && part["function"].is_object()) {
        const Json& function = part["function"];
        if (function.contains("name") && function["name"].is_string()) call.name += function["name"].get<std::string>();
        if (function.contains("arguments") && function["arguments"].is_string()) {
          call.arguments += function["arguments"].get<std::string>();
        }
      }
    }
  }
  return arrow::Status::OK();
}

arrow::Result<ChatResponse> StreamAssembler::Finish() {
  if (!pending_.empty()) ARROW_RETURN_NOT_OK(Feed("\n"));
  if (!done_ && response_.finish_reason.empty()) {
    return AiError(AiErrorKind::kProvider, "the model provider's stream ended before the answer was complete");
  }
  return response_;
}

ChatClient::ChatClient(ChatClientOptions options) : options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

namespace {

Attempt RunAttempt(const ChatClientOptions& o, const std::string& body, int64_t timeout_ms,
                   const std::function<void(std::string_view)>& on_text) {
  Attempt attempt;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    attempt.result = AiError(AiErrorKind::kUnreachable, "cannot start an HTTP client");
    return attempt;
  }
  curl_slist* headers = nullptr;
  const std::string authorization = "Authorization: Bearer " + o.api_key;
  headers = curl_slist_append(headers, authorization.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, o.stream ? "Accept: text/event-stream" : "Accept: application/json");
  const std::string referer = "HTTP-Referer: " + o.referer, title = "X-Title: " + o.title;
  if (!o.referer.empty()) headers = curl_slist_append(headers, referer.c_str());
  if (!o.title.empty()) headers = curl_slist_append(headers, title.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, curl_slist_free_all);

  StreamAssembler stream(on_text);
  Transfer transfer;
  transfer.max_bytes = o.max_response_bytes;
  if (o.stream) transfer.stream = &stream;
  const std::string url = o.base_url + "/chat/completions";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(o.connect_timeout_ms, timeout_ms)));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  const CURLcode code = curl_easy_perform(c);
  attempt.retry_after_ms = transfer.retry_after_ms;

  if (transfer.too_large) {
    attempt.result = AiError(AiErrorKind::kProvider, "the model provider's answer exceeds " +
                                                         std::to_string(o.max_response_bytes) + " bytes");
    return attempt;
  }
  if (code == CURLE_OPERATION_TIMEDOUT) {
    // A hung connection: another attempt would most likely hang as long again.
    attempt.result = AiError(AiErrorKind::kTimeout, "the model provider at " + o.base_url + " did not answer within " +
                                                        std::to_string(timeout_ms / 1000.0).substr(0, 5) + " s");
    return attempt;
  }
  if (code != CURLE_OK) {
    attempt.result = AiError(AiErrorKind::kUnreachable, "cannot reach the model provider at " + o.base_url + ": " +
                                                            curl_easy_strerror(code));
    // Not once an answer began to stream: its pieces were passed on already.
    attempt.retryable = (code == CURLE_COULDNT_CONNECT || code == CURLE_GOT_NOTHING || code == CURLE_RECV_ERROR ||
                         code == CURLE_SEND_ERROR || code == CURLE_PARTIAL_FILE) &&
                        !(transfer.status == 200 && !transfer.raw.empty());
    return attempt;
  }
  const int status = transfer.status;
  const std::string said = ProviderMessage(transfer.raw);
  const std::string suffix = said.empty() ? "" : ": " + said;
  if (status == 401 || status == 403) {
    attempt.result = AiError(AiErrorKind::kProviderAuth, "the model provider refused the API key (HTTP " +
                                                             std::to_string(status) + ")" + suffix);
  } else if (status == 429) {
    attempt.result = AiError(AiErrorKind::kRateLimited, "the model provider is rate limiting (HTTP 429)" + suffix);
    attempt.retryable = true;
  } else if (status >= 500) {
    attempt.result = AiError(AiErrorKind::kProvider, "the model provider failed (HTTP " + std::to_string(status) + ")" +
                                                         suffix);
    attempt.retryable = true;
  } else if (status != 200) {
    attempt.result = AiError(AiErrorKind::kProvider, "the model provider refused the request (HTTP " +
                                                         std::to_string(status) + ")" + suffix);
  } else if (!transfer.stream_error.ok()) {
    attempt.result = transfer.stream_error;
  } else if (o.stream && transfer.raw.find("data:") == std::string::npos) {
    attempt.result = ParseCompletion(transfer.raw);  // a provider that ignores "stream"
  } else {
    attempt.result = o.stream ? stream.Finish() : ParseCompletion(transfer.raw);
  }
  return attempt;
}

}  // namespace

arrow::Result<ChatResponse> ChatClient::Complete(const Json& request, int64_t deadline_ms,
                                                 const std::function<void(std::string_view)>& on_text) const {
  if (options_.api_key.empty()) {
    return AiError(AiErrorKind::kNotConfigured, "no API key for the model provider: set the variable the "
                                                "configuration names (default OPENROUTER_API_KEY)");
  }
  if (options_.model.empty()) return AiError(AiErrorKind::kNotConfigured, "no model configured");
  Json body = request;
  body["model"] = options_.model;
  body["max_tokens"] = options_.max_tokens;
  if (options_.stream) {
    body["stream"] = true;
    body["stream_options"] = Json{{"include_usage", true}};
  }
  const std::string text = body.dump();
  std::mt19937 jitter(std::random_device{}());
  for (int attempt_no = 0;; ++attempt_no) {
    int64_t timeout_ms = options_.request_timeout_ms;
    if (deadline_ms > 0) timeout_ms = std::min(timeout_ms, deadline_ms - SteadyNowMs());
    if (timeout_ms < 1) return AiError(AiErrorKind::kTimeout, "no time left for the model provider to answer");
    Attempt attempt = RunAttempt(options_, text, timeout_ms, on_text);
    if (attempt.result.ok()) {
      attempt.result->attempts = attempt_no + 1;
      attempt.result->request_bytes = static_cast<int64_t>(text.size());
      return attempt.result;
    }
    if (!attempt.retryable || attempt_no >= options_.max_retries) {
      if (!attempt.retryable) return attempt.result.status();
      return AiError(*AiErrorOf(attempt.result.status()),
                     attempt.result.status().message() + " (" + std::to_string(attempt_no + 1) + " attempts)");
    }
    // Retry-After when the provider gives one, else exponential backoff with jitter; capped.
    int64_t wait_ms = attempt.retry_after_ms >= 0
                          ? attempt.retry_after_ms
                          : (options_.initial_backoff_ms << std::min(attempt_no, 16)) *
                                std::uniform_int_distribution<int>(80, 120)(jitter) / 100;
    wait_ms = std::min(wait_ms, options_.max_wait_ms);
    if (deadline_ms > 0 && SteadyNowMs() + wait_ms >= deadline_ms) {
      return AiError(*AiErrorOf(attempt.result.status()),
                     attempt.result.status().message() + " (no time left to retry)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

}  // namespace memberlake::ai
