#include "query/address_labels.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include <arrow/api.h>

#include "model/text.h"
#include "query/result_format.h"

namespace memberlake::query {
namespace {

constexpr double kMm = 72.0 / 25.4;
constexpr double kPageWidth = 210 * kMm, kPageHeight = 297 * kMm;
constexpr int kColumns = 3, kRows = 8;
constexpr double kLabelWidth = 70 * kMm, kLabelHeight = 36 * kMm, kTopMargin = 4.5 * kMm;
constexpr double kPadding = 5 * kMm, kFontSize = 10, kLeading = 12.5;
constexpr size_t kMaxChars = 36;  // Helvetica 10 pt averages ~5 pt a character: 60 mm of text

// One Unicode code point from UTF-8 at `i` (advancing it); U+FFFD for a malformed sequence.
uint32_t NextCodePoint(const std::string& text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char first = byte(i);
  int extra = first < 0x80 ? 0 : (first >> 5) == 6 ? 1 : (first >> 4) == 14 ? 2 : (first >> 3) == 30 ? 3 : -1;
  if (extra < 0 || i + static_cast<size_t>(extra) >= text.size() + (extra == 0 ? 1 : 0)) {  // bad or cut short
    ++i;
    return 0xFFFD;
  }
  uint32_t code = extra == 0 ? first : first & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + static_cast<size_t>(k)) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    code = (code << 6) | (byte(i + static_cast<size_t>(k)) & 0x3F);
  }
  i += static_cast<size_t>(extra) + 1;
  return code;
}

// UTF-8 to WinAnsiEncoding (cp1252) bytes.
std::string ToWinAnsi(const std::string& text) {
  static const std::pair<uint32_t, char> kSpecial[] = {
      {0x20AC, '\x80'}, {0x201A, '\x82'}, {0x0192, '\x83'}, {0x201E, '\x84'}, {0x2026, '\x85'}, {0x2020, '\x86'},
      {0x2021, '\x87'}, {0x02C6, '\x88'}, {0x2030, '\x89'}, {0x0160, '\x8A'}, {0x2039, '\x8B'}, {0x0152, '\x8C'},
      {0x017D, '\x8E'}, {0x2018, '\x91'}, {0x2019, '\x92'}, {0x201C, '\x93'}, {0x201D, '\x94'}, {0x2022, '\x95'},
      {0x2013, '\x96'}, {0x2014, '\x97'}, {0x02DC, '\x98'}, {0x2122, '\x99'}, {0x0161, '\x9A'}, {0x203A, '\x9B'},
      {0x0153, '\x9C'}, {0x017E, '\x9E'}, {0x0178, '\x9F'}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const uint32_t code = NextCodePoint(text, i);
    if (code == 0x0132 || code == 0x0133) {  // the Dutch ij ligature: two letters
      out += code == 0x0132 ? "IJ" : "ij";
    } else if ((code >= 0x20 && code < 0x7F) || (code >= 0xA0 && code <= 0xFF)) {
      out.push_back(static_cast<char>(code));
    } else {
      char mapped = '?';
      for (const auto& [from, to] : kSpecial) {
        if (from == code) mapped = to;
      }
      out.push_back(code == '\t' || code == '\n' || code == '\r' ? ' ' : mapped);
    }
  }
  return out;
}

// A PDF string literal of WinAnsi text, cut to kMaxChars with an ellipsis.
std::string PdfString(std::string text) {
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars - 1) + '\x85';
  std::string out = "(";
  for (char c : text) {
    if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + ")";
}

// The content stream of one sheet: the labels of `rows` (at most kColumns * kRows).
arrow::Result<std::string> PageContent(const arrow::RecordBatch& rows) {
  auto name = rows.GetColumnByName("korte_naam"), street = rows.GetColumnByName("straat");
  auto postcode = rows.GetColumnByName("postcode"), city = rows.GetColumnByName("woonplaats");
  auto country = rows.GetColumnByName("land");
  auto text = [&](const std::shared_ptr<arrow::Array>& array, int64_t row) -> arrow::Result<std::string> {
    if (array == nullptr) return std::string();
    ARROW_ASSIGN_OR_RAISE(auto cell, CellText(*array, row));
    return std::string(model::Trim(cell.value_or("")));
  };
  std::string content;
  for (int64_t row = 0; row < rows.num_rows(); ++row) {
    std::vector<std::string> lines;
    ARROW_ASSIGN_OR_RAISE(std::string who, text(name, row));
    ARROW_ASSIGN_OR_RAISE(std::string where, text(street, row));
    ARROW_ASSIGN_OR_RAISE(std::string code, text(postcode, row));
    ARROW_ASSIGN_OR_RAISE(std::string town, text(city, row));
    ARROW_ASSIGN_OR_RAISE(std::string land, text(country, row));
    for (std::string line : {who, where, std::string(model::Trim(code + "  " + town))}) {
      if (!line.empty()) lines.push_back(line);
    }
    if (!land.empty() && land != "Nederland") {
      for (char& c : land) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      lines.push_back(land);
    }
    const double x = static_cast<double>(row % kColumns) * kLabelWidth + kPadding;
    const double top = kPageHeight - kTopMargin - static_cast<double>(row / kColumns) * kLabelHeight - kPadding;
    char position[96];
    std::snprintf(position, sizeof position, "BT /F1 %.0f Tf %.1f TL %.2f %.2f Td\n", kFontSize, kLeading, x,
                  top - kFontSize);
    content += position;
    for (size_t l = 0; l < lines.size(); ++l) content += PdfString(ToWinAnsi(lines[l])) + (l == 0 ? " Tj\n" : " '\n");
    content += "ET\n";
  }
  return content;
}

