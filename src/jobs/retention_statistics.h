// What the `anonymise` retention action keeps of the members it erases (docs/privacy.md,
// "Retention by purpose"): counts only, in groups of at least k members, so the club's
// historical statistics still count them while nobody in them can be singled out.
//
// Dimensions, from the most to the least telling: the year they left (the year of the status
// change the rule counts from), regio, age band at that moment (10-year bands), and status.
// Groups are formed top-down with generalisation: the members of a full combination of at
// least k are one group; the rest are grouped again without the age band ("*"), then without
// regio, then without the year; what is left in groups under k after that is one row with every
// dimension "*" (the count of the run's remaining members, no attribute at all). Every row of a
// run counts different members, so no count can be subtracted from another to reach a smaller
// group, and the rows of a run add up to the members it erased.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "lake/lake_storage.h"

namespace memberlake::jobs {

// Where the statistics live in the lake: one JSON Lines object per run, never rewritten.
inline constexpr const char* kRetentionStatisticsDir = "history/retention_statistics";

struct RetentionStatisticsInput {
  std::string status;          // canonical
  std::string regio;           // canonical; empty: unknown
  int leave_year = 0;          // 0: unknown
  std::optional<int> age;      // whole years at the leave date; nullopt: unknown birth date
};

struct RetentionStatisticsGroup {
  std::string leave_year, regio, age_band, status;  // "*": generalised away
  int64_t members = 0;
};

// The groups for one run's members (k >= 2), in a stable order (level, then values).
std::vector<RetentionStatisticsGroup> AggregateRetentionStatistics(const std::vector<RetentionStatisticsInput>& members,
                                                                   int k);

// "<30", "30-39", ..., "70+", "unknown".
std::string AgeBand(std::optional<int> age);

// Writes the run's rows to history/retention_statistics/<run_id>.jsonl (each row: run_id,
// as_of, k, leave_year, regio, age_band, status, members); returns the lake path. Writing the
// same run again gives the same file (a resumed run).
arrow::Result<std::string> WriteRetentionStatistics(lake::LakeStorage& lake, const std::string& run_id,
                                                    const std::string& as_of, int k,
                                                    const std::vector<RetentionStatisticsGroup>& groups);

}  // namespace memberlake::jobs
