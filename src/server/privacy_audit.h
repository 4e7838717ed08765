// The audit side of the privacy rights (docs/privacy.md), shared by the CLI and the API: the
// entry an erasure leaves (the member named only by their keyed pseudonym, never their data),
// and the entries that name a member, for their subject access export.
#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

#include "jobs/erasure.h"
#include "jobs/retention.h"
#include "server/audit_log.h"

namespace memberlake::server {

// action "member.erase", target the pseudonym, detail the counts (snapshots, files, rows,
// object versions) and whether it was resumed; actor and auth from the report, `roles` and
// `scope` those of the caller ({} and {"*"} for the CLI).
AuditEvent ErasureAuditEvent(const jobs::ErasureReport& report, const std::vector<std::string>& roles,
                             const std::vector<std::string>& scope);

// One run of the retention rules: action "retention.apply" (or "retention.dry_run"), target
// "retention run <id>", rows the members due, detail RetentionReport::AuditDetail() (rules,
// counts, keyed pseudonyms; never an id or other personal data). Each erasure of the run has
// its own "member.erase" entry besides.
AuditEvent RetentionAuditEvent(const jobs::RetentionReport& report, const std::string& actor, const std::string& auth);
// The same action for a run that failed: outcome "error", detail the error's message.
AuditEvent RetentionFailureAuditEvent(bool dry_run, const arrow::Status& error, const std::string& actor,
                                      const std::string& auth);

// Every entry (as stored, one JSON object each) whose target or detail names `member_id`.
arrow::Result<std::vector<std::string>> AuditEntriesNaming(const AuditLog& log, const std::string& member_id);

}  // namespace memberlake::server
