// Decoding of DynamoDB answers and items is total: odd JSON of every type in every place gives
// a value or a Status naming the attribute, never an exception.
#include "store/dynamodb_items.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "model/field_registry.h"
#include "store/dynamodb_scan_reader.h"

namespace memberlake::store {
namespace {

using Json = nlohmann::json;

// Every JSON type, and every DynamoDB type tag with well- and ill-typed content.
std::vector<Json> OddValues() {
  std::vector<Json> plain = {nullptr, true, 5, -7, 1.5, "text", Json::array(), Json::object(),
                             Json::array({1, "a"}), Json{{"x", 1}}, std::string("\xff\xfe", 2)};
  std::vector<Json> values = plain;
  for (const char* tag : {"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M", "Q"}) {
    for (const Json& content : plain) values.push_back(Json{{tag, content}});
  }
  values.push_back(Json{{"S", "1985"}, {"N", "1985"}});  // two tags
  values.push_back(Json{{"L", Json::array({Json{{"M", Json{{"from", Json{{"S", "a"}}}}}}})}});
  return values;
}

TEST(DynamoDbItems, AttributeTextNeverThrowsAndNamesTheAttribute) {
  for (const Json& value : OddValues()) {
    arrow::Result<std::optional<std::string>> text;
    ASSERT_NO_THROW(text = AttributeText(value, "bouwjaar")) << value.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (!text.ok()) {
      EXPECT_TRUE(text.status().IsInvalid());
      EXPECT_NE(text.status().message().find("bouwjaar"), std::string::npos) << text.status().ToString();
    }
  }
}

TEST(DynamoDbItems, WellFormedValuesDecodeToTheirText) {
  EXPECT_EQ(*AttributeText(Json{{"S", "1985"}}, "a"), std::optional<std::string>("1985"));
  EXPECT_EQ(*AttributeText(Json{{"N", "12"}}, "a"), std::optional<std::string>("12"));
  EXPECT_EQ(*AttributeText(Json{{"BOOL", false}}, "a"), std::optional<std::string>("false"));
  EXPECT_EQ(*AttributeText(Json{{"NULL", true}}, "a"), std::nullopt);
  EXPECT_EQ(*AttributeText(Json{{"SS", {"a", "b"}}}, "a"), std::optional<std::string>("a,b"));
  EXPECT_EQ(*AttributeText(Json{{"L", Json::array({Json{{"S", "x"}}})}}, "a"), std::optional<std::string>(R"([{"S":"x"}])"));
  EXPECT_TRUE(AttributeText(Json{{"S", 5}}, "a").status().IsInvalid());
  EXPECT_TRUE(AttributeText(Json{{"BOOL", "yes"}}, "a").status().IsInvalid());
  EXPECT_TRUE(AttributeText(Json{{"S", "x"}, {"N", "1"}}, "a").status().IsInvalid());
  EXPECT_TRUE(AttributeText(Json{{"SS", Json::array({1})}}, "a").status().IsInvalid());
}

TEST(DynamoDbItems, IntegerAttributes) {
  EXPECT_EQ(*IntegerAttribute(Json{{"_version", {{"N", "42"}}}}, "_version"), std::optional<int64_t>(42));
  EXPECT_EQ(*IntegerAttribute(Json{{"_version", {{"S", "42"}}}}, "_version"), std::optional<int64_t>(42));
  EXPECT_EQ(*IntegerAttribute(Json::object(), "_version"), std::nullopt);
  EXPECT_EQ(*IntegerAttribute(Json(5), "_version"), std::nullopt);
  for (const Json& value : OddValues()) {
    if (value == Json{{"N", "42"}}) continue;
    auto number = IntegerAttribute(Json{{"_version", value}}, "_version");
    if (!number.ok()) {
      EXPECT_NE(number.status().message().find("_version"), std::string::npos);
    }
  }
  EXPECT_FALSE(IntegerAttribute(Json{{"v", {{"N", "99999999999999999999"}}}}, "v").ok());  // out of range: no throw
  EXPECT_FALSE(IntegerAttribute(Json{{"v", {{"N", "1.5"}}}}, "v").ok());
}

TEST(DynamoDbItems, AnswerHelpersTolerateAnyJson) {
  for (const Json& answer : OddValues()) {
    EXPECT_NO_THROW(JsonString(answer, "__type"));
    EXPECT_NO_THROW(JsonInteger(answer, "ItemCount"));
    EXPECT_NO_THROW(JsonObjects(answer, "Items", "Scan").status());
    EXPECT_NO_THROW(JsonObjects(Json{{"Items", answer}}, "Items", "Scan").status());
  }
  EXPECT_EQ(JsonInteger(Json{{"ItemCount", "12"}}, "ItemCount", -1), -1);
  EXPECT_EQ(JsonString(Json{{"__type", 5}}, "__type", "none"), "none");
  EXPECT_TRUE(JsonObjects(Json{{"Items", 5}}, "Items", "Scan").status().IsInvalid());
  EXPECT_TRUE(JsonObjects(Json{{"Items", Json::array({5})}}, "Items", "Scan").status().IsInvalid());
  EXPECT_TRUE((*JsonObjects(Json::object(), "Items", "Scan"))->empty());
  const Json page = {{"Items", Json::array({Json{{"a", 1}}})}};
  EXPECT_EQ(*JsonObjects(page, "Items", "Scan"), &page["Items"]);  // not copied
}

// A fake Scan answer with each odd value in each registry attribute: the page decodes or the
// scan stops with a Status naming the member and the attribute; columns stay aligned.
TEST(DynamoDbItems, ScanPagesWithOddValuesInEveryAttribute) {
  auto registry = *model::FieldRegistry::LoadDefault();
  const auto& specs = registry->stored_fields();
  for (const auto& spec : specs) {
    for (const Json& value : OddValues()) {
      Json item = {{"member_id", {{"S", "m-1"}}}, {spec.name, value}};
      Json page = {{"Items", Json::array({item})}};
      std::vector<arrow::StringBuilder> builders(specs.size());
      int rows = 0;
      arrow::Status status;
      ASSERT_NO_THROW(status = AppendItems(page, *registry, builders, [&] { ++rows; return arrow::Status::OK(); }));
      if (status.ok()) {
        EXPECT_EQ(rows, 1);
        for (auto& builder : builders) EXPECT_EQ(builder.length(), 1);
      } else {
        EXPECT_EQ(rows, 0);
        for (auto& builder : builders) EXPECT_EQ(builder.length(), 0);
        if (spec.name != "member_id") {
          EXPECT_NE(status.message().find("member m-1"), std::string::npos);
        }
        EXPECT_NE(status.message().find(spec.name), std::string::npos) << status.ToString();
      }
    }
  }
  std::vector<arrow::StringBuilder> builders(specs.size());
  for (const Json& page : OddValues()) {
    EXPECT_NO_THROW((void)AppendItems(page, *registry, builders, [] { return arrow::Status::OK(); }));
  }
}

}  // namespace
}  // namespace memberlake::store
