#include "server/privacy_audit.h"

namespace memberlake::server {

AuditEvent ErasureAuditEvent(const jobs::ErasureReport& report, const std::vector<std::string>& roles,
                             const std::vector<std::string>& scope) {
  AuditEvent event;
  event.actor = report.requested_by;
  event.auth = report.auth;
  event.roles = roles;
  event.action = "member.erase";
  event.scope = scope;
  event.rows = report.rows_removed;
  event.target = report.member_pseudonym;
  event.detail = "erasure " + report.erasure_id + (report.resumed ? " (resumed after an interruption)" : "") +
                 ": live store " + (report.store_deleted ? "deleted" : "already without the member") + ", " +
                 std::to_string(report.revised_snapshots.size()) + " snapshot(s) revised, " +
                 std::to_string(report.files_replaced) + " file(s) replaced, " +
                 std::to_string(report.versions_deleted) + " object version(s) deleted" +
                 (report.reason.empty() ? "" : "; reason: " + report.reason);
  return event;
}

AuditEvent RetentionAuditEvent(const jobs::RetentionReport& report, const std::string& actor, const std::string& auth) {
  AuditEvent event;
  event.actor = actor;
  event.auth = auth;
  event.action = report.dry_run ? "retention.dry_run" : "retention.apply";
  event.scope = {"*"};
  event.rows = static_cast<int64_t>(report.members.size());
  event.target = "retention run " + report.run_id;
  event.detail = report.AuditDetail();
  return event;
}

AuditEvent RetentionFailureAuditEvent(bool dry_run, const arrow::Status& error, const std::string& actor,
                                      const std::string& auth) {
  AuditEvent event;
  event.actor = actor;
  event.auth = auth;
  event.action = dry_run ? "retention.dry_run" : "retention.apply";
  event.scope = {"*"};
  event.outcome = "error";
  event.detail = error.message();
  return event;
}

arrow::Result<std::vector<std::string>> AuditEntriesNaming(const AuditLog& log, const std::string& member_id) {
  std::vector<std::string> entries;
  constexpr int64_t kPage = 4096;
  int64_t after = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto records, log.Read(after, kPage));
    for (const AuditRecord& record : records) {
      if (record.event.target == member_id || record.event.detail.find(member_id) != std::string::npos) {
        entries.push_back(AuditLog::ToJson(record));
      }
      after = record.seq;
    }
    if (static_cast<int64_t>(records.size()) < kPage) break;
  }
  return entries;
}

}  // namespace memberlake::server
