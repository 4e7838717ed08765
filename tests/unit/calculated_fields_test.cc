#include "transform/calculated_fields.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "model/member_normalizer.h"

namespace memberlake::transform {
namespace {

using model::CivilDate;

std::shared_ptr<const model::FieldRegistry> Registry() {
  static auto registry =
      *model::FieldRegistry::LoadFile(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  return registry;
}

struct Person {
  std::optional<std::string> voornaam, tussenvoegsel, achternaam, geboortedatum = {}, ingangsdatum = {},
                                                                   tijdstempel = {};
};

// Runs raw rows through the normaliser and the calculated fields, as generation does.
std::shared_ptr<arrow::RecordBatch> Calculate(const std::vector<Person>& people, CivilDate as_of) {
  std::vector<std::string> names = {"member_id", "lidnummer", "voornaam", "tussenvoegsel", "achternaam",
                                    "email", "status", "lidmaatschap", "regio", "geboortedatum",
                                    "ingangsdatum", "tijdstempel"};
  std::vector<arrow::StringBuilder> builders(names.size());
  for (size_t i = 0; i < people.size(); ++i) {
    const Person& p = people[i];
    std::vector<std::optional<std::string>> row = {
        "id-" + std::to_string(i), std::to_string(i + 1), p.voornaam, p.tussenvoegsel, p.achternaam,
        "x@y.nl", "Actief", "Gewoon lid", "Utrecht", p.geboortedatum, p.ingangsdatum, p.tijdstempel};
    for (size_t c = 0; c < row.size(); ++c) {
      EXPECT_TRUE((row[c] ? builders[c].Append(*row[c]) : builders[c].AppendNull()).ok());
    }
  }
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t c = 0; c < names.size(); ++c) {
    fields.push_back(arrow::field(names[c], arrow::utf8()));
    columns.push_back(*builders[c].Finish());
  }
  auto raw = arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(people.size()), columns);
  auto normalized = model::MemberNormalizer(Registry()).Normalize(*raw);
  EXPECT_TRUE(normalized.ok()) << normalized.status().ToString();
  EXPECT_EQ(normalized->rejected_rows, 0);
  auto calculated = CalculatedFields::Make(Registry(), as_of);
  EXPECT_TRUE(calculated.ok());
  auto out = calculated->Append(normalized->valid);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE((*out)->schema()->Equals(*Registry()->lake_schema()));
  return *out;
}

std::optional<int64_t> IntAt(const arrow::RecordBatch& batch, const std::string& column, int64_t row) {
  auto array = std::static_pointer_cast<arrow::Int64Array>(batch.GetColumnByName(column));
  if (array->IsNull(row)) return std::nullopt;
  return array->Value(row);
}

std::string TextAt(const arrow::RecordBatch& batch, const std::string& column, int64_t row) {
  auto array = std::static_pointer_cast<arrow::StringArray>(batch.GetColumnByName(column));
  EXPECT_FALSE(array->IsNull(row));
  return std::string(array->GetView(row));
}

TEST(CalculatedFields, KorteNaamSkipsEmptyPartsAndKeepsUnicode) {
  auto batch = Calculate({{"Jan", "van der", "Berg"}, {"Zoë", std::nullopt, "Öztürk"},
                          {"Jan", "  ", "IJsselmuiden"}, {"  Geneviève ", "de", " Vries "}},
                         {2026, 1, 7});
  EXPECT_EQ(TextAt(*batch, "korte_naam", 0), "Jan van der Berg");
  EXPECT_EQ(TextAt(*batch, "korte_naam", 1), "Zoë Öztürk");
  EXPECT_EQ(TextAt(*batch, "korte_naam", 2), "Jan IJsselmuiden");
  EXPECT_EQ(TextAt(*batch, "korte_naam", 3), "Geneviève de Vries");
}

struct AgeCase {
  std::optional<std::string> born;
  CivilDate as_of;
  std::optional<int64_t> leeftijd;
  std::string verjaardag;
};

void PrintTo(const AgeCase& c, std::ostream* os) {
  *os << c.born.value_or("null") << " on " << model::FormatIsoDate(c.as_of);
}

class Leeftijd : public ::testing::TestWithParam<AgeCase> {};

TEST_P(Leeftijd, AndVerjaardag) {
  const auto& c = GetParam();
  auto batch = Calculate({{"Jan", std::nullopt, "Smit", c.born}}, c.as_of);
  EXPECT_EQ(IntAt(*batch, "leeftijd", 0), c.leeftijd);
  EXPECT_EQ(TextAt(*batch, "verjaardag", 0), c.verjaardag);
}

INSTANTIATE_TEST_SUITE_P(
    CalculatedFields, Leeftijd,
    ::testing::Values(AgeCase{"2000-02-29", {2023, 2, 28}, 22, "februari 29"},
                      AgeCase{"2000-02-29", {2023, 3, 1}, 23, "februari 29"},
                      AgeCase{"2000-02-29", {2024, 2, 29}, 24, "februari 29"},
                      AgeCase{"1964-09-26", {2026, 9, 26}, 62, "september 26"},
                      AgeCase{"1964-09-26", {2026, 9, 25}, 61, "september 26"},
                      AgeCase{"2030-01-01", {2026, 1, 7}, 0, "januari 1"},
                      AgeCase{"05-03-1970", {2026, 1, 7}, 55, "maart 5"},
                      AgeCase{"2000-02-29", {2023, 2, 27}, 22, "februari 29"},
                      AgeCase{"2000-02-29", {2024, 2, 28}, 23, "februari 29"},
                      AgeCase{"2000-02-29", {2024, 3, 1}, 24, "februari 29"},
                      AgeCase{"2026-01-07", {2026, 1, 7}, 0, "januari 7"},     // born today
                      AgeCase{"2026-01-08", {2026, 1, 7}, 0, "januari 8"},     // tomorrow: never negative
                      AgeCase{"1990-12-31", {2026, 1, 7}, 35, "december 31"},
                      AgeCase{"1990-10-01", {2026, 1, 7}, 35, "oktober 1"},
                      AgeCase{std::nullopt, {2026, 1, 7}, std::nullopt, ""}));

TEST(CalculatedFields, JarenLidAndAanmeldingsjaar) {
  auto batch = Calculate({{"A", std::nullopt, "B", std::nullopt, "2001-04-01", "2001-03-15T20:00:00Z"},
                          {"A", std::nullopt, "B", std::nullopt, "1999-12-31", std::nullopt},
                          {"A", std::nullopt, "B", std::nullopt, std::nullopt, std::nullopt},
                          {"A", std::nullopt, "B", std::nullopt, "2026-01-08", "2025-12-31T23:30:00Z"}},
                         {2026, 1, 7});
  EXPECT_EQ(IntAt(*batch, "jaren_lid", 0), 24);
  EXPECT_EQ(IntAt(*batch, "aanmeldingsjaar", 0), 2001);  // tijdstempel wins
  EXPECT_EQ(IntAt(*batch, "jaren_lid", 1), 26);
  EXPECT_EQ(IntAt(*batch, "aanmeldingsjaar", 1), 1999);  // falls back to ingangsdatum
  EXPECT_EQ(IntAt(*batch, "jaren_lid", 2), std::nullopt);
  EXPECT_EQ(IntAt(*batch, "aanmeldingsjaar", 2), std::nullopt);
  EXPECT_EQ(IntAt(*batch, "jaren_lid", 3), 0);           // starts tomorrow: never negative
  EXPECT_EQ(IntAt(*batch, "aanmeldingsjaar", 3), 2026);  // 00:30 on 1 January in Amsterdam
}

// Issue 18: a timestamp without a zone is Amsterdam wall time, and aanmeldingsjaar is the year
// in Amsterdam, on both sides of New Year.
TEST(CalculatedFields, AanmeldingsjaarIsTheYearInAmsterdam) {
  std::vector<std::pair<std::string, int64_t>> cases = {
      {"2025-12-31T23:30:00", 2025},        // naive: 23:30 in Amsterdam
      {"2025-12-31T23:30:00Z", 2026},       // 00:30 on 1 January in Amsterdam
      {"2025-12-31T22:59:59.999Z", 2025},   // 23:59:59 in Amsterdam
      {"2025-12-31T23:00:00+00:00", 2026},  // midnight in Amsterdam
      {"2026-01-01T00:30:00", 2026},
      {"2026-01-01T00:30:00+01:00", 2026},
      {"31-12-2025 23:59:00", 2025},        // spreadsheet form, naive
      {"1-1-2026 0:05:00", 2026}};
  std::vector<Person> people;
  for (const auto& c : cases) people.push_back({"A", {}, "B", {}, "2020-05-05", c.first});
  auto batch = Calculate(people, {2026, 6, 1});
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(IntAt(*batch, "aanmeldingsjaar", static_cast<int64_t>(i)), cases[i].second) << cases[i].first;
  }
}

