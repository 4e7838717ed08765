// query, report: answers from the lake (and the live store, hybrid).
#include "cli/commands.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/query_output.h"
#include "query/export.h"
#include "query/report_catalog.h"

namespace memberlake::cli {
namespace {

struct QueryCliOptions {
  SourceOptions source;
  std::vector<std::string> regions;
  std::vector<std::string> select, where, any, group_by, aggregates, having, order_by;
  int64_t limit = -1;
  OutputOptions output;
};

arrow::Status RunQueryCommand(const GlobalOptions& global, const QueryCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  query::RegionalScope scope = query::RegionalScope::All();
  if (!o.regions.empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(*registry, o.regions));
  }
  query::QuerySpec spec;
  spec.select = o.select;
  spec.group_by = o.group_by;
  for (const auto& text : o.where) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.where.push_back(std::move(filter));
  }
  for (const auto& text : o.any) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.any.push_back(std::move(filter));
  }
  for (const auto& text : o.aggregates) {
    ARROW_ASSIGN_OR_RAISE(auto aggregate, query::ParseAggregate(text));
    spec.aggregates.push_back(std::move(aggregate));
  }
  for (const auto& text : o.having) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.having.push_back(std::move(filter));
  }
  for (const auto& text : o.order_by) {
    ARROW_ASSIGN_OR_RAISE(auto order, query::ParseOrder(text));
    spec.order_by.push_back(std::move(order));
  }
  if (o.limit >= 0) spec.limit = o.limit;
  spec.count_pages = o.output.explain;
  ARROW_RETURN_NOT_OK(query::ParseExportFormat(o.output.format).status());
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(registry, o.source));
  ARROW_ASSIGN_OR_RAISE(auto result, open.source->Run(scope, spec));
  return PrintResult(result, scope, o.output);
}

struct ReportCliOptions {
  std::string name;
  SourceOptions source;
  std::vector<std::string> regions;
  std::vector<std::string> params;  // name=value
  std::string year;                 // shorthand for --param year=Y
  OutputOptions output;
  bool list = false;
};

arrow::Status RunReportCommand(const GlobalOptions& global, const ReportCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(auto catalog, query::ReportCatalog::LoadDefault(*registry));
  if (o.list || o.name.empty()) {
    for (const auto& report : catalog->reports()) {
      std::printf("%-18s %s\n", report.name.c_str(), report.description.c_str());
    }
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(const query::ReportSpec* report, catalog->Find(o.name));
  std::map<std::string, std::string> params;
  for (const auto& text : o.params) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) return arrow::Status::Invalid("--param '", text, "': expected name=value");
    params[text.substr(0, eq)] = text.substr(eq + 1);
  }
  if (!o.year.empty()) params["year"] = o.year;
  query::RegionalScope scope = query::RegionalScope::All();
  if (!o.regions.empty()) {
    ARROW_ASSIGN_OR_RAISE(scope, query::RegionalScope::Regions(*registry, o.regions));
  }
  ARROW_RETURN_NOT_OK(query::ParseExportFormat(o.output.format).status());
  ARROW_ASSIGN_OR_RAISE(auto open, OpenMemberSource(registry, o.source));
  auto run = [&](const query::QuerySpec& spec) {
    query::QuerySpec counted = spec;
    counted.count_pages = o.output.explain;
    return open.source->Run(scope, counted);
  };
  ARROW_ASSIGN_OR_RAISE(auto result, query::ReportCatalog::Run(run, *report, params, open.today));
  return PrintResult(result, scope, o.output);
}

}  // namespace

void AddQueryCommands(CLI::App& app, const CommandContext& context) {
  // query
  auto qo = std::make_shared<QueryCliOptions>();
  auto* query_cmd = app.add_subcommand("query", "Query the current snapshot (scoped, with pushdown)");
  qo->source.AddTo(query_cmd);
  query_cmd->add_option("--region", qo->regions, "Limit the scope to this region (repeatable; default: all)");
  query_cmd->add_option("--select", qo->select, "Columns to return (repeatable or comma-separated)")->delimiter(',');
  query_cmd->add_option("--where", qo->where,
                        "Filter, ANDed (repeatable): col=v, col!=v, col<v, col<=v, col>v, col>=v, "
                        "'col in a|b', 'col is null', 'col is not null', col^=prefix, col.month=9, col.day=26, "
                        "'col between low and high'");
  query_cmd->add_option("--any", qo->any,
                        "Filter of the OR group (repeatable): a row passes when it matches at least one --any "
                        "filter (and every --where filter), e.g. --any regio=Utrecht --any 'leeftijd>=80'");
  query_cmd->add_option("--group-by", qo->group_by, "Group by these columns")->delimiter(',');
  query_cmd->add_option("--agg", qo->aggregates,
                        "Aggregate (repeatable): count, count(col), count(distinct col), sum(col), min(col), max(col), "
                        "avg(col), median(col), quantile(col,q)");
  query_cmd->add_option("--having", qo->having,
                        "Filter on an aggregate's output, ANDed (repeatable): count>100, 'avg_leeftijd between 40 and 50'");
  query_cmd->add_option("--order-by", qo->order_by, "Order by col or col:desc (repeatable)");
  query_cmd->add_option("--limit", qo->limit, "At most this many rows")->check(CLI::NonNegativeNumber);
  qo->output.AddTo(query_cmd);
  query_cmd->callback([=] { context.Finish(RunQueryCommand(*context.global, *qo)); });

  // report
  auto ro = std::make_shared<ReportCliOptions>();
  auto* report_cmd = app.add_subcommand("report", "Run a named report (without a name: list the reports)");
  report_cmd->add_option("name", ro->name, "Report name");
  ro->source.AddTo(report_cmd);
  report_cmd->add_option("--region", ro->regions, "Limit the scope to this region (repeatable; default: all)");
  report_cmd->add_option("--param", ro->params, "Report parameter name=value (repeatable), e.g. month=9");
  report_cmd->add_option("--year", ro->year, "ALV year for alv-candidates (reference year -3 .. +3)");
  ro->output.AddTo(report_cmd);
  report_cmd->add_flag("--list", ro->list, "List the reports");
  report_cmd->callback([=] { context.Finish(RunReportCommand(*context.global, *ro)); });

}

}  // namespace memberlake::cli
