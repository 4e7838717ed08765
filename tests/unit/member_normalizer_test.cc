#include "model/member_normalizer.h"

#include <map>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "club_registry.h"

#include "model/calendar.h"
#include "store/sample_members.h"

namespace memberlake::model {
namespace {

std::shared_ptr<const FieldRegistry> Registry() { return ClubRegistry(); }

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

// A raw batch (all utf8) from rows of optional text, one column per name.
std::shared_ptr<arrow::RecordBatch> RawBatch(const std::vector<std::string>& names,
                                             const std::vector<std::vector<std::optional<std::string>>>& rows) {
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder builder;
    for (const auto& row : rows) {
      EXPECT_TRUE((row[c] ? builder.Append(*row[c]) : builder.AppendNull()).ok());
    }
    fields.push_back(arrow::field(names[c], arrow::utf8()));
    columns.push_back(*builder.Finish());
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(rows.size()), columns);
}

// One typed lake value as the record path writes it (nullopt when null).
std::optional<std::string> TextOf(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return std::nullopt;
  switch (array.type_id()) {
    case arrow::Type::STRING: return std::string(static_cast<const arrow::StringArray&>(array).GetView(row));
    case arrow::Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      return std::string(
          static_cast<const arrow::StringArray&>(*dict.dictionary()).GetView(dict.GetValueIndex(row)));
    }
    case arrow::Type::DATE32:
      return FormatIsoDate(CivilFromDays(static_cast<const arrow::Date32Array&>(array).Value(row)));
    case arrow::Type::TIMESTAMP: return FormatTimestampMs(static_cast<const arrow::TimestampArray&>(array).Value(row));
    case arrow::Type::INT64: return std::to_string(static_cast<const arrow::Int64Array&>(array).Value(row));
    default: ADD_FAILURE() << "unexpected type " << array.type()->ToString(); return std::nullopt;
  }
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

// The batch path gives the same canonical value, typed.
TEST_P(Repairs, BecomeCanonicalInABatchToo) {
  const auto& c = GetParam();
  Fields member = With(ValidMember(), c.field, c.raw);
  std::vector<std::string> names;
  std::vector<std::optional<std::string>> row;
  for (const auto& [name, value] : member) {
    names.push_back(name);
    row.push_back(value);
  }
  auto result = MemberNormalizer(Registry()).Normalize(*RawBatch(names, {row}));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->valid->num_rows(), 1) << (result->problems.empty() ? "" : result->problems[0].problem);
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName(c.field), 0), c.canonical);
}

const std::vector<RepairCase> kRegionRepairs = {
    RepairCase{"regio", "Noord-Holland", "Noord-Holland"},
    RepairCase{"regio", "noord holland", "Noord-Holland"},
    RepairCase{"regio", "N-Holland", "Noord-Holland"},
    RepairCase{"regio", "NOORD HOLLAND", "Noord-Holland"},
    RepairCase{"regio", "NOORD-HOLLAND", "Noord-Holland"},
    RepairCase{"regio", "NH", "Noord-Holland"},
    RepairCase{"regio", "zuid-holland", "Zuid-Holland"},
    RepairCase{"regio", "Groningen / Drenthe", "Groningen/Drenthe"},
    RepairCase{"regio", "groningen-drenthe", "Groningen/Drenthe"},
    RepairCase{"regio", "Groningen en Drenthe", "Groningen/Drenthe"},
    RepairCase{"regio", "BRABANT/ZEELAND", "Brabant/Zeeland"},
    RepairCase{"regio", "brabant_zeeland", "Brabant/Zeeland"},
    RepairCase{"regio", "Fryslân", "Friesland"},
    RepairCase{"regio", " utrecht ", "Utrecht"},
    // legacy spellings in the club's table (domain.md, "The live table as it really is")
    RepairCase{"regio", "Other", "Overig"},
    RepairCase{"regio", "Groningen/Drente", "Groningen/Drenthe"},
    RepairCase{"regio", "Noord-Brabant/Zeeland", "Brabant/Zeeland"}};
INSTANTIATE_TEST_SUITE_P(MemberNormalizerRegions, Repairs, ::testing::ValuesIn(kRegionRepairs));

