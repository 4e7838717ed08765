// The registry fits the club's real data (issue 10 item 4): the forms of domain.md "The live
// table as it really is" that need more than one value at a time, or a fixed reference date.
// Single-value repairs are in member_normalizer_test.cc (kDateRepairs, kEnumRepairs, ...).
#include <arrow/api.h>
#include <gtest/gtest.h>

#include "club_registry.h"

#include "model/member_json.h"
#include "model/member_normalizer.h"
#include "transform/member_transform.h"

namespace memberlake::model {
namespace {

std::shared_ptr<const FieldRegistry> Registry() { return ClubRegistry(); }

Fields Member(Fields extra) {
  Fields fields = {{"member_id", "3f1c0c1e-0000-4000-8000-000000000001"},
                   {"voornaam", "Jan"}, {"tussenvoegsel", "de"}, {"achternaam", "Vries"},
                   {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Utrecht"}};
  fields.insert(fields.end(), extra.begin(), extra.end());
  return fields;
}

std::optional<std::string> Value(const MemberRecord& record, const std::string& field) {
  return record[static_cast<size_t>(Registry()->StoredIndex(field))];
}

std::shared_ptr<arrow::RecordBatch> Batch(const std::vector<Fields>& rows) {
  std::vector<std::string> names;
  for (const auto& [name, value] : rows.front()) names.push_back(name);
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder builder;
    for (const auto& row : rows) EXPECT_TRUE((row[c].second ? builder.Append(*row[c].second) : builder.AppendNull()).ok());
    fields.push_back(arrow::field(names[c], arrow::utf8()));
    columns.push_back(*builder.Finish());
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(rows.size()), columns);
}

std::optional<std::string> Text(const arrow::RecordBatch& batch, const std::string& column, int64_t row) {
  auto array = batch.GetColumnByName(column);
  if (array == nullptr || array->IsNull(row)) return std::nullopt;
  auto scalar = array->GetScalar(row);
  return (*scalar)->ToString();
}

TEST(ClubForms, TwoDigitYearsNeverLieAfterTheReferenceDate) {
  MemberNormalizer normalizer(Registry(), CivilDate{2026, 1, 1});
  auto birth = [&](const std::string& text) {
    auto record = normalizer.NormalizeRecord(Member({{"geboortedatum", text}}));
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    return record.ok() ? Value(*record, "geboortedatum") : std::nullopt;
  };
  EXPECT_EQ(birth("29-11-71"), "1971-11-29");
  EXPECT_EQ(birth("1-1-26"), "2026-01-01");  // the reference date itself
  EXPECT_EQ(birth("2-1-26"), "1926-01-02");  // a day later would be in the future
  EXPECT_EQ(birth("31-12-25"), "2025-12-31");
  EXPECT_EQ(birth("3.2.74"), "1974-02-03");
  EXPECT_EQ(birth("3 feb 27"), "1927-02-03");
  // The same text read with a later reference date moves into that century.
  auto later = MemberNormalizer(Registry(), CivilDate{2030, 6, 1}).NormalizeRecord(Member({{"geboortedatum", "2-1-26"}}));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(Value(*later, "geboortedatum"), "2026-01-02");
}

TEST(ClubForms, MemberNumberWithANoteKeepsBoth) {
  MemberNormalizer normalizer(Registry());
  auto record = normalizer.NormalizeRecord(Member({{"lidnummer", "1234 Donateur"}}));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(Value(*record, "lidnummer"), "1234");
  EXPECT_EQ(Value(*record, "lidnummer_toelichting"), "Donateur");

  record = normalizer.NormalizeRecord(Member({{"lidnummer", " Donateur "}}));
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(Value(*record, "lidnummer"), std::nullopt);
  EXPECT_EQ(Value(*record, "lidnummer_toelichting"), "Donateur");

  // An explicit note wins over the split-off one; a plain number leaves the note alone.
  record = normalizer.NormalizeRecord(Member({{"lidnummer", "1234 Donateur"}, {"lidnummer_toelichting", "Erelid sinds 2001"}}));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(Value(*record, "lidnummer_toelichting"), "Erelid sinds 2001");
  record = normalizer.NormalizeRecord(Member({{"lidnummer", "77"}, {"lidnummer_toelichting", "Sponsor"}}));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(Value(*record, "lidnummer"), "77");
  EXPECT_EQ(Value(*record, "lidnummer_toelichting"), "Sponsor");
}

TEST(ClubForms, MemberNumberNotesInABatch) {
  std::vector<Fields> rows;
  for (const char* lidnummer : {"1234 Donateur", "Donateur", "88", "", "-3", "5 ", "12 Erelid"}) {
    rows.push_back(Member({{"lidnummer", lidnummer}, {"lidnummer_toelichting", std::nullopt}}));
  }
  rows.back().back().second = "uitgeschreven";  // explicit note on the last row
  auto result = MemberNormalizer(Registry()).Normalize(*Batch(rows));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->rejected_rows, 1);
  EXPECT_EQ(result->problems[0].field, "lidnummer");
  EXPECT_EQ(result->problems[0].problem, "must be 1 or more, got '-3'");
  const auto& valid = *result->valid;
  ASSERT_EQ(valid.num_rows(), 6);
  std::vector<std::optional<std::string>> numbers, notes;
  for (int64_t r = 0; r < valid.num_rows(); ++r) {
    numbers.push_back(Text(valid, "lidnummer", r));
    notes.push_back(Text(valid, "lidnummer_toelichting", r));
  }
  using O = std::optional<std::string>;
  EXPECT_EQ(numbers, (std::vector<O>{"1234", O(), "88", O(), "5", "12"}));
  EXPECT_EQ(notes, (std::vector<O>{"Donateur", "Donateur", O(), O(), O(), "uitgeschreven"}));
}

// The club's edit screen writes the calculated fields back into the item: such stale copies
// are ignored, never stored and never a reason for quarantine, and computed afresh.
TEST(ClubForms, StaleCalculatedFieldsAreIgnoredAndRecomputed) {
  Fields stale = Member({{"geboortedatum", "29-11-1971"},
                         {"korte_naam", "Oude Naam"}, {"leeftijd", "12"}, {"verjaardag", "nooit"},
                         {"jaren_lid", "x"}, {"aanmeldingsjaar", "1800"}});
  auto record = MemberNormalizer(Registry()).NormalizeRecord(stale);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->size(), Registry()->stored_fields().size());

