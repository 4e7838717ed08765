#include "transform/member_transform.h"

namespace memberlake::transform {

arrow::Result<MemberTransform> MemberTransform::Make(
    std::shared_ptr<const model::FieldRegistry> registry, model::CivilDate as_of) {
  ARROW_ASSIGN_OR_RAISE(CalculatedFields calculated, CalculatedFields::Make(registry, as_of));
  return MemberTransform(std::make_shared<model::MemberNormalizer>(std::move(registry), as_of),
                         std::move(calculated));
}

arrow::Result<TransformedBatch> MemberTransform::Apply(const arrow::RecordBatch& raw) const {
  ARROW_ASSIGN_OR_RAISE(model::NormalizedBatch normalized, normalizer_->Normalize(raw));
  TransformedBatch out;
  ARROW_ASSIGN_OR_RAISE(out.rows, calculated_.Append(normalized.valid));
  out.quarantined = std::move(normalized.problems);
  out.rejected_rows = normalized.rejected_rows;
  return out;
}

}  // namespace memberlake::transform
