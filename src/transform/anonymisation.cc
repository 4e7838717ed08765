#include "transform/anonymisation.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <arrow/api.h>
#include <arrow/compute/api.h>

namespace memberlake::transform {
namespace {

namespace cp = arrow::compute;
using Rule = model::AnonymiseRule::Kind;

arrow::Result<arrow::Datum> AsText(const arrow::Datum& column) {
  if (column.type()->id() == arrow::Type::STRING) return column;
  return cp::Cast(column, arrow::utf8());
}

// "40-44" for 42 with width 5: the band's first and last value.
arrow::Result<arrow::Datum> Band(const arrow::Datum& column, int width) {
  ARROW_ASSIGN_OR_RAISE(auto values, cp::Cast(column, arrow::int64()));
  auto n = arrow::Datum(std::make_shared<arrow::Int64Scalar>(width));
  ARROW_ASSIGN_OR_RAISE(auto quotient, cp::CallFunction("divide", {values, n}));  // integers: truncates
  ARROW_ASSIGN_OR_RAISE(auto lower, cp::Multiply(quotient, n));
  ARROW_ASSIGN_OR_RAISE(auto upper, cp::Add(lower, arrow::Datum(std::make_shared<arrow::Int64Scalar>(width - 1))));
  ARROW_ASSIGN_OR_RAISE(auto lower_text, AsText(lower));
  ARROW_ASSIGN_OR_RAISE(auto upper_text, AsText(upper));
  return cp::CallFunction("binary_join_element_wise", {lower_text, upper_text, arrow::Datum(arrow::MakeScalar("-"))});
}

arrow::Result<std::shared_ptr<arrow::Array>> Pseudonyms(const arrow::ChunkedArray& ids, const std::string& key) {
  arrow::StringBuilder out;
  ARROW_RETURN_NOT_OK(out.Reserve(ids.length()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  static const char kHex[] = "0123456789abcdef";
  for (const auto& chunk : ids.chunks()) {
    const auto& strings = static_cast<const arrow::StringArray&>(*chunk);
    for (int64_t i = 0; i < strings.length(); ++i) {
      if (strings.IsNull(i)) {
        ARROW_RETURN_NOT_OK(out.AppendNull());
        continue;
      }
      std::string_view id = strings.GetView(i);
      unsigned int length = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(id.data()),
           id.size(), digest, &length);
      char hex[32];
      for (int b = 0; b < 16; ++b) {  // 128 bits: no collisions at any club size
        hex[2 * b] = kHex[digest[b] >> 4];
        hex[2 * b + 1] = kHex[digest[b] & 15];
      }
      ARROW_RETURN_NOT_OK(out.Append(hex, 32));
    }
  }
  return out.Finish();
}

}  // namespace

arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymiseOptions& options) {
  if (options.k < 2) return arrow::Status::Invalid("k: must be at least 2 (k = 1 hides nobody)");
  if (!options.pseudonym_key.empty() && options.pseudonym_key.size() < 16) {
    return arrow::Status::Invalid("pseudonym key: at least 16 bytes (a short key can be guessed)");
  }
  AnonymisedDataset out;
  out.rows_in = rows.num_rows();
  arrow::FieldVector fields;
  std::vector<arrow::Datum> columns;
  if (!options.pseudonym_key.empty()) {
    auto ids = rows.GetColumnByName("member_id");
    if (ids == nullptr || ids->type()->id() != arrow::Type::STRING) {
      return arrow::Status::Invalid("pseudonyms need the member_id column");
    }
    ARROW_ASSIGN_OR_RAISE(auto pseudonyms, Pseudonyms(*ids, options.pseudonym_key));
    fields.push_back(arrow::field("pseudonym", arrow::utf8()));
    columns.emplace_back(pseudonyms);
  }
  std::vector<arrow::Datum> quasi;
  for (const auto& lake_field : registry.lake_schema()->fields()) {
    auto column = rows.GetColumnByName(lake_field->name());
    if (column == nullptr) continue;
    const model::FieldSpec* spec = registry.Find(lake_field->name());
    if (spec == nullptr) return arrow::Status::Invalid("column '", lake_field->name(), "' is not in the registry");
    const model::AnonymiseRule rule = spec->anonymise;
    arrow::Datum value(column);
    std::string name = spec->name;
    if (rule.kind == Rule::kDrop) {
      out.dropped.push_back(spec->name);
      continue;
    }
    if (rule.kind == Rule::kYear) {
      ARROW_ASSIGN_OR_RAISE(value, cp::Year(value));
      name += "_year";
    } else if (rule.kind == Rule::kBand) {
      ARROW_ASSIGN_OR_RAISE(value, Band(value, rule.n));
      name += "_band";
    } else if (rule.kind == Rule::kPrefix) {
      ARROW_ASSIGN_OR_RAISE(value, AsText(value));
      cp::SliceOptions slice(0, rule.n);
      ARROW_ASSIGN_OR_RAISE(value, cp::CallFunction("utf8_slice_codeunits", {value}, &slice));
      name += "_prefix";
    }
    if (spec->sensitivity == model::Sensitivity::kQuasi) {
      out.quasi_identifiers.push_back(name);
      ARROW_ASSIGN_OR_RAISE(auto text, AsText(value));
      quasi.push_back(std::move(text));
    }
    fields.push_back(arrow::field(name, value.type()));
    columns.push_back(std::move(value));
  }
  arrow::ChunkedArrayVector chunked;
  for (const auto& column : columns) {
    chunked.push_back(column.is_array() ? std::make_shared<arrow::ChunkedArray>(column.make_array())
                                        : column.chunked_array());
  }
  auto table = arrow::Table::Make(arrow::schema(fields), chunked, rows.num_rows());

  // k-anonymity: count each combination of the quasi-identifiers (nulls are a value of their
  // own), keep the rows of combinations held by at least k rows.
  if (!quasi.empty() && rows.num_rows() > 0) {
    std::vector<arrow::Datum> parts = quasi;
    parts.emplace_back(arrow::MakeScalar("\x1f"));
    cp::JoinOptions join(cp::JoinOptions::REPLACE, "\x1e");
    ARROW_ASSIGN_OR_RAISE(auto key, cp::CallFunction("binary_join_element_wise", parts, &join));
    ARROW_ASSIGN_OR_RAISE(auto counts, cp::ValueCounts(key));
    auto values = counts->GetFieldByName("values");
    auto frequencies = counts->GetFieldByName("counts");
    ARROW_ASSIGN_OR_RAISE(auto common, cp::CallFunction("greater_equal",
                                                        {frequencies, arrow::Datum(std::make_shared<arrow::Int64Scalar>(options.k))}));
    ARROW_ASSIGN_OR_RAISE(auto allowed, cp::Filter(values, common));
    ARROW_ASSIGN_OR_RAISE(auto keep, cp::IsIn(key, cp::SetLookupOptions(allowed)));
    ARROW_ASSIGN_OR_RAISE(auto kept, cp::Filter(table, keep));
    table = kept.table();
  }
  out.suppressed = rows.num_rows() - table->num_rows();
  ARROW_ASSIGN_OR_RAISE(out.rows, table->CombineChunks());
  return out;
}

}  // namespace memberlake::transform
