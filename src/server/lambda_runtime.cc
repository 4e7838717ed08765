#include "server/lambda_runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "jobs/data_health.h"
#include "jobs/generate_snapshot.h"
#include "lake/snapshot_manifest.h"
#include "store/member_store.h"
#include "model/calendar.h"
#include "model/field_registry.h"
#include "model/json_members.h"
#include "model/no_throw.h"
#include "model/text.h"
#include "server/api_service.h"
#include "server/jwt_verifier.h"

namespace memberlake::server {
namespace {

using Json = nlohmann::json;
constexpr const char* kApi = "/2018-06-01/runtime";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// Event fields are untrusted input: read through the total accessors, never value()/get().
using model::JsonString;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Handler : public LambdaEventHandler {
 public:
  explicit Handler(const LambdaOptions& options) : options_(options) {}

  arrow::Status Init() {
    ARROW_ASSIGN_OR_RAISE(registry_, model::FieldRegistry::Load(options_.registry_path));
    if (!options_.server_config.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto config, ServerConfig::LoadFile(options_.server_config));
      // A frozen sandbox runs no timers: on Lambda, EventBridge schedules and the table's
      // DynamoDB stream are the triggers, not the server's [triggers] or [health] schedule.
      config.triggers = jobs::TriggerConfig{};
      config.deep_check_interval_seconds = 0;  // the DeepCheck schedule's event instead
      ARROW_ASSIGN_OR_RAISE(api_, ApiService::Make(config));
    }
    return arrow::Status::OK();
  }

  // The invocation's answer (JSON text), or an error to report.
  // Never throws: whatever the event holds, the answer is a result or an error to report.
  arrow::Result<std::string> Handle(const std::string& payload) override {
    return model::CatchAll("lambda event", [&] { return HandleEvent(payload); });
  }

 private:
  arrow::Result<std::string> HandleEvent(const std::string& payload) {
    Json event = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object()) return arrow::Status::Invalid("event is not a JSON object");
    const bool scheduled = JsonString(event, "source") == "aws.events";
    // The scheduled deep data check: an EventBridge rule whose target input is this event.
    if (JsonString(event, "action") == "deep_check") return DeepCheck();
    if (scheduled || JsonString(event, "action") == "generate") {
      // A date given in the wrong form is refused, not replaced by today's.
      const Json* as_of = event.contains("as_of") ? &event["as_of"] : nullptr;
      if (scheduled && event.contains("detail") && event["detail"].is_object() && event["detail"].contains("as_of")) {
        as_of = &event["detail"]["as_of"];
      }
      if (as_of != nullptr && !as_of->is_string()) return arrow::Status::Invalid("as_of: expected a date YYYY-MM-DD");
      const std::string as_of_text = as_of == nullptr ? std::string() : as_of->get<std::string>();
      return Generate(as_of_text, scheduled ? "schedule" : "on-demand");
    }
    // A batch from the members table's DynamoDB stream (the event source mapping's batching
    // window debounces bursts of edits): the changes are published by one generation.
    if (event.contains("Records") && event["Records"].is_array() && !event["Records"].empty() &&
        JsonString(event["Records"][0], "eventSource") == "aws:dynamodb") {
      return Generate("", "on-change");
    }
    if (event.contains("requestContext") && (event.contains("rawPath") || event.contains("path"))) {
      if (!api_) return arrow::Status::Invalid("an API Gateway event, but no MEMBERLAKE_SERVER_CONFIG");
      return HandleHttp(event);
    }
    return arrow::Status::Invalid("unknown event: expected an EventBridge schedule, {\"action\": \"generate\"}, "
                                  "{\"action\": \"deep_check\"}, a "
                                  "DynamoDB stream batch or an API Gateway request");
  }

