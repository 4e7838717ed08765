#include "server/api_service_impl.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "model/member_json.h"
#include "query/member_source.h"

namespace memberlake::server {

arrow::Result<ApiResponse> ApiService::Impl::ListMembers(const ApiRequest& request, const Caller& caller,
                                                         AuditNote* note) {
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"region", "where", "order_by", "select", "limit", "offset", "format",
                                           "csv_separator"}));
  ARROW_ASSIGN_OR_RAISE(ParsedFormat format, FormatParam(request));
  note->action = format.is_export ? "member.export" : "member.list";
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, Params(request, "region")));
  note->scope = scope.ToString();
  ARROW_ASSIGN_OR_RAISE(PageRequest page, PageParams(request, format, kDefaultPage));
  ARROW_ASSIGN_OR_RAISE(query::QuerySpec spec, QueryFromParams(request));
  if (!spec.group_by.empty() || !spec.aggregates.empty()) return arrow::Status::Invalid("use /api/query to aggregate");
  if (spec.order_by.empty()) spec.order_by.push_back({"lidnummer", false});
  if (page.limit) spec.limit = page.offset + *page.limit;
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
    result.table = Page(result.table, page.offset, page.limit);
    note->rows = result.table->num_rows();
    note->data_version = std::to_string(result.data_version) + "+live:" + std::to_string(result.live_data_version);
    return RenderPage(request, result, scope, format, "members", Json::object(), members, page);
  });
}

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The club's member ids are lower-case UUID v4 (domain.md): 8-4-4-4-12 hex digits, version 4,
// variant 8, 9, a or b. Nothing else can name a member, so nothing else reaches the store.
bool IsMemberId(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !IsLowerHex(id[i])) return false;
  }
  return id[14] == '4' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

arrow::Status CheckMemberId(const std::string& id, const char* where) {
  if (IsMemberId(id)) return arrow::Status::OK();
  return arrow::Status::Invalid("member_id", where, ": expected a lower-case UUID v4 ",
                                "(like 3f2b8c1e-9d4a-4e7b-8c21-5a6f7e8d9c0b)");
}

constexpr int64_t kMaxLidnummer = 999'999'999;

std::optional<std::string> GivenValue(const store::FieldValues& fields, const std::string& name) {
  std::optional<std::string> value;
  for (const auto& [field, text] : fields) {
    if (field == name) value = text;
  }
  return value;
}

// The version the caller last read: If-Match, ?version= or `_version` in the body.
arrow::Result<int64_t> ExpectedVersion(const ApiRequest& request, int64_t from_body) {
  int64_t expected = from_body;
  std::string if_match = Header(request, "if-match");
  if (!if_match.empty()) {
    std::string digits;
    for (char c : if_match) if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    if (digits.empty() || digits.size() > 18) return arrow::Status::Invalid("If-Match must be a member version");
    expected = std::stoll(digits);
  } else if (OneParam(request, "version")) {
    ARROW_ASSIGN_OR_RAISE(expected, IntParam(request, "version", -1, 0, INT64_MAX));
  }
  if (expected < 0) return arrow::Status::Invalid("give the member version you last read (If-Match header or _version)");
  return expected;
}

}  // namespace

// An id in a path names a member that exists, possibly written by another of the club's
// programs with an id of its own making: those stay reachable when they keep to a safe
// alphabet (letters, digits, '-', '_', '.', ':'; not starting with '.'; at most 128), which
// holds no path separator, traversal or control character. New ids must be UUID v4.
arrow::Status CheckPathMemberId(const std::string& id) {
  const bool safe = !id.empty() && id.size() <= 128 && id.front() != '.' &&
                    std::all_of(id.begin(), id.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
                    });
  if (safe) return arrow::Status::OK();
  return arrow::Status::Invalid("member_id in the path: expected a member id (a UUID, or letters, digits, '-', '_', "
                                "'.', ':'; at most 128)");
}

// The stored text as is; the policy normalises it (legacy rows keep old spellings).
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
  ARROW_RETURN_NOT_OK(CheckPathMemberId(id));
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

arrow::Status ApiService::Impl::CheckMemberValues(const store::FieldValues& fields) const {
  if (auto id = GivenValue(fields, "member_id")) {
    ARROW_RETURN_NOT_OK(CheckMemberId(*id, ""));
  }
  if (auto number = GivenValue(fields, "lidnummer")) {
    ARROW_ASSIGN_OR_RAISE(auto canonical, normalizer->NormalizeField("lidnummer", *number));
    if (canonical) {
      int64_t value = 0;
      auto [end, ec] = std::from_chars(canonical->data(), canonical->data() + canonical->size(), value);
      if (ec != std::errc() || end != canonical->data() + canonical->size() || value < 1 || value > kMaxLidnummer) {
        return arrow::Status::Invalid("lidnummer: expected a whole number from 1 to ", kMaxLidnummer, ", got '",
                                      *number, "'");
      }
    }
  }
  return arrow::Status::OK();
}

