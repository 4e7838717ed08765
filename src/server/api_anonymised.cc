// GET /api/anonymised: the anonymised dataset (transform/anonymisation.h) for external AI
// services and analytics, for roles with export and all regions: k-anonymity holds over every
// released quasi-identifier, so the file is no member's data, but it is built from all
// regions, so a regional role may not have it. Audited: actor, k, l, columns, rows.
#include "server/api_service_impl.h"

#include "transform/anonymisation.h"
#include "transform/anonymisation_summary.h"

namespace memberlake::server {

arrow::Result<ApiResponse> ApiService::Impl::Anonymised(const ApiRequest& request, const Caller& caller,
                                                        AuditNote* note) {
  note->action = "anonymised.export";  // refusals are audited too
  note->target = "anonymised";
  note->scope = "all";
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kExport));
  if (!caller.grant.all_regions) {
    return Forbidden("an anonymised dataset is built from every region: it needs an all-regions role (Regio_All)");
  }
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"k", "l", "columns", "format"}));
  const std::string format_text = OneParam(request, "format").value_or("parquet");
  if (format_text != "parquet" && format_text != "csv" && format_text != "json") {
    return arrow::Status::Invalid("format: '", format_text, "' is not one of parquet, csv, json");
  }
  ARROW_ASSIGN_OR_RAISE(query::ExportFormat format, query::ParseExportFormat(format_text));
  ARROW_ASSIGN_OR_RAISE(auto anonymisation, transform::AnonymisationPolicy::LoadDefault(*registry));
  transform::AnonymiseOptions options;
  ARROW_ASSIGN_OR_RAISE(int64_t k, IntParam(request, "k", anonymisation->default_k(), 2, 1000000));
  ARROW_ASSIGN_OR_RAISE(int64_t l, IntParam(request, "l", anonymisation->default_l(), 1, 64));
  options.k = static_cast<int>(k);
  options.l = static_cast<int>(l);
  options.columns = ListParam(request, "columns");
  ARROW_ASSIGN_OR_RAISE(auto chosen, anonymisation->Choose(options.columns, *registry));
  std::string names;
  for (const auto* column : chosen) names += (names.empty() ? "" : ",") + column->name;
  note->detail = "k=" + std::to_string(k) + " l=" + std::to_string(l) + " columns=" + names;
  std::string key = "anonymised?" + CanonicalParams(request);  // the same file for every allowed caller
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    query::QuerySpec read;
    read.select = transform::AnonymisationPolicy::InputColumns(chosen, false);
    ARROW_ASSIGN_OR_RAISE(auto result, source.Run(query::RegionalScope::All(), read));
    ARROW_ASSIGN_OR_RAISE(auto dataset, transform::Anonymise(*result.table, *registry, *anonymisation, options));
    note->rows = dataset.rows->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    Json summary = transform::AnonymisationSummary(dataset);
    summary["snapshot_id"] = result.snapshot_id;
    ApiResponse response;
    ARROW_ASSIGN_OR_RAISE(std::string rows, query::ExportTable(*dataset.rows, format));
    if (format == query::ExportFormat::kJson) {
      response.body = "{\"summary\":" + summary.dump() + ",\"rows\":" + rows + "}";
      return response;
    }
    response.body = std::move(rows);
    response.content_type = std::string(query::ContentType(format));
    std::string date = result.snapshot_id.substr(0, 8);
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"anonymised" +
                                                             (date.empty() ? "" : "-" + date) + "." +
                                                             std::string(query::FileExtension(format)) + "\"");
    // The account of the file (levels, information lost) travels with it.
    response.headers.emplace_back("X-Memberlake-Anonymisation", summary.dump());
    response.headers.emplace_back("X-Memberlake-Snapshot", result.snapshot_id);
    return response;
  });
}

}  // namespace memberlake::server