const std::vector<RepairCase> kEnumRepairs = {
    RepairCase{"status", "actief", "Actief"},
    RepairCase{"status", "WACHTBETALING", "wachtBetaling"},
    RepairCase{"status", "wacht-regio", "wachtRegio"},
    RepairCase{"lidmaatschap", "gewoon lid", "Gewoon lid"},
    RepairCase{"lidmaatschap", "Gezinslid", "Gezins lid"},
    RepairCase{"lidmaatschap", "GEZINS DONATEUR", "Gezins donateur"},
    RepairCase{"clubblad", "papier", "Papier"},
    RepairCase{"clubblad", std::string(), "Digitaal"},
    RepairCase{"motormerk", "harley davidson", "Harley-Davidson"},
    RepairCase{"motormerk", "HD", "Harley-Davidson"},
    RepairCase{"welcome_pack_status", "Not Applicable", "not_applicable"},
    RepairCase{"wiewatwaar", "website h-dcn", "Website H-DCN"},
    RepairCase{"geslacht", "v", "V"},
    RepairCase{"geslacht", "Vrouw", "V"},
    RepairCase{"nieuwsbrief", "", std::nullopt},
    RepairCase{"geslacht", "Man", "M"},
    RepairCase{"lidmaatschap", "Donateur zonder motor", "Donateur"},
    RepairCase{"status", "Nieuwe aanmelding", "Aangemeld"},
    RepairCase{"status", "Heeft opgezegd", "Opgezegd"},
    RepairCase{"status", "active", "Actief"},
    RepairCase{"wiewatwaar", "Eerder lid van de H-DCN", "Eerder lid"}};
INSTANTIATE_TEST_SUITE_P(MemberNormalizerEnums, Repairs, ::testing::ValuesIn(kEnumRepairs));

const std::vector<RepairCase> kDateRepairs = {
    RepairCase{"geboortedatum", "1964-09-26", "1964-09-26"},
    RepairCase{"geboortedatum", "1964-9-6", "1964-09-06"},
    RepairCase{"geboortedatum", "26-09-1964", "1964-09-26"},
    RepairCase{"geboortedatum", "6-9-1964", "1964-09-06"},
    RepairCase{"geboortedatum", "26/09/1964", "1964-09-26"},
    RepairCase{"geboortedatum", "26.09.1964", "1964-09-26"},
    RepairCase{"geboortedatum", "1964/09/26", "1964-09-26"},
    RepairCase{"geboortedatum", "1964-09-26T00:00:00Z", "1964-09-26"},
    // a timestamp with an offset counts in Amsterdam (a JavaScript local midnight in UTC)
    RepairCase{"geboortedatum", "1964-09-25T23:00:00.000Z", "1964-09-26"},
    RepairCase{"geboortedatum", "1964-09-26T23:30:00-05:00", "1964-09-27"},
    RepairCase{"geboortedatum", "1964-09-26T23:30:00", "1964-09-26"},  // naive: as written
    RepairCase{"geboortedatum", "1964-09-26 08:00", "1964-09-26"},
    RepairCase{"geboortedatum", "29-02-1964", "1964-02-29"},
    RepairCase{"geboortedatum", "", std::nullopt},
    RepairCase{"geboortedatum", "   ", std::nullopt},
    RepairCase{"tijdstempel", "2024-03-01T10:15:30Z", "2024-03-01T10:15:30.000Z"},
    RepairCase{"tijdstempel", "2024-03-01T10:15:30.123456z", "2024-03-01T10:15:30.123Z"},
    RepairCase{"tijdstempel", "2024-03-01T10:15", "2024-03-01T09:15:00.000Z"},  // naive: Amsterdam (CET)
    RepairCase{"tijdstempel", "2024-03-01 10:15:30.25+01:00", "2024-03-01T09:15:30.250Z"},
    RepairCase{"tijdstempel", "2024-03-01T00:30:00+0200", "2024-02-29T22:30:00.000Z"},
    RepairCase{"tijdstempel", "2024-12-31T22:00:00-02:00", "2025-01-01T00:00:00.000Z"},
    RepairCase{"tijdstempel", "2024-03-01T10:00:00+01", "2024-03-01T09:00:00.000Z"},
    RepairCase{"tijdstempel", "2024-03-01", "2024-02-29T23:00:00.000Z"},  // midnight in Amsterdam
    RepairCase{"created_at", "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"},
    // the spreadsheet import's display text and the workflow's forms
    RepairCase{"geboortedatum", "29-11-1971", "1971-11-29"},
    RepairCase{"geboortedatum", "29/11/1971", "1971-11-29"},
    RepairCase{"geboortedatum", "29-11-71", "1971-11-29"},
    RepairCase{"geboortedatum", "3.2.1974", "1974-02-03"},
    RepairCase{"geboortedatum", "3 februari 1974", "1974-02-03"},
    RepairCase{"geboortedatum", "3 Februari 1974", "1974-02-03"},
    RepairCase{"geboortedatum", "3 feb. 1974", "1974-02-03"},
    RepairCase{"geboortedatum", "03 feb 1974", "1974-02-03"},
    RepairCase{"geboortedatum", "17-mrt-1980", "1980-03-17"},
    RepairCase{"geboortedatum", "1 okt 1966", "1966-10-01"},
    RepairCase{"geboortedatum", "26 sept. 1964", "1964-09-26"},
    RepairCase{"geboortedatum", "3 mei 74", "1974-05-03"},
    RepairCase{"ingangsdatum", "2025-03-01T10:15:30.123456", "2025-03-01"},
    RepairCase{"ingangsdatum", "12-3-2019 9:05:00", "2019-03-12"},
    RepairCase{"tijdstempel", "2025-03-01T10:15:30.123456", "2025-03-01T09:15:30.123Z"},
    RepairCase{"tijdstempel", "2025-03-01T10:15:30.123456+00:00", "2025-03-01T10:15:30.123Z"},
    RepairCase{"tijdstempel", "12-3-2019 9:05:00", "2019-03-12T08:05:00.000Z"},
    RepairCase{"tijdstempel", "12-3-2019 9:05", "2019-03-12T08:05:00.000Z"},
    RepairCase{"tijdstempel", "2025-07-01T12:00:00", "2025-07-01T10:00:00.000Z"},  // CEST
    RepairCase{"tijdstempel", "2025-03-30T02:30:00", "2025-03-30T01:30:00.000Z"},  // spring gap: CET
    RepairCase{"tijdstempel", "2025-10-26T02:30:00", "2025-10-26T00:30:00.000Z"},  // repeated: first
    RepairCase{"tijdstempel", "2025-10-26T03:30:00", "2025-10-26T02:30:00.000Z"},
    RepairCase{"tijdstempel", "3 februari 1974 14:00", "1974-02-03T13:00:00.000Z"},
    // the first and last years: the time zone works on seconds, not on a clock that ends in 2262
    RepairCase{"tijdstempel", "9999-06-01T12:00:00", "9999-06-01T10:00:00.000Z"},
    RepairCase{"tijdstempel", "9999-12-31T23:00:00", "9999-12-31T22:00:00.000Z"},
    RepairCase{"tijdstempel", "0001-07-01T12:00:00", "0001-07-01T10:00:00.000Z"},
    RepairCase{"ingangsdatum", "9999-12-31T22:59:59Z", "9999-12-31"}};
