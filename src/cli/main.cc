// memberlake: one binary for the command line, the HTTP server and the Lambda handler. Each
// subcommand is a thin edge over the core: parse options, call the library, map arrow::Status to
// an exit code (cli_support.h). The commands themselves live in cmd_*.cc (commands.h).
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "lake/lake_storage.h"
#include "query/process_tuning.h"

namespace memberlake::cli {
namespace {

int Main(int argc, char** argv) {
  CLI::App app{"memberlake: a fast, secure, columnar reporting layer over a club's member table.\n"
               "Exit codes: 0 ok, 1 runtime/storage error, 2 bad input, 3 not found, 4 version conflict, "
               "5 superseded."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "memberlake " MEMBERLAKE_VERSION);
  GlobalOptions global;
  app.add_option("--registry", global.registry_path,
                 "Field registry TOML (default: $MEMBERLAKE_REGISTRY or the built-in club registry)");
  int exit_code = 0;
  const CommandContext context{&global, &exit_code};
  AddMemberCommands(app, context);
  AddLakeCommands(app, context);
  AddQueryCommands(app, context);
  AddAnonymiseCommands(app, context);
  AddServerCommands(app, context);
  AddAskCommands(app, context);
  AddPrivacyCommands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  } catch (const std::exception& error) {  // a bug, but one that reports instead of aborting
    std::fprintf(stderr, "memberlake: unexpected error: %s\n", error.what());
    return 1;
  }
  return exit_code;
}

}  // namespace
}  // namespace memberlake::cli

int main(int argc, char** argv) {
  memberlake::query::TuneProcessAllocator();
  int code = memberlake::cli::Main(argc, argv);
  memberlake::lake::ShutdownLakeStorage();
  return code;
}
