#include "server/api_service_impl.h"

#include <chrono>
#include <functional>
#include <utility>

#include "crypto/sha256.h"
#include "query/address_labels.h"
#include "query/export.h"
#include "query/result_format.h"

namespace memberlake::server {
namespace {

// A JSON answer of more rows than this streams (one piece of rows at a time); smaller ones are
// built whole, so the rendered-answer cache can keep them.
constexpr int64_t kJsonWholeRows = 4096;

// `produced` (a streamed answer) with its body captured for the rendered-answer cache: each
// stream that completes within the cache's entry bound puts the answer under `key`, whole, so
// a repeated export is a lookup. Not after a Clear since `generation` (an erasure meanwhile).
using RenderedCache = query::LruCache<ApiService::Impl::Rendered>;

BodyProducer CaptureForCache(ApiService::Impl::Rendered produced, std::weak_ptr<RenderedCache> cache, std::string key,
                             uint64_t generation) {
  auto inner = std::exchange(produced.response.producer, nullptr);
  auto kept = std::make_shared<const ApiService::Impl::Rendered>(std::move(produced));  // headers, rows, version
  return [inner = std::move(inner), kept, cache = std::move(cache), key = std::move(key),
          generation]() -> arrow::Result<std::unique_ptr<BodySource>> {
    ARROW_ASSIGN_OR_RAISE(auto source, inner());
    auto target = cache.lock();
    if (!target) return source;
    auto complete = [kept, cache, key, generation](std::string body) {
      auto live = cache.lock();
      if (!live) return;
      ApiService::Impl::Rendered whole = *kept;
      whole.response.body = std::move(body);
      const auto bytes = static_cast<int64_t>(whole.response.body.size()) + 512;
      live->Put(key, std::move(whole), bytes, generation);
    };
    return query::Captured(std::move(source), target->max_entry_bytes(), std::move(complete));
  };
}

}  // namespace

arrow::Result<ApiResponse> ApiService::Impl::WithSource(const ApiRequest& request, const std::string& key,
                                                        AuditNote* note, const SourceRun& run) {
  std::optional<store::StorePool::Lease> lease;
  if (stores) {
    ARROW_ASSIGN_OR_RAISE(auto acquired, stores->Acquire());
    lease.emplace(std::move(acquired));
  }
  query::MemberSource source(lake.get(), lease ? lease->get() : nullptr, registry, ReadOpts(), cache.get());
  ARROW_ASSIGN_OR_RAISE(std::string before, source.DataKey());
  std::string etag = "\"" + crypto::Sha256Hex(key + "\n" + before).substr(0, 32) + "\"";
  std::string if_none_match = Header(request, "if-none-match");
  if (!if_none_match.empty() && if_none_match.find(etag) != std::string::npos) {
    ApiResponse not_modified;
    not_modified.status = 304;
    not_modified.content_type.clear();
    not_modified.headers.emplace_back("ETag", etag);
    return not_modified;
  }
  const std::string rendered_key = key + "\n" + before;
  if (rendered) {
    if (auto hit = rendered->Get(rendered_key)) {
      note->rows = hit->rows;
      note->data_version = hit->data_version;
      return hit->response;
    }
  }
  // Computing (or waiting for another request's computation) is a worker's job.
  if (QuickOnlyScope::Active()) return WouldBlock();
  std::promise<arrow::Result<Rendered>> promise;
  {
    std::unique_lock<std::mutex> lock(inflight_mutex);
    auto running = inflight.find(rendered_key);
    if (running != inflight.end()) {
      auto future = running->second;
      lock.unlock();
      ARROW_ASSIGN_OR_RAISE(Rendered shared, future.get());
      note->rows = shared.rows;
      note->data_version = shared.data_version;
      return shared.response;
    }
    inflight.emplace(rendered_key, promise.get_future().share());
  }
  auto compute = [&]() -> arrow::Result<Rendered> {
    const uint64_t cache_generation = rendered ? rendered->generation() : 0;
    ARROW_ASSIGN_OR_RAISE(ApiResponse response, run(source));
    response.headers.emplace_back("Cache-Control", "private, no-cache");
    // Only an answer that certainly came from the data the tag names carries it (and is kept).
    ARROW_ASSIGN_OR_RAISE(std::string after, source.DataKey());
    Rendered result{std::move(response), note->rows, note->data_version};
    if (after == before) {
      result.response.headers.emplace_back("ETag", etag);
      if (rendered && !result.response.producer) {
        rendered->Put(rendered_key, result, static_cast<int64_t>(result.response.body.size()) + 512, cache_generation);
      } else if (rendered && rendered->max_entry_bytes() > 0) {
        // A streamed answer holds its rows, not its text: its text is kept as it streams.
        Rendered meta = result;
        result.response.producer = CaptureForCache(std::move(meta), rendered, rendered_key, cache_generation);
      }
    }
    return result;
  };
  arrow::Result<Rendered> result = arrow::Status::UnknownError("not computed");
  try {
    result = compute();
  } catch (const std::exception& e) {
    result = arrow::Status::UnknownError("exception: ", e.what());
  }
  promise.set_value(result);
  {
    std::lock_guard<std::mutex> lock(inflight_mutex);
    inflight.erase(rendered_key);
  }
  ARROW_ASSIGN_OR_RAISE(Rendered done, std::move(result));
  ApiResponse response = std::move(done.response);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::Render(const ApiRequest& request, const query::QueryResult& result,
                                                    const query::RegionalScope& scope, const ParsedFormat& format,
                                                    const std::string& name, Json extra) {
  ApiResponse response;
  if (format.format == query::ExportFormat::kJson) {
    if (result.table->num_rows() <= kJsonWholeRows) {  // small: rendered here, and cacheable
      ARROW_ASSIGN_OR_RAISE(response.body, query::ResultToJsonDocument(result, scope.ToString(), false, extra.dump()));
      return response;
    }
    // The rows are in memory already; their text is rendered and sent a batch at a time.
    ARROW_ASSIGN_OR_RAISE(std::string head, query::JsonDocumentHead(result, scope.ToString(), false, extra.dump()));
    response.producer = [table = result.table, head]() -> arrow::Result<std::unique_ptr<BodySource>> {
      ARROW_ASSIGN_OR_RAISE(auto rows, query::OpenTableSource(table, query::ExportFormat::kJson));
      return query::Framed(head, std::move(rows), "}");
    };
    return response;
  }
  query::ExportOptions options;
  if (auto separator = OneParam(request, "csv_separator")) {
    if (*separator != ";" && *separator != ",") return arrow::Status::Invalid("csv_separator must be ';' or ','");
    options.csv_separator = (*separator)[0];
  }
  // A result without address columns cannot be labels: a 400, known before anything is sent.
  if (format.format == query::ExportFormat::kPdf) ARROW_RETURN_NOT_OK(query::CheckAddressColumns(*result.table->schema()));
  // Every file format is made piece by piece as it is sent (query::OpenTableSource): CSV, NDJSON
  // a batch of rows, Parquet a row group, XLSX from a temporary file, PDF sheets of labels.
  response.producer = [table = result.table, export_format = format.format, options] {
    return query::OpenTableSource(table, export_format, options);
  };
  response.content_type = std::string(query::ContentType(format.format));
  std::string date = result.snapshot_id.substr(0, 8);
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + (date.empty() ? "" : "-" + date) +
                                                           "." + std::string(query::FileExtension(format.format)) + "\"");
  response.headers.emplace_back("X-Memberlake-Source", result.source);
  response.headers.emplace_back("X-Memberlake-Snapshot", result.snapshot_id);
  response.headers.emplace_back("X-Memberlake-Live-Data-Version", std::to_string(result.live_data_version));
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::RenderPage(const ApiRequest& request, const query::QueryResult& result,
                                                        const query::RegionalScope& scope, const ParsedFormat& format,
                                                        const std::string& name, Json extra, int64_t total,
                                                        const PageRequest& page) {
  const int64_t returned = result.table->num_rows();
  if (!format.is_export) extra.update(PageJson(total, page, returned));
  ARROW_ASSIGN_OR_RAISE(ApiResponse response, Render(request, result, scope, format, name, std::move(extra)));
  if (format.is_export) AddPageHeaders(&response, total, page, returned);
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::ListReports(const Caller& caller) {
  Json reports = Json::array();
  for (const auto& report : catalog->reports()) {
    if (!policy->AuthorizeReport(caller.grant, report, false).ok()) continue;
    reports.push_back(Json{{"name", report.name},
                           {"description", report.description},
                           {"params", report.params},
                           {"audience", report.audience.empty() ? "members" : report.audience},
                           {"export", caller.grant.Can(Action::kExport)}});
  }
  return JsonResponse(200, Json{{"reports", reports}});
}

arrow::Result<ApiResponse> ApiService::Impl::RunReport(const ApiRequest& request, const Caller& caller,
                                                       const std::string& name, AuditNote* note) {
  ARROW_ASSIGN_OR_RAISE(const query::ReportSpec* report, catalog->Find(name));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  std::set<std::string> allowed = {"region", "format", "csv_separator", "year"};
  allowed.insert(report->params.begin(), report->params.end());
  ARROW_RETURN_NOT_OK(OnlyParams(request, allowed));
  ARROW_RETURN_NOT_OK(policy->AuthorizeReport(caller.grant, *report, format.is_export));
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  std::map<std::string, std::string> params;
  for (const auto& param : report->params) {
    if (auto value = OneParam(request, param)) params[param] = *value;
  }
  if (auto year = OneParam(request, "year")) params["year"] = *year;
  const bool personal = report->kind != query::ReportKind::kDistribution &&
                        (report->kind == query::ReportKind::kAlvJubilee || ListsMembers(report->base));
  if (personal || format.is_export) note->action = format.is_export ? "report.export" : "report.read";
  note->target = name;
  note->scope = scope.ToString();
  std::string key = "report/" + name + "?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    auto run = [&](const query::QuerySpec& spec) -> arrow::Result<query::QueryResult> {
      ARROW_RETURN_NOT_OK(policy->CheckColumns(caller.grant, spec));  // every query the report runs
      return source.Run(scope, spec);
    };
    ARROW_ASSIGN_OR_RAISE(auto result, query::ReportCatalog::Run(run, *report, params, Today()));
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    Json param_json = Json::object();
    for (const auto& [k, v] : params) param_json[k] = v;
    return Render(request, result, scope, format, name, Json{{"report", name}, {"params", param_json}});
  });
}