// Member ids and numbers are normally chosen by the store. A caller limited to regions may
// name one only when it is already that of a member in its own scope (the store's 409 then
// tells it nothing new). Any other value gets one 403 that does not depend on whether a
// member of another region holds it, so a create or an update cannot probe other regions.
arrow::Status ApiService::Impl::CheckChosenIdentity(const Caller& caller, store::MemberStore& store,
                                                     const store::FieldValues& fields,
                                                     const std::optional<store::StoredMember>& current) {
  if (caller.grant.all_regions) return arrow::Status::OK();
  auto refused = [](const char* field) {
    return Forbidden(std::string(field) + ": only an all-regions administrator may choose it; leave it out");
  };
  if (auto id = GivenValue(fields, "member_id"); id && !current) {
    auto holder = store.Get(*id);
    if (!holder.ok() && !holder.status().IsKeyError()) return holder.status();
    if (!holder.ok() || !policy->AuthorizeMemberRead(caller.grant, *id, RegionOf(holder->record)).ok()) {
      return refused("member_id");
    }
  }
  auto number = GivenValue(fields, "lidnummer");
  if (!number) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto canonical, normalizer->NormalizeField("lidnummer", *number));
  if (!canonical) return arrow::Status::OK();  // clearing the number reveals nothing
  int index = registry->StoredIndex("lidnummer");
  if (current && index >= 0 && current->record[index]) {
    auto kept = normalizer->NormalizeField("lidnummer", *current->record[index]);
    if (kept.ok() && *kept == canonical) return arrow::Status::OK();  // unchanged (a whole-form PUT)
  }
  ARROW_ASSIGN_OR_RAISE(auto scope, policy->ScopeFor(caller.grant, {}));
  query::QuerySpec holders;
  ARROW_ASSIGN_OR_RAISE(auto filter, query::ParseFilter("lidnummer=" + *canonical));
  holders.where.push_back(std::move(filter));
  holders.select = {"member_id"};
  query::MemberSource source(lake.get(), &store, registry, ReadOpts(), cache.get());
  ARROW_ASSIGN_OR_RAISE(auto in_scope, source.Run(scope, holders));
  return in_scope.table->num_rows() > 0 ? arrow::Status::OK() : refused("lidnummer");
}

arrow::Result<ApiResponse> ApiService::Impl::WriteMember(const ApiRequest& request, const Caller& caller, Action action,
                                                         const std::string& id, AuditNote* note) {
  note->action = action == Action::kCreate ? "member.create" : action == Action::kUpdate ? "member.update" : "member.delete";
  note->target = id;
  if (action != Action::kCreate) ARROW_RETURN_NOT_OK(CheckPathMemberId(id));
  if (!stores) return arrow::Status::NotImplemented("no live store configured");
  ARROW_RETURN_NOT_OK(OnlyParams(request, {"version"}));
  store::FieldValues fields;
  int64_t expected = -1;
  if (action != Action::kDelete) {
    ARROW_ASSIGN_OR_RAISE(fields, model::ParseMemberJson(request.body));
    ARROW_RETURN_NOT_OK(CheckMemberValues(fields));
    // The version the caller last saw may travel in the body as `_version` (as a read gave it).
    Json doc = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("_version")) {
      if (!doc["_version"].is_number_integer()) return arrow::Status::Invalid("_version must be an integer");
      expected = doc["_version"].get<int64_t>();
    }
  }
  if (action != Action::kCreate) {
    ARROW_ASSIGN_OR_RAISE(expected, ExpectedVersion(request, expected));
  }
  ARROW_ASSIGN_OR_RAISE(auto lease, stores->Acquire());
  std::optional<store::StoredMember> current;
  if (action != Action::kCreate) {
    auto found = lease->Get(id);
    if (!found.ok() && !found.status().IsKeyError()) return found.status();
    if (found.ok()) current = std::move(*found);
  }
  // Everything is authorised before anything is written: the policy normalises regions by the
  // store's own rules, so the region it checks is the region the store keeps.
  std::optional<std::string> current_region = current ? RegionOf(current->record) : std::nullopt;
  ARROW_RETURN_NOT_OK(policy->AuthorizeMemberWrite(caller.grant, action, id, current_region, fields));
  ARROW_RETURN_NOT_OK(CheckChosenIdentity(caller, *lease, fields, current));
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