TEST(CalculatedFields, GarbageDatesNeverReachTheCalculation) {
  // An unreadable date quarantines the whole row in the normaliser, so leeftijd and verjaardag
  // only ever see valid dates or nulls.
  std::vector<std::string> names = {"member_id", "lidnummer", "voornaam", "achternaam", "email",
                                    "status", "lidmaatschap", "regio", "geboortedatum"};
  arrow::ArrayVector columns;
  arrow::FieldVector fields;
  std::vector<std::string> values = {"id", "1", "Jan", "Smit", "x@y.nl", "Actief", "Erelid", "Oost", "gisteren"};
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder builder;
    ASSERT_TRUE(builder.Append(values[c]).ok());
    columns.push_back(*builder.Finish());
    fields.push_back(arrow::field(names[c], arrow::utf8()));
  }
  auto normalized = model::MemberNormalizer(Registry()).Normalize(*arrow::RecordBatch::Make(arrow::schema(fields), 1, columns));
  ASSERT_TRUE(normalized.ok());
  EXPECT_EQ(normalized->rejected_rows, 1);
  auto out = (*CalculatedFields::Make(Registry(), {2026, 1, 7})).Append(normalized->valid);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)->num_rows(), 0);
  EXPECT_TRUE((*out)->schema()->Equals(*Registry()->lake_schema()));
}

