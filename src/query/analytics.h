// Analytics computed over query rows (column-wise): distributions for violin plots and the
// ALV jubilee candidates.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

namespace memberlake::query {

// Per group of `group_by` (sorted by the group values): n, min, p25, p50, p75, max, mean of an
// integer or floating column (nulls ignored; quantiles interpolate linearly between order
// statistics, like DuckDB's quantile_cont), and a Gaussian kernel density estimate at
// `kde_points` evenly spaced points from min to max (Silverman's bandwidth) as two list
// columns kde_x and kde_y: a violin plot's outline.
arrow::Result<std::shared_ptr<arrow::Table>> Distribution(const arrow::Table& rows, const std::string& column,
                                                          const std::vector<std::string>& group_by,
                                                          int kde_points = 32);

// Members with an ALV jubilee in `year`: whole years from ingangsdatum to year-04-01 (the
// birthday rule of domain.md) of 25, 30, 35, 40, 45 or 50 and more give a certificate,
// exactly 10 the badge. Adds `jaren_op_alv` and `onderscheiding` ("certificaat 25", ...,
// "certificaat 50+", "speld 10"); other rows are dropped. Needs an `ingangsdatum` date column.
arrow::Result<std::shared_ptr<arrow::Table>> AlvJubilees(const arrow::Table& rows, int year);

}  // namespace memberlake::query