INSTANTIATE_TEST_SUITE_P(MemberNormalizerDates, Repairs, ::testing::ValuesIn(kDateRepairs));

const std::vector<RepairCase> kFormatRepairs = {
    RepairCase{"postcode", "1234 AB", "1234 AB"},
    RepairCase{"postcode", "1234AB", "1234 AB"},
    RepairCase{"postcode", "1234ab", "1234 AB"},
    RepairCase{"postcode", "1234 ab", "1234 AB"},
    RepairCase{"postcode", "1234  AB", "1234 AB"},
    RepairCase{"postcode", "", std::nullopt},
    RepairCase{"email", "Jan@Example.NL", "Jan@example.nl"},
    RepairCase{"email", " jan.de.vries+club@mail.example.com ", "jan.de.vries+club@mail.example.com"},
    RepairCase{"bankrekeningnummer", "NL91ABNA0417164300", "NL91ABNA0417164300"},
    RepairCase{"bankrekeningnummer", "nl91 abna 0417 1643 00", "NL91ABNA0417164300"},
    RepairCase{"bankrekeningnummer", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"},
    RepairCase{"bankrekeningnummer", "BE68539007547034", "BE68539007547034"},
    RepairCase{"bankrekeningnummer", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"},
    RepairCase{"lidnummer", "42", "42"},
    RepairCase{"lidnummer", "42.0", "42"},
    RepairCase{"lidnummer", "42.000", "42"},
    RepairCase{"lidnummer", " 0042 ", "42"},
    RepairCase{"lidnummer", "+7", "7"},
    RepairCase{"lidnummer", "", std::nullopt},  // optional: HdcnAccount, Club, Sponsor have none
    RepairCase{"lidnummer", "1234 Donateur", "1234"},
    RepairCase{"lidnummer", "Donateur", std::nullopt},
    RepairCase{"lidnummer_toelichting", "Donateur", "Donateur"},
    RepairCase{"email", "", std::nullopt},
    RepairCase{"email", "test@h-dcn.nl", std::nullopt},  // the club's placeholder
    RepairCase{"email", " TEST@H-DCN.NL ", std::nullopt},
    RepairCase{"bouwjaar", "-5", "-5"},
    RepairCase{"land", "", "Nederland"},
    RepairCase{"land", "België", "België"},
    RepairCase{"voornaam", "  Zoë ", "Zoë"},
    RepairCase{"achternaam", "Öztürk", "Öztürk"},
    RepairCase{"tussenvoegsel", "van der", "van der"},
    RepairCase{"tussenvoegsel", " ", std::nullopt}};
INSTANTIATE_TEST_SUITE_P(MemberNormalizerFormats, Repairs, ::testing::ValuesIn(kFormatRepairs));

TEST(MemberNormalizer, ForeignPostcodesAreNotForcedIntoTheDutchFormat) {
  MemberNormalizer normalizer(Registry());
  auto record = normalizer.NormalizeRecord(With(With(ValidMember(), "land", "Duitsland"), "postcode", " 47533 "));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(Canonical(*record, "postcode"), "47533");
  // Nederland however spelled, or missing (the default), gets the Dutch rule.
  for (std::optional<std::string> land : {std::optional<std::string>("nederland"), std::optional<std::string>(" NEDERLAND "),
                                          std::optional<std::string>(), std::optional<std::string>("")}) {
    auto dutch = normalizer.NormalizeRecord(With(With(ValidMember(), "land", land), "postcode", "47533"));
    ASSERT_FALSE(dutch.ok()) << land.value_or("(null)");
    EXPECT_EQ(dutch.status().message(), "postcode: invalid Dutch postcode '47533' (expected 1234 AB)");
  }
}

TEST(MemberNormalizer, RecordHasEveryStoredFieldWithDefaults) {
  auto record = MemberNormalizer(Registry()).NormalizeRecord(ValidMember());
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  ASSERT_EQ(record->size(), Registry()->stored_fields().size());
  EXPECT_EQ(Canonical(*record, "land"), "Nederland");
  EXPECT_EQ(Canonical(*record, "clubblad"), "Digitaal");
  EXPECT_EQ(Canonical(*record, "telefoon"), std::nullopt);
  EXPECT_EQ(Canonical(*record, "lidnummer"), "10001");
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

const std::vector<RejectCase> kRejects = {
    RejectCase{"regio", "Atlantis", "regio: unknown value 'Atlantis'"},
    RejectCase{"regio", "Zuid Brabant Zeeland", "regio: unknown value 'Zuid Brabant Zeeland'"},
    RejectCase{"regio", std::nullopt, "regio: required field is missing"},
    RejectCase{"status", "Misschien", "status: unknown value 'Misschien'"},
    RejectCase{"geboortedatum", "31-02-2020", "geboortedatum: impossible date '31-02-2020'"},
    RejectCase{"geboortedatum", "29-02-2023", "geboortedatum: impossible date '29-02-2023'"},
    RejectCase{"geboortedatum", "gisteren", "geboortedatum: not a date 'gisteren'"},
    RejectCase{"geboortedatum", "1975-13-01", "geboortedatum: impossible date '1975-13-01'"},
    RejectCase{"geboortedatum", "26-09/1964", "geboortedatum: not a date '26-09/1964'"},
    RejectCase{"geboortedatum", "1964-09-26Tmorgen", "geboortedatum: not a date '1964-09-26Tmorgen'"},
    RejectCase{"geboortedatum", "26-09-1964x", "geboortedatum: not a date '26-09-1964x'"},
    RejectCase{"geboortedatum", "3 brumaire 1974", "geboortedatum: not a date '3 brumaire 1974'"},
    RejectCase{"geboortedatum", "30 februari 1974", "geboortedatum: impossible date '30 februari 1974'"},
    RejectCase{"geboortedatum", "26-09-964", "geboortedatum: not a date '26-09-964'"},
    RejectCase{"tijdstempel", "2024-03-01T25:00", "tijdstempel: not a timestamp '2024-03-01T25:00'"},
    RejectCase{"tijdstempel", "2024-03-01T", "tijdstempel: not a timestamp '2024-03-01T'"},
    RejectCase{"tijdstempel", "2024-03-01T10:00+1:00", "tijdstempel: not a timestamp '2024-03-01T10:00+1:00'"},
    RejectCase{"tijdstempel", "2024-02-30T10:00", "tijdstempel: impossible date '2024-02-30T10:00'"},
    RejectCase{"achternaam", std::nullopt, "achternaam: required field is missing"},
    RejectCase{"email", "jan@@example.nl", "email: invalid e-mail address 'jan@@example.nl'"},
    RejectCase{"email", "jan@example", "email: invalid e-mail address 'jan@example'"},
    RejectCase{"email", "@example.nl", "email: invalid e-mail address '@example.nl'"},
    RejectCase{"email", "jan de vries@example.nl", "email: invalid e-mail address 'jan de vries@example.nl'"},
    RejectCase{"email", "jan.example.nl", "email: invalid e-mail address 'jan.example.nl'"},
    RejectCase{"postcode", "0123 AB", "postcode: invalid Dutch postcode '0123 AB' (expected 1234 AB)"},
    RejectCase{"postcode", "12345", "postcode: invalid Dutch postcode '12345' (expected 1234 AB)"},
    RejectCase{"postcode", "1234 A1", "postcode: invalid Dutch postcode '1234 A1' (expected 1234 AB)"},
    RejectCase{"postcode", "12 34AB", "postcode: invalid Dutch postcode '12 34AB' (expected 1234 AB)"},
    RejectCase{"postcode", "1234 ABC", "postcode: invalid Dutch postcode '1234 ABC' (expected 1234 AB)"},
    RejectCase{"bankrekeningnummer", "NL92ABNA0417164300",
               "bankrekeningnummer: invalid IBAN 'NL92ABNA0417164300' (check digits do not match)"},
    RejectCase{"bankrekeningnummer", "NL91ABNA0417164301",
               "bankrekeningnummer: invalid IBAN 'NL91ABNA0417164301' (check digits do not match)"},
    RejectCase{"bankrekeningnummer", "12345", "bankrekeningnummer: invalid IBAN '12345'"},
    RejectCase{"bankrekeningnummer", "9191ABNA0417164300", "bankrekeningnummer: invalid IBAN '9191ABNA0417164300'"},
    RejectCase{"bankrekeningnummer", "NL91-ABNA-0417-1643-00",
               "bankrekeningnummer: invalid IBAN 'NL91-ABNA-0417-1643-00'"},
    RejectCase{"bankrekeningnummer", "NL91ABNA041716430000000000000000000",
               "bankrekeningnummer: invalid IBAN 'NL91ABNA041716430000000000000000000'"},
    RejectCase{"lidnummer", "12a", "lidnummer: not a whole number '12a'"},
    RejectCase{"lidnummer", "4x", "lidnummer: not a whole number '4x'"},
    RejectCase{"lidnummer", "+-4", "lidnummer: not a whole number '+-4'"},
    RejectCase{"lidnummer", "1e3", "lidnummer: not a whole number '1e3'"},
    RejectCase{"lidnummer", "99999999999999999999", "lidnummer: number out of range '99999999999999999999'"},
    RejectCase{"bouwjaar", "1999.5", "bouwjaar: not a whole number '1999.5'"},
    RejectCase{"kleur", "rood", "unknown field 'kleur'"},
    RejectCase{"lidnummer", "-5", "lidnummer: must be 1 or more, got '-5'"},
    RejectCase{"lidnummer", "0", "lidnummer: must be 1 or more, got '0'"},
    RejectCase{"lidnummer", "-5 Donateur", "lidnummer: not a whole number '-5 Donateur'"},
    // The fuzzing finding of issue 18: the offset moves the moment past 9999.
    RejectCase{"tijdstempel", "9999-12-31T23:59:59-14:00",
               "tijdstempel: out of range (years 0001-9999) '9999-12-31T23:59:59-14:00'"},
    RejectCase{"tijdstempel", "0001-01-01T00:30:00+01:00",
               "tijdstempel: out of range (years 0001-9999) '0001-01-01T00:30:00+01:00'"},
    RejectCase{"tijdstempel", "0001-01-01T00:30:00",  // Amsterdam wall time: 0000-12-31 in UTC
               "tijdstempel: out of range (years 0001-9999) '0001-01-01T00:30:00'"},
    RejectCase{"tijdstempel", "9999-12-31T23:30:00Z",  // 10000-01-01 in Amsterdam
               "tijdstempel: out of range (years 0001-9999) '9999-12-31T23:30:00Z'"},
    RejectCase{"ingangsdatum", "9999-12-31T23:59:59-14:00",
               "ingangsdatum: out of range (years 0001-9999) '9999-12-31T23:59:59-14:00'"}};
INSTANTIATE_TEST_SUITE_P(MemberNormalizer, Rejects, ::testing::ValuesIn(kRejects));

TEST(MemberNormalizer, TheFirstProblemOfARecordIsReported) {
  auto record = MemberNormalizer(Registry()).NormalizeRecord(
      With(With(ValidMember(), "regio", "Atlantis"), "geboortedatum", "31-02-2020"));
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.status().message(), "geboortedatum: impossible date '31-02-2020'");  // registry order
}

// The batch path applies the same rules column-wise and quarantines whole rows.
TEST(MemberNormalizer, BatchKeepsValidRowsTypedAndReportsRejectedOnes) {
  auto registry = Registry();
  std::vector<std::string> names = {"member_id", "regio", "geboortedatum", "status", "email",
                                    "lidnummer", "voornaam", "achternaam", "lidmaatschap"};
  auto batch = RawBatch(names, {{"id-1", "noord holland", "26-09-1964", "actief", "a@b.nl", "7", "Jan", "de Vries", "Gewoon lid"},
                                {"id-2", "Atlantis", "1970-01-01", "Actief", "c@d.nl", "8", "Piet", "Bakker", "Gewoon lid"},
                                {"id-3", "Utrecht", "31-02-2020", "Misschien", "e@f.nl", "9", "Kees", "Smit", "Erelid"},
                                {"id-4", "Utrecht", std::nullopt, "Opgezegd", "g@h.nl", "10.0", "Zoë", "Öztürk", "Donateur"},
                                {std::nullopt, "Utrecht", std::nullopt, "Actief", "i@j.nl", "11", "Anna", "Jansen", "Overig"}});

  MemberNormalizer normalizer(registry);
  auto result = normalizer.Normalize(*batch);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->rejected_rows, 3);
  ASSERT_EQ(result->valid->num_rows(), 2);
  // The stored prefix of the lake schema, exactly.
  const auto& lake = registry->lake_schema()->fields();
  EXPECT_TRUE(result->valid->schema()->Equals(
      *arrow::schema(arrow::FieldVector(lake.begin(), lake.begin() + static_cast<long>(registry->stored_fields().size())))));
  ASSERT_TRUE(result->valid->ValidateFull().ok());

  auto regio = std::static_pointer_cast<arrow::DictionaryArray>(result->valid->GetColumnByName("regio"));
  EXPECT_EQ(regio->GetValueIndex(0), 0);  // Noord-Holland is the first value
  EXPECT_EQ(TextOf(*regio, 1), "Utrecht");
  auto dates = std::static_pointer_cast<arrow::Date32Array>(result->valid->GetColumnByName("geboortedatum"));
  EXPECT_EQ(dates->Value(0), DaysFromCivil({1964, 9, 26}));
  EXPECT_TRUE(dates->IsNull(1));
  auto lidnummer = std::static_pointer_cast<arrow::Int64Array>(result->valid->GetColumnByName("lidnummer"));
  EXPECT_EQ(lidnummer->Value(0), 7);
  EXPECT_EQ(lidnummer->Value(1), 10);
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("achternaam"), 1), "Öztürk");
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("status"), 0), "Actief");
  auto land = result->valid->GetColumnByName("land");
  EXPECT_EQ(TextOf(*land, 0), "Nederland");  // the registry default
  EXPECT_EQ(TextOf(*land, 1), "Nederland");
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("clubblad"), 0), "Digitaal");
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("telefoon"), 0), std::nullopt);

  // Row by row, in registry order within a row.
  ASSERT_EQ(result->problems.size(), 4u);
  EXPECT_EQ(result->problems[0].member_id, "id-2");
  EXPECT_EQ(result->problems[0].field, "regio");
  EXPECT_EQ(result->problems[0].problem, "unknown value 'Atlantis'");
  EXPECT_EQ(result->problems[1].member_id, "id-3");
  EXPECT_EQ(result->problems[1].field, "geboortedatum");
  EXPECT_EQ(result->problems[1].problem, "impossible date '31-02-2020'");
  EXPECT_EQ(result->problems[2].member_id, "id-3");
  EXPECT_EQ(result->problems[2].field, "status");
  EXPECT_EQ(result->problems[2].problem, "unknown value 'Misschien'");
  EXPECT_EQ(result->problems[3].member_id, "");
  EXPECT_EQ(result->problems[3].field, "member_id");
  EXPECT_EQ(result->problems[3].problem, "required field is missing");
}

