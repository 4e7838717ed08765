// serve, lambda, audit verify, apikey create: the server edges and their tools.
#include "cli/commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_keys.h"
#include "server/audit_log.h"
#include "server/http_server.h"
#include "server/lambda_runtime.h"
#include "server/server_config.h"

namespace memberlake::cli {
namespace {

arrow::Status RunServe(const std::string& config_path, int port_override) {
  ARROW_ASSIGN_OR_RAISE(auto config, server::ServerConfig::LoadFile(config_path));
  if (port_override >= 0) config.port = port_override;
  return server::Serve(config, [&](int port) {
    std::printf("memberlake listening on http://%s:%d\n", config.listen.c_str(), port);
    std::fflush(stdout);
  });
}

arrow::Status RunAuditVerify(const std::string& path, const std::string& key_env, bool json) {
  std::string key;
  if (!key_env.empty()) {
    const char* value = std::getenv(key_env.c_str());
    if (value == nullptr || *value == '\0') return arrow::Status::Invalid("--key-env: ", key_env, " is not set");
    key = value;
  }
  ARROW_ASSIGN_OR_RAISE(auto result, server::AuditLog::Verify(path, key));
  if (json) {
    std::printf("%s\n", nlohmann::json{{"log", path}, {"entries", result.entries}, {"ok", result.ok},
                                       {"keyed", !key.empty()}, {"first_bad_seq", result.first_bad_seq},
                                       {"problem", result.problem}}.dump().c_str());
  } else if (result.ok) {
    std::printf("audit log %s: %lld entries, chain intact\n", path.c_str(), static_cast<long long>(result.entries));
  }
  if (!result.ok) return arrow::Status::IOError("audit log ", path, " failed verification: ", result.problem);
  return arrow::Status::OK();
}

arrow::Status RunApiKeyCreate(const std::string& name, const std::vector<std::string>& groups, const std::string& file) {
  ARROW_ASSIGN_OR_RAISE(auto key, server::ApiKeyStore::Generate());
  auto entry_or = server::ApiKeyStore::TomlEntry(name, key, groups);
  if (!entry_or.ok()) return arrow::Status::Invalid("--", entry_or.status().message());
  const std::string& entry = *entry_or;
  if (file.empty()) {
    std::printf("%s\n# add to the api_keys_file:\n%s", key.key.c_str(), entry.c_str());
    return arrow::Status::OK();
  }
  // Check the file with the new entry before touching it, so a failure leaves it as it was.
  std::string existing;
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    existing.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string updated = existing + (existing.empty() || existing.back() == '\n' ? "" : "\n") + "\n" + entry;
  ARROW_RETURN_NOT_OK(server::ApiKeyStore::LoadString(updated, file).status());
  ARROW_RETURN_NOT_OK(WriteOutput(file, updated));
  std::printf("%s\n", key.key.c_str());
  return arrow::Status::OK();
}

}  // namespace

void AddServerCommands(CLI::App& app, const CommandContext& context) {
  // serve
  struct ServeOptions {
    std::string config;
    int port = -1;
  };
  auto serve_options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand("serve", "Run the HTTP API (JWT/API-key auth, regional isolation, audit trail)");
  serve->add_option("--config", serve_options->config, "Server config TOML (see docs/server.md)")->required();
  serve->add_option("--port", serve_options->port, "Listen on this port instead of the config's (0: any free port)");
  serve->callback([=] { context.Finish(RunServe(serve_options->config, serve_options->port)); });

  // lambda
  auto invocations = std::make_shared<int64_t>(0);
  auto* lambda = app.add_subcommand(
      "lambda", "Run as an AWS Lambda custom runtime (env: AWS_LAMBDA_RUNTIME_API, MEMBERLAKE_STORE, MEMBERLAKE_LAKE, "
                "MEMBERLAKE_SERVER_CONFIG); scheduled and on-demand generation, API Gateway requests");
  lambda->add_option("--max-invocations", *invocations, "Stop after this many invocations (0: never)")
      ->check(CLI::NonNegativeNumber);
  lambda->callback([=] {
    auto options = server::LambdaOptionsFromEnvironment();
    if (!options.ok()) {
      const char* runtime_api = std::getenv("AWS_LAMBDA_RUNTIME_API");
      return context.Finish(server::ReportInitError(runtime_api ? runtime_api : "", options.status()));
    }
    options->max_invocations = *invocations;
    context.Finish(server::RunLambda(*options));
  });

  // audit
  struct AuditOptions {
    std::string path, key_env;
    bool json = false;
  };
  auto audit_options = std::make_shared<AuditOptions>();
  auto* audit = app.add_subcommand("audit", "The hash-chained audit trail");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand("verify", "Check that no entry was edited, removed or reordered");
  audit_verify->add_option("--log", audit_options->path, "Audit log: a file, or the s3:// location of its objects")->required();
  audit_verify->add_option("--key-env", audit_options->key_env,
                           "Variable holding the chain's HMAC key ([audit] key_env): finds a log rewritten without it");
  audit_verify->add_flag("--json", audit_options->json, "Print the result as JSON");
  audit_verify->callback(
      [=] { context.Finish(RunAuditVerify(audit_options->path, audit_options->key_env, audit_options->json)); });

  // apikey
  struct ApiKeyOptions {
    std::string name, file;
    std::vector<std::string> groups;
  };
  auto key_options = std::make_shared<ApiKeyOptions>();
  auto* apikey = app.add_subcommand("apikey", "Local API keys for scripts (stored hashed)");
  apikey->require_subcommand(1);
  auto* apikey_create = apikey->add_subcommand("create", "Make a key: prints it once; the file keeps only its hash");
  apikey_create->add_option("--name", key_options->name, "Who or what uses the key (audit actor)")->required();
  apikey_create->add_option("--group", key_options->groups, "Role, e.g. Members_Export, Regio_Utrecht (repeatable)")->required();
  apikey_create->add_option("--file", key_options->file, "Append the hashed entry to this api_keys_file");
  apikey_create->callback(
      [=] { context.Finish(RunApiKeyCreate(key_options->name, key_options->groups, key_options->file)); });
}

}  // namespace memberlake::cli
