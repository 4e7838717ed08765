// The command groups of the binary. Each registers its subcommands on the app; the options a
// subcommand parses live in objects its callback owns (shared_ptr), so nothing dangles once
// registration returns and a new command is one new file, not an edit of main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <arrow/status.h>

#include "cli/cli_support.h"

namespace memberlake::cli {

// What every command's callback needs: the global options and where its outcome goes.
struct CommandContext {
  const GlobalOptions* global = nullptr;
  int* exit_code = nullptr;
  // Records the outcome: exit code 0, or the error on stderr and its exit code (cli_support.h).
  void Finish(const arrow::Status& status) const { *exit_code = status.ok() ? 0 : Fail(status); }
};

void AddMemberCommands(CLI::App& app, const CommandContext& context);  // members, seed
void AddLakeCommands(CLI::App& app, const CommandContext& context);    // generate, snapshots, demo
void AddQueryCommands(CLI::App& app, const CommandContext& context);   // query, report
void AddAnonymiseCommands(CLI::App& app, const CommandContext& context);  // anonymise
void AddServerCommands(CLI::App& app, const CommandContext& context);  // serve, lambda, audit, apikey
void AddAskCommands(CLI::App& app, const CommandContext& context);     // ask
void AddPrivacyCommands(CLI::App& app, const CommandContext& context); // erase, subject-export, retention

}  // namespace memberlake::cli