TEST(MemberNormalizer, BatchChecksPostcodesPerRowByLand) {
  std::vector<std::string> names = {"member_id", "lidnummer", "voornaam", "achternaam", "email", "status",
                                    "lidmaatschap", "regio", "land", "postcode"};
  auto row = [](std::string id, std::optional<std::string> land, std::string postcode) {
    return std::vector<std::optional<std::string>>{id, "1", "Jan", "Jansen", "j@x.nl", "Actief", "Gewoon lid",
                                                   "Oost", std::move(land), std::move(postcode)};
  };
  auto batch = RawBatch(names, {row("nl", std::nullopt, "7411ab"), row("de", "Duitsland", "47533"),
                                row("bad", "Nederland", "47533"), row("be", "België", "2000 Antwerpen")});
  auto result = MemberNormalizer(Registry()).Normalize(*batch);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->valid->num_rows(), 3);
  auto postcode = result->valid->GetColumnByName("postcode");
  EXPECT_EQ(TextOf(*postcode, 0), "7411 AB");
  EXPECT_EQ(TextOf(*postcode, 1), "47533");
  EXPECT_EQ(TextOf(*postcode, 2), "2000 Antwerpen");
  ASSERT_EQ(result->problems.size(), 1u);
  EXPECT_EQ(result->problems[0].member_id, "bad");
  EXPECT_EQ(result->problems[0].field, "postcode");
  EXPECT_EQ(result->problems[0].problem, "invalid Dutch postcode '47533' (expected 1234 AB)");
}

