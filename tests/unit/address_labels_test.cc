#include "query/address_labels.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace memberlake::query {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(const std::vector<std::vector<std::string>>& rows) {
  const std::vector<std::string> names = {"korte_naam", "straat", "postcode", "woonplaats", "land"};
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder builder;
    for (const auto& row : rows) EXPECT_TRUE(builder.Append(row[c]).ok());
    fields.push_back(arrow::field(names[c], arrow::utf8()));
    columns.push_back(*builder.Finish());
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(rows.size()), columns);
}

TEST(AddressLabels, EncodesDutchTextForThePdfBaseFont) {
  auto pdf = AddressLabelsPdf(*Rows({
      {"Zo\xC3\xAB van \xC4\xB3zendijk (Bikkel)", "Back\\slash 1", "1234 AB", "Utrecht", "Nederland"},
      {"Ren\xC3\xA9 \xF0\x9F\x8F\x8D\xEF\xB8\x8F Rider", "Hauptstra\xC3\x9F" "e 5", "50667", "K\xC3\xB6ln", "Duitsland"},
      {std::string(50, 'x'), "Laan 2", "1000 AA", "Amsterdam", ""},
  }));
  ASSERT_TRUE(pdf.ok()) << pdf.status().ToString();
  const std::string& bytes = *pdf;
  EXPECT_EQ(bytes.rfind("%PDF-1.4\n", 0), 0u);
  EXPECT_NE(bytes.find("(Zo\xEB van ijzendijk \\(Bikkel\\)) Tj"), std::string::npos);  // ë, the ij ligature, ( )
  EXPECT_NE(bytes.find("(Back\\\\slash 1) '"), std::string::npos);
  EXPECT_NE(bytes.find("(1234 AB  Utrecht) '"), std::string::npos);
  EXPECT_EQ(bytes.find("NEDERLAND"), std::string::npos);  // the home country is left off
  EXPECT_NE(bytes.find("(Ren\xE9 ?? Rider) Tj"), std::string::npos);  // no motorcycle in WinAnsi
  EXPECT_NE(bytes.find("(Hauptstra\xDF" "e 5) '"), std::string::npos);
  EXPECT_NE(bytes.find("(50667  K\xF6ln) '"), std::string::npos);
  EXPECT_NE(bytes.find("(DUITSLAND) '"), std::string::npos);
  EXPECT_NE(bytes.find("(" + std::string(35, 'x') + "\x85) Tj"), std::string::npos);  // cut with an ellipsis
  EXPECT_NE(bytes.find("/Count 1 "), std::string::npos);
}

TEST(AddressLabels, TwentyFourLabelsAPageAndNamedMissingColumns) {
  std::vector<std::vector<std::string>> rows(49, {"Jan", "Straat 1", "1234 AB", "Ede", ""});
  auto pdf = AddressLabelsPdf(*Rows(rows));
  ASSERT_TRUE(pdf.ok());
  EXPECT_NE(pdf->find("/Count 3 "), std::string::npos);
  auto no_address = arrow::RecordBatch::Make(arrow::schema({arrow::field("korte_naam", arrow::utf8())}), 0,
                                             arrow::ArrayVector{*arrow::StringBuilder().Finish()});
  auto refused = AddressLabelsPdf(*no_address);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no straat, postcode, woonplaats"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::query