TEST(CalculatedFields, EveryDutchMonth) {
  const char* months[] = {"januari", "februari", "maart",     "april",   "mei",      "juni",
                          "juli",    "augustus", "september", "oktober", "november", "december"};
  std::vector<Person> people;
  for (int m = 1; m <= 12; ++m) {
    people.push_back({"A", std::nullopt, "B", model::FormatIsoDate({1980, m, m + 10})});
  }
  auto batch = Calculate(people, {2026, 1, 7});
  for (int m = 1; m <= 12; ++m) {
    EXPECT_EQ(TextAt(*batch, "verjaardag", m - 1), std::string(months[m - 1]) + " " + std::to_string(m + 10));
  }
}

TEST(CalculatedFields, NullNamePartsAreSkippedAndUnicodeKept) {
  // Typed input built directly (not through the normaliser), with nulls and blanks in every part.
  auto registry = Registry();
  auto normalized = Calculate({{"Jeroen", "van der", "Öztürk"}}, {2026, 1, 7});
  arrow::ArrayVector columns;
  for (size_t f = 0; f < registry->stored_fields().size(); ++f) {
    const std::string& name = registry->stored_fields()[f].name;
    auto column = normalized->column(static_cast<int>(f));
    if (name == "voornaam" || name == "tussenvoegsel" || name == "achternaam") {
      arrow::StringBuilder builder;
      std::vector<std::optional<std::string>> values;
      if (name == "voornaam") values = {"Jeroen", std::nullopt, "", "Zoë", std::nullopt};
      if (name == "tussenvoegsel") values = {"van der", "van", " ", std::nullopt, std::nullopt};
      if (name == "achternaam") values = {"Öztürk", std::nullopt, "\tDijk ", "Öztürk", std::nullopt};
      for (const auto& v : values) EXPECT_TRUE((v ? builder.Append(*v) : builder.AppendNull()).ok());
      column = *builder.Finish();
    } else {
      column = *arrow::MakeArrayOfNull(column->type(), 5);
    }
    columns.push_back(column);
  }
  arrow::FieldVector fields(registry->lake_schema()->fields().begin(),
                            registry->lake_schema()->fields().begin() + static_cast<long>(columns.size()));
  auto typed = arrow::RecordBatch::Make(arrow::schema(fields), 5, columns);
  auto out = (*CalculatedFields::Make(registry, {2026, 1, 7})).Append(typed);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE((*out)->schema()->Equals(*registry->lake_schema()));
  EXPECT_EQ(TextAt(**out, "korte_naam", 0), "Jeroen van der Öztürk");
  EXPECT_EQ(TextAt(**out, "korte_naam", 1), "van");
  EXPECT_EQ(TextAt(**out, "korte_naam", 2), "Dijk");
  EXPECT_EQ(TextAt(**out, "korte_naam", 3), "Zoë Öztürk");
  EXPECT_EQ(TextAt(**out, "korte_naam", 4), "");  // no parts at all: empty, not null
  for (int64_t row = 0; row < 5; ++row) {
    EXPECT_EQ(IntAt(**out, "leeftijd", row), std::nullopt);
    EXPECT_EQ(TextAt(**out, "verjaardag", row), "");
    EXPECT_EQ(IntAt(**out, "aanmeldingsjaar", row), std::nullopt);
  }
}

