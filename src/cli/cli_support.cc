#include "cli/cli_support.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "model/local_file.h"

namespace memberlake::cli {

int ExitCodeFor(const arrow::Status& status) {
  if (status.ok()) return 0;
  if (status.IsInvalid() || status.IsTypeError() || status.IsNotImplemented()) return 2;
  if (status.IsKeyError() || status.IsIndexError()) return 3;
  if (status.IsAlreadyExists()) return 4;
  if (status.IsCancelled()) return 5;  // a generation overtaken by a newer one: nothing published
  return 1;
}

int Fail(const arrow::Status& status) {
  std::fprintf(stderr, "memberlake: %s\n", status.message().c_str());
  return ExitCodeFor(status);
}

arrow::Result<std::shared_ptr<const model::FieldRegistry>> LoadRegistry(const GlobalOptions& global) {
  return model::FieldRegistry::Load(global.registry_path);
}

arrow::Result<std::unique_ptr<store::MemberStore>> OpenStore(const GlobalOptions& global, const std::string& uri,
                                                            bool create) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  store::StoreOptions options;
  options.create_if_missing = create;
  return store::OpenMemberStore(uri, registry, options);
}

std::string ReadStdin() { return std::string(std::istreambuf_iterator<char>(std::cin), {}); }

arrow::Status WriteOutput(const std::string& path, const std::string& bytes) {
  if (path.empty()) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return arrow::Status::OK();
  }
  // Replaced whole, so a failed export never leaves half a file.
  return model::ReplaceFile(path, bytes);
}

arrow::Result<model::CivilDate> ResolveAsOf(const std::string& text) {
  if (text.empty()) return model::TodayInAmsterdam(std::chrono::system_clock::now());
  auto date = model::ParseIsoDate(text);
  if (!date.ok()) return arrow::Status::Invalid("--as-of: ", date.status().message());
  return date;
}

TerminalProgress::TerminalProgress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

TerminalProgress::~TerminalProgress() {
  if (dirty_) std::fputs("\n", stderr);
}

void TerminalProgress::Update(std::string_view stage, int64_t done, int64_t total) {
  if (!enabled_) return;
  int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
  std::fprintf(stderr, "\r%-8.*s %3d%%  %lld/%lld   ", static_cast<int>(stage.size()), stage.data(),
               percent, static_cast<long long>(done), static_cast<long long>(total));
  dirty_ = true;
}

}  // namespace memberlake::cli
