// Anonymised datasets for AI and external analytics, derived from the field registry:
// direct and restricted fields are dropped, quasi-identifiers are coarsened by their
// `anonymise` rule (birth year, age band, PC2 area) or dropped, other fields are kept. Then
// k-anonymity: a row whose combination of kept quasi-identifiers is shared by fewer than k
// rows is suppressed, so no published row stands out from fewer than k members.
// Optionally a pseudonym column (HMAC-SHA256 of member_id under a secret key): stable across
// snapshots, so datasets can be compared, and not reversible without the key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "model/field_registry.h"

namespace memberlake::transform {

struct AnonymiseOptions {
  int k = 5;                  // minimum group size of the quasi-identifier combinations
  std::string pseudonym_key;  // empty: no pseudonym column
};

struct AnonymisedDataset {
  std::shared_ptr<arrow::Table> rows;
  std::vector<std::string> quasi_identifiers;  // the coarsened columns k-anonymity holds for
  std::vector<std::string> dropped;            // registry fields left out
  int64_t rows_in = 0;
  int64_t suppressed = 0;  // rows in groups smaller than k
};

// `rows`: lake rows (enums as dictionaries or plain text). Invalid for k < 2 or a pseudonym
// key shorter than 16 bytes.
arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymiseOptions& options);

}  // namespace memberlake::transform
