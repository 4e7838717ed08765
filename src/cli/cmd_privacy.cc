// erase, subject-export, retention: the privacy rights across the whole lake (docs/privacy.md).
#include "cli/commands.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "jobs/erasure.h"
#include "jobs/retention.h"
#include "lake/lake_storage.h"
#include "server/api_request.h"
#include "server/audit_log.h"
#include "server/privacy_audit.h"

namespace memberlake::cli {
namespace {

struct PrivacyCliOptions {
  std::string member, store, lake, audit_log, out, as_of, config;
  std::string audit_key_env;
  std::string pseudonym_key_env = "MEMBERLAKE_PSEUDONYM_KEY";
  std::string reason = "subject request";
  std::vector<std::string> rules;       // retention: STATUS=YEARS[:ACTION]
  std::vector<std::string> test_steps;  // hidden: STEP[@N|@*]=crash|pause:MS
  bool yes = false, json = false, dry_run = false;
};

arrow::Result<std::string> SecretFromEnv(const std::string& variable, const char* what) {
  if (variable.empty()) return std::string();
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || std::string_view(value).size() < 16) {
    return arrow::Status::Invalid(what, ": the variable ", variable, " is not set to a key of at least 16 characters");
  }
  return std::string(value);
}

std::string OsUser() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "unknown";
}

// The hidden test hook: stop the process as kill -9 would, or pause, at a named step (the
// N-th time it is reached; first by default). For the interruption tests of test_privacy.py.
arrow::Result<jobs::ErasureStepHook> TestHook(const std::vector<std::string>& specs) {
  struct Action {
    std::string step;
    int nth = 1;
    bool crash = false;
    int pause_ms = 0;
  };
  auto actions = std::make_shared<std::vector<Action>>();
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos) return arrow::Status::Invalid("--test-step: expected STEP[@N]=crash|pause:MS");
    Action action;
    action.step = spec.substr(0, eq);
    if (auto at = action.step.find('@'); at != std::string::npos) {
      action.nth = action.step.substr(at + 1) == "*" ? 0 : std::atoi(action.step.c_str() + at + 1);  // 0: every time
      action.step.resize(at);
    }
    const std::string what = spec.substr(eq + 1);
    action.crash = what == "crash";
    if (!action.crash && what.rfind("pause:", 0) == 0) action.pause_ms = std::atoi(what.c_str() + 6);
    actions->push_back(action);
  }
  if (actions->empty()) return jobs::ErasureStepHook();
  auto seen = std::make_shared<std::map<std::string, int>>();
  return jobs::ErasureStepHook([actions, seen](std::string_view step) {
    const int count = ++(*seen)[std::string(step)];
    for (const Action& action : *actions) {
      if (action.step != step || (action.nth != 0 && action.nth != count)) continue;
      std::fprintf(stderr, "memberlake: test step %s #%d\n", action.step.c_str(), count);
      std::fflush(nullptr);
      if (action.crash) ::kill(::getpid(), SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(action.pause_ms));
    }
  });
}

// What erase and retention share: store, lake, audit log and keys, opened once.
struct ErasureContext {
  std::unique_ptr<store::MemberStore> store;
  std::shared_ptr<lake::LakeStorage> lake;
  std::unique_ptr<server::AuditLog> audit;
  jobs::ErasureOptions options;
};

// `need_key` false (a dry run, which changes nothing): without a pseudonym key the members due
// are counted but not named by pseudonym in its audit entry.
arrow::Result<std::unique_ptr<ErasureContext>> OpenErasure(const GlobalOptions& global, const PrivacyCliOptions& o,
                                                           bool need_key = true) {
  auto context = std::make_unique<ErasureContext>();
  auto key = SecretFromEnv(o.pseudonym_key_env, "--pseudonym-key-env");
  if (key.ok()) context->options.pseudonym_key = *key;
  if (need_key && !key.ok()) return key.status();
  if (need_key && context->options.pseudonym_key.empty()) return arrow::Status::Invalid("--pseudonym-key-env: required");
  ARROW_ASSIGN_OR_RAISE(std::string audit_key, SecretFromEnv(o.audit_key_env, "--audit-key-env"));
  ARROW_ASSIGN_OR_RAISE(context->store, OpenStore(global, o.store, /*create=*/false));
  ARROW_ASSIGN_OR_RAISE(context->lake, lake::LakeStorage::Open(o.lake, /*create=*/false));
  ARROW_ASSIGN_OR_RAISE(context->audit, server::AuditLog::Open(o.audit_log, audit_key));
  ARROW_ASSIGN_OR_RAISE(context->options.step, TestHook(o.test_steps));
  server::AuditLog* audit = context->audit.get();
  context->options.record = [audit](const jobs::ErasureReport& report) {
    return audit->Append(server::ErasureAuditEvent(report, {}, {"*"}));
  };
  return context;
}