TEST(MemberNormalizer, BatchTrimsAndTurnsEmptyTextIntoMissing) {
  std::vector<std::string> names = {"member_id", "lidnummer", "voornaam", "tussenvoegsel", "achternaam", "email",
                                    "status", "lidmaatschap", "regio"};
  auto batch = RawBatch(names, {{"a", "1", "Jan", "", "Jansen", "j@x.nl", "Actief", "Erelid", "Oost"},
                                {"b", "2", "Anna", " van der ", "Berg", "a@x.nl", "Actief", "Erelid", "Oost"},
                                {"c", "3", "Piet", std::nullopt, "Smit", "p@x.nl", "Actief", "Erelid", "Oost"}});
  auto result = MemberNormalizer(Registry()).Normalize(*batch);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->valid->num_rows(), 3);
  auto tussenvoegsel = result->valid->GetColumnByName("tussenvoegsel");
  EXPECT_EQ(TextOf(*tussenvoegsel, 0), std::nullopt);
  EXPECT_EQ(TextOf(*tussenvoegsel, 1), "van der");
  EXPECT_EQ(TextOf(*tussenvoegsel, 2), std::nullopt);
}

TEST(MemberNormalizer, BatchAcceptsOtherStringTypes) {
  arrow::LargeStringBuilder ids;
  ASSERT_TRUE(ids.Append("id-1").ok());
  auto raw = RawBatch({"lidnummer", "voornaam", "achternaam", "email", "status", "lidmaatschap", "regio"},
                      {{"1", "Jan", "Jansen", "j@x.nl", "Actief", "Erelid", "utrecht"}});
  raw = *raw->AddColumn(0, arrow::field("member_id", arrow::large_utf8()), *ids.Finish());
  auto result = MemberNormalizer(Registry()).Normalize(*raw);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->valid->num_rows(), 1);
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("member_id"), 0), "id-1");
  EXPECT_EQ(TextOf(*result->valid->GetColumnByName("regio"), 0), "Utrecht");
}

