// Anonymised datasets for AI and external analytics that stay anonymous against people who
// know each other. What may be released and how each column generalises is data
// (config/anonymisation.toml, transform/anonymisation_policy.h); identifiers and restricted
// fields never are.
//
// Every released column an acquaintance could know is a quasi-identifier. The dataset is
// k-anonymous over ALL released quasi-identifiers together: every combination of their values
// in the output is shared by at least k rows. Sensitive columns (status) are l-diverse: every
// such class holds at least l distinct values of each (distinct l-diversity).
//
// Algorithm: full-domain generalisation by top-down specialisation. Each quasi-identifier
// gets one level of its hierarchy for all rows. The search starts with every column at "*" (one
// class of all rows) and repeatedly takes the one step down a hierarchy that regains the most
// information (normalised certainty penalty, a suppressed row counting as fully generalised)
// while at most the suppression cap of the rows sit in classes that break k or l: first the
// steps that suppress nobody more, then the most information per row given up; ties go to the
// earlier column, so the result is deterministic for a given input. The rows of classes still
// breaking k or l are suppressed. A column left at "*" is left out of the file. Rows are
// grouped by dense dictionary codes, never by strings.
//
// Optionally a pseudonym column (HMAC-SHA256 of member_id under a secret key): stable across
// snapshots, so datasets can be compared, and not reversible without the key.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "model/field_registry.h"
#include "transform/anonymisation_policy.h"

namespace memberlake::transform {

struct AnonymiseOptions {
  int k = 5;                         // minimum size of every equivalence class (>= 2)
  int l = 0;                         // distinct sensitive values per class; 0: the policy's (2)
  double max_suppression = -1;       // fraction of rows; < 0: the policy's (0.05)
  std::vector<std::string> columns;  // the columns to release; empty: the policy's defaults
  std::string pseudonym_key;         // empty: no pseudonym column
};

// How one chosen column was released.
struct ColumnGeneralisation {
  std::string column;
  std::string role;            // "quasi" or "sensitive"
  int level = 0;               // index into the column's hierarchy (quasi)
  std::string generalisation;  // the level as in the policy ("band:10"); "*": left out; sensitive: "value"
  int64_t distinct = 0;        // distinct values in the output
  double ncp = 0;              // normalised certainty penalty over all input rows (suppressed rows cost 1)
};

struct AnonymisedDataset {
  std::shared_ptr<arrow::Table> rows;          // text columns, named as the registry's fields
  std::vector<std::string> quasi_identifiers;  // released quasi-identifier columns: k holds over all together
  std::vector<std::string> sensitive;          // released sensitive columns: l-diverse in every class
  std::map<std::string, std::string> sensitive_handling;  // every sensitive column of the policy: "l-diverse (l = 2)" or "left out"
  std::vector<std::string> dropped;            // registry fields not in the file
  std::vector<ColumnGeneralisation> generalisation;  // per chosen column, in policy order
  int k = 0;
  int l = 0;
  int64_t rows_in = 0;
  int64_t suppressed = 0;        // rows in classes that broke k or l
  int64_t classes = 0;           // equivalence classes in the output
  int64_t smallest_class = 0;    // 0 when nothing is released
  double ncp = 0;                // mean of the quasi-identifier columns' NCP (0 exact .. 1 nothing released)
  double discernibility = 0;     // sum of |class|^2 over the output + suppressed * rows_in
};

// `rows`: lake rows (enums as dictionaries or plain text) holding every chosen column.
// Invalid (naming the column or option) for k < 2, l < 1, a cap outside [0, 1], a chosen
// column that is an identifier, restricted, not released by the policy or missing, and a
// pseudonym key shorter than 16 bytes.
arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymisationPolicy& policy, const AnonymiseOptions& options);
// The same with the built-in policy (config/anonymisation.toml).
arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymiseOptions& options);

}  // namespace memberlake::transform