  auto transform = transform::MemberTransform::Make(Registry(), {2026, 1, 1});
  ASSERT_TRUE(transform.ok());
  auto out = transform->Apply(*Batch({stale}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->rejected_rows, 0);
  ASSERT_EQ(out->rows->num_rows(), 1);
  EXPECT_EQ(Text(*out->rows, "korte_naam", 0), "Jan de Vries");
  EXPECT_EQ(Text(*out->rows, "leeftijd", 0), "54");
  EXPECT_EQ(Text(*out->rows, "verjaardag", 0), "november 29");
  EXPECT_EQ(Text(*out->rows, "aanmeldingsjaar", 0), std::nullopt);
  // Other unknown fields are still refused.
  auto unknown = MemberNormalizer(Registry()).NormalizeRecord(Member({{"kleur", "rood"}}));
  EXPECT_EQ(unknown.status().message(), "unknown field 'kleur'");
}

TEST(ClubForms, MembersWithoutNumberOrAddressAreValid) {
  // HdcnAccount, Club and Sponsor records have no lidnummer; the placeholder address is none.
  for (const char* status : {"HdcnAccount", "Club", "Sponsor"}) {
    auto record = MemberNormalizer(Registry()).NormalizeRecord(
        Member({{"status", status}, {"lidnummer", ""}, {"email", "test@h-dcn.nl"}}));
    ASSERT_TRUE(record.ok()) << status << ": " << record.status().ToString();
    EXPECT_EQ(Value(*record, "lidnummer"), std::nullopt);
    EXPECT_EQ(Value(*record, "email"), std::nullopt);
  }
}

// The property the fuzz target checks, on the club's forms: what normalises is a fixed point
// of JSON and normalisation.
TEST(ClubForms, CanonicalRecordsAreAFixedPoint) {
  MemberNormalizer normalizer(Registry());
  const std::vector<Fields> forms = {
      {{"lidnummer", "1234 Donateur"}, {"geboortedatum", "3 feb. 1974"}, {"tijdstempel", "12-3-2019 9:05:00"}},
      {{"lidnummer", "Donateur"}, {"email", "test@h-dcn.nl"}, {"ingangsdatum", "2025-12-31T23:30:00Z"}},
      {{"geboortedatum", "29-11-71"}, {"tijdstempel", "2025-10-26T02:30:00"}, {"regio", "Other"}, {"korte_naam", "x"}},
      {{"tijdstempel", "9999-12-31T22:59:59.999Z"}, {"geslacht", "Vrouw"}, {"status", "Nieuwe aanmelding"}}};
  for (const Fields& form : forms) {
    auto record = normalizer.NormalizeRecord(Member(form));
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    const std::string json = MemberToJson(*Registry(), *record, std::nullopt);
    auto again = normalizer.NormalizeRecord(*ParseMemberJson(json));
    ASSERT_TRUE(again.ok()) << json << ": " << again.status().ToString();
    EXPECT_EQ(*again, *record) << json;
  }
}

}  // namespace
}  // namespace memberlake::model
