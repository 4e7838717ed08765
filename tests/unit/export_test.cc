#include "query/export.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
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

// Every piece of `source`, in order.
std::vector<std::string> Pieces(PieceSource& source) {
  std::vector<std::string> pieces;
  for (;;) {
    auto piece = source.Next();
    EXPECT_TRUE(piece.ok()) << piece.status().ToString();
    if (!piece.ok() || !*piece) return pieces;
    EXPECT_FALSE((*piece)->empty());
    pieces.push_back(std::move(**piece));
  }
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string joined;
  for (const auto& piece : pieces) joined += piece;
  return joined;
}

std::shared_ptr<arrow::Table> ReadParquet(const std::string& bytes, int* row_groups) {
  auto buffer = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes));
  auto reader = parquet::arrow::OpenFile(buffer, arrow::default_memory_pool());
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (row_groups) *row_groups = (*reader)->num_row_groups();
  auto table = (*reader)->ReadTable();
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return table.ok() ? *table : nullptr;
}

TEST(ExportTest, TextFormatsComeInPiecesOfRowsThatJoinToTheWholeFile) {
  auto table = ManyMembers(10);
  for (auto format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    for (char separator : {';', ','}) {
      ExportOptions options;
      options.csv_separator = separator;
      auto whole = OpenTableSource(table, format, options, 1000);  // all rows in one piece
      auto small = OpenTableSource(table, format, options, 4);
      ASSERT_TRUE(whole.ok() && small.ok());
      auto pieces = Pieces(**small);
      EXPECT_EQ(Join(pieces), Join(Pieces(**whole)));
      // 30 rows, 4 a piece; CSV: the header first; JSON: the brackets
      EXPECT_EQ(pieces.size(), size_t{8} + (format == ExportFormat::kCsv ? 1 : format == ExportFormat::kJson ? 2 : 0));
    }
  }
  auto json = ExportTable(*table, ExportFormat::kJson);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->front(), '[');
  EXPECT_EQ(json->back(), ']');
  EXPECT_NE(json->find("\"contributie\":1.25}"), std::string::npos);
  auto empty = ExportTable(*table->Slice(0, 0), ExportFormat::kJson);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "[]");
}

TEST(ExportTest, ParquetIsARowGroupAPieceAndReadsBackWhole) {
  auto table = *ManyMembers(10)->CombineChunks();
  auto batches = std::make_shared<arrow::TableBatchReader>(table);
  batches->set_chunksize(7);
  auto source = OpenParquetSource(batches, table);
  auto pieces = Pieces(*source);
  EXPECT_EQ(pieces.size(), size_t{6});  // 30 rows, 7 a row group: 5 row groups, then the footer
  int row_groups = 0;
  auto back = ReadParquet(Join(pieces), &row_groups);
  EXPECT_EQ(row_groups, 5);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->Equals(*table));
  auto whole = ExportTable(*table, ExportFormat::kParquet);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(ReadParquet(*whole, nullptr)->Equals(*back));
}

TEST(ExportTest, ProjectedParquetKeepsOnlyTheNamedColumnsInTheFilesOrder) {
  auto table = ManyMembers(10);
  auto with_id = table->AddColumn(0, arrow::field("lidnummer", arrow::int64()),
                                  std::make_shared<arrow::ChunkedArray>(*arrow::MakeArrayFromScalar(arrow::Int64Scalar(7), 30)));
  ASSERT_TRUE(with_id.ok());
  auto sink = *arrow::io::BufferOutputStream::Create();
  ASSERT_TRUE(parquet::arrow::WriteTable(**with_id, arrow::default_memory_pool(), sink, 8).ok());
  auto file = std::make_shared<arrow::io::BufferReader>(*sink->Finish());
  auto source = OpenProjectedParquet(file, {"contributie", "lidnummer", "not_in_the_file"}, 8);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto pieces = Pieces(**source);
  int row_groups = 0;
  auto back = ReadParquet(Join(pieces), &row_groups);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->schema()->field_names(), (std::vector<std::string>{"lidnummer", "contributie"}));
  EXPECT_EQ(back->num_rows(), 30);
  EXPECT_EQ(row_groups, 4);  // a row group per batch of 8 rows
  EXPECT_EQ(pieces.size(), size_t{5});
  EXPECT_TRUE(back->GetColumnByName("contributie")->Equals(*table->GetColumnByName("contributie")));
}

