// `memberlake lambda`: the AWS Lambda custom runtime (provided.al2023). Polls the Runtime API
// for events and answers each one:
//   - EventBridge schedules ({"source": "aws.events", "detail-type": "Scheduled Event", ...})
//     and on-demand events ({"action": "generate", "as_of": "YYYY-MM-DD"}) run a generation,
//     through jobs::GenerateFromUris, the path `memberlake generate` takes; so does a batch of
//     records from the members table's DynamoDB stream (the on-change trigger);
//   - {"action": "deep_check"} (an EventBridge schedule's target input) runs the deep data check
//     of the current snapshot (jobs/data_health.h) and logs its figures as CloudWatch metrics;
//   - API Gateway proxy events (HTTP API v2 or REST) go to the ApiService, as HTTP requests do,
//     when a server config is given;
//   - anything else is an error naming the event's shape.
// A handler still running shortly before the invocation's deadline is reported as a timeout
// and the process exits (Lambda then starts a fresh one); a generation cut off there never
// publishes, so the lake keeps its previous snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

namespace memberlake::server {

struct LambdaOptions {
  std::string runtime_api;      // host:port ($AWS_LAMBDA_RUNTIME_API)
  std::string store_uri;        // $MEMBERLAKE_STORE
  std::string lake_uri;         // $MEMBERLAKE_LAKE
  std::string registry_path;    // $MEMBERLAKE_REGISTRY (empty: built-in)
  std::string server_config;    // $MEMBERLAKE_SERVER_CONFIG: enables API Gateway events
  int64_t deadline_margin_ms = 1000;  // report a timeout this long before the deadline
  int keep_snapshots = 0;             // $MEMBERLAKE_KEEP_SNAPSHOTS: prune after generating (0: keep all)
  bool deep_check = true;             // $MEMBERLAKE_VERIFY: deep (check before publishing) or none
  int64_t max_invocations = 0;        // 0: serve until stopped
};

// Reads LambdaOptions from the environment; Invalid naming a missing variable.
arrow::Result<LambdaOptions> LambdaOptionsFromEnvironment();

// The runtime loop. Returns after max_invocations, or an error when the Runtime API fails.
arrow::Status RunLambda(const LambdaOptions& options);
// Tells the Runtime API at `runtime_api` (when not empty) that initialisation failed with
// `error`, e.g. a bad setting in the environment, so Lambda reports it; returns `error`.
arrow::Status ReportInitError(const std::string& runtime_api, const arrow::Status& error);

// One invocation, without the Runtime API (RunLambda's handler; the fuzz target drives it too):
// the answer as JSON text, or the error to report. Never throws, whatever the payload.
// `options` as for RunLambda; the registry and the API service are loaded once.
class LambdaEventHandler {
 public:
  static arrow::Result<std::shared_ptr<LambdaEventHandler>> Make(const LambdaOptions& options);
  virtual ~LambdaEventHandler() = default;
  virtual arrow::Result<std::string> Handle(const std::string& payload) = 0;
};

}  // namespace memberlake::server
