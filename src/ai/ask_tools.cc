#include "ai/ask_tools.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "query/result_format.h"

namespace memberlake::ai {
namespace {

constexpr int64_t kMaxRowsToModel = 300;  // more groups: refused, never cut (a cut hides groups)

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// A list of strings from `arguments[key]` (absent: empty); Invalid naming the key otherwise.
arrow::Result<std::vector<std::string>> Strings(const Json& arguments, const char* key) {
  std::vector<std::string> out;
  if (!arguments.contains(key) || arguments[key].is_null()) return out;
  const Json& value = arguments[key];
  if (value.is_string()) return std::vector<std::string>{value.get<std::string>()};
  if (!value.is_array()) return arrow::Status::Invalid("'", key, "' must be a list of strings");
  for (const Json& item : value) {
    if (!item.is_string()) return arrow::Status::Invalid("'", key, "' must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

arrow::Status OnlyKeys(const Json& arguments, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : arguments.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return arrow::Status::Invalid("unknown argument '", key, "' (expected ", Join(allowed, ", "), ")");
    }
  }
  return arrow::Status::OK();
}

// Doubles rounded to 2 decimals: fewer tokens, no false precision.
void RoundNumbers(Json* value) {
  if (value->is_number_float()) {
    *value = std::round(value->get<double>() * 100.0) / 100.0;
  } else if (value->is_structured()) {
    for (auto& item : *value) RoundNumbers(&item);
  }
}

Json ToolSchema(const char* name, const std::string& description, Json parameters) {
  return Json{{"type", "function"},
              {"function", Json{{"name", name}, {"description", description}, {"parameters", std::move(parameters)}}}};
}

Json StringList(const std::string& description) {
  return Json{{"type", "array"}, {"items", Json{{"type", "string"}}}, {"description", description}};
}

}  // namespace

AskTools::AskTools(AskScope scope, int k)
    : scope_(std::move(scope)), guard_(*scope_.registry, k), normalizer_(scope_.registry) {
  // Reports whose every column is usable and that only aggregate.
  for (const auto& report : scope_.catalog->reports()) {
    const bool aggregate = report.kind == query::ReportKind::kDistribution ||
                           (report.kind == query::ReportKind::kQuery && report.base.select.empty() &&
                            !report.base.aggregates.empty());
    if (!aggregate || report.restricted) continue;
    std::map<std::string, std::string> placeholders;
    for (const auto& param : report.params) placeholders[param] = "1";
    query::QuerySpec spec = report.base;
    if (report.kind == query::ReportKind::kDistribution) {
      auto full = ReportQuery(report, placeholders);
      if (!full.ok()) continue;
      spec = std::move(*full);
      spec.where.clear();
    }
    bool usable = guard_.CheckSpec(spec).ok();
    for (const auto& text : report.where) usable = usable && guard_.CheckFilterText(text).ok();
    if (usable) reports_.push_back(&report);
  }
  Json report_names = Json::array();
  std::string report_list;
  for (const auto* report : reports_) {
    report_names.push_back(report->name);
    report_list += "\n- " + report->name + ": " + report->description;
    if (!report->params.empty()) report_list += " (params: " + Join(report->params, ", ") + ")";
  }
  definitions_ = Json::array();
  definitions_.push_back(ToolSchema(
      "run_query",
      "Counts and aggregates of members, grouped. Returns {columns, rows, suppressed_groups}: one row per group "
      "with at least k members (smaller groups are left out). No member rows.",
      Json{{"type", "object"},
           {"properties",
            Json{{"where", StringList("filters, all must hold: col=v, col!=v, col<v, col<=v, col>v, col>=v, "
                                      "col in a|b|c, col is null, col is not null, col^=prefix, col.month=9 (dates)")},
                 {"group_by", StringList("up to 3 columns to group by")},
                 {"aggregates", StringList("count (default), count(col), avg(col), median(col), "
                                           "quantile(col,0.25), min(col), max(col)")},
                 {"order_by", StringList("col or col:desc (a group column or an aggregate such as count)")}}},
           {"additionalProperties", false}}));
  if (!reports_.empty()) {
    definitions_.push_back(ToolSchema(
        "run_report", "A named aggregate report, suppressed like run_query. Reports:" + report_list,
        Json{{"type", "object"},
             {"properties", Json{{"name", Json{{"type", "string"}, {"enum", report_names}}},
                                 {"params", Json{{"type", "object"},
                                                 {"additionalProperties", Json{{"type", "string"}}}}}}},
             {"required", Json::array({"name"})},
             {"additionalProperties", false}}));
  }
}

std::string AskTools::SchemaText() const {
  std::ostringstream out;
  const std::string& partition = scope_.registry->partition_field();
  for (const model::FieldSpec* field : guard_.columns()) {
    out << "- " << field->name << " (" << model::FieldTypeName(field->type);
    std::vector<std::string> values = field->values;
    if (field->name == partition && !scope_.scope.all()) values = scope_.scope.regions();
    if (!values.empty()) out << ": " << Join(values, "|");
    out << ")";
    if (!field->description.empty()) out << " " << field->description;
    out << "\n";
  }
  return out.str();
}

arrow::Status AskTools::CheckRegionFilter(const query::FilterSpec& filter, const std::string& text,
                                          query::FilterSpec* canonical) const {
  const std::string& partition = scope_.registry->partition_field();
  const bool mentions = text.find(partition) != std::string::npos;
  if (!mentions && filter.column != partition) return arrow::Status::OK();
  using Op = query::FilterOp;
  if (filter.column != partition || !(filter.op == Op::kEq || filter.op == Op::kNe || filter.op == Op::kIn)) {
    return arrow::Status::Invalid("filter '", text, "': filter ", partition, " only as ", partition, "=R, ", partition,
                                  "!=R or ", partition, " in R1|R2");
  }
  canonical->values.clear();
  for (const auto& value : filter.values) {
    auto region = normalizer_.NormalizeField(partition, value);
    if (!region.ok() || !region->has_value()) return arrow::Status::Invalid("unknown region '", value, "'");
    const std::string& name = **region;
    const auto& mine = scope_.scope.regions();
    if (!scope_.scope.all() && std::find(mine.begin(), mine.end(), name) == mine.end()) {
      return arrow::Status::Invalid("region ", name, " is outside the caller's scope (", scope_.scope.ToString(),
                                    "): ask only about ", Join(mine, ", "));
    }
    canonical->values.push_back(name);
  }
  return arrow::Status::OK();
}

arrow::Result<query::QuerySpec> AskTools::ReportQuery(const query::ReportSpec& report,
                                                      const std::map<std::string, std::string>& params) {
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, query::ReportCatalog::Instantiate(report, params));
  if (report.kind == query::ReportKind::kDistribution) {
    // A violin's figures without its outline: per group n, mean and quartiles (no min or max:
    // those are single members).
    spec.select.clear();
    spec.aggregates.clear();
    for (const std::string& text : {std::string("count"), "avg(" + report.column + ")", "quantile(" + report.column + ",0.25)",
                                    "median(" + report.column + ")", "quantile(" + report.column + ",0.75)"}) {
      ARROW_ASSIGN_OR_RAISE(auto aggregate, query::ParseAggregate(text));
      spec.aggregates.push_back(std::move(aggregate));
    }
    if (spec.order_by.empty()) {
      for (const auto& column : spec.group_by) spec.order_by.push_back(query::OrderSpec{column, false});
    }
  }
  return spec;
}

arrow::Status AskTools::Execute(const query::QuerySpec& spec, ToolRun* run) const {
  ARROW_RETURN_NOT_OK(guard_.CheckSpec(spec));
  ARROW_ASSIGN_OR_RAISE(auto result, scope_.run(PrivacyGuard::Counted(spec)));
  ARROW_ASSIGN_OR_RAISE(auto released, guard_.Suppress(*result.table, spec.group_by));
  if (released.table->num_rows() > kMaxRowsToModel) {
    return arrow::Status::Invalid(released.table->num_rows(), " groups are too many to send (at most ",
                                  kMaxRowsToModel, "): group by fewer or coarser columns, or filter");
  }
  ARROW_ASSIGN_OR_RAISE(std::string rows_text, query::TableToJsonRows(*released.table));
  Json objects = Json::parse(rows_text);
  Json columns = Json::array(), rows = Json::array();
  for (const auto& field : released.table->schema()->fields()) columns.push_back(field->name());
  for (Json& object : objects) {
    Json row = Json::array();
    for (auto& [key, value] : object.items()) row.push_back(std::move(value));
    rows.push_back(std::move(row));
  }
  RoundNumbers(&rows);
  run->rows = released.table->num_rows();
  run->result = Json{{"columns", std::move(columns)}, {"rows", std::move(rows)},
                     {"suppressed_groups", released.suppressed_groups}, {"k", guard_.k()}};
  run->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
  return arrow::Status::OK();
}

arrow::Status AskTools::RunQuery(const Json& arguments, ToolRun* run) const {
  ARROW_RETURN_NOT_OK(OnlyKeys(arguments, {"where", "group_by", "aggregates", "order_by"}));
  ARROW_ASSIGN_OR_RAISE(auto where, Strings(arguments, "where"));
  ARROW_ASSIGN_OR_RAISE(auto group_by, Strings(arguments, "group_by"));
  ARROW_ASSIGN_OR_RAISE(auto aggregates, Strings(arguments, "aggregates"));
  ARROW_ASSIGN_OR_RAISE(auto order_by, Strings(arguments, "order_by"));
  if (aggregates.empty()) aggregates.push_back("count");
  run->query = Json{{"where", where}, {"group_by", group_by}, {"aggregates", aggregates}, {"order_by", order_by}};
  query::QuerySpec spec;
  spec.group_by = group_by;
  for (const auto& text : where) {
    ARROW_RETURN_NOT_OK(guard_.CheckFilterText(text));
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    query::FilterSpec checked = filter;
    ARROW_RETURN_NOT_OK(CheckRegionFilter(filter, text, &checked));
    spec.where.push_back(std::move(checked));
  }
  for (const auto& text : aggregates) {
    ARROW_ASSIGN_OR_RAISE(auto aggregate, query::ParseAggregate(text));
    spec.aggregates.push_back(std::move(aggregate));
  }
  for (const auto& text : order_by) {
    ARROW_ASSIGN_OR_RAISE(auto order, query::ParseOrder(text));
    spec.order_by.push_back(std::move(order));
  }
  return Execute(spec, run);
}

arrow::Status AskTools::RunReport(const Json& arguments, ToolRun* run) const {
  ARROW_RETURN_NOT_OK(OnlyKeys(arguments, {"name", "params"}));
  if (!arguments.contains("name") || !arguments["name"].is_string()) {
    return arrow::Status::Invalid("'name' must be the name of a report");
  }
  const std::string name = arguments["name"];
  auto found = std::find_if(reports_.begin(), reports_.end(), [&](const auto* r) { return r->name == name; });
  if (found == reports_.end()) {
    std::vector<std::string> names;
    for (const auto* report : reports_) names.push_back(report->name);
    return arrow::Status::Invalid("no aggregate report '", name, "' (available: ", Join(names, ", "), ")");
  }
  std::map<std::string, std::string> params;
  Json params_json = Json::object();
  if (arguments.contains("params") && !arguments["params"].is_null()) {
    if (!arguments["params"].is_object()) return arrow::Status::Invalid("'params' must be an object");
    for (const auto& [key, value] : arguments["params"].items()) {
      if (!value.is_string() && !value.is_number_integer()) {
        return arrow::Status::Invalid("parameter '", key, "' must be a string or a whole number");
      }
      params[key] = value.is_string() ? value.get<std::string>() : value.dump();
      params_json[key] = params[key];
    }
  }
  run->query = Json{{"report", name}, {"params", params_json}};
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, ReportQuery(**found, params));
  for (auto& filter : spec.where) {
    query::FilterSpec checked = filter;
    ARROW_RETURN_NOT_OK(CheckRegionFilter(filter, filter.column, &checked));
    filter = std::move(checked);
  }
  return Execute(spec, run);
}

ToolRun AskTools::Run(const ToolCall& call) const {
  ToolRun run;
  run.tool = call.name;
  run.arguments = call.arguments;
  Json arguments = Json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
  arrow::Status status;
  if (arguments.is_discarded() || !arguments.is_object()) {
    status = arrow::Status::Invalid("the arguments are not a JSON object");
  } else if (call.name == "run_query") {
    status = RunQuery(arguments, &run);
  } else if (call.name == "run_report" && !reports_.empty()) {
    status = RunReport(arguments, &run);
  } else {
    status = arrow::Status::Invalid("unknown tool '", call.name, "' (use run_query",
                                    reports_.empty() ? "" : " or run_report", ")");
  }
  if (!status.ok()) {
    run.error = status.message();
    run.result = Json();
    run.rows = 0;
  }
  return run;
}

std::string AskTools::Content(const ToolRun& run) {
  if (!run.error.empty()) return Json{{"error", run.error}}.dump();
  return run.result.dump();
}

}  // namespace memberlake::ai
