#include "server/api_service_impl.h"

#include "model/member_json.h"

namespace memberlake::server {

arrow::Result<ApiResponse> ApiService::Impl::ListMembers(const ApiRequest& request, const Caller& caller,
                                                         AuditNote* note) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region", "where", "order_by", "select", "limit", "offset", "format",
                                           "csv_separator"}));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  note->action = format.is_export ? "member.export" : "member.list";
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  note->scope = scope.ToString();
  ARROW_ASSIGN_OR_RAISE(int64_t limit, IntParam(request, "limit", kDefaultPage, 0, kMaxPage));
  ARROW_ASSIGN_OR_RAISE(int64_t offset, IntParam(request, "offset", 0, 0, 10'000'000));
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, QueryFromParams(request));
  if (!spec.group_by.empty() || !spec.aggregates.empty()) return arrow::Status::Invalid("use /api/query to aggregate");
  if (spec.order_by.empty()) spec.order_by.push_back({"lidnummer", false});
  spec.limit = offset + limit;
  ARROW_ASSIGN_OR_RAISE(spec, policy->AuthorizeQuery(caller.grant, std::move(spec), format.is_export));
  query::QuerySpec count;
  count.where = spec.where;
  count.aggregates.push_back({query::AggregateFn::kCountAll, "", "members"});
  std::string key = "members?" + CanonicalParams(request) + "|" + ViewKey(caller);
  return WithSource(request, key, note, [&](query::MemberSource& source) -> arrow::Result<ApiResponse> {
    ARROW_ASSIGN_OR_RAISE(auto result, source.Run(scope, spec));
    ARROW_ASSIGN_OR_RAISE(auto total, source.Run(scope, count));
    int64_t members = total.table->num_rows() == 0
                          ? 0
                          : std::static_pointer_cast<arrow::Int64Array>(total.table->column(0)->chunk(0))->Value(0);
    result.table = Page(result.table, offset, limit);
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    return Render(request, result, scope, format, "members",
                  Json{{"total", members}, {"offset", offset}, {"limit", limit}});
  });
}

std::optional<std::string> ApiService::Impl::RegionOf(const model::MemberRecord& record) const {
  int index = registry->StoredIndex(registry->partition_field());
  if (index < 0 || static_cast<size_t>(index) >= record.size()) return std::nullopt;
  return record[index];
}

std::string ApiService::Impl::MemberJson(const Caller& caller, const store::StoredMember& member) const {
  model::MemberRecord visible = member.record;
  auto shown = policy->VisibleStoredFields(caller.grant);
  for (size_t i = 0; i < visible.size() && i < shown.size(); ++i) {
    if (!shown[i]) visible[i].reset();
  }
  return model::MemberToJson(*registry, visible, member.version);
}

arrow::Result<ApiResponse> ApiService::Impl::GetMember(const Caller& caller, const std::string& id, AuditNote* note) {
  note->action = "member.read";
  note->target = id;
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  auto member = lease->Get(id);
  if (!member.ok() && !member.status().IsKeyError()) return member.status();
  std::optional<std::string> region = member.ok() ? RegionOf(member->record) : std::nullopt;
  ARROW_RETURN_NOT_OK(policy->AuthorizeMemberRead(caller.grant, id, region));
  note->rows = 1;
  note->data_version = std::to_string(member->version);
  ApiResponse response;
  response.body = MemberJson(caller, *member);
  response.headers.emplace_back("ETag", VersionTag(member->version));
  return response;
}

arrow::Result<ApiResponse> ApiService::Impl::WriteMember(const ApiRequest& request, const Caller& caller, Action action,
                                                         const std::string& id, AuditNote* note) {
  note->action = action == Action::kCreate ? "member.create" : action == Action::kUpdate ? "member.update" : "member.delete";
  note->target = id;
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"version"}));
  store::FieldValues fields;
  int64_t expected = -1;
  if (action != Action::kDelete) {
    ARROW_ASSIGN_OR_RAISE(fields, model::ParseMemberJson(request.body));
    // The version the caller last saw may travel in the body as `_version` (as a read gave it).
    Json doc = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("_version")) {
      if (!doc["_version"].is_number_integer()) return arrow::Status::Invalid("_version must be an integer");
      expected = doc["_version"].get<int64_t>();
    }
  }
  if (action != Action::kCreate) {
    std::string if_match = Header(request, "if-match");
    if (!if_match.empty()) {
      std::string digits;
      for (char c : if_match) if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
      if (digits.empty() || digits.size() > 18) return arrow::Status::Invalid("If-Match must be a member version");
      expected = std::stoll(digits);
    } else if (auto version = OneParam(request, "version")) {
      ARROW_ASSIGN_OR_RAISE(expected, IntParam(request, "version", -1, 0, INT64_MAX));
    }
    if (expected < 0) return arrow::Status::Invalid("give the member version you last read (If-Match header or _version)");
  }
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  std::optional<std::string> current_region;
  if (action != Action::kCreate) {
    auto current = lease->Get(id);
    if (!current.ok() && !current.status().IsKeyError()) return current.status();
    if (current.ok()) current_region = RegionOf(current->record);
  }
  ARROW_RETURN_NOT_OK(policy->AuthorizeMemberWrite(caller.grant, action, id, current_region, fields));
  ApiResponse response;
  if (action == Action::kDelete) {
    ARROW_RETURN_NOT_OK(lease->Delete(id, expected));
    response.status = 204;
    response.content_type.clear();
    note->rows = 1;
    return response;
  }
  store::StoredMember written;
  if (action == Action::kCreate) {
    ARROW_ASSIGN_OR_RAISE(written, lease->Insert(fields));
    response.status = 201;
  } else {
    ARROW_ASSIGN_OR_RAISE(written, lease->Update(id, fields, expected));
  }
  // The policy checked the region as given; the stored (normalised) one must agree.
  auto stored_region = RegionOf(written.record);
  if (!stored_region || !caller.grant.InScope(*stored_region)) {
    return arrow::Status::IOError("stored region outside the caller's scope after a checked write");
  }
  int index = registry->StoredIndex("member_id");
  if (index >= 0 && written.record[index]) note->target = *written.record[index];
  note->rows = 1;
  note->data_version = std::to_string(written.version);
  response.body = MemberJson(caller, written);
  response.headers.emplace_back("ETag", VersionTag(written.version));
  if (action == Action::kCreate) response.headers.emplace_back("Location", "/api/members/" + note->target);
  return response;
}

}  // namespace memberlake::server