void PrintReport(const jobs::ErasureReport& report, bool json) {
  if (json) return;
  std::printf("%s %s: %s%zu snapshot(s) revised, %lld file(s) replaced, %lld row(s) removed, %lld version(s) deleted\n",
              report.resumed ? "resumed erasure" : "erased", report.member_pseudonym.c_str(),
              report.store_deleted ? "deleted from the live store, " : "", report.revised_snapshots.size(),
              static_cast<long long>(report.files_replaced), static_cast<long long>(report.rows_removed),
              static_cast<long long>(report.versions_deleted));
}

arrow::Status RunErase(const GlobalOptions& global, const PrivacyCliOptions& o) {
  if (!o.member.empty() && !o.yes) {
    if (!::isatty(STDIN_FILENO)) {
      return arrow::Status::Invalid("--yes: erasure cannot be undone; confirm with --yes (or at a terminal)");
    }
    std::fprintf(stderr, "Erase member %s from the live store and every kept snapshot? This cannot be undone.\n"
                         "Type the member id to confirm: ", o.member.c_str());
    std::string typed;
    std::getline(std::cin, typed);
    if (typed != o.member) return arrow::Status::Invalid("confirmation: the typed id does not match; nothing erased");
  }
  ARROW_ASSIGN_OR_RAISE(auto context, OpenErasure(global, o));
  nlohmann::ordered_json doc;
  auto& resumed = doc["resumed"] = nlohmann::ordered_json::array();
  ARROW_ASSIGN_OR_RAISE(auto finished, jobs::ResumeErasures(*context->store, *context->lake, context->options));
  for (const auto& report : finished) {
    PrintReport(report, o.json);
    resumed.push_back(nlohmann::ordered_json::parse(report.ToJson()));
  }
  doc["erasure"] = nullptr;
  if (!o.member.empty()) {
    jobs::ErasureRequest request{o.member, OsUser(), "cli", o.reason};
    ARROW_ASSIGN_OR_RAISE(auto report, jobs::EraseMember(*context->store, *context->lake, request, context->options));
    PrintReport(report, o.json);
    doc["erasure"] = nlohmann::ordered_json::parse(report.ToJson());
  }
  if (o.json) std::printf("%s\n", doc.dump(2).c_str());
  return context->audit->Sync();
}

arrow::Status RunSubjectExport(const GlobalOptions& global, const PrivacyCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenStore(global, o.store, /*create=*/false));
  std::shared_ptr<lake::LakeStorage> lake;
  if (!o.lake.empty()) {
    ARROW_ASSIGN_OR_RAISE(lake, lake::LakeStorage::Open(o.lake, /*create=*/false));
  }
  std::vector<std::string> entries;
  if (!o.audit_log.empty()) {
    ARROW_ASSIGN_OR_RAISE(std::string audit_key, SecretFromEnv(o.audit_key_env, "--audit-key-env"));
    ARROW_ASSIGN_OR_RAISE(auto audit, server::AuditLog::Open(o.audit_log, audit_key));
    ARROW_ASSIGN_OR_RAISE(entries, server::AuditEntriesNaming(*audit, o.member));
    server::AuditEvent event;  // the export itself is an access to the member's data
    event.actor = OsUser();
    event.auth = "cli";
    event.action = "member.subject_export";
    event.scope = {"*"};
    event.target = o.member;
    ARROW_RETURN_NOT_OK(audit->Append(event));
  }
  ARROW_ASSIGN_OR_RAISE(std::string doc, jobs::SubjectExport(*store, lake.get(), o.member, entries));
  return WriteOutput(o.out, doc + "\n");
}

// The rules: the [retention] section of --config (the server's config), then each --rule
// replacing its status's rule.
arrow::Result<jobs::RetentionConfig> RetentionRules(const model::FieldRegistry& registry, const PrivacyCliOptions& o) {
  jobs::RetentionConfig config;
  if (!o.config.empty()) {
    ARROW_ASSIGN_OR_RAISE(std::string text, server::ReadTextFile(o.config, "--config"));
    auto parsed = jobs::RetentionConfig::FromToml(text);
    if (!parsed.ok()) return arrow::Status::Invalid("--config ", o.config, ": ", parsed.status().message());
    config = *parsed;
  }
  for (const std::string& rule : o.rules) ARROW_RETURN_NOT_OK(config.Override(rule));
  if (config.rules.empty()) return arrow::Status::Invalid("--rule: no rule (give --rule STATUS=YEARS or --config with [retention] rules)");
  ARROW_RETURN_NOT_OK(config.Validate(registry));
  return config;
}

