#include "model/local_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace memberlake::model {

arrow::Status ReplaceFile(const std::string& path, std::string_view bytes) {
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.flush();
    if (!file.good()) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      return arrow::Status::IOError("cannot write ", path);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return arrow::Status::IOError("cannot write ", path, ": ", ec.message());
  }
  return arrow::Status::OK();
}

}  // namespace memberlake::model