TEST(ExportTest, XlsxComesFromAFileReadAPieceAtATime) {
  auto source = OpenTableSource(ManyMembers(3000), ExportFormat::kXlsx);
  ASSERT_TRUE(source.ok());
  auto pieces = Pieces(**source);
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front().substr(0, 2), "PK");
  EXPECT_EQ(Join(pieces).substr(Join(pieces).size() - 22, 4), std::string("PK\x05\x06", 4));  // the zip's end record
}

TEST(ExportTest, FramedPutsTextAroundThePieces) {
  auto rows = OpenTableSource(Members(), ExportFormat::kJson);
  ASSERT_TRUE(rows.ok());
  auto framed = Framed("{\"rows\":", std::move(*rows), "}");
  EXPECT_EQ(Join(Pieces(*framed)), "{\"rows\":[{\"korte_naam\":\"Ëlla van Dijk\"},{\"korte_naam\":\"Jan Jansen\"}]}");
}

// A distribution report's density points are a list per group: in a spreadsheet they are the
// numbers a space apart, in the CSV's decimal style, not Arrow's debug text with its type name.
TEST(ExportTest, NumberListsAreSpreadsheetTextInTheCsvsDecimalStyle) {
  arrow::ListBuilder lists(arrow::default_memory_pool(), std::make_shared<arrow::DoubleBuilder>());
  auto& items = static_cast<arrow::DoubleBuilder&>(*lists.value_builder());
  ASSERT_TRUE(lists.Append().ok());
  ASSERT_TRUE(items.AppendValues({35.0, 36.25, -0.5}).ok());
  ASSERT_TRUE(lists.AppendNull().ok());
  auto kde = *lists.Finish();
  auto table = arrow::Table::Make(arrow::schema({arrow::field("kde_x", kde->type())}), {kde});
  ExportOptions dutch;
  auto csv = ExportTable(*table, ExportFormat::kCsv, dutch);
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  EXPECT_EQ(*csv, "\xEF\xBB\xBFkde_x\r\n35 36,25 -0,5\r\n\r\n");
  ExportOptions comma;
  comma.csv_separator = ',';
  auto plain = ExportTable(*table, ExportFormat::kCsv, comma);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "\xEF\xBB\xBFkde_x\r\n35 36.25 -0.5\r\n\r\n");
}

// Pieces "a", "bb", "ccc", ... then the end, or an error after `fail_after` pieces.
class Counted : public PieceSource {
 public:
  Counted(int pieces, int fail_after = -1) : pieces_(pieces), fail_after_(fail_after) {}
  arrow::Result<std::optional<std::string>> Next() override {
    if (made_ == fail_after_) return arrow::Status::IOError("lost the disk");
    if (made_ == pieces_) return std::nullopt;
    ++made_;
    return std::string(static_cast<size_t>(made_), static_cast<char>('a' + made_ - 1));
  }

 private:
  const int pieces_, fail_after_;
  int made_ = 0;
};

TEST(ExportTest, CapturedHandsOnEveryPieceAndTheWholeBodyOnlyAtACompleteEndWithinTheLimit) {
  std::vector<std::string> completed;
  auto keep = [&](std::string whole) { completed.push_back(std::move(whole)); };
  auto within = Captured(std::make_unique<Counted>(3), 6, keep);
  EXPECT_EQ(Join(Pieces(*within)), "abbccc");
  ASSERT_EQ(completed, (std::vector<std::string>{"abbccc"}));
  auto over = Captured(std::make_unique<Counted>(3), 5, keep);  // the third piece goes over: dropped
  EXPECT_EQ(Join(Pieces(*over)), "abbccc");                    // still sent whole
  EXPECT_EQ(completed.size(), size_t{1});
  auto failing = Captured(std::make_unique<Counted>(3, 2), 100, keep);
  ASSERT_TRUE(failing->Next().ok());
  ASSERT_TRUE(failing->Next().ok());
  EXPECT_FALSE(failing->Next().ok());  // an error ends the body early: nothing kept
  EXPECT_EQ(completed.size(), size_t{1});
  {
    auto abandoned = Captured(std::make_unique<Counted>(3), 100, keep);
    ASSERT_TRUE(abandoned->Next().ok());  // the client goes away after the first piece
  }
  EXPECT_EQ(completed.size(), size_t{1});
}

