#include "query/report_catalog.h"

#include <algorithm>
#include <charconv>

#include <arrow/compute/api.h>

#include <toml++/toml.h>

#include "query/analytics.h"

namespace memberlake::query {

extern const std::string_view kDefaultReportsToml;

namespace {

std::vector<std::string> Strings(const toml::table& table, const char* key) {
  std::vector<std::string> out;
  if (const toml::array* array = table[key].as_array()) {
    for (const auto& item : *array) {
      if (auto text = item.value<std::string>()) out.push_back(*text);
    }
  }
  return out;
}

// Replaces every {name} by its value; unknown or missing names are errors.
arrow::Result<std::string> Substitute(const std::string& text, const ReportSpec& report,
                                      const std::map<std::string, std::string>& params) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') {
      out.push_back(text[i]);
      continue;
    }
    size_t close = text.find('}', i);
    if (close == std::string::npos) return arrow::Status::Invalid("report ", report.name, ": unclosed '{' in '", text, "'");
    std::string name = text.substr(i + 1, close - i - 1);
    auto it = params.find(name);
    if (it == params.end()) {
      return arrow::Status::Invalid("report ", report.name, " needs the parameter '", name, "' (--param ", name, "=...)");
    }
    out += it->second;
    i = close;
  }
  return out;
}

}  // namespace

arrow::Result<std::shared_ptr<const ReportCatalog>> ReportCatalog::LoadString(
    std::string_view toml_text, const std::string& source_name, const model::FieldRegistry& registry) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("reports ", source_name, ": line ", error.source().begin.line, ": ",
                                  error.description());
  }
  auto catalog = std::make_shared<ReportCatalog>();
  const toml::array* reports = doc["report"].as_array();
  if (reports == nullptr) return arrow::Status::Invalid("reports ", source_name, ": no [[report]] entries");
  for (const auto& node : *reports) {
    const toml::table* table = node.as_table();
    if (table == nullptr) return arrow::Status::Invalid("reports ", source_name, ": entries must be tables");
    ReportSpec report;
    report.name = (*table)["name"].value_or(std::string());
    auto fail = [&](const arrow::Status& status) {
      return arrow::Status::Invalid("reports ", source_name, ": report '", report.name, "': ", status.message());
    };
    if (report.name.empty()) return arrow::Status::Invalid("reports ", source_name, ": a report without a name");
    report.description = (*table)["description"].value_or(std::string());
    std::string kind = (*table)["kind"].value_or(std::string("query"));
    if (kind == "query") report.kind = ReportKind::kQuery;
    else if (kind == "distribution") report.kind = ReportKind::kDistribution;
    else if (kind == "alv_jubilee") report.kind = ReportKind::kAlvJubilee;
    else return fail(arrow::Status::Invalid("unknown kind '", kind, "' (query, distribution, alv_jubilee)"));
    report.column = (*table)["column"].value_or(std::string());
    if (report.kind == ReportKind::kDistribution) {
      const model::FieldSpec* measured = registry.Find(report.column);
      if (measured == nullptr || measured->type != model::FieldType::kInteger) {
        return fail(arrow::Status::Invalid("a distribution needs an integer 'column'"));
      }
    }
    report.restricted = (*table)["restricted"].value_or(false);
    report.audience = (*table)["audience"].value_or(std::string());
    if (!report.audience.empty() && report.audience != "communication") {
      return fail(arrow::Status::Invalid("unknown audience '", report.audience, "' (communication)"));
    }
    report.params = Strings(*table, "params");
    report.where = Strings(*table, "where");
    report.base.select = Strings(*table, "select");
    report.base.group_by = Strings(*table, "group_by");
    for (const auto& text : Strings(*table, "aggregates")) {
      auto aggregate = ParseAggregate(text);
      if (!aggregate.ok()) return fail(aggregate.status());
      report.base.aggregates.push_back(*aggregate);
    }
    for (const auto& text : Strings(*table, "order_by")) {
      auto order = ParseOrder(text);
      if (!order.ok()) return fail(order.status());
      report.base.order_by.push_back(*order);
    }
    if (auto limit = (*table)["limit"].value<int64_t>()) report.base.limit = *limit;
    // Check the report now with placeholder parameters, so a broken catalog fails at load.
    std::map<std::string, std::string> placeholders;
    for (const auto& name : report.params) placeholders[name] = "1";
    auto spec = Instantiate(report, placeholders);
    if (!spec.ok()) return fail(spec.status());
    auto names_ok = [&](const std::vector<std::string>& names) -> arrow::Status {
      for (const auto& name : names) {
        if (registry.Find(name) == nullptr) return arrow::Status::Invalid("unknown column '", name, "'");
      }
      return arrow::Status::OK();
    };
    if (auto status = names_ok(spec->select); !status.ok()) return fail(status);
    for (const auto& filter : spec->where) {
      if (registry.Find(filter.column) == nullptr) return fail(arrow::Status::Invalid("unknown column '", filter.column, "'"));
    }
    if (auto status = names_ok(spec->group_by); !status.ok()) return fail(status);
    if (std::any_of(catalog->reports_.begin(), catalog->reports_.end(),
                    [&](const ReportSpec& other) { return other.name == report.name; })) {
      return fail(arrow::Status::Invalid("duplicate report name"));
    }
    catalog->reports_.push_back(std::move(report));
  }
  return std::shared_ptr<const ReportCatalog>(std::move(catalog));
}

