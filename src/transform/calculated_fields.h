// Calculated fields (korte_naam, leeftijd, verjaardag, jaren_lid, aanmeldingsjaar), computed
// column-wise over Arrow arrays for a fixed reference date. Semantics: ../shared/domain.md
// "Calculated fields"; the registry names each field's function and inputs.
#pragma once

#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/calendar.h"
#include "model/field_registry.h"

namespace memberlake::transform {

class CalculatedFields {
 public:
  // Fails when the registry names an unknown function or inputs of the wrong type.
  static arrow::Result<CalculatedFields> Make(std::shared_ptr<const model::FieldRegistry> registry,
                                              model::CivilDate as_of);

  // `typed` holds the stored fields typed as in the lake schema (MemberNormalizer output).
  // Returns a batch whose schema equals registry->lake_schema(): stored columns, then the
  // calculated ones.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Append(
      const std::shared_ptr<arrow::RecordBatch>& typed) const;

  model::CivilDate as_of() const { return as_of_; }

 private:
  CalculatedFields(std::shared_ptr<const model::FieldRegistry> registry, model::CivilDate as_of)
      : registry_(std::move(registry)), as_of_(as_of) {}
  std::shared_ptr<const model::FieldRegistry> registry_;
  model::CivilDate as_of_;
};

}  // namespace memberlake::transform
