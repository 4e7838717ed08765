#include "server/access_policy.h"

#include <algorithm>

#include <toml++/toml.h>

namespace memberlake::server {

extern const std::string_view kDefaultAccessToml;

namespace {

constexpr std::pair<Action, std::string_view> kActionNames[] = {
    {Action::kRead, "read"},     {Action::kExport, "export"},     {Action::kDownload, "download"},
    {Action::kCreate, "create"}, {Action::kUpdate, "update"},     {Action::kUpdateStatus, "update_status"},
    {Action::kDelete, "delete"}, {Action::kGenerate, "generate"}, {Action::kAudit, "audit"},
};

class AccessDetail : public arrow::StatusDetail {
 public:
  explicit AccessDetail(DenialKind kind) : kind_(kind) {}
  const char* type_id() const override { return "memberlake::server::AccessDetail"; }
  std::string ToString() const override {
    return kind_ == DenialKind::kUnauthenticated ? "unauthenticated" : "forbidden";
  }
  DenialKind kind() const { return kind_; }

 private:
  DenialKind kind_;
};

arrow::Status Denial(DenialKind kind, std::string message) {
  return arrow::Status(arrow::StatusCode::Invalid, std::move(message), std::make_shared<AccessDetail>(kind));
}

// The column names a query touches, besides aggregate output names.
std::vector<std::string> NamedColumns(const query::QuerySpec& spec) {
  std::vector<std::string> names = spec.select;
  for (const auto& filter : spec.where) names.push_back(filter.column);
  for (const auto& filter : spec.any) names.push_back(filter.column);
  names.insert(names.end(), spec.group_by.begin(), spec.group_by.end());
  for (const auto& aggregate : spec.aggregates) {
    if (!aggregate.column.empty()) names.push_back(aggregate.column);
  }
  for (const auto& order : spec.order_by) names.push_back(order.column);
  return names;
}

}  // namespace

std::string_view ActionName(Action action) {
  for (const auto& [a, name] : kActionNames) {
    if (a == action) return name;
  }
  return "?";
}

arrow::Status Unauthenticated(std::string message) { return Denial(DenialKind::kUnauthenticated, std::move(message)); }
arrow::Status Forbidden(std::string message) { return Denial(DenialKind::kForbidden, std::move(message)); }

std::optional<DenialKind> DenialOf(const arrow::Status& status) {
  auto detail = std::dynamic_pointer_cast<AccessDetail>(status.detail());
  if (!detail) return std::nullopt;
  return detail->kind();
}

bool AccessGrant::Can(Action action) const {
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

bool AccessGrant::InScope(std::string_view region) const {
  return all_regions || std::find(regions.begin(), regions.end(), region) != regions.end();
}

std::string AccessGrant::ScopeText() const {
  if (all_regions) return "all";
  std::string out;
  for (const auto& region : regions) out += (out.empty() ? "" : ",") + region;
  return out;
}

arrow::Result<std::shared_ptr<const AccessPolicy>> AccessPolicy::LoadString(
    std::string_view toml_text, const std::string& source_name, std::shared_ptr<const model::FieldRegistry> registry) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("access policy ", source_name, ": ", error.description());
  }
  auto policy = std::shared_ptr<AccessPolicy>(new AccessPolicy());
  policy->registry_ = std::move(registry);
  policy->normalizer_ = std::make_shared<model::MemberNormalizer>(policy->registry_);
  if (policy->registry_->Find(policy->registry_->partition_field()) == nullptr) {
    return arrow::Status::Invalid("access policy needs a registry with a region field");
  }
  const toml::table* roles = doc["permission"].as_table();
  if (roles == nullptr) return arrow::Status::Invalid("access policy ", source_name, ": no [permission.<Role>] tables");
  for (const auto& [key, node] : *roles) {
    std::string name(key.str());
    auto fail = [&](auto&&... parts) {
      return arrow::Status::Invalid("access policy ", source_name, ": role ", name, ": ", parts...);
    };
    const toml::table* table = node.as_table();
    if (table == nullptr) return fail("must be a table");
    PermissionRole role;
    if (const toml::array* actions = (*table)["actions"].as_array()) {
      for (const auto& item : *actions) {
        auto text = item.value<std::string>();
        auto known = std::find_if(std::begin(kActionNames), std::end(kActionNames),
                                  [&](const auto& entry) { return text && entry.second == *text; });
        if (known == std::end(kActionNames)) return fail("unknown action '", text.value_or("?"), "'");
        role.actions.push_back(known->first);
      }
    }
    role.restricted = (*table)["restricted"].value_or(false);
    role.reports = (*table)["reports"].value_or(std::string("none"));
    if (role.reports != "all" && role.reports != "communication" && role.reports != "none") {
      return fail("reports must be all, communication or none");
    }
    role.all_regions = (*table)["all_regions"].value_or(false);
    role.needs_region = (*table)["needs_region"].value_or(true);
    for (const auto& [other_key, other] : *table) {
      static const std::vector<std::string_view> known = {"actions", "restricted", "reports", "all_regions", "needs_region"};
      if (std::find(known.begin(), known.end(), other_key.str()) == known.end()) {
        return fail("unknown key '", std::string(other_key.str()), "'");
      }
    }
    policy->permissions_.emplace_back(name, std::move(role));
  }
  return std::shared_ptr<const AccessPolicy>(std::move(policy));
}