arrow::Status RunRetention(const GlobalOptions& global, const PrivacyCliOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  ARROW_ASSIGN_OR_RAISE(jobs::RetentionConfig config, RetentionRules(*registry, o));
  jobs::RetentionRunOptions run;
  ARROW_ASSIGN_OR_RAISE(run.as_of, ResolveAsOf(o.as_of));
  run.dry_run = o.dry_run;
  run.requested_by = OsUser();
  ARROW_ASSIGN_OR_RAISE(auto context, OpenErasure(global, o, /*need_key=*/!o.dry_run));
  if (!o.dry_run) ARROW_RETURN_NOT_OK(jobs::ResumeErasures(*context->store, *context->lake, context->options).status());
  run.erasure = context->options;
  auto report = jobs::ApplyRetentionRules(*context->store, *context->lake, config, run);
  if (!report.ok()) {
    ARROW_RETURN_NOT_OK(
        context->audit->Append(server::RetentionFailureAuditEvent(o.dry_run, report.status(), OsUser(), "cli")));
    ARROW_RETURN_NOT_OK(context->audit->Sync());
    return report.status();
  }
  ARROW_RETURN_NOT_OK(context->audit->Append(server::RetentionAuditEvent(*report, OsUser(), "cli")));
  if (o.json) {
    std::printf("%s\n", report->ToJson(/*with_member_ids=*/true).c_str());
  } else {
    for (const auto& m : report->members) {
      const auto action = jobs::RetentionActionName(report->rules[m.rule].action);
      std::printf("%s%s %s (%s, last change %s)\n", o.dry_run ? "would " : "", std::string(action).c_str(),
                  o.dry_run ? m.member_id.c_str() : m.pseudonym.c_str(), m.status.c_str(), m.last_change.c_str());
    }
    std::printf("%zu member(s) %s as of %s%s%s\n", report->members.size(), o.dry_run ? "due" : "erased or anonymised",
                report->as_of.c_str(), report->statistics_path.empty() ? "" : "; statistics: ",
                report->statistics_path.c_str());
  }
  return context->audit->Sync();
}

void AddLakeOptions(CLI::App* command, PrivacyCliOptions* o) {
  command->add_option("--store", o->store, "Live store URI (sqlite:PATH, dynamodb://TABLE?...)")->required();
  command->add_option("--lake", o->lake, "Lake location (a folder or s3://bucket/prefix)")->required();
  command->add_option("--audit-log", o->audit_log, "The audit trail (the server's [audit] path)")->required();
  command->add_option("--audit-key-env", o->audit_key_env, "Variable holding the audit chain's HMAC key ([audit] key_env)");
  command->add_option("--pseudonym-key-env", o->pseudonym_key_env,
                      "Variable holding the key of members' pseudonyms in the audit trail")->capture_default_str();
  command->add_flag("--json", o->json, "Print the outcome as JSON");
  command->add_option("--test-step", o->test_steps, "")->group("");  // hidden: tests of interruptions
}

}  // namespace

void AddPrivacyCommands(CLI::App& app, const CommandContext& context) {
  auto eo = std::make_shared<PrivacyCliOptions>();
  auto* erase = app.add_subcommand(
      "erase", "Erase a member from the live store and every kept snapshot (GDPR art. 17); completes interrupted erasures");
  erase->add_option("--member", eo->member, "The member id (without it: only complete interrupted erasures)");
  AddLakeOptions(erase, eo.get());
  erase->add_flag("--yes", eo->yes, "Confirm: erasure cannot be undone");
  erase->add_option("--reason", eo->reason, "Why (recorded in the audit trail)")->capture_default_str();
  erase->callback([=] { context.Finish(RunErase(*context.global, *eo)); });

  auto so = std::make_shared<PrivacyCliOptions>();
  auto* subject = app.add_subcommand(
      "subject-export", "Everything held about a member as one JSON document (GDPR art. 15)");
  subject->add_option("--member", so->member, "The member id")->required();
  subject->add_option("--store", so->store, "Live store URI")->required();
  subject->add_option("--lake", so->lake, "Lake location: the member's rows in every kept snapshot");
  subject->add_option("--audit-log", so->audit_log, "The audit trail: the entries naming the member");
  subject->add_option("--audit-key-env", so->audit_key_env, "Variable holding the audit chain's HMAC key");
  subject->add_option("--out", so->out, "Write the document here (default: stdout)");
  subject->callback([=] { context.Finish(RunSubjectExport(*context.global, *so)); });

  auto ro = std::make_shared<PrivacyCliOptions>();
  auto* retention = app.add_subcommand(
      "retention",
      "Erase or anonymise members kept longer than their status allows ([retention] of --config, or --rule); --dry-run first");
  retention->add_option("--config", ro->config, "The server config: its [retention] rules (docs/privacy.md)");
  retention->add_option("--rule", ro->rules,
                        "STATUS=YEARS[:erase|anonymise]: members of that status unchanged for YEARS years "
                        "(replaces the config's rule for that status)");
  AddLakeOptions(retention, ro.get());
  retention->add_option("--as-of", ro->as_of, "Reference date (YYYY-MM-DD; default today in Europe/Amsterdam)");
  retention->add_flag("--dry-run", ro->dry_run, "Only list who is due (audited; nothing changes)");
  retention->callback([=] { context.Finish(RunRetention(*context.global, *ro)); });
}

}  // namespace memberlake::cli