arrow::Result<ApiResponse> ApiService::Impl::AdHocQuery(const ApiRequest& request, const Caller& caller,
                                                        AuditNote* note) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region", "where", "any", "order_by", "select", "group_by", "agg", "having",
                                           "limit", "offset", "format", "csv_separator"}));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, QueryFromParams(request));
  for (const auto& text : Params(request, "any")) {  // the OR group
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.any.push_back(std::move(filter));
  }
  for (const auto& text : Params(request, "having")) {
    ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter(text));
    spec.having.push_back(std::move(filter));
  }
  // The page is cut from the result. Member rows ask the engine for the rows up to the page's
  // end only (ordered: a top-N, not a sort of every row; unordered: the scan stops there) and
  // count the total separately.
  ARROW_ASSIGN_OR_RAISE(PageRequest page, PageParams(request, format, kMaxPage));
  ARROW_ASSIGN_OR_RAISE(spec, policy->AuthorizeQuery(caller.grant, std::move(spec), format.is_export));
  std::optional<query::QuerySpec> count;
  if (ListsMembers(spec) && page.limit) {
    spec.limit = page.offset + *page.limit;
    count.emplace();
    count->where = spec.where;
    count->any = spec.any;
    count->aggregates.push_back({query::AggregateFn::kCountAll, "", "rows"});
  }
  if (ListsMembers(spec) || format.is_export) note->action = format.is_export ? "query.export" : "query.read";
  note->scope = scope.ToString();
  std::string key = "query?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    ARROW_ASSIGN_OR_RAISE(auto result, source.Run(scope, spec));
    int64_t total = result.table->num_rows();
    if (count) {
      ARROW_ASSIGN_OR_RAISE(auto counted, source.Run(scope, *count));
      total = counted.table->num_rows() == 0
                  ? 0
                  : std::static_pointer_cast<arrow::Int64Array>(counted.table->column(0)->chunk(0))->Value(0);
    }
    result.table = Page(result.table, page.offset, page.limit);
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    return RenderPage(request, result, scope, format, "query", Json::object(), total, page);
  });
}

}  // namespace memberlake::server
