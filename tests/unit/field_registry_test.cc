#include "model/field_registry.h"

#include <fstream>
#include <string>

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace memberlake::model {
namespace {

std::string ClubRegistryText() {
  std::ifstream in(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(FieldRegistry, LoadsTheClubRegistry) {
  auto registry = FieldRegistry::LoadFile(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  const FieldRegistry& r = **registry;
  EXPECT_EQ(r.schema_version(), 1);
  EXPECT_EQ(r.stored_fields().size(), 38u);  // with lidnummer_toelichting
  EXPECT_EQ(r.calculated_fields().size(), 5u);
  EXPECT_EQ(r.raw_schema()->num_fields(), 38);
  EXPECT_EQ(r.lake_schema()->num_fields(), 43);
  EXPECT_FALSE(r.Find("lidnummer")->required);
  EXPECT_EQ(r.Find("lidnummer")->min, 1);
  EXPECT_EQ(r.Find("lidnummer")->note_field, "lidnummer_toelichting");
  EXPECT_FALSE(r.Find("email")->required);
  EXPECT_EQ(r.Find("email")->placeholders, std::vector<std::string>{"test@h-dcn.nl"});
  EXPECT_TRUE(r.lake_schema()->GetFieldByName("regio")->type()->Equals(
      arrow::dictionary(arrow::int32(), arrow::utf8())));
  EXPECT_TRUE(r.lake_schema()->GetFieldByName("geboortedatum")->type()->Equals(arrow::date32()));
  EXPECT_TRUE(r.lake_schema()->GetFieldByName("leeftijd")->type()->Equals(arrow::int64()));
  EXPECT_FALSE(r.lake_schema()->GetFieldByName("member_id")->nullable());
  const FieldSpec* regio = r.Find("regio");
  ASSERT_NE(regio, nullptr);
  EXPECT_EQ(regio->values.size(), 10u);
  EXPECT_EQ(regio->sensitivity, Sensitivity::kQuasi);
  EXPECT_EQ(r.Find("bankrekeningnummer")->format, FieldFormat::kIban);
  EXPECT_EQ(r.Find("land")->default_value.value_or(""), "Nederland");
  EXPECT_EQ(r.sort_by(), (std::vector<std::string>{"regio", "status", "lidmaatschap"}));
  EXPECT_EQ(r.partition_field(), "regio");
  ASSERT_EQ(r.views().size(), 3u);
  EXPECT_EQ(r.views()[1].name, "motor-members");
  EXPECT_EQ(r.views()[1].where.size(), 3u);
  EXPECT_TRUE(r.views()[1].where[2].not_null);
}

TEST(FieldRegistry, BuiltInDefaultEqualsTheConfigFile) {
  auto built_in = FieldRegistry::LoadDefault();
  auto file = FieldRegistry::LoadString(ClubRegistryText(), "fields.toml");
  ASSERT_TRUE(built_in.ok() && file.ok());
  EXPECT_TRUE((*built_in)->lake_schema()->Equals(*(*file)->lake_schema()));
}

TEST(FieldRegistry, ExtraFieldNeedsNoCodeChange) {
  std::string text = ClubRegistryText();
  text.insert(text.find("[[calculated]]"),
              "[[field]]\nname = \"helm_maat\"\ntype = \"enum\"\nvalues = [\"S\", \"M\", \"L\"]\n\n");
  auto registry = FieldRegistry::LoadString(text, "extra.toml");
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  EXPECT_EQ((*registry)->StoredIndex("helm_maat"), 38);
  EXPECT_NE((*registry)->lake_schema()->GetFieldByName("helm_maat"), nullptr);
}

struct BadRegistryCase {
  std::string edit_from, edit_to, expected_message;
};

void PrintTo(const BadRegistryCase& c, std::ostream* os) { *os << c.expected_message; }

class FieldRegistryErrors : public ::testing::TestWithParam<BadRegistryCase> {};

TEST_P(FieldRegistryErrors, NameTheProblem) {
  std::string text = ClubRegistryText();
  const auto& c = GetParam();
  auto pos = text.find(c.edit_from);
  ASSERT_NE(pos, std::string::npos) << c.edit_from;
  text.replace(pos, c.edit_from.size(), c.edit_to);
  auto registry = FieldRegistry::LoadString(text, "bad.toml");
  ASSERT_FALSE(registry.ok());
  EXPECT_TRUE(registry.status().IsInvalid());
  EXPECT_NE(registry.status().message().find(c.expected_message), std::string::npos)
      << registry.status().message();
  EXPECT_NE(registry.status().message().find("bad.toml"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FieldRegistryErrors,
    ::testing::Values(
        BadRegistryCase{"name = \"bouwjaar\"\ntype = \"integer\"", "name = \"bouwjaar\"\ntype = \"number\"",
                        "[[field]] 'bouwjaar': unknown type 'number'"},
        BadRegistryCase{"values = [\"M\", \"V\", \"X\", \"N\"]", "values = []",
                        "'geslacht': an enum needs a non-empty 'values' list"},
        BadRegistryCase{"name = \"telefoon\"", "name = \"email\"", "duplicate field 'email'"},
        BadRegistryCase{"from = [\"geboortedatum\"]", "from = [\"geboorte\"]",
                        "uses unknown stored field 'geboorte'"},
        BadRegistryCase{"Man = \"M\"", "Man = \"Q\"", "alias 'Man' must map to one of the field's values"},
        BadRegistryCase{"sensitivity = \"restricted\"", "sensitivity = \"secret\"",
                        "unknown sensitivity 'secret'"},
        BadRegistryCase{"{ field = \"motormerk\", not_null = true }",
                        "{ field = \"motor\", not_null = true }", "filters on unknown field 'motor'"},
        BadRegistryCase{"schema_version = 1", "schema_version = \"one\"", "schema_version"},
        BadRegistryCase{"group = \"identity\"", "group = \"identity\"\nunique = true",
                        "unknown key 'unique'"},
        BadRegistryCase{"[lake]", "[lake\n", "line "},
        // anonymisation rules: never keep an identifier, and a rule must fit the field's type
        BadRegistryCase{"name = \"email\"\ntype = \"string\"", "name = \"email\"\ntype = \"string\"\nanonymise = \"keep\"",
                        "'email': anonymise 'keep': direct fields are always dropped"},
        BadRegistryCase{"anonymise = \"band:10\"", "anonymise = \"band:0\"", "anonymise 'band:0' does not fit"},
        BadRegistryCase{"anonymise = \"keep\"", "anonymise = \"year\"", "anonymise 'year' does not fit this enum field"},
        // the keys for the club's real data: placeholders, min and note_field
        BadRegistryCase{"note_field = \"lidnummer_toelichting\"", "note_field = \"toelichting\"",
                        "field 'lidnummer': note_field 'toelichting' must be a stored string field"},
        BadRegistryCase{"note_field = \"lidnummer_toelichting\"", "note_field = \"bouwjaar\"",
                        "note_field 'bouwjaar' must be a stored string field"},
        BadRegistryCase{"min = 1", "min = \"one\"", "'lidnummer': 'min' is an integer and only for integer fields"},
        BadRegistryCase{"name = \"voornaam\"\ntype = \"string\"", "name = \"voornaam\"\ntype = \"string\"\nmin = 1",
                        "'voornaam': 'min' is an integer and only for integer fields"},
        BadRegistryCase{"name = \"voornaam\"\ntype = \"string\"", "name = \"voornaam\"\ntype = \"string\"\nnote_field = \"notities\"",
                        "'voornaam': 'note_field' is only for integer fields"},
        BadRegistryCase{"placeholders = [\"test@h-dcn.nl\"]", "placeholders = [1]",
                        "'email': 'placeholders' must be an array of strings"}));

TEST(FieldRegistry, MissingFileIsAnIOError) {
  auto registry = FieldRegistry::LoadFile("/nonexistent/fields.toml");
  ASSERT_FALSE(registry.ok());
  EXPECT_TRUE(registry.status().IsIOError());
  EXPECT_NE(registry.status().message().find("/nonexistent/fields.toml"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::model
