#include "server/api_service_impl.h"

#include <algorithm>

#include "query/export.h"

namespace memberlake::server {

arrow::Result<ApiResponse> ApiService::Impl::ListSnapshots(const Caller& caller) {
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kRead));
  if (!caller.grant.all_reports) return Forbidden("your roles allow the communication views only");
  if (!lake) return arrow::Status::NotImplemented("no lake configured");
  ARROW_ASSIGN_OR_RAISE(auto ids, lake::ListSnapshotIds(*lake));
  std::string current;
  if (auto manifest = lake::ReadCurrentManifest(*lake); manifest.ok()) current = manifest->snapshot_id;
  Json snapshots = Json::array();
  for (const auto& id : ids) {
    auto manifest = lake::ReadManifest(*lake, id);
    if (!manifest.ok()) continue;  // a manifest being written or damaged: not listed
    Json files = Json::array();
    int64_t rows_in_scope = 0;
    for (const auto& file : manifest->files) {
      if (!policy->MaySeeFile(caller.grant, file)) continue;
      const char* kind = file.kind == lake::SnapshotFileKind::kFull ? "full"
                         : file.kind == lake::SnapshotFileKind::kRegional ? "regional" : "view";
      files.push_back(Json{{"path", file.path}, {"kind", kind}, {"region", file.region}, {"view", file.view},
                           {"rows", file.rows}, {"bytes", file.bytes}, {"sha256", file.sha256},
                           {"url", "/api/snapshots/" + id + "/files/" + file.path}});
      // The full dataset holds every member once and the regional files split it: an
      // all-regions caller counts the one, a regional caller the regional files it may see.
      const auto counted = caller.grant.all_regions ? lake::SnapshotFileKind::kFull : lake::SnapshotFileKind::kRegional;
      if (file.kind == counted) rows_in_scope += file.rows;
    }
    Json entry = {{"snapshot_id", id}, {"current", id == current}, {"generated_at", manifest->generated_at},
                  {"data_version", manifest->data_version}, {"as_of", manifest->as_of},
                  {"schema_version", manifest->schema_version}, {"members_in_scope", rows_in_scope}, {"files", files}};
    // Totals and the quarantine (raw bad values of every region) only for all-regions callers.
    if (caller.grant.all_regions) {
      entry["members"] = manifest->members;
      entry["quarantined"] = manifest->quarantined;
    }
    snapshots.push_back(std::move(entry));
  }
  return JsonResponse(200, Json{{"current", current}, {"snapshots", snapshots}});
}

arrow::Result<ApiResponse> ApiService::Impl::Download(const ApiRequest& request, const Caller& caller,
                                                      const std::string& id, const std::string& path, AuditNote* note) {
  note->action = "snapshot.download";
  note->target = id + "/" + path;
  ARROW_RETURN_NOT_OK(OnlyParams(request, {}));
  ARROW_RETURN_NOT_OK(policy->Require(caller.grant, Action::kDownload));
  if (!caller.grant.all_reports) return Forbidden("your roles allow the communication views only");
  if (!lake) return arrow::Status::NotImplemented("no lake configured");
  if (!SafeId(id)) return arrow::Status::KeyError("no snapshot ", id);
  auto manifest = lake::ReadManifest(*lake, id);
  if (!manifest.ok()) return arrow::Status::KeyError("no snapshot ", id);
  // Only files the manifest lists can be named, so no path escapes the lake; a file outside
  // the caller's scope is reported like a file that does not exist.
  auto file = std::find_if(manifest->files.begin(), manifest->files.end(),
                           [&](const lake::SnapshotFile& f) { return f.path == path; });
  if (file == manifest->files.end() || !policy->MaySeeFile(caller.grant, *file)) {
    return arrow::Status::KeyError("no file ", path, " in snapshot ", id);
  }
  note->scope = file->kind == lake::SnapshotFileKind::kRegional ? file->region : "all";
  note->data_version = std::to_string(manifest->data_version);
  ApiResponse response;
  response.content_type = "application/vnd.apache.parquet";
  std::string name = path.substr(path.rfind('/') + 1);
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  const bool whole = caller.grant.restricted_fields;
  std::string etag = "\"" + file->sha256.substr(0, 32) + (whole ? "" : "-p") + "\"";
  response.headers.emplace_back("ETag", etag);
  if (Header(request, "if-none-match").find(etag) != std::string::npos) {
    response.status = 304;
    response.body.clear();
    response.content_type.clear();
    note->action.clear();  // nothing was sent
    return response;
  }
  note->rows = file->rows;
  if (whole) {
    // Streamed from the lake a piece at a time; opened here so a missing file is still a 404/500
    // before any header goes out.
    ARROW_ASSIGN_OR_RAISE(auto input, lake->OpenForRead(path));
    response.producer = [input]() -> arrow::Result<std::unique_ptr<BodySource>> { return query::OpenFileSource(input); };
    return response;
  }
  // Roles without restricted access get the same file without the restricted columns: a new
  // Parquet file, made as it is sent, a row group at a time from the stored file.
  ARROW_ASSIGN_OR_RAISE(auto input, lake->OpenForRead(path));
  response.producer = [input, columns = policy->VisibleColumns(caller.grant)] {
    return query::OpenProjectedParquet(input, columns);
  };
  note->detail = "restricted columns removed";
  return response;
}

}  // namespace memberlake::server
