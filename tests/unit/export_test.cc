#include "query/export.h"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace memberlake::query {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<arrow::Table> Members() {
  arrow::StringBuilder names;
  EXPECT_TRUE(names.AppendValues({"Ëlla van Dijk", "Jan Jansen"}).ok());
  auto array = *names.Finish();
  return arrow::Table::Make(arrow::schema({arrow::field("korte_naam", arrow::utf8())}), {array});
}

// The XLSX export holds personal data on disk for a moment: no name another local user could
// predict (and pre-create as a link to a file of theirs), nothing left behind.
TEST(ExportTest, XlsxTemporaryFileIsPrivateUnpredictableAndRemoved) {
  fs::path tmp = fs::temp_directory_path() / ("memberlake-export-test-" + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const char* old_tmpdir = std::getenv("TMPDIR");
  std::string saved = old_tmpdir ? old_tmpdir : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  // Links where a name made of the process id and a counter would go.
  for (int i = 0; i < 64; ++i) {
    fs::create_symlink(tmp / ("victim-" + std::to_string(i)),
                       tmp / ("memberlake-export-" + std::to_string(getpid()) + "-" + std::to_string(i) + ".xlsx"));
  }
  auto bytes = ExportTable(*Members(), ExportFormat::kXlsx);
  if (old_tmpdir) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->substr(0, 2), "PK");  // a zip container
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(tmp)) {
    ++entries;
    EXPECT_TRUE(entry.is_symlink()) << "left behind or written through a planted link: " << entry.path();
  }
  EXPECT_EQ(entries, 64);
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace memberlake::query