arrow::Result<std::shared_ptr<const ReportCatalog>> ReportCatalog::LoadDefault(const model::FieldRegistry& registry) {
  return LoadString(kDefaultReportsToml, "built-in config/reports.toml", registry);
}

arrow::Result<const ReportSpec*> ReportCatalog::Find(const std::string& name) const {
  for (const auto& report : reports_) {
    if (report.name == name) return &report;
  }
  std::string known;
  for (const auto& report : reports_) known += (known.empty() ? "" : ", ") + report.name;
  return arrow::Status::KeyError("unknown report '", name, "' (reports: ", known, ")");
}

arrow::Result<QuerySpec> ReportCatalog::Instantiate(const ReportSpec& report,
                                                    const std::map<std::string, std::string>& params) {
  for (const auto& [name, value] : params) {
    if (std::find(report.params.begin(), report.params.end(), name) == report.params.end()) {
      return arrow::Status::Invalid("report ", report.name, " has no parameter '", name, "'");
    }
  }
  QuerySpec spec = report.base;
  for (const std::string& text : report.where) {
    ARROW_ASSIGN_OR_RAISE(std::string filled, Substitute(text, report, params));
    ARROW_ASSIGN_OR_RAISE(auto filter, ParseFilter(filled));
    spec.where.push_back(std::move(filter));
  }
  return spec;
}

arrow::Result<QueryResult> ReportCatalog::Run(const QueryRunner& run, const ReportSpec& report,
                                              const std::map<std::string, std::string>& params,
                                              model::CivilDate today) {
  ARROW_ASSIGN_OR_RAISE(QuerySpec spec, Instantiate(report, params));
  switch (report.kind) {
    case ReportKind::kQuery:
      return run(spec);
    case ReportKind::kDistribution: {
      std::vector<std::string> groups = spec.group_by;
      spec.select = groups;
      spec.select.push_back(report.column);
      spec.group_by.clear();
      spec.aggregates.clear();
      spec.order_by.clear();
      ARROW_ASSIGN_OR_RAISE(QueryResult result, run(spec));
      ARROW_ASSIGN_OR_RAISE(result.table, Distribution(*result.table, report.column, groups));
      return result;
    }
    case ReportKind::kAlvJubilee: {
      auto it = params.find("year");
      if (it == params.end()) return arrow::Status::Invalid("report ", report.name, " needs a year (--year Y)");
      int year = 0;
      auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), year);
      if (ec != std::errc() || end != it->second.data() + it->second.size()) {
        return arrow::Status::Invalid("year: '", it->second, "' is not a year");
      }
      if (year < today.year - 3 || year > today.year + 3) {
        return arrow::Status::Invalid("year ", year, " is outside ", today.year - 3, "..", today.year + 3);
      }
      if (std::find(spec.select.begin(), spec.select.end(), "ingangsdatum") == spec.select.end()) {
        spec.select.push_back("ingangsdatum");
      }
      ARROW_ASSIGN_OR_RAISE(QueryResult result, run(spec));
      ARROW_ASSIGN_OR_RAISE(auto jubilees, AlvJubilees(*result.table, year));
      namespace cp = arrow::compute;
      cp::SortOptions order({cp::SortKey("jaren_op_alv", cp::SortOrder::Descending), cp::SortKey("lidnummer")});
      ARROW_ASSIGN_OR_RAISE(auto indices, cp::SortIndices(arrow::Datum(jubilees), order));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, cp::Take(jubilees, indices));
      result.table = sorted.table();
      return result;
    }
  }
  return arrow::Status::Invalid("unknown report kind");
}

}  // namespace memberlake::query
