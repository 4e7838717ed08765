// What every subcommand shares: the edge where arrow::Status becomes an exit code and an
// error message on stderr, option parsing helpers, and progress on a terminal.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

#include "model/calendar.h"
#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::cli {

// Exit codes: 0 ok, 1 runtime/storage failure, 2 bad input or usage, 3 not found,
// 4 version conflict, 5 superseded (a generation that a newer one overtook published nothing).
int ExitCodeFor(const arrow::Status& status);
// Prints "memberlake: <message>" to stderr and returns the exit code.
int Fail(const arrow::Status& status);

struct GlobalOptions {
  std::string registry_path;  // --registry; empty: $MEMBERLAKE_REGISTRY or built-in
};
arrow::Result<std::shared_ptr<const model::FieldRegistry>> LoadRegistry(const GlobalOptions& global);

// The member store at `uri` (e.g. sqlite:var/members.db) with the registry of --registry.
arrow::Result<std::unique_ptr<store::MemberStore>> OpenStore(const GlobalOptions& global, const std::string& uri,
                                                            bool create);

// All of standard input.
std::string ReadStdin();

// `bytes` to `path` atomically (a temporary file beside it, then rename), or to stdout when
// `path` is empty: a failed write never leaves half a file.
arrow::Status WriteOutput(const std::string& path, const std::string& bytes);

// --as-of: empty means today in Europe/Amsterdam.
arrow::Result<model::CivilDate> ResolveAsOf(const std::string& text);

// A one-line progress display on stderr when it is a terminal; silent otherwise.
class TerminalProgress {
 public:
  explicit TerminalProgress(bool enabled);
  ~TerminalProgress();
  void Update(std::string_view stage, int64_t done, int64_t total);

 private:
  bool enabled_;
  bool dirty_ = false;
};

}  // namespace memberlake::cli
