// Lambda events as the Runtime API hands them over: any payload is an answer or an error,
// never a crash or an exception (which would end the runtime, and with it every invocation).
// API Gateway events reach the API service with the world's server config.
#include "fuzz_support.h"
#include "fuzz_world.h"
#include "server/lambda_runtime.h"

using namespace memberlake;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto handler = [] {
    server::LambdaOptions options;
    options.server_config = fuzz::TheFuzzWorld().config_path;  // no store or lake: no generation
    return *server::LambdaEventHandler::Make(options);
  }();
  auto answer = handler->Handle(std::string(reinterpret_cast<const char*>(data), size));
  if (!answer.ok()) fuzz::Require(!answer.status().message().empty(), "an error says why");
  return 0;
}
