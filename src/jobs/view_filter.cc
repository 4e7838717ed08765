#include "jobs/view_filter.h"

#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>

namespace memberlake::jobs {
namespace {

// `column IN values` as a boolean mask; dictionary columns are matched on their values.
arrow::Result<arrow::Datum> MatchIn(const std::shared_ptr<arrow::Array>& column,
                                    const std::vector<std::string>& values) {
  arrow::StringBuilder set_builder;
  ARROW_RETURN_NOT_OK(set_builder.AppendValues(values));
  ARROW_ASSIGN_OR_RAISE(auto value_set, set_builder.Finish());
  std::shared_ptr<arrow::Array> plain = column;
  if (column->type_id() == arrow::Type::DICTIONARY) {
    ARROW_ASSIGN_OR_RAISE(plain, arrow::compute::Cast(*column, arrow::utf8()));
  }
  return arrow::compute::IsIn(plain, arrow::compute::SetLookupOptions(value_set));
}

}  // namespace

arrow::Result<arrow::Datum> ViewRowMask(const model::ViewSpec& view, const arrow::RecordBatch& rows) {
  arrow::Datum mask;
  auto combine = [&](arrow::Datum clause) -> arrow::Status {
    if (!mask.is_value()) {
      mask = std::move(clause);
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(mask, arrow::compute::And(mask, clause));
    return arrow::Status::OK();
  };
  for (const model::ViewPredicate& predicate : view.where) {
    auto column = rows.GetColumnByName(predicate.field);
    if (column == nullptr) {
      return arrow::Status::Invalid("view '", view.name, "': no column '", predicate.field, "'");
    }
    if (predicate.not_null) {
      ARROW_ASSIGN_OR_RAISE(auto valid, arrow::compute::CallFunction("is_valid", {column}));
      ARROW_RETURN_NOT_OK(combine(std::move(valid)));
    }
    if (!predicate.in.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto in, MatchIn(column, predicate.in));
      ARROW_RETURN_NOT_OK(combine(std::move(in)));
    }
  }
  return mask;
}

}  // namespace memberlake::jobs