TEST(MemberNormalizer, BatchRejectsUnknownAndDuplicateColumns) {
  MemberNormalizer normalizer(Registry());
  auto unknown = normalizer.Normalize(*RawBatch({"kleur"}, {}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "unknown field 'kleur'");
  // A calculated field's column is a stale copy (club_forms_test.cc): ignored, not an error.
  auto calculated = normalizer.Normalize(*RawBatch({"korte_naam"}, {}));
  ASSERT_TRUE(calculated.ok()) << calculated.status().ToString();
  EXPECT_EQ(calculated->valid->num_columns(), static_cast<int>(Registry()->stored_fields().size()));
  auto duplicate = normalizer.Normalize(*RawBatch({"regio", "regio"}, {}));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().message(), "duplicate field 'regio'");
}

TEST(MemberNormalizer, EmptyBatchHasTheTypedSchema) {
  auto result = MemberNormalizer(Registry()).Normalize(*RawBatch({"member_id"}, {}));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->valid->num_rows(), 0);
  EXPECT_EQ(result->valid->num_columns(), static_cast<int>(Registry()->stored_fields().size()));
  EXPECT_EQ(result->rejected_rows, 0);
}

// The sample with, here and there, every raw value the cases above name for a field, plus
// blank, empty and missing text: a deterministic scatter over rows and columns.
std::shared_ptr<arrow::RecordBatch> Scatter(const arrow::RecordBatch& raw) {
  std::map<std::string, std::vector<std::optional<std::string>>> pools;
  for (const auto* cases : {&kRegionRepairs, &kEnumRepairs, &kDateRepairs, &kFormatRepairs}) {
    for (const RepairCase& c : *cases) pools[c.field].push_back(c.raw);
  }
  for (const RejectCase& c : kRejects) pools[c.field].push_back(c.raw);
  arrow::ArrayVector columns;
  for (int c = 0; c < raw.num_columns(); ++c) {
    const std::string& name = raw.schema()->field(c)->name();
    auto pool = pools[name];
    pool.insert(pool.end(), {std::nullopt, std::string(), std::string("  "), std::string("\t?\t")});
    arrow::StringBuilder builder;
    for (int64_t row = 0; row < raw.num_rows(); ++row) {
      std::optional<std::string> value = TextOf(*raw.column(c), row);
      if (name != "member_id" && (row * 31 + c * 17) % 101 == 0) value = pool[static_cast<size_t>(row + c) % pool.size()];
      EXPECT_TRUE((value ? builder.Append(*value) : builder.AppendNull()).ok());
    }
    columns.push_back(*builder.Finish());
  }
  return arrow::RecordBatch::Make(raw.schema(), raw.num_rows(), columns);
}

