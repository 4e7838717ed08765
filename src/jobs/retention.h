// Retention by purpose (docs/privacy.md): rules per status say how many years after a member
// left (their record's last change: updated_at, else created_at) their data is kept, and what
// happens then: `erase` (jobs/erasure.h: the live store and every kept snapshot) or `anonymise`
// (the same erasure, after their contribution was added to the anonymised statistics in
// history/, jobs/retention_statistics.h).
//
// The rules are data: the [retention] section of the server config, which the server's
// lifecycle applies after each generation and `memberlake retention --config` reads too
// (--rule overrides a status's rule). Every run, a dry run too, gives a report whose audit
// detail names members only by their keyed pseudonym.
//
// A run that anonymises writes a small journal (privacy/retention/<run id>.json: the
// pseudonyms it counted) before its statistics and removes it when every erasure is done, so a
// run killed in between neither loses those members from the statistics nor counts them twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "jobs/erasure.h"
#include "lake/lake_storage.h"
#include "model/calendar.h"
#include "model/field_registry.h"
#include "store/member_store.h"

namespace memberlake::jobs {

enum class RetentionAction { kErase, kAnonymise };
std::string_view RetentionActionName(RetentionAction action);

struct RetentionRule {
  std::string status;  // canonical status of the registry
  int years = 0;       // at least 1
  RetentionAction action = RetentionAction::kErase;
};

struct RetentionConfig {
  std::vector<RetentionRule> rules;  // one per status
  bool dry_run = false;              // the lifecycle only reports (and audits) what it would do
  int k = 5;                         // smallest group in the anonymised statistics (>= 2)

  // The [retention] section of a TOML document (other sections are not looked at); no section:
  // no rules. Keys: dry_run, k, rules = [{status, years, action = "erase" | "anonymise"}].
  static arrow::Result<RetentionConfig> FromToml(std::string_view toml_text);
  // STATUS=YEARS or STATUS=YEARS:ACTION (default erase): replaces that status's rule.
  arrow::Status Override(const std::string& text);
  // Every status a canonical status of the registry.
  arrow::Status Validate(const model::FieldRegistry& registry) const;
};

struct RetentionMember {
  std::string member_id;  // for the CLI's dry-run listing; never in the audit detail
  std::string pseudonym;  // empty without a pseudonym key (a dry run may have none)
  std::string status, last_change;
  size_t rule = 0;        // index into RetentionConfig::rules
  bool counted = false;   // anonymise: in this run's statistics (false: an earlier run's)
  ErasureReport erasure;  // not a dry run
};

struct RetentionReport {
  std::string run_id, as_of;
  bool dry_run = false;
  std::vector<RetentionRule> rules;
  std::vector<RetentionMember> members;
  std::string statistics_path;  // empty when nothing was counted
  int64_t statistics_rows = 0;
  // {run_id, as_of, dry_run, rules: [{status, years, action, count, pseudonyms}], statistics}.
  std::string AuditDetail() const;
  // The same with each member's id (the CLI's dry-run answer to its operator).
  std::string ToJson(bool with_member_ids) const;
};

struct RetentionRunOptions {
  model::CivilDate as_of;     // the reference date: explicit, never read from the clock here
  bool dry_run = false;
  ErasureOptions erasure;     // pseudonym key (required unless dry_run), recorder, test hook
  std::string requested_by;   // the erasures' actor
  std::string auth = "retention";
};

// Finds the members due under `config` at options.as_of and, unless dry_run, anonymises or
// erases each. Completes an earlier interrupted run's erasures without counting them again.
arrow::Result<RetentionReport> ApplyRetentionRules(store::MemberStore& store, lake::LakeStorage& lake,
                                                   const RetentionConfig& config, const RetentionRunOptions& options);

}  // namespace memberlake::jobs
