// The two tools a language model gets for a question about the membership, and what it is
// told about the data: run_query (filters, groups and aggregates in the query surface's text
// forms, query/query.h) and run_report (the named aggregate reports of the catalog). Each call
// runs inside the caller's scope through the PrivacyGuard and returns suppressed aggregates,
// or a tool error the model can read: a refused column, a region outside the scope, a
// malformed argument. Nothing here reads a member row into a message.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "ai/chat_client.h"
#include "ai/privacy_guard.h"
#include "model/calendar.h"
#include "model/field_registry.h"
#include "model/member_normalizer.h"
#include "query/query.h"
#include "query/report_catalog.h"

namespace memberlake::ai {

// Runs a query inside the caller's scope, from the caller's source (snapshot, hybrid, live).
using QueryRunner = std::function<arrow::Result<query::QueryResult>(const query::QuerySpec&)>;

// What one question may see.
struct AskScope {
  std::shared_ptr<const model::FieldRegistry> registry;
  std::shared_ptr<const query::ReportCatalog> catalog;
  query::RegionalScope scope = query::RegionalScope::All();
  QueryRunner run;        // must run in `scope`
  model::CivilDate today; // reference date of the data, told to the model
};

// One tool call as it ran: for the answer (transparency) and, without `result`, the audit.
struct ToolRun {
  std::string tool;       // as the model named it
  std::string arguments;  // as the model wrote them
  Json query;             // what ran: {where, group_by, aggregates, order_by} or {report, params}
  Json result;            // what the model got: {columns, rows, suppressed_groups, k}
  std::string error;      // the tool error the model got instead
  int64_t rows = 0;       // rows sent to the model
  std::string data_version;
};

class AskTools {
 public:
  AskTools(AskScope scope, int k);

  // The "tools" array of a Chat Completions request.
  const Json& Definitions() const { return definitions_; }
  // The usable columns (name, type, enum values, description) and the scope, for the prompt.
  std::string SchemaText() const;
  // Runs one call; never fails (a problem becomes ToolRun::error).
  ToolRun Run(const ToolCall& call) const;
  // The tool message's content for `run`: the result or {"error": ...}, compact JSON.
  static std::string Content(const ToolRun& run);

  const PrivacyGuard& guard() const { return guard_; }
  const query::RegionalScope& scope() const { return scope_.scope; }
  const model::CivilDate& today() const { return scope_.today; }

  // Reports the model may run: aggregate queries and distributions whose columns are usable.
  std::vector<const query::ReportSpec*> Reports() const { return reports_; }

 private:
  arrow::Status RunQuery(const Json& arguments, ToolRun* run) const;
  arrow::Status RunReport(const Json& arguments, ToolRun* run) const;
  arrow::Status CheckRegionFilter(const query::FilterSpec& filter, const std::string& text,
                                  query::FilterSpec* canonical) const;
  arrow::Status Execute(const query::QuerySpec& spec, ToolRun* run) const;
  static arrow::Result<query::QuerySpec> ReportQuery(const query::ReportSpec& report,
                                                     const std::map<std::string, std::string>& params);

  AskScope scope_;
  PrivacyGuard guard_;
  model::MemberNormalizer normalizer_;  // canonical region names, as the store keeps them
  std::vector<const query::ReportSpec*> reports_;
  Json definitions_;
};

}  // namespace memberlake::ai