TEST(CalculatedFields, AppendChecksItsInput) {
  auto calculated = *CalculatedFields::Make(Registry(), {2026, 1, 7});
  arrow::StringBuilder builder;
  ASSERT_TRUE(builder.Append("x").ok());
  auto wrong = arrow::RecordBatch::Make(arrow::schema({arrow::field("member_id", arrow::utf8())}), 1, {*builder.Finish()});
  auto out = calculated.Append(wrong);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsInvalid());
}

TEST(CalculatedFields, RejectsAnInvalidReferenceDate) {
  auto calculated = CalculatedFields::Make(Registry(), {2026, 2, 30});
  ASSERT_FALSE(calculated.ok());
  EXPECT_TRUE(calculated.status().IsInvalid());
}

TEST(CalculatedFields, InputsOfTheWrongTypeAreRejected) {
  auto text = std::string(R"(schema_version = 1
[[field]]
name = "member_id"
type = "string"
[[calculated]]
name = "leeftijd"
type = "integer"
function = "whole_years"
from = ["member_id"]
)");
  auto registry = model::FieldRegistry::LoadString(text, "wrong.toml");
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  auto calculated = CalculatedFields::Make(*registry, {2026, 1, 7});
  ASSERT_FALSE(calculated.ok());
  EXPECT_EQ(calculated.status().message(), "calculated field 'leeftijd': input 'member_id' has the wrong type for whole_years");
}

TEST(CalculatedFields, UnknownFunctionIsRejected) {
  auto text = std::string(R"(schema_version = 1
[[field]]
name = "member_id"
type = "string"
[[field]]
name = "geboortedatum"
type = "date"
[[calculated]]
name = "maanstand"
type = "string"
function = "moon_phase"
from = ["geboortedatum"]
)");
  auto registry = model::FieldRegistry::LoadString(text, "moon.toml");
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  auto calculated = CalculatedFields::Make(*registry, {2026, 1, 7});
  ASSERT_FALSE(calculated.ok());
  EXPECT_TRUE(calculated.status().IsInvalid());
  EXPECT_NE(calculated.status().message().find("'maanstand': unknown function 'moon_phase'"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::transform
