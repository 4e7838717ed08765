// An empty folder of its own for a test: <tmp>/memberlake-<name>-<pid>, emptied first.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace memberlake {

inline std::filesystem::path FreshDir(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("memberlake-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace memberlake