// One code path for the rules: on a large, dirty sample (large enough to run on several
// threads) every row of the batch path equals the record path's answer for the same raw row.
TEST(MemberNormalizer, BatchAndRecordPathsAgreeOnDirtySamples) {
  auto registry = Registry();
  store::SampleOptions options;
  options.members = 20000;
  options.seed = 7;
  options.repairable_fraction = 0.3;
  options.broken_fraction = 0.02;
  options.batch_rows = options.members;
  auto reader = store::MakeSampleMembers(registry, options);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto batches = (*reader)->ToRecordBatches();
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 1u);
  auto scattered = Scatter(*(*batches)[0]);
  const arrow::RecordBatch& raw = *scattered;

  MemberNormalizer normalizer(registry);
  auto result = normalizer.Normalize(raw);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(result->valid->ValidateFull().ok());
  EXPECT_GT(result->rejected_rows, 1000);
  EXPECT_GT(result->valid->num_rows(), 10000);
  EXPECT_EQ(result->valid->num_rows() + result->rejected_rows, raw.num_rows());

  int64_t valid_row = 0;
  size_t problem = 0;
  int mismatches = 0;
  for (int64_t row = 0; row < raw.num_rows() && mismatches < 5; ++row) {
    Fields fields;
    for (int c = 0; c < raw.num_columns(); ++c) fields.emplace_back(raw.schema()->field(c)->name(), TextOf(*raw.column(c), row));
    auto record = normalizer.NormalizeRecord(fields);
    if (record.ok()) {
      ASSERT_LT(valid_row, result->valid->num_rows());
      for (size_t f = 0; f < registry->stored_fields().size(); ++f) {
        auto batch_text = TextOf(*result->valid->column(static_cast<int>(f)), valid_row);
        if (batch_text != (*record)[f]) {
          ++mismatches;
          ADD_FAILURE() << "row " << row << " field " << registry->stored_fields()[f].name << ": batch "
                        << batch_text.value_or("(null)") << ", record " << (*record)[f].value_or("(null)");
        }
      }
      ++valid_row;
    } else {
      // The row's problems are together, in registry order: the first is the record's.
      ASSERT_LT(problem, result->problems.size());
      const RecordProblem& first = result->problems[problem];
      if (first.field + ": " + first.problem != record.status().message()) {
        ++mismatches;
        ADD_FAILURE() << "row " << row << ": batch " << first.field << ": " << first.problem << ", record "
                      << record.status().message();
      }
      EXPECT_EQ(first.member_id, *TextOf(*raw.GetColumnByName("member_id"), row));
      std::string id = first.member_id;
      while (problem < result->problems.size() && result->problems[problem].member_id == id) ++problem;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(valid_row, result->valid->num_rows());
  EXPECT_EQ(problem, result->problems.size());
}

}  // namespace
}  // namespace memberlake::model