// Objects: 1 catalog, 2 page tree, 3 font, then a page and its content per page. The page
// objects name their parent (2) before it is written; PDF readers find every object through the
// cross-reference table, so the order in the file does not matter.
class AddressLabelSource : public PieceSource {
 public:
  AddressLabelSource(std::shared_ptr<arrow::Table> rows, int pages_per_piece)
      : rows_(std::move(rows)),
        pages_per_piece_(pages_per_piece),
        pages_(std::max<int64_t>(1, (rows_->num_rows() + kPerPage - 1) / kPerPage)),
        offsets_(static_cast<size_t>(3 + 2 * pages_), 0) {}

  arrow::Result<std::optional<std::string>> Next() override {
    if (done_) return std::nullopt;
    std::string piece;
    if (page_ == 0) {
      piece = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
      Object(3, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>", piece);
    }
    for (int n = 0; n < pages_per_piece_ && page_ < pages_; ++n, ++page_) {
      std::shared_ptr<arrow::Table> slice = rows_->Slice(page_ * kPerPage, kPerPage);
      ARROW_ASSIGN_OR_RAISE(auto sheet, slice->CombineChunksToBatch());
      ARROW_ASSIGN_OR_RAISE(std::string content, PageContent(*sheet));
      const int64_t page_id = 4 + 2 * page_, content_id = page_id + 1;
      char media[64];
      std::snprintf(media, sizeof media, "[0 0 %.2f %.2f]", kPageWidth, kPageHeight);
      Object(page_id, "<< /Type /Page /Parent 2 0 R /MediaBox " + std::string(media) +
                          " /Resources << /Font << /F1 3 0 R >> >> /Contents " + std::to_string(content_id) + " 0 R >>",
             piece);
      Object(content_id, "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "endstream", piece);
      kids_ += std::to_string(page_id) + " 0 R ";
    }
    if (page_ == pages_) {
      rows_.reset();
      Object(1, "<< /Type /Catalog /Pages 2 0 R >>", piece);
      Object(2, "<< /Type /Pages /Kids [" + kids_ + "] /Count " + std::to_string(pages_) + " >>", piece);
      const int64_t xref = written_ + static_cast<int64_t>(piece.size());
      piece += "xref\n0 " + std::to_string(offsets_.size() + 1) + "\n0000000000 65535 f \n";
      for (int64_t offset : offsets_) {
        char entry[24];
        std::snprintf(entry, sizeof entry, "%010lld 00000 n \n", static_cast<long long>(offset));
        piece += entry;
      }
      piece += "trailer\n<< /Size " + std::to_string(offsets_.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
               std::to_string(xref) + "\n%%EOF\n";
      done_ = true;
    }
    written_ += static_cast<int64_t>(piece.size());
    return piece;
  }

 private:
  static constexpr int64_t kPerPage = kColumns * kRows;

  // Appends object `id` to `piece`, noting where it starts in the document.
  void Object(int64_t id, const std::string& body, std::string& piece) {
    offsets_[static_cast<size_t>(id - 1)] = written_ + static_cast<int64_t>(piece.size());
    piece += std::to_string(id) + " 0 obj\n" + body + "\nendobj\n";
  }

  std::shared_ptr<arrow::Table> rows_;
  const int pages_per_piece_;
  const int64_t pages_;
  std::vector<int64_t> offsets_;  // by object number - 1
  std::string kids_;
  int64_t page_ = 0, written_ = 0;
  bool done_ = false;
};

}  // namespace

arrow::Status CheckAddressColumns(const arrow::Schema& schema) {
  std::string missing;
  for (const char* name : {"korte_naam", "straat", "postcode", "woonplaats"}) {
    if (schema.GetFieldByName(name) == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
  }
  if (missing.empty()) return arrow::Status::OK();
  return arrow::Status::Invalid("pdf: address labels need the columns korte_naam, straat, postcode and woonplaats; ",
                                "this result has no ", missing);
}

arrow::Result<std::unique_ptr<PieceSource>> OpenAddressLabels(std::shared_ptr<arrow::Table> rows, int pages_per_piece) {
  if (pages_per_piece <= 0) return arrow::Status::Invalid("pages_per_piece must be positive");
  ARROW_RETURN_NOT_OK(CheckAddressColumns(*rows->schema()));
  return std::make_unique<AddressLabelSource>(std::move(rows), pages_per_piece);
}

arrow::Result<std::string> AddressLabelsPdf(const arrow::RecordBatch& rows) {
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(
      rows.schema(), {arrow::RecordBatch::Make(rows.schema(), rows.num_rows(), rows.column_data())}));
  ARROW_ASSIGN_OR_RAISE(auto source, OpenAddressLabels(std::move(table)));
  std::string pdf;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto piece, source->Next());
    if (!piece) return pdf;
    pdf += *piece;
  }
}

}  // namespace memberlake::query
