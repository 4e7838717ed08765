// Realistic sample members for demos, tests and benchmarks: Dutch names with tussenvoegsels,
// postcodes that fit the region, a motorcycle club's age and membership-length spread, about
// 80% Actief, the club's mix of lidmaatschap and clubblad, and a few percent dirty legacy
// records (region spelling variants, DD-MM-YYYY dates, lower-case enums, a missing required
// field, an impossible date). Deterministic per seed.
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
  // Share of rows written in a legacy spelling the transform can repair.
  double repairable_fraction = 0.03;
  // Share of rows with a problem the transform must quarantine.
  double broken_fraction = 0.005;
  int64_t batch_rows = 64 * 1024;
  // Ages and membership lengths are drawn relative to this date.
  model::CivilDate reference{2026, 1, 1};
};

// Batches with registry->raw_schema(), generated lazily (memory does not grow with N).
// Fields the generator does not know (e.g. a test registry's extra field) stay missing.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> MakeSampleMembers(
    std::shared_ptr<const model::FieldRegistry> registry, const SampleOptions& options);

}  // namespace memberlake::store