arrow::Result<std::shared_ptr<const AccessPolicy>> AccessPolicy::LoadDefault(
    std::shared_ptr<const model::FieldRegistry> registry) {
  return LoadString(kDefaultAccessToml, "built-in config/access.toml", std::move(registry));
}

std::optional<std::string> AccessPolicy::RegionOfRole(std::string_view group) const {
  constexpr std::string_view kPrefix = "Regio_";
  if (group.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = group.substr(kPrefix.size());
  if (rest.empty()) return std::nullopt;
  const model::FieldSpec* region_field = registry_->Find(registry_->partition_field());
  for (const auto& region : region_field->values) {
    if (region == rest || lake::RegionSlug(region) == lake::RegionSlug(rest)) return region;
  }
  return std::nullopt;
}

AccessGrant AccessPolicy::GrantFor(const Principal& principal) const {
  bool all_regions_role = false;
  std::vector<std::string> regions;
  for (const auto& group : principal.groups) {
    if (group == "Regio_All") {
      all_regions_role = true;
    } else if (auto region = RegionOfRole(group)) {
      regions.push_back(*region);
    }
  }
  const bool has_region_role = all_regions_role || !regions.empty();
  AccessGrant grant;
  bool any_role = false;
  for (const auto& group : principal.groups) {
    auto it = std::find_if(permissions_.begin(), permissions_.end(), [&](const auto& p) { return p.first == group; });
    if (it == permissions_.end()) continue;
    const PermissionRole& role = it->second;
    // A permission role grants nothing without a region role, unless it covers every region
    // itself or is not about member data at all.
    if (role.needs_region && !role.all_regions && !has_region_role) continue;
    any_role = true;
    for (Action action : role.actions) {
      if (!grant.Can(action)) grant.actions.push_back(action);
    }
    grant.restricted_fields = grant.restricted_fields || role.restricted;
    grant.all_reports = grant.all_reports || role.reports == "all";
    grant.communication_reports = grant.communication_reports || role.reports != "none";
    grant.all_regions = grant.all_regions || role.all_regions;
  }
  if (!any_role) return AccessGrant();
  grant.all_regions = grant.all_regions || all_regions_role;
  if (!grant.all_regions) {
    std::sort(regions.begin(), regions.end());
    regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
    grant.regions = std::move(regions);
  }
  // Generating writes the full dataset: only an all-regions caller may.
  if (!grant.all_regions) {
    grant.actions.erase(std::remove(grant.actions.begin(), grant.actions.end(), Action::kGenerate), grant.actions.end());
  }
  return grant;
}

arrow::Status AccessPolicy::Require(const AccessGrant& grant, Action action) const {
  if (grant.Can(action)) return arrow::Status::OK();
  return Forbidden("your roles do not allow " + std::string(ActionName(action)));
}

arrow::Result<query::RegionalScope> AccessPolicy::ScopeFor(const AccessGrant& grant,
                                                           const std::vector<std::string>& requested) const {
  if (requested.empty()) {
    if (grant.all_regions) return query::RegionalScope::All();
    if (grant.regions.empty()) return Forbidden("your roles give no region");
    return query::RegionalScope::Regions(*registry_, grant.regions);
  }
  std::vector<std::string> regions;
  for (const auto& text : requested) {
    auto region = RegionOfRole("Regio_" + text);  // the same spellings as region roles
    if (!region) return arrow::Status::Invalid("unknown region '", text, "'");
    if (!grant.InScope(*region)) return Forbidden("region " + *region + " is outside your scope");
    regions.push_back(*region);
  }
  return query::RegionalScope::Regions(*registry_, std::move(regions));
}

bool AccessPolicy::FieldVisible(const AccessGrant& grant, std::string_view column) const {
  const model::FieldSpec* field = registry_->Find(column);
  // Names that are not fields (aggregate outputs) are checked by the query engine.
  return field == nullptr || grant.restricted_fields || field->sensitivity != model::Sensitivity::kRestricted;
}

arrow::Status AccessPolicy::CheckColumns(const AccessGrant& grant, const query::QuerySpec& spec) const {
  for (const auto& column : NamedColumns(spec)) {
    if (!FieldVisible(grant, column)) return Forbidden("field " + column + " is restricted");
  }
  return arrow::Status::OK();
}

arrow::Result<query::QuerySpec> AccessPolicy::AuthorizeQuery(const AccessGrant& grant, query::QuerySpec spec,
                                                             bool is_export) const {
  ARROW_RETURN_NOT_OK(Require(grant, Action::kRead));
  if (is_export) ARROW_RETURN_NOT_OK(Require(grant, Action::kExport));
  if (!grant.all_reports) return Forbidden("your roles allow the communication views only");
  ARROW_RETURN_NOT_OK(CheckColumns(grant, spec));
  if (spec.select.empty() && spec.group_by.empty() && spec.aggregates.empty()) spec.select = VisibleColumns(grant);
  return spec;
}

arrow::Status AccessPolicy::AuthorizeReport(const AccessGrant& grant, const query::ReportSpec& report,
                                            bool is_export) const {
  ARROW_RETURN_NOT_OK(Require(grant, Action::kRead));
  if (is_export) ARROW_RETURN_NOT_OK(Require(grant, Action::kExport));
  const bool allowed = grant.all_reports || (grant.communication_reports && report.audience == "communication");
  if (!allowed) return Forbidden("your roles do not allow the report " + report.name);
  if (report.restricted && !grant.restricted_fields) {
    return Forbidden("the report " + report.name + " shows restricted fields");
  }
  return arrow::Status::OK();
}

std::vector<bool> AccessPolicy::VisibleStoredFields(const AccessGrant& grant) const {
  std::vector<bool> visible;
  for (const auto& field : registry_->stored_fields()) visible.push_back(FieldVisible(grant, field.name));
  return visible;
}

std::vector<std::string> AccessPolicy::VisibleColumns(const AccessGrant& grant) const {
  std::vector<std::string> columns;
  for (const auto& field : registry_->lake_schema()->fields()) {
    if (FieldVisible(grant, field->name())) columns.push_back(field->name());
  }
  return columns;
}

arrow::Status AccessPolicy::AuthorizeMemberRead(const AccessGrant& grant, const std::string& member_id,
                                                const std::optional<std::string>& region) const {
  ARROW_RETURN_NOT_OK(Require(grant, Action::kRead));
  if (!grant.all_reports) return Forbidden("your roles allow the communication views only");
  // Out of scope looks exactly like absent: no hint that the member exists elsewhere.
  auto canonical = CanonicalRegion(region);
  if (!canonical || !grant.InScope(*canonical)) return arrow::Status::KeyError("member ", member_id, " not found");
  return arrow::Status::OK();
}

arrow::Status AccessPolicy::AuthorizeMemberWrite(const AccessGrant& grant, Action action, const std::string& member_id,
                                                 const std::optional<std::string>& current_region,
                                                 const store::FieldValues& changes) const {
  if (action == Action::kUpdate && !grant.Can(Action::kUpdate)) {
    const bool status_only = !changes.empty() && std::all_of(changes.begin(), changes.end(), [](const auto& change) {
      return change.first == "status";
    });
    if (!grant.Can(Action::kUpdateStatus)) return Require(grant, Action::kUpdate);
    if (!status_only) return Forbidden("your roles allow changing the status field only");
  } else {
    ARROW_RETURN_NOT_OK(Require(grant, action));
  }
  if (action != Action::kCreate) {
    auto current = CanonicalRegion(current_region);
    if (!current || !grant.InScope(*current)) {
      return arrow::Status::KeyError("member ", member_id, " not found");
    }
  }
  for (const auto& [name, value] : changes) {
    if (!FieldVisible(grant, name)) return Forbidden("field " + name + " is restricted");
    if (name == registry_->partition_field() && value && !grant.all_regions) {
      // The region the store will keep: the same normaliser maps the spelling.
      auto region = CanonicalRegion(value);
      if (!region || !grant.InScope(*region)) {
        return Forbidden(registry_->partition_field() + " " + *value + " is outside your scope");
      }
    }
  }
  if (action == Action::kCreate && !grant.all_regions) {
    const bool has_region = std::any_of(changes.begin(), changes.end(), [&](const auto& change) {
      return change.first == registry_->partition_field() && change.second;
    });
    if (!has_region) return Forbidden("give a " + registry_->partition_field() + " within your scope");
  }
  return arrow::Status::OK();
}

std::optional<std::string> AccessPolicy::CanonicalRegion(const std::optional<std::string>& text) const {
  if (!text) return std::nullopt;
  auto canonical = normalizer_->NormalizeField(registry_->partition_field(), *text);
  if (!canonical.ok()) return std::nullopt;
  return *canonical;
}

bool AccessPolicy::MaySeeFile(const AccessGrant& grant, const lake::SnapshotFile& file) const {
  if (file.kind == lake::SnapshotFileKind::kRegional) return grant.InScope(file.region);
  return grant.all_regions;
}

}  // namespace memberlake::server