  // The deep data check of the current snapshot (jobs/data_health.h). Its figures go to
  // CloudWatch as embedded-metric-format log lines (namespace Memberlake, one line per check),
  // which the template's alarms watch; a failed check is an answer, not an invocation error,
  // so EventBridge does not retry it.
  arrow::Result<std::string> DeepCheck() {
    if (options_.lake_uri.empty()) return arrow::Status::Invalid("the deep check needs MEMBERLAKE_LAKE");
    ARROW_ASSIGN_OR_RAISE(auto lake, lake::LakeStorage::Open(options_.lake_uri, /*create=*/false));
    ARROW_ASSIGN_OR_RAISE(auto manifest, lake::ReadCurrentManifest(*lake));
    jobs::DeepCheckOptions check;
    std::unique_ptr<store::MemberStore> store;
    if (!options_.store_uri.empty()) {
      ARROW_ASSIGN_OR_RAISE(store, store::OpenMemberStore(options_.store_uri, registry_));
      check.store = store.get();
    }
    ARROW_ASSIGN_OR_RAISE(auto report, jobs::DeepCheck(*lake, manifest, registry_, check));
    // One line per check (by Check, and without dimensions for the alarm on any check), one
    // for the snapshot's age (the stale-snapshot alarm).
    auto emf = [](const Json& names, const Json& dimensions) {
      Json metrics = Json::array();
      for (const auto& name : names) metrics.push_back({{"Name", name}, {"Unit", name == "SnapshotAgeSeconds" ? "Seconds" : "Count"}});
      return Json{{"Timestamp", NowMs()},
                  {"CloudWatchMetrics", Json::array({{{"Namespace", "Memberlake"}, {"Dimensions", dimensions}, {"Metrics", metrics}}})}};
    };
    for (const auto& result : report.checks) {
      Json line = {{"_aws", emf(Json::array({"DataCheckFailed", "DataCheckMismatches"}),
                                Json::array({Json::array({"Check"}), Json::array()}))},
                   {"Check", result.name},
                   {"DataCheckFailed", result.passed ? 0 : 1},
                   {"DataCheckMismatches", result.mismatches}};
      std::printf("%s\n", line.dump().c_str());
    }
    if (auto generated = lake::SnapshotIdTime(manifest.snapshot_id)) {
      double age = std::chrono::duration<double>(std::chrono::system_clock::now() - *generated).count();
      Json line = {{"_aws", emf(Json::array({"SnapshotAgeSeconds"}), Json::array({Json::array()}))},
                   {"SnapshotAgeSeconds", age}};
      std::printf("%s\n", line.dump().c_str());
    }
    std::fflush(stdout);
    return report.ToJson();
  }

  arrow::Result<std::string> Generate(const std::string& as_of_text, const std::string& trigger) {
    if (options_.store_uri.empty() || options_.lake_uri.empty()) {
      return arrow::Status::Invalid("generation needs MEMBERLAKE_STORE and MEMBERLAKE_LAKE");
    }
    jobs::GenerateOptions generate = jobs::UnattendedOptions(options_.keep_snapshots, options_.deep_check);
    if (as_of_text.empty()) {
      generate.as_of = model::TodayInAmsterdam(std::chrono::system_clock::now());
    } else {
      ARROW_ASSIGN_OR_RAISE(generate.as_of, model::ParseIsoDate(as_of_text));
    }
    ARROW_ASSIGN_OR_RAISE(auto summary, jobs::GenerateFromUris(options_.store_uri, options_.lake_uri, registry_, generate));
    Json answer = Json::parse(summary.ToJson(), nullptr, false);
    if (!answer.is_object()) answer = Json::object();
    answer["trigger"] = trigger;
    answer["snapshot_id"] = summary.manifest.snapshot_id;
    // The lifecycle after a generation, as the server runs it: the config's [retention] rules.
    // Their failure is audited and reported, not an invocation error: the snapshot is
    // published, and a retried invocation would only generate it again.
    if (api_) {
      auto lifecycle = api_->ApplyRetentionRules();
      if (!lifecycle.ok()) {
        answer["lifecycle_error"] = lifecycle.status().ToString();
        std::fprintf(stderr, "retention rules failed: %s\n", lifecycle.status().ToString().c_str());
      } else if (!lifecycle->empty()) {
        answer["lifecycle"] = *lifecycle;
      }
    }
    return answer.dump();
  }

