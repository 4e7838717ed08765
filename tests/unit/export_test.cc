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

// A table of several chunks with text that needs quoting, numbers, nulls and a formula-like cell.
std::shared_ptr<arrow::Table> ManyMembers(int rows) {
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (int part = 0; part < 3; ++part) {
    arrow::StringBuilder names;
    arrow::DoubleBuilder fees;
    for (int i = 0; i < rows; ++i) {
      int n = part * rows + i;
      EXPECT_TRUE((n % 7 == 0 ? names.AppendNull() : names.Append(n % 5 == 0 ? "=1+" + std::to_string(n) : "Ëlla; \"" + std::to_string(n) + "\"")).ok());
      EXPECT_TRUE(fees.Append(n * 1.25).ok());
    }
    auto schema = arrow::schema({arrow::field("korte_naam", arrow::utf8()), arrow::field("contributie", arrow::float64())});
    parts.push_back(arrow::Table::Make(schema, {*names.Finish(), *fees.Finish()}));
  }
  return *arrow::ConcatenateTables(parts);
}

TEST(ExportTest, StreamedCsvAndNdjsonAreTheBytesOfTheWholeExportInPieces) {
  auto table = ManyMembers(10);
  for (auto format : {ExportFormat::kCsv, ExportFormat::kNdjson}) {
    for (char separator : {';', ','}) {
      ExportOptions options;
      options.csv_separator = separator;
      auto whole = ExportTable(*table, format, options);
      ASSERT_TRUE(whole.ok()) << whole.status().ToString();
      std::string joined;
      int pieces = 0;
      auto streamed = StreamTable(*table, format, options, [&](std::string_view piece) {
        joined.append(piece);
        ++pieces;
        return arrow::Status::OK();
      }, 4);
      ASSERT_TRUE(streamed.ok()) << streamed.ToString();
      EXPECT_EQ(joined, *whole);
      EXPECT_EQ(pieces, (format == ExportFormat::kCsv ? 1 : 0) + 8);  // 30 rows, 4 a piece
    }
  }
}

TEST(ExportTest, StreamStopsAtTheFirstWriteError) {
  int pieces = 0;
  auto streamed = StreamTable(*ManyMembers(10), ExportFormat::kCsv, {}, [&](std::string_view) {
    return ++pieces == 2 ? arrow::Status::IOError("client gone") : arrow::Status::OK();
  }, 4);
  EXPECT_TRUE(streamed.IsIOError());
  EXPECT_EQ(pieces, 2);
}

}  // namespace
}  // namespace memberlake::query
