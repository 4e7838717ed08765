#include "model/member_normalizer.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "model/calendar.h"

namespace memberlake::model {
namespace {

using Fields = std::vector<std::pair<std::string, std::optional<std::string>>>;

std::shared_ptr<const FieldRegistry> Registry() {
  static auto registry = *FieldRegistry::LoadDefault();
  return registry;
}

Fields ValidMember() {
  return {{"member_id", "3f1c0c1e-0000-4000-8000-000000000001"},
          {"lidnummer", "10001"},
          {"voornaam", "Jan"},
          {"achternaam", "Jansen"},
          {"email", "jan@example.nl"},
          {"status", "Actief"},
          {"lidmaatschap", "Gewoon lid"},
          {"regio", "Utrecht"}};
}

Fields With(Fields fields, const std::string& name, std::optional<std::string> value) {
  for (auto& [field, existing] : fields) {
    if (field == name) {
      existing = std::move(value);
      return fields;
    }
  }
  fields.emplace_back(name, std::move(value));
  return fields;
}

std::optional<std::string> Canonical(const MemberRecord& record, const std::string& field) {
  return record[static_cast<size_t>(Registry()->StoredIndex(field))];
}

// field, raw value, canonical result (nullopt: the field ends up missing)
struct RepairCase {
  std::string field, raw;
  std::optional<std::string> canonical;
};

void PrintTo(const RepairCase& c, std::ostream* os) { *os << c.field << "=" << c.raw; }

class Repairs : public ::testing::TestWithParam<RepairCase> {};

TEST_P(Repairs, BecomeCanonical) {
  const auto& c = GetParam();
  MemberNormalizer normalizer(Registry());
  auto record = normalizer.NormalizeRecord(With(ValidMember(), c.field, c.raw));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(Canonical(*record, c.field), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Regions, Repairs,
    ::testing::Values(RepairCase{"regio", "noord holland", "Noord-Holland"},
                      RepairCase{"regio", "N-Holland", "Noord-Holland"},
                      RepairCase{"regio", "NOORD-HOLLAND", "Noord-Holland"},
                      RepairCase{"regio", "zuid-holland", "Zuid-Holland"},
                      RepairCase{"regio", "Groningen / Drenthe", "Groningen/Drenthe"},
                      RepairCase{"regio", "groningen-drenthe", "Groningen/Drenthe"},
                      RepairCase{"regio", "BRABANT/ZEELAND", "Brabant/Zeeland"},
                      RepairCase{"regio", "Fryslân", "Friesland"},
                      RepairCase{"regio", " utrecht ", "Utrecht"}));

INSTANTIATE_TEST_SUITE_P(
    Enums, Repairs,
    ::testing::Values(RepairCase{"status", "actief", "Actief"},
                      RepairCase{"status", "WACHTBETALING", "wachtBetaling"},
                      RepairCase{"lidmaatschap", "gewoon lid", "Gewoon lid"},
                      RepairCase{"lidmaatschap", "Gezinslid", "Gezins lid"},
                      RepairCase{"clubblad", "papier", "Papier"},
                      RepairCase{"motormerk", "harley davidson", "Harley-Davidson"},
                      RepairCase{"welcome_pack_status", "Not Applicable", "not_applicable"},
                      RepairCase{"geslacht", "v", "V"}));

INSTANTIATE_TEST_SUITE_P(
    Dates, Repairs,
    ::testing::Values(RepairCase{"geboortedatum", "1964-09-26", "1964-09-26"},
                      RepairCase{"geboortedatum", "26-09-1964", "1964-09-26"},
                      RepairCase{"geboortedatum", "6-9-1964", "1964-09-06"},
                      RepairCase{"geboortedatum", "26/09/1964", "1964-09-26"},
                      RepairCase{"geboortedatum", "26.09.1964", "1964-09-26"},
                      RepairCase{"geboortedatum", "1964/09/26", "1964-09-26"},
                      RepairCase{"geboortedatum", "1964-09-26T00:00:00Z", "1964-09-26"},
                      RepairCase{"geboortedatum", "29-02-1964", "1964-02-29"},
                      RepairCase{"geboortedatum", "", std::nullopt},
                      RepairCase{"tijdstempel", "2024-03-01T10:15:30Z", "2024-03-01T10:15:30.000Z"},
                      RepairCase{"tijdstempel", "2024-03-01 10:15:30.25+01:00", "2024-03-01T09:15:30.250Z"},
                      RepairCase{"tijdstempel", "2024-03-01", "2024-03-01T00:00:00.000Z"}));

INSTANTIATE_TEST_SUITE_P(
    Formats, Repairs,
    ::testing::Values(RepairCase{"postcode", "1234ab", "1234 AB"},
                      RepairCase{"postcode", "1234  AB", "1234 AB"},
                      RepairCase{"email", "Jan@Example.NL", "Jan@example.nl"},
                      RepairCase{"bankrekeningnummer", "nl91 abna 0417 1643 00", "NL91ABNA0417164300"},
                      RepairCase{"lidnummer", "42.0", "42"},
                      RepairCase{"lidnummer", " 0042 ", "42"},
                      RepairCase{"land", "", "Nederland"},
                      RepairCase{"clubblad", "", "Digitaal"},
                      RepairCase{"voornaam", "  Zoë ", "Zoë"}));

TEST(MemberNormalizer, ForeignPostcodesAreNotForcedIntoTheDutchFormat) {
  MemberNormalizer normalizer(Registry());
  auto record = normalizer.NormalizeRecord(With(With(ValidMember(), "land", "Duitsland"), "postcode", "47533"));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(Canonical(*record, "postcode"), "47533");
}

struct RejectCase {
  std::string field;
  std::optional<std::string> raw;
  std::string message;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.message; }

class Rejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Rejects, NameTheFieldAndTheProblem) {
  const auto& c = GetParam();
  MemberNormalizer normalizer(Registry());
  auto record = normalizer.NormalizeRecord(With(ValidMember(), c.field, c.raw));
  ASSERT_FALSE(record.ok());
  EXPECT_TRUE(record.status().IsInvalid());
  EXPECT_EQ(record.status().message(), c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Rejects,
    ::testing::Values(
        RejectCase{"regio", "Atlantis", "regio: unknown value 'Atlantis'"},
        RejectCase{"status", "Misschien", "status: unknown value 'Misschien'"},
        RejectCase{"geboortedatum", "31-02-1975", "geboortedatum: impossible date '31-02-1975'"},
        RejectCase{"geboortedatum", "gisteren", "geboortedatum: not a date 'gisteren'"},
        RejectCase{"geboortedatum", "1975-13-01", "geboortedatum: impossible date '1975-13-01'"},
        RejectCase{"tijdstempel", "2024-03-01T25:00", "tijdstempel: not a timestamp '2024-03-01T25:00'"},
        RejectCase{"achternaam", std::nullopt, "achternaam: required field is missing"},
        RejectCase{"email", "   ", "email: required field is missing"},
        RejectCase{"email", "jan@@example.nl", "email: invalid e-mail address 'jan@@example.nl'"},
        RejectCase{"email", "jan@example", "email: invalid e-mail address 'jan@example'"},
        RejectCase{"postcode", "0123 AB", "postcode: invalid Dutch postcode '0123 AB' (expected 1234 AB)"},
        RejectCase{"postcode", "12345", "postcode: invalid Dutch postcode '12345' (expected 1234 AB)"},
        RejectCase{"bankrekeningnummer", "NL92ABNA0417164300",
                   "bankrekeningnummer: invalid IBAN 'NL92ABNA0417164300' (check digits do not match)"},
        RejectCase{"bankrekeningnummer", "12345", "bankrekeningnummer: invalid IBAN '12345'"},
        RejectCase{"lidnummer", "12a", "lidnummer: not a whole number '12a'"},
        RejectCase{"bouwjaar", "1999.5", "bouwjaar: not a whole number '1999.5'"},
        RejectCase{"kleur", "rood", "unknown field 'kleur'"},
        RejectCase{"korte_naam", "Jan Jansen", "unknown field 'korte_naam'"}));

// The batch path applies the same rules column-wise and quarantines whole rows.
TEST(MemberNormalizer, BatchKeepsValidRowsTypedAndReportsRejectedOnes) {
  auto registry = Registry();
  arrow::StringBuilder ids, regio, geboortedatum, status, email;
  std::vector<std::vector<std::optional<std::string>>> rows = {
      {"id-1", "noord holland", "26-09-1964", "actief", "a@b.nl"},
      {"id-2", "Atlantis", "1970-01-01", "Actief", "c@d.nl"},
      {"id-3", "Utrecht", "31-02-1975", "Misschien", "e@f.nl"},
      {"id-4", "Utrecht", std::nullopt, "Opgezegd", "g@h.nl"}};
  arrow::StringBuilder* builders[] = {&ids, &regio, &geboortedatum, &status, &email};
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      ASSERT_TRUE((row[c] ? builders[c]->Append(*row[c]) : builders[c]->AppendNull()).ok());
    }
  }
  arrow::ArrayVector columns;
  for (auto* b : builders) columns.push_back(*b->Finish());
  auto constant = [&](const std::string& value) {
    arrow::StringBuilder b;
    for (size_t i = 0; i < rows.size(); ++i) (void)b.Append(value);
    return *b.Finish();
  };
  auto schema = arrow::schema({arrow::field("member_id", arrow::utf8()), arrow::field("regio", arrow::utf8()),
                               arrow::field("geboortedatum", arrow::utf8()), arrow::field("status", arrow::utf8()),
                               arrow::field("email", arrow::utf8()), arrow::field("lidnummer", arrow::utf8()),
                               arrow::field("voornaam", arrow::utf8()), arrow::field("achternaam", arrow::utf8()),
                               arrow::field("lidmaatschap", arrow::utf8())});
  columns.push_back(constant("7"));
  columns.push_back(constant("Jan"));
  columns.push_back(constant("de Vries"));
  columns.push_back(constant("Gewoon lid"));
  auto batch = arrow::RecordBatch::Make(schema, static_cast<int64_t>(rows.size()), columns);

