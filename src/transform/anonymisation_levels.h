// Internal to transform/anonymisation.cc: one column at one level of its generalisation
// hierarchy, as dense dictionary codes (one int32 per row; null is a value of its own), so the
// search groups rows by integer codes and never by strings.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <arrow/array.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "transform/anonymisation_policy.h"

namespace memberlake::transform::internal {

struct LevelCodes {
  std::vector<int32_t> codes;                // per row, 0 .. cardinality-1
  std::shared_ptr<arrow::Array> dictionary;  // utf8, cardinality entries (one may be null)
  int32_t cardinality = 0;
  // Normalised certainty penalty per row, averaged over all rows: for each row,
  // (original values sharing its generalised value - 1) / (original values - 1).
  double ncp = 0;
  std::vector<double> penalty;  // per code: that NCP of one row holding it
};

// The distinct values of a column as text, as codes: the finest view, the base of the NCP.
arrow::Result<LevelCodes> ValueCodes(const arrow::Table& rows, const std::string& column);

// `column` at `level` of its hierarchy. `previous` is the level before (for "rare"), `base`
// the column's ValueCodes (for the NCP); `k` the rarity threshold.
arrow::Result<LevelCodes> GeneraliseColumn(const arrow::Table& rows, const AnonymisedColumn& column,
                                           const GeneralisationLevel& level, const LevelCodes* previous,
                                           const LevelCodes& base, int k);

// The released text of `codes` for the rows where keep[i] (dictionary lookup).
arrow::Result<std::shared_ptr<arrow::Array>> Decode(const LevelCodes& level, const std::vector<int32_t>& kept_rows);

}  // namespace memberlake::transform::internal
