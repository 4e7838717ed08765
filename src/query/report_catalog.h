// Named reports: query specs loaded from config/reports.toml (compiled in as the default).
// A report's where clauses may name parameters ("{month}") that the caller supplies.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "model/calendar.h"
#include "model/field_registry.h"
#include "query/query.h"

namespace memberlake::query {

enum class ReportKind { kQuery, kDistribution, kAlvJubilee };

struct ReportSpec {
  std::string name;
  ReportKind kind = ReportKind::kQuery;
  std::string column;               // kDistribution: the measured column
  std::string description;
  bool restricted = false;          // shows restricted fields
  std::string audience;             // "communication" for communication views, else empty
  std::vector<std::string> params;  // names the where clauses may use as {name}
  std::vector<std::string> where;   // text filters, parameters not yet substituted
  QuerySpec base;                   // everything but the filters
};

class ReportCatalog {
 public:
  // Loads and checks every report against the registry (unknown columns, bad filter text,
  // undeclared parameters are errors naming the report).
  static arrow::Result<std::shared_ptr<const ReportCatalog>> LoadString(
      std::string_view toml_text, const std::string& source_name, const model::FieldRegistry& registry);
  static arrow::Result<std::shared_ptr<const ReportCatalog>> LoadDefault(const model::FieldRegistry& registry);

  const std::vector<ReportSpec>& reports() const { return reports_; }
  // Status::KeyError("unknown report 'x'") when absent.
  arrow::Result<const ReportSpec*> Find(const std::string& name) const;
  // The report's query with `params` substituted; a missing or unknown parameter is Invalid.
  static arrow::Result<QuerySpec> Instantiate(const ReportSpec& report,
                                              const std::map<std::string, std::string>& params);

  // Runs a report of any kind; `run` executes its queries (inside the caller's scope, from
  // the caller's source: snapshot, hybrid or live). `today` bounds the ALV year (-3..+3).
  using QueryRunner = std::function<arrow::Result<QueryResult>(const QuerySpec&)>;
  static arrow::Result<QueryResult> Run(const QueryRunner& run, const ReportSpec& report,
                                        const std::map<std::string, std::string>& params,
                                        model::CivilDate today);

 private:
  std::vector<ReportSpec> reports_;
};

}  // namespace memberlake::query
