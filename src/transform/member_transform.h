// The whole transform of raw member rows into lake rows: normalise and validate
// (MemberNormalizer), then add the calculated fields (CalculatedFields). Used by generation
// and, later, by hybrid reads of the live delta, so both produce identical rows.
#pragma once

#include <memory>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/calendar.h"
#include "model/member_normalizer.h"
#include "transform/calculated_fields.h"

namespace memberlake::transform {

struct TransformedBatch {
  std::shared_ptr<arrow::RecordBatch> rows;          // registry->lake_schema()
  std::vector<model::RecordProblem> quarantined;     // why rejected rows were rejected
  int64_t rejected_rows = 0;
};

class MemberTransform {
 public:
  static arrow::Result<MemberTransform> Make(std::shared_ptr<const model::FieldRegistry> registry,
                                             model::CivilDate as_of);
  // Thread-safe: Apply may run on several batches at once.
  arrow::Result<TransformedBatch> Apply(const arrow::RecordBatch& raw) const;

 private:
  MemberTransform(std::shared_ptr<model::MemberNormalizer> normalizer, CalculatedFields calculated)
      : normalizer_(std::move(normalizer)), calculated_(std::move(calculated)) {}
  std::shared_ptr<model::MemberNormalizer> normalizer_;
  CalculatedFields calculated_;
};

}  // namespace memberlake::transform