  arrow::Result<std::string> HandleHttp(const Json& event) {
    ApiRequest request;
    const bool v2 = event.contains("rawPath");
    request.path = JsonString(event, v2 ? "rawPath" : "path");
    if (request.path.empty()) request.path = "/";
    const Json& context = event["requestContext"];
    request.method = v2 ? (context.is_object() && context.contains("http") ? JsonString(context["http"], "method") : "")
                        : JsonString(event, "httpMethod");
    if (request.method.empty()) request.method = "GET";
    if (event.contains("headers") && event["headers"].is_object()) {
      for (const auto& [name, value] : event["headers"].items()) {
        if (!value.is_string()) continue;
        request.headers[model::AsciiLower(name)] = value.get<std::string>();
      }
    }
    const char* params_key = v2 ? "queryStringParameters" : "multiValueQueryStringParameters";
    if (event.contains(params_key) && event[params_key].is_object()) {
      for (const auto& [name, value] : event[params_key].items()) {
        if (value.is_string()) request.params.emplace(name, value.get<std::string>());
        if (value.is_array()) {
          for (const auto& item : value) {
            if (item.is_string()) request.params.emplace(name, item.get<std::string>());
          }
        }
      }
    }
    request.body = JsonString(event, "body");
    if (auto encoded = event.find("isBase64Encoded"); encoded != event.end() && encoded->is_boolean() && *encoded) {
      // API Gateway sends standard base64 with padding; the JWT decoder reads the URL alphabet.
      std::string text = request.body;
      while (!text.empty() && text.back() == '=') text.pop_back();
      for (char& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
      auto decoded = DecodeBase64Url(text);
      if (!decoded.ok()) return arrow::Status::Invalid("event body: not valid base64");
      request.body = std::move(*decoded);
    }
    ApiResponse response = api_->Handle(request);
    Json headers = Json::object();
    if (!response.content_type.empty()) headers["Content-Type"] = response.content_type;
    for (const auto& [name, value] : response.headers) headers[name] = value;
    // API Gateway takes the body whole in one JSON answer: a streamed body is collected here
    // (a producer error fails the invocation, as any handler error does).
    ARROW_ASSIGN_OR_RAISE(std::string body, CollectBody(response));
    const bool binary = response.content_type.find("json") == std::string::npos &&
                        response.content_type.find("text") == std::string::npos && !body.empty();
    if (binary) body = Base64(body);
    return Json{{"statusCode", response.status}, {"headers", headers}, {"body", body}, {"isBase64Encoded", binary}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  // Standard base64 with padding, as API Gateway expects for binary bodies.
  static std::string Base64(const std::string& bytes) {
    std::string out = EncodeBase64Url(bytes);
    for (char& c : out) c = c == '-' ? '+' : c == '_' ? '/' : c;
    out.append((4 - out.size() % 4) % 4, '=');
    return out;
  }

  LambdaOptions options_;
  std::shared_ptr<const model::FieldRegistry> registry_;
  std::unique_ptr<ApiService> api_;
};

std::string ErrorBody(const std::string& type, const std::string& message) {
  return Json{{"errorType", type}, {"errorMessage", message}}.dump();
}

}  // namespace

arrow::Result<std::shared_ptr<LambdaEventHandler>> LambdaEventHandler::Make(const LambdaOptions& options) {
  auto handler = std::make_shared<Handler>(options);
  ARROW_RETURN_NOT_OK(handler->Init());
  return handler;
}

arrow::Result<LambdaOptions> LambdaOptionsFromEnvironment() {
  LambdaOptions options;
  options.runtime_api = Env("AWS_LAMBDA_RUNTIME_API");
  if (options.runtime_api.empty()) return arrow::Status::Invalid("AWS_LAMBDA_RUNTIME_API is not set (not inside Lambda?)");
  options.store_uri = Env("MEMBERLAKE_STORE");
  options.lake_uri = Env("MEMBERLAKE_LAKE");
  options.registry_path = Env("MEMBERLAKE_REGISTRY");
  options.server_config = Env("MEMBERLAKE_SERVER_CONFIG");
  if (std::string margin = Env("MEMBERLAKE_DEADLINE_MARGIN_MS"); !margin.empty()) {
    options.deadline_margin_ms = std::atoll(margin.c_str());
  }
  if (std::string keep = Env("MEMBERLAKE_KEEP_SNAPSHOTS"); !keep.empty()) {
    char* end = nullptr;
    long value = std::strtol(keep.c_str(), &end, 10);
    if (*end != '\0' || value < 0 || value > 100000) {
      return arrow::Status::Invalid("MEMBERLAKE_KEEP_SNAPSHOTS: '", keep, "' is not a whole number of snapshots");
    }
    options.keep_snapshots = static_cast<int>(value);
  }
  if (std::string verify = Env("MEMBERLAKE_VERIFY"); !verify.empty()) {
    if (verify != "deep" && verify != "none") {
      return arrow::Status::Invalid("MEMBERLAKE_VERIFY: '", verify, "' is neither deep nor none");
    }
    options.deep_check = verify == "deep";
  }
  if (options.server_config.empty() && (options.store_uri.empty() || options.lake_uri.empty())) {
    return arrow::Status::Invalid("set MEMBERLAKE_STORE and MEMBERLAKE_LAKE (generation) or MEMBERLAKE_SERVER_CONFIG (API)");
  }
  return options;
}

namespace {

// The Runtime API at host:port ($AWS_LAMBDA_RUNTIME_API).
std::unique_ptr<httplib::Client> RuntimeClient(const std::string& runtime_api) {
  auto colon = runtime_api.rfind(':');
  std::string host = runtime_api.substr(0, colon);
  int port = colon == std::string::npos ? 80 : std::atoi(runtime_api.c_str() + colon + 1);
  auto runtime = std::make_unique<httplib::Client>(host, port);
  runtime->set_read_timeout(std::chrono::hours(24));  // /next blocks until there is an event
  runtime->set_keep_alive(true);
  return runtime;
}

arrow::Status PostToRuntime(httplib::Client& runtime, const std::string& path, const std::string& body,
                            const httplib::Headers& headers = {}) {
  auto answer = runtime.Post((std::string(kApi) + path).c_str(), headers, body, "application/json");
  if (!answer || answer->status >= 300) {
    return arrow::Status::IOError("Runtime API POST ", path, " failed", answer ? " (" + std::to_string(answer->status) + ")" : "");
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status ReportInitError(const std::string& runtime_api, const arrow::Status& error) {
  if (!runtime_api.empty()) {
    (void)PostToRuntime(*RuntimeClient(runtime_api), "/init/error", ErrorBody("InitError", error.message()),
                        {{"Lambda-Runtime-Function-Error-Type", "Runtime.InitError"}});
  }
  return error;
}

arrow::Status RunLambda(const LambdaOptions& options) {
  std::unique_ptr<httplib::Client> runtime_client = RuntimeClient(options.runtime_api);
  httplib::Client& runtime = *runtime_client;
  auto post = [&](const std::string& path, const std::string& body, const httplib::Headers& headers = {}) {
    return PostToRuntime(runtime, path, body, headers);
  };

  auto handler = std::make_shared<Handler>(options);
  if (auto init = handler->Init(); !init.ok()) return ReportInitError(options.runtime_api, init);
  for (int64_t served = 0; options.max_invocations == 0 || served < options.max_invocations; ++served) {
    auto next = runtime.Get((std::string(kApi) + "/invocation/next").c_str());
    if (!next || next->status != 200) return arrow::Status::IOError("Runtime API: no next invocation");
    const std::string request_id = next->get_header_value("Lambda-Runtime-Aws-Request-Id");
    const int64_t deadline_ms = std::atoll(next->get_header_value("Lambda-Runtime-Deadline-Ms").c_str());
    if (request_id.empty()) return arrow::Status::IOError("Runtime API: invocation without a request id");
    // The handler runs on its own thread so the deadline can be watched.
    auto task = std::make_shared<std::packaged_task<arrow::Result<std::string>()>>(
        [handler, body = next->body] { return handler->Handle(body); });
    auto result = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    const int64_t wait_ms = deadline_ms > 0 ? deadline_ms - options.deadline_margin_ms - NowMs() : INT64_C(1) << 40;
    if (result.wait_for(std::chrono::milliseconds(std::max<int64_t>(0, wait_ms))) != std::future_status::ready) {
      (void)post("/invocation/" + request_id + "/error",
                 ErrorBody("Timeout", "the handler did not finish before the deadline"),
                 {{"Lambda-Runtime-Function-Error-Type", "Runtime.Timeout"}});
      std::fprintf(stderr, "memberlake lambda: invocation %s timed out; exiting\n", request_id.c_str());
      std::fflush(stderr);
      std::_Exit(3);  // the handler thread cannot be stopped safely; Lambda starts a fresh process
    }
    auto answer = result.get();
    if (answer.ok()) {
      ARROW_RETURN_NOT_OK(post("/invocation/" + request_id + "/response", *answer));
    } else {
      std::string type = answer.status().IsInvalid() ? "InvalidEvent" : "HandlerError";
      ARROW_RETURN_NOT_OK(post("/invocation/" + request_id + "/error", ErrorBody(type, answer.status().message()),
                               {{"Lambda-Runtime-Function-Error-Type", "Runtime." + type}}));
    }
  }
  return arrow::Status::OK();
}

}  // namespace memberlake::server
