// Realistic sample members for demos, tests and benchmarks: Dutch names with tussenvoegsels,
// postcodes that fit the region, a motorcycle club's age and membership-length spread, about
// 80% Actief, the club's mix of lidmaatschap and clubblad, and the forms of the club's live
// table (../shared/domain.md, "The live table as it really is"): no lidnummer for HdcnAccount,
// Club and Sponsor, "1234 Donateur", spreadsheet dates (29/11/1971, 29-11-71, 3 februari 1974,
// d.M.yyyy), naive, +00:00 and one-digit-hour timestamps, legacy spellings, the placeholder
// e-mail, and stale copies of calculated fields (extra columns after the stored ones). A small
// share of rows is truly broken (a missing required field, an impossible date, an unknown
// region or status, a negative lidnummer). Deterministic per seed.
#pragma once

#include <cstdint>
#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "model/calendar.h"
#include "model/field_registry.h"

namespace memberlake::store {

struct SampleOptions {
  int64_t members = 1500;
  uint64_t seed = 1;
  // Share of rows written in a legacy form the transform can repair (in the club's table about
  // one record in seven).
  double repairable_fraction = 0.15;
  // Share of rows with a problem the transform must quarantine.
  double broken_fraction = 0.005;
  int64_t batch_rows = 64 * 1024;
  // Ages and membership lengths are drawn relative to this date.
  model::CivilDate reference{2026, 1, 1};
};

// Batches with registry->raw_schema() followed by utf8 columns for the registry's calculated
// fields the generator knows (stale copies, null in most rows), generated lazily (memory does
// not grow with N). Fields the generator does not know (e.g. a test registry's extra field)
// stay missing.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> MakeSampleMembers(
    std::shared_ptr<const model::FieldRegistry> registry, const SampleOptions& options);

}  // namespace memberlake::store
