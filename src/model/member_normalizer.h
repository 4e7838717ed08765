// Normalisation and validation of member records against the field registry.
//
// Rules (all derived from the registry):
//  - strings are trimmed; empty text counts as missing; a missing field takes its default
//  - enums match their canonical spelling ignoring case, spaces, hyphens, slashes and dots,
//    plus the registry's aliases ("noord holland", "N-Holland", "Groningen / Drenthe")
//  - a value listed in the field's `placeholders` counts as missing
//  - dates become YYYY-MM-DD and timestamps UTC ms from every form model/date_text.h reads
//    (ISO, day-first with - / ., two-digit years, Dutch month names; timestamps without an
//    offset are Europe/Amsterdam wall time); impossible dates (31-02-2020) and values outside
//    the years 0001..9999 are problems
//  - integers are decimal (DynamoDB N strings such as "42" or "42.0") and at least `min`; an
//    integer with a `note_field` takes text next to the number apart ("1234 Donateur" ->
//    1234 + note "Donateur", "Donateur" -> no number + note), an explicit note wins
//  - calculated fields in the input (stale copies written back by other programs) are ignored
//  - formats: email (one @, a dot in the domain), nl_postcode ("1234 AB", only checked when
//    land is Nederland), iban (mod-97); values are canonicalised (upper-case, spacing)
//  - a required field that is missing after defaults is a problem
// A record with any problem is rejected as a whole: it is never written half-repaired.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/calendar.h"
#include "model/field_registry.h"

namespace memberlake::model {

// One stored field value as canonical text; std::nullopt = missing. Aligned with
// FieldRegistry::stored_fields().
using MemberRecord = std::vector<std::optional<std::string>>;

// Why a record was rejected. `member_id` is the raw id text ("" when the id itself is missing).
struct RecordProblem {
  std::string member_id;
  std::string field;
  std::string problem;  // e.g. "unknown value 'Atlantis'" or "impossible date '31-02-2020'"
};

struct NormalizedBatch {
  // Valid rows only, typed per the stored-field prefix of the lake schema.
  std::shared_ptr<arrow::RecordBatch> valid;
  // One entry per problem of each rejected row (a row may have several).
  std::vector<RecordProblem> problems;
  int64_t rejected_rows = 0;
};

class MemberNormalizer {
 public:
  // `reference`: two-digit years are read as the latest such date up to this day.
  MemberNormalizer(std::shared_ptr<const FieldRegistry> registry, CivilDate reference);
  // The reference date is today in Europe/Amsterdam.
  explicit MemberNormalizer(std::shared_ptr<const FieldRegistry> registry);
  ~MemberNormalizer();

  // `raw` has utf8 (or large/view string) columns named after stored fields; a stored field
  // without a column is all missing; a calculated field's column is ignored; any other column
  // that is no stored field is an error.
  arrow::Result<NormalizedBatch> Normalize(const arrow::RecordBatch& raw) const;

  // One record given as (field name, raw text or nullopt) pairs, e.g. from JSON.
  // Returns canonical text for every stored field, or Status::Invalid naming the field and
  // the problem ("unknown field 'foo'", "regio: unknown value 'Atlantis'", "voornaam:
  // required field is missing"). Same rules as Normalize().
  arrow::Result<MemberRecord> NormalizeRecord(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& fields) const;

  // One stored field's raw text by the same rules: its canonical text (nullopt when missing
  // and without default), or Invalid naming the field and the problem. Rules that depend on
  // another field (postcode and land) apply as for a record in Nederland.
  arrow::Result<std::optional<std::string>> NormalizeField(std::string_view name,
                                                           std::optional<std::string_view> raw) const;

  const std::shared_ptr<const FieldRegistry>& registry() const { return registry_; }

 private:
  std::shared_ptr<const FieldRegistry> registry_;
  struct Rules;
  std::unique_ptr<Rules> rules_;
};

}  // namespace memberlake::model
