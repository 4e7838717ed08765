#include "transform/anonymisation_levels.h"

#include <algorithm>
#include <functional>

#include <arrow/api.h>
#include <arrow/compute/api.h>

namespace memberlake::transform::internal {
namespace {

namespace cp = arrow::compute;
using Kind = GeneralisationLevel::Kind;

arrow::Result<arrow::Datum> Column(const arrow::Table& rows, const std::string& name) {
  auto column = rows.GetColumnByName(name);
  if (column == nullptr) return arrow::Status::Invalid("column '", name, "' is not in the data");
  return arrow::Datum(column);
}

arrow::Result<arrow::Datum> AsText(const arrow::Datum& column) {
  if (column.type()->id() == arrow::Type::STRING) return column;
  return cp::Cast(column, arrow::utf8());
}

// An integer column, or the year of a date/timestamp.
arrow::Result<arrow::Datum> Numbers(const arrow::Datum& column) {
  const auto id = column.type()->id();
  if (id == arrow::Type::DATE32 || id == arrow::Type::DATE64 || id == arrow::Type::TIMESTAMP) {
    ARROW_ASSIGN_OR_RAISE(auto year, cp::Year(column));
    return cp::Cast(year, arrow::int64());
  }
  return cp::Cast(column, arrow::int64());
}

// The first value of each one's band of `width` (floored, also below zero).
arrow::Result<arrow::Datum> BandStart(const arrow::Datum& numbers, int width) {
  ARROW_ASSIGN_OR_RAISE(auto as_double, cp::Cast(numbers, arrow::float64()));
  ARROW_ASSIGN_OR_RAISE(auto ratio, cp::Divide(as_double, arrow::Datum(static_cast<double>(width))));
  ARROW_ASSIGN_OR_RAISE(auto floored, cp::Floor(ratio));
  ARROW_ASSIGN_OR_RAISE(auto quotient, cp::Cast(floored, arrow::int64()));
  return cp::Multiply(quotient, arrow::Datum(std::make_shared<arrow::Int64Scalar>(width)));
}

// "40-44" for the band starting at 40 with width 5.
arrow::Result<arrow::Datum> BandText(const arrow::Datum& starts, int width) {
  ARROW_ASSIGN_OR_RAISE(auto upper, cp::Add(starts, arrow::Datum(std::make_shared<arrow::Int64Scalar>(width - 1))));
  ARROW_ASSIGN_OR_RAISE(auto lower_text, AsText(starts));
  ARROW_ASSIGN_OR_RAISE(auto upper_text, AsText(upper));
  return cp::CallFunction("binary_join_element_wise", {lower_text, upper_text, arrow::Datum(arrow::MakeScalar("-"))});
}

// Values as dense codes (null encoded as a value of its own). The values are hashed in their
// own type (integers, dates) and only the distinct ones are rendered as text, by `render`
// (default: a cast to text).
using Render = std::function<arrow::Result<arrow::Datum>(const arrow::Datum&)>;
arrow::Result<LevelCodes> Encode(const arrow::Datum& values, int64_t num_rows, const Render& render = AsText) {
  arrow::Datum plain = values;
  if (values.type()->id() == arrow::Type::DICTIONARY) {  // enums: chunks may hold different dictionaries
    ARROW_ASSIGN_OR_RAISE(plain, AsText(values));
  }
  std::shared_ptr<arrow::Array> array;
  if (plain.is_array()) {
    array = plain.make_array();
  } else if (plain.chunked_array()->num_chunks() == 0) {
    ARROW_ASSIGN_OR_RAISE(array, arrow::MakeEmptyArray(plain.type()));
  } else {
    ARROW_ASSIGN_OR_RAISE(array, arrow::Concatenate(plain.chunked_array()->chunks()));
  }
  if (array->length() != num_rows) return arrow::Status::Invalid("anonymisation: column length mismatch");
  ARROW_ASSIGN_OR_RAISE(auto encoded,
                        cp::DictionaryEncode(array, cp::DictionaryEncodeOptions(cp::DictionaryEncodeOptions::ENCODE)));
  auto array_of_codes = encoded.make_array();  // kept alive: `dict` refers into it
  const auto& dict = static_cast<const arrow::DictionaryArray&>(*array_of_codes);
  LevelCodes out;
  ARROW_ASSIGN_OR_RAISE(auto text, render(arrow::Datum(dict.dictionary())));
  out.dictionary = text.make_array();
  out.cardinality = static_cast<int32_t>(out.dictionary->length());
  const auto& indices = static_cast<const arrow::Int32Array&>(*dict.indices());
  out.codes.assign(indices.raw_values(), indices.raw_values() + indices.length());
  return out;
}

LevelCodes Constant(int64_t num_rows, const std::string& text) {
  LevelCodes out;
  out.codes.assign(static_cast<size_t>(num_rows), 0);
  arrow::StringBuilder builder;
  (void)builder.Append(text);
  (void)builder.Finish(&out.dictionary);
  out.cardinality = 1;
  return out;
}

// Rare values of `previous` (held by fewer than k rows) become "Overig".
arrow::Result<LevelCodes> Rare(const LevelCodes& previous, int k) {
  std::vector<int64_t> counts(static_cast<size_t>(previous.cardinality), 0);
  for (int32_t code : previous.codes) ++counts[static_cast<size_t>(code)];
  std::vector<int32_t> remap(counts.size(), -1);
  std::vector<int64_t> kept;
  for (size_t code = 0; code < counts.size(); ++code) {
    if (counts[code] >= k) {
      remap[code] = static_cast<int32_t>(kept.size());
      kept.push_back(static_cast<int64_t>(code));
    }
  }
  const auto& dictionary = static_cast<const arrow::StringArray&>(*previous.dictionary);
  int32_t overig = -1;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (dictionary.IsValid(kept[i]) && dictionary.GetView(kept[i]) == "Overig") overig = static_cast<int32_t>(i);
  }
  arrow::StringBuilder builder;
  for (int64_t code : kept) {
    ARROW_RETURN_NOT_OK(dictionary.IsNull(code) ? builder.AppendNull() : builder.Append(dictionary.GetView(code)));
  }
  const bool any_rare = kept.size() < counts.size();
  if (any_rare && overig < 0) {
    overig = static_cast<int32_t>(kept.size());
    ARROW_RETURN_NOT_OK(builder.Append("Overig"));
  }
  LevelCodes out;
  ARROW_RETURN_NOT_OK(builder.Finish(&out.dictionary));
  out.cardinality = static_cast<int32_t>(out.dictionary->length());
  out.codes.resize(previous.codes.size());
  for (size_t i = 0; i < previous.codes.size(); ++i) {
    int32_t mapped = remap[static_cast<size_t>(previous.codes[i])];
    out.codes[i] = mapped >= 0 ? mapped : overig;
  }
  return out;
}

// NCP of `level` against the original values `base`: a row whose generalised value stands for
// m original values costs (m - 1) / (values - 1).
void ComputeNcp(const LevelCodes& base, LevelCodes* level) {
  const size_t n = base.codes.size();
  level->penalty.assign(static_cast<size_t>(level->cardinality), 0.0);
  level->ncp = 0;
  if (n == 0 || base.cardinality <= 1) return;
  // Usually a hierarchy maps each original value to one generalised value (a function):
  // count the original values per generalised value directly. A parent level need not be
  // one (the same type name under two makes): then count distinct (generalised, original) pairs.
  std::vector<int32_t> first(static_cast<size_t>(base.cardinality), -1);
  bool function = true;
  for (size_t i = 0; i < n && function; ++i) {
    int32_t& seen = first[static_cast<size_t>(base.codes[i])];
    if (seen < 0) {
      seen = level->codes[i];
    } else if (seen != level->codes[i]) {
      function = false;
    }
  }
  std::vector<int64_t> leaves(static_cast<size_t>(level->cardinality), 0);
  if (function) {
    for (int32_t generalised : first) {
      if (generalised >= 0) ++leaves[static_cast<size_t>(generalised)];
    }
  } else {
    std::vector<uint64_t> pairs(n);
    for (size_t i = 0; i < n; ++i) {
      pairs[i] = (static_cast<uint64_t>(level->codes[i]) << 32) | static_cast<uint32_t>(base.codes[i]);
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    for (uint64_t pair : pairs) ++leaves[static_cast<size_t>(pair >> 32)];
  }
  for (size_t code = 0; code < leaves.size(); ++code) {
    level->penalty[code] = static_cast<double>(std::max<int64_t>(leaves[code] - 1, 0)) /
                           static_cast<double>(base.cardinality - 1);
  }
  double total = 0;
  for (int32_t code : level->codes) total += level->penalty[static_cast<size_t>(code)];
  level->ncp = total / static_cast<double>(n);
}

}  // namespace

arrow::Result<LevelCodes> ValueCodes(const arrow::Table& rows, const std::string& column) {
  ARROW_ASSIGN_OR_RAISE(auto values, Column(rows, column));
  return Encode(values, rows.num_rows());
}

arrow::Result<LevelCodes> GeneraliseColumn(const arrow::Table& rows, const AnonymisedColumn& column,
                                           const GeneralisationLevel& level, const LevelCodes* previous,
                                           const LevelCodes& base, int k) {
  LevelCodes out;
  if (level.kind == Kind::kSuppressed) {
    out = Constant(rows.num_rows(), "*");
    out.ncp = base.cardinality > 1 ? 1.0 : 0.0;
    out.penalty.assign(1, out.ncp);
    return out;
  }
  if (level.kind == Kind::kValue) {
    out = base;
  } else if (level.kind == Kind::kRare) {
    if (previous == nullptr) return arrow::Status::Invalid("column '", column.name, "': 'rare' needs a level before it");
    ARROW_ASSIGN_OR_RAISE(out, Rare(*previous, k));
  } else if (level.kind == Kind::kParent) {
    ARROW_ASSIGN_OR_RAISE(out, ValueCodes(rows, level.parent));
  } else {
    ARROW_ASSIGN_OR_RAISE(auto values, Column(rows, column.name));
    if (level.kind == Kind::kYear) {
      ARROW_ASSIGN_OR_RAISE(auto years, Numbers(values));
      ARROW_ASSIGN_OR_RAISE(out, Encode(years, rows.num_rows()));
    } else if (level.kind == Kind::kBand) {
      ARROW_ASSIGN_OR_RAISE(auto numbers, Numbers(values));
      ARROW_ASSIGN_OR_RAISE(auto starts, BandStart(numbers, level.n));
      const int width = level.n;
      ARROW_ASSIGN_OR_RAISE(out, Encode(starts, rows.num_rows(), [width](const arrow::Datum& distinct) {
                              return BandText(distinct, width);
                            }));
    } else {  // prefix
      ARROW_ASSIGN_OR_RAISE(auto full, AsText(values));
      cp::SliceOptions slice(0, level.n);
      ARROW_ASSIGN_OR_RAISE(auto text, cp::CallFunction("utf8_slice_codeunits", {full}, &slice));
      ARROW_ASSIGN_OR_RAISE(out, Encode(text, rows.num_rows()));
    }
  }
  ComputeNcp(base, &out);
  return out;
}

arrow::Result<std::shared_ptr<arrow::Array>> Decode(const LevelCodes& level, const std::vector<int32_t>& kept_rows) {
  arrow::Int32Builder indices;
  ARROW_RETURN_NOT_OK(indices.Reserve(static_cast<int64_t>(kept_rows.size())));
  for (int32_t row : kept_rows) indices.UnsafeAppend(level.codes[static_cast<size_t>(row)]);
  ARROW_ASSIGN_OR_RAISE(auto index_array, indices.Finish());
  ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(level.dictionary, index_array));
  return taken.make_array();
}

}  // namespace memberlake::transform::internal
