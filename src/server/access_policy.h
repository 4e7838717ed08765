// The one place that decides access. Every endpoint (and every route to member data: API,
// reports, queries, file downloads, generation, audit) asks the AccessPolicy; none filters
// rows or fields by itself. The policy is data (config/access.toml, compiled in as the
// default): which actions each permission role has, whether it sees restricted fields, which
// reports it may run; region roles give the scope.
//
// Denials are arrow::Status values carrying an AccessDetail, mapped to 401/403 at the HTTP
// edge. Their messages never mention another region's members: a member outside the
// caller's scope is reported exactly like a member that does not exist (KeyError).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "lake/snapshot_manifest.h"
#include "model/field_registry.h"
#include "model/member_normalizer.h"
#include "query/query.h"
#include "query/report_catalog.h"
#include "server/principal.h"
#include "store/member_store.h"

namespace memberlake::server {

enum class Action { kRead, kExport, kDownload, kCreate, kUpdate, kUpdateStatus, kDelete, kGenerate, kAudit };
std::string_view ActionName(Action action);

// Why a request was refused: no usable credential (401) or not allowed (403).
enum class DenialKind { kUnauthenticated, kForbidden };
arrow::Status Unauthenticated(std::string message);
arrow::Status Forbidden(std::string message);
// The denial kind of a status made above, or nullopt for any other status.
std::optional<DenialKind> DenialOf(const arrow::Status& status);

// What one caller may do, derived from its groups. Immutable; cheap to copy.
struct AccessGrant {
  std::vector<Action> actions;
  bool all_regions = false;
  std::vector<std::string> regions;  // the registry's canonical names; empty when all_regions
  bool restricted_fields = false;
  bool all_reports = false;          // false: communication reports only (or none)
  bool communication_reports = false;

  bool Can(Action action) const;
  bool InScope(std::string_view region) const;
  // "all" or the regions joined by ','; for audit entries and logs.
  std::string ScopeText() const;
};

class AccessPolicy {
 public:
  static arrow::Result<std::shared_ptr<const AccessPolicy>> LoadString(
      std::string_view toml_text, const std::string& source_name,
      std::shared_ptr<const model::FieldRegistry> registry);
  static arrow::Result<std::shared_ptr<const AccessPolicy>> LoadDefault(
      std::shared_ptr<const model::FieldRegistry> registry);

  // The caller's grant. Unknown groups are ignored; a permission role without a region role
  // (and without all_regions / needs_region = false) contributes nothing.
  AccessGrant GrantFor(const Principal& principal) const;

  // Forbidden unless the grant has `action`.
  arrow::Status Require(const AccessGrant& grant, Action action) const;

  // The scope of a request: the caller's regions, narrowed to `requested` when given. A
  // requested region outside the caller's scope is Forbidden, an unknown one Invalid.
  arrow::Result<query::RegionalScope> ScopeFor(const AccessGrant& grant,
                                               const std::vector<std::string>& requested) const;

  // An ad-hoc query (member API list, /api/query): needs read (and export for file formats)
  // and the member-data views (not communication-only). Every column it names must be
  // visible; an empty select becomes the visible columns. Returns the query to run.
  arrow::Result<query::QuerySpec> AuthorizeQuery(const AccessGrant& grant, query::QuerySpec spec,
                                                 bool is_export) const;
  // A report: read (export for file formats), the report's audience. Its queries are then
  // checked one by one with CheckColumns (ReportCatalog::Run calls back per query).
  arrow::Status AuthorizeReport(const AccessGrant& grant, const query::ReportSpec& report, bool is_export) const;
  // Forbidden naming the first column of `spec` the grant may not see.
  arrow::Status CheckColumns(const AccessGrant& grant, const query::QuerySpec& spec) const;

  // Fields of a member record the grant may see (by stored-field index of the registry).
  std::vector<bool> VisibleStoredFields(const AccessGrant& grant) const;
  // The lake columns the grant may see, in lake-schema order.
  std::vector<std::string> VisibleColumns(const AccessGrant& grant) const;

  // The canonical region of a region text as stored or given (legacy spellings such as
  // 'utrecht ' or 'noord holland' included), by the member normaliser's rules, so that every
  // check compares what the lake holds; nullopt when the text names no region.
  std::optional<std::string> CanonicalRegion(const std::optional<std::string>& text) const;

  // Reading one live member: KeyError("member X not found") unless its region (the stored
  // text; normalised here) is in scope and the grant may use the member API.
  arrow::Status AuthorizeMemberRead(const AccessGrant& grant, const std::string& member_id,
                                    const std::optional<std::string>& region) const;
  // A write: create/update/delete (update_status allows changing `status` alone); restricted
  // fields need restricted access; the member's current region (update, delete; the stored
  // text, normalised here) and its new region (create, or an update that moves it; normalised
  // exactly as the store will keep it) must be in scope. `current_region` is nullopt for create.
  // Called before anything is written.
  arrow::Status AuthorizeMemberWrite(const AccessGrant& grant, Action action, const std::string& member_id,
                                     const std::optional<std::string>& current_region,
                                     const store::FieldValues& changes) const;

  // Snapshot files: a regional file needs its region in scope, the full dataset and the
  // filtered views (all regions) need an all-regions grant.
  bool MaySeeFile(const AccessGrant& grant, const lake::SnapshotFile& file) const;

  const model::FieldRegistry& registry() const { return *registry_; }

 private:
  struct PermissionRole {
    std::vector<Action> actions;
    bool restricted = false;
    std::string reports;  // all | communication | none
    bool all_regions = false;
    bool needs_region = true;
  };
  std::optional<std::string> RegionOfRole(std::string_view group) const;
  bool FieldVisible(const AccessGrant& grant, std::string_view column) const;

  std::shared_ptr<const model::FieldRegistry> registry_;
  std::shared_ptr<const model::MemberNormalizer> normalizer_;  // the store's rules, for regions
  std::vector<std::pair<std::string, PermissionRole>> permissions_;
};

}  // namespace memberlake::server
