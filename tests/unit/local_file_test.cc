#include "model/local_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace memberlake::model {
namespace {

std::string Read(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

TEST(ReplaceFile, WritesTheNewBytesWholeAndLeavesNoTemporaryFile) {
  auto dir = FreshDir("replace-file");
  const auto path = dir / "budget.json";
  ASSERT_TRUE(ReplaceFile(path.string(), "old").ok());
  ASSERT_TRUE(ReplaceFile(path.string(), std::string("new\0bytes", 9)).ok());
  EXPECT_EQ(Read(path), std::string("new\0bytes", 9));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  std::filesystem::remove_all(dir);
}

TEST(ReplaceFile, AFailedReplaceKeepsTheOldFileAndNamesThePath) {
  auto dir = FreshDir("replace-file-fail");
  const auto path = dir / "out.csv";
  ASSERT_TRUE(ReplaceFile(path.string(), "old").ok());
  // A folder in the way of the rename: the write succeeds, the rename cannot replace it.
  const auto blocked = dir / "blocked";
  std::filesystem::create_directories(blocked / "inside");
  auto status = ReplaceFile(blocked.string(), "new");
  EXPECT_TRUE(status.IsIOError());
  EXPECT_NE(status.message().find(blocked.string()), std::string::npos) << status.ToString();
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);  // no temporary file left
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace memberlake::model