  MemberNormalizer normalizer(registry);
  auto result = normalizer.Normalize(*batch);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->rejected_rows, 2);
  ASSERT_EQ(result->valid->num_rows(), 2);
  EXPECT_EQ(result->valid->num_columns(), static_cast<int>(registry->stored_fields().size()));
  auto regio_out = std::static_pointer_cast<arrow::DictionaryArray>(result->valid->GetColumnByName("regio"));
  EXPECT_EQ(regio_out->GetValueIndex(0), 0);  // Noord-Holland is the first value
  auto dates = std::static_pointer_cast<arrow::Date32Array>(result->valid->GetColumnByName("geboortedatum"));
  EXPECT_EQ(dates->Value(0), DaysFromCivil({1964, 9, 26}));
  EXPECT_TRUE(dates->IsNull(1));
  auto land = std::static_pointer_cast<arrow::StringArray>(result->valid->GetColumnByName("land"));
  EXPECT_EQ(land->GetView(0), "Nederland");  // the registry default
  EXPECT_EQ(land->GetView(1), "Nederland");
  ASSERT_EQ(result->problems.size(), 3u);
  EXPECT_EQ(result->problems[0].member_id, "id-2");
  EXPECT_EQ(result->problems[0].field, "regio");
  EXPECT_EQ(result->problems[1].member_id, "id-3");
  EXPECT_EQ(result->problems[1].field, "geboortedatum");
  EXPECT_EQ(result->problems[2].field, "status");
}

TEST(MemberNormalizer, BatchRejectsUnknownColumns) {
  auto schema = arrow::schema({arrow::field("kleur", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(schema, 0, {*arrow::StringBuilder().Finish()});
  auto result = MemberNormalizer(Registry()).Normalize(*batch);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "unknown field 'kleur'");
}

}  // namespace
}  // namespace memberlake::model