std::shared_ptr<arrow::Table> Addresses(int rows) {
  arrow::StringBuilder names, streets, codes, towns;
  for (int i = 0; i < rows; ++i) {
    EXPECT_TRUE(names.Append("Lid " + std::to_string(i)).ok());
    EXPECT_TRUE(streets.Append("Straat " + std::to_string(i)).ok());
    EXPECT_TRUE(codes.Append("1234 AB").ok());
    EXPECT_TRUE(towns.Append("Ede").ok());
  }
  arrow::FieldVector fields;
  for (const char* name : {"korte_naam", "straat", "postcode", "woonplaats"}) fields.push_back(arrow::field(name, arrow::utf8()));
  return arrow::Table::Make(arrow::schema(fields), {*names.Finish(), *streets.Finish(), *codes.Finish(), *towns.Finish()});
}

// The byte offset of "N 0 obj" in `pdf` for every object the cross-reference table lists.
void ExpectXrefPointsAtEveryObject(const std::string& pdf) {
  const size_t startxref = pdf.rfind("startxref\n");
  ASSERT_NE(startxref, std::string::npos);
  const size_t xref = std::stoul(pdf.substr(startxref + 10));
  ASSERT_EQ(pdf.compare(xref, 5, "xref\n"), 0);
  const size_t count_at = xref + 7;  // "xref\n0 "
  const int objects = std::stoi(pdf.substr(count_at));
  size_t entry = pdf.find('\n', count_at) + 1 + 20;  // past the free entry
  for (int id = 1; id < objects; ++id, entry += 20) {
    const size_t offset = std::stoul(pdf.substr(entry, 10));
    EXPECT_EQ(pdf.compare(offset, std::to_string(id).size() + 6, std::to_string(id) + " 0 obj"), 0) << "object " << id;
  }
}

TEST(ExportTest, PdfLabelsComeSheetsAPieceWithTheCrossReferencesAtTheEnd) {
  auto source = OpenTableSource(Addresses(24 * 40 + 5), ExportFormat::kPdf);  // 41 sheets
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto pieces = Pieces(**source);
  EXPECT_EQ(pieces.size(), size_t{3});  // 16 sheets a piece
  EXPECT_EQ(pieces.front().rfind("%PDF-1.4\n", 0), 0u);
  EXPECT_EQ(pieces.front().find("xref"), std::string::npos);
  const std::string pdf = Join(pieces);
  EXPECT_NE(pdf.find("/Count 41 "), std::string::npos);
  EXPECT_NE(pdf.find("(Lid 964) Tj"), std::string::npos);
  EXPECT_EQ(pdf.substr(pdf.size() - 6), "%%EOF\n");
  ExpectXrefPointsAtEveryObject(pdf);
  auto whole = ExportTable(*Addresses(24 * 40 + 5), ExportFormat::kPdf);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, pdf);
  auto empty = ExportTable(*Addresses(0), ExportFormat::kPdf);
  ASSERT_TRUE(empty.ok());
  EXPECT_NE(empty->find("/Count 1 "), std::string::npos);  // one empty sheet
  ExpectXrefPointsAtEveryObject(*empty);
  auto no_address = OpenTableSource(Members(), ExportFormat::kPdf);
  EXPECT_FALSE(no_address.ok());  // refused before any piece
}

}  // namespace
}  // namespace memberlake::query
