#include "query/address_labels.h"

#include <cstdio>
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

}  // namespace

arrow::Result<std::string> AddressLabelsPdf(const arrow::RecordBatch& rows) {
  std::vector<std::string> missing;
  auto column = [&](const char* name) {
    auto found = rows.GetColumnByName(name);
    if (found == nullptr) missing.push_back(name);
    return found;
  };
  auto name = column("korte_naam"), street = column("straat"), postcode = column("postcode"), city = column("woonplaats");
  auto country = rows.GetColumnByName("land");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return arrow::Status::Invalid("pdf: address labels need the columns korte_naam, straat, postcode and woonplaats; ",
                                  "this result has no ", list);
  }
  auto text = [&](const std::shared_ptr<arrow::Array>& array, int64_t row) -> arrow::Result<std::string> {
    if (array == nullptr) return std::string();
    ARROW_ASSIGN_OR_RAISE(auto cell, CellText(*array, row));
    return std::string(model::Trim(cell.value_or("")));
  };

  // Content streams, one per page.
  std::vector<std::string> pages;
  const int64_t per_page = kColumns * kRows;
  for (int64_t first = 0; first < std::max<int64_t>(rows.num_rows(), 1); first += per_page) {
    std::string content;
    for (int64_t row = first; row < std::min(rows.num_rows(), first + per_page); ++row) {
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
      const int64_t slot = row - first;
      const double x = static_cast<double>(slot % kColumns) * kLabelWidth + kPadding;
      const double top = kPageHeight - kTopMargin - static_cast<double>(slot / kColumns) * kLabelHeight - kPadding;
      char position[96];
      std::snprintf(position, sizeof position, "BT /F1 %.0f Tf %.1f TL %.2f %.2f Td\n", kFontSize, kLeading, x,
                    top - kFontSize);
      content += position;
      for (size_t l = 0; l < lines.size(); ++l) content += PdfString(ToWinAnsi(lines[l])) + (l == 0 ? " Tj\n" : " '\n");
      content += "ET\n";
    }
    pages.push_back(std::move(content));
  }

  // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content per page.
  std::vector<std::string> objects(3);
  std::string kids;
  for (size_t p = 0; p < pages.size(); ++p) {
    const size_t page_id = 4 + 2 * p, content_id = page_id + 1;
    kids += std::to_string(page_id) + " 0 R ";
    char media[64];
    std::snprintf(media, sizeof media, "[0 0 %.2f %.2f]", kPageWidth, kPageHeight);
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox " + std::string(media) +
                      " /Resources << /Font << /F1 3 0 R >> >> /Contents " + std::to_string(content_id) + " 0 R >>");
    objects.push_back("<< /Length " + std::to_string(pages[p].size()) + " >>\nstream\n" + pages[p] + "endstream");
  }
  objects[0] = "<< /Type /Catalog /Pages 2 0 R >>";
  objects[1] = "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>";
  objects[2] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    char entry[24];
    std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offset);
    pdf += entry;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace memberlake::query
