// JSON rows written directly (TableToJsonRows) against the same rows built as a JSON tree by
// nlohmann: equal text, for plain and awkward strings, numbers, nulls, dates and booleans.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "query/result_format.h"

namespace memberlake::query {
namespace {

TEST(TableToJsonRows, EqualsTheJsonTreeOfTheSameRows) {
  const std::vector<std::string> texts = {"Jansen", "", "quote \" and \\ backslash", "tab\tnew\nline\x01",
                                          "Zoë Ûtrecht", std::string("bad \xff utf-8"), "del \x7f"};
  arrow::StringBuilder names;
  arrow::Int64Builder numbers;
  arrow::DoubleBuilder averages;
  arrow::BooleanBuilder flags;
  nlohmann::ordered_json expected = nlohmann::ordered_json::array();
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(names.Append(texts[i]).ok());
    const bool null = i % 3 == 1;
    ASSERT_TRUE((null ? numbers.AppendNull() : numbers.Append(static_cast<int64_t>(i) * -123456789)).ok());
    ASSERT_TRUE(averages.Append(i == 0 ? 2.0 : 1.0 / static_cast<double>(i)).ok());
    ASSERT_TRUE(flags.Append(i % 2 == 0).ok());
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    row["naam \"x\""] = texts[i];
    row["n"] = null ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(static_cast<int64_t>(i) * -123456789);
    row["avg"] = i == 0 ? 2.0 : 1.0 / static_cast<double>(i);
    row["flag"] = i % 2 == 0;
    expected.push_back(row);
  }
  auto schema = arrow::schema({arrow::field("naam \"x\"", arrow::utf8()), arrow::field("n", arrow::int64()),
                               arrow::field("avg", arrow::float64()), arrow::field("flag", arrow::boolean()),
                               arrow::field("day", arrow::date32())});
  arrow::Date32Builder all_days;
  for (size_t i = 0; i < texts.size(); ++i) ASSERT_TRUE(all_days.Append(static_cast<int32_t>(i * 4000)).ok());
  auto day_array = *all_days.Finish();
  for (size_t i = 0; i < texts.size(); ++i) expected[i]["day"] = **CellText(*day_array, static_cast<int64_t>(i));  // last key
  auto table = arrow::Table::Make(schema, {*names.Finish(), *numbers.Finish(), *averages.Finish(), *flags.Finish(),
                                          day_array});
  auto written = TableToJsonRows(*table);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, expected.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // an empty table is an empty array
  auto empty = TableToJsonRows(*arrow::Table::MakeEmpty(schema).ValueOrDie());
  EXPECT_EQ(*empty, "[]");
}

}  // namespace
}  // namespace memberlake::query
