// What may leave the process when a language model asks about members: the columns it may
// name (derived from the registry's sensitivity classes, never a list in code) and the
// suppression of small groups in every aggregate before it is sent.
//
// Guarantees, per tool result:
//  - only aggregates: no select, every answer is grouped (or one overall row) and counted;
//  - no direct identifier, restricted field or fine quasi-identifier in a filter, group,
//    aggregate or order (a quasi-identifier is usable only when the registry lets anonymised
//    data keep it, i.e. its `anonymise` rule is not drop: geslacht, regio, leeftijd);
//    min/max only of columns that are not quasi-identifiers (the oldest member is a person);
//  - every released row stands for at least k members;
//  - complementary suppression: along every line of the result (all group columns but one
//    fixed, the whole result for one group column) the suppressed groups together hold 0 or at
//    least k members, so subtracting the released rows from a total or a marginal of the same
//    filter yields at least k members, never one small group.
// Not guaranteed: differencing across queries with different filters (count with and without
// a filter), nor l-diversity of a released cell. The tool-round limit bounds the number of
// queries per question and every query is in the audit trail.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "model/field_registry.h"
#include "query/query.h"

namespace memberlake::ai {

class PrivacyGuard {
 public:
  // `k` >= 2. The usable columns come from `registry` (kept by reference: outlive the guard).
  PrivacyGuard(const model::FieldRegistry& registry, int k);

  int k() const { return k_; }
  static constexpr int kMaxGroupBy = 3;
  // Name of the member count every query gets, dropped before the result leaves.
  static constexpr std::string_view kCountColumn = "__members";

  // Usable columns in registry order (stored, then calculated).
  const std::vector<const model::FieldSpec*>& columns() const { return columns_; }
  bool Usable(std::string_view column) const { return usable_.count(std::string(column)) > 0; }

  // Invalid naming the column and why, for the first thing `spec` may not do: a select, a
  // column that is not usable, min/max of a quasi-identifier, too many group columns, a limit.
  arrow::Status CheckSpec(const query::QuerySpec& spec) const;
  // Invalid when the filter text names a registry field that is not usable anywhere in it
  // (also in forms of the filter syntax this file does not know yet, e.g. alternatives).
  arrow::Status CheckFilterText(std::string_view text) const;

  // `spec` with the member count added (kCountColumn).
  static query::QuerySpec Counted(query::QuerySpec spec);

  struct Released {
    std::shared_ptr<arrow::Table> table;  // without kCountColumn
    int64_t suppressed_groups = 0;
  };
  // Suppresses the rows of `result` (a Counted query's table, grouped by `group_by`) that hold
  // fewer than k members, then complementary rows (see above); row order is kept.
  arrow::Result<Released> Suppress(const arrow::Table& result, const std::vector<std::string>& group_by) const;

 private:
  const model::FieldRegistry& registry_;
  int k_;
  std::vector<const model::FieldSpec*> columns_;
  std::set<std::string> usable_;
};

}  // namespace memberlake::ai
