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
#include "lake/lake_storage.h"
#include "model/calendar.h"
#include "model/member_normalizer.h"
#include "server/audit_log.h"
#include "server/privacy_audit.h"

namespace memberlake::cli {
namespace {

struct PrivacyCliOptions {
  std::string member, store, lake, audit_log, out, as_of;
  std::string audit_key_env;
  std::string pseudonym_key_env = "MEMBERLAKE_PSEUDONYM_KEY";
  std::string reason = "subject request";
  std::vector<std::string> rules;       // retention: STATUS=YEARS
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

arrow::Result<std::unique_ptr<ErasureContext>> OpenErasure(const GlobalOptions& global, const PrivacyCliOptions& o) {
  auto context = std::make_unique<ErasureContext>();
  ARROW_ASSIGN_OR_RAISE(context->options.pseudonym_key, SecretFromEnv(o.pseudonym_key_env, "--pseudonym-key-env"));
  if (context->options.pseudonym_key.empty()) return arrow::Status::Invalid("--pseudonym-key-env: required");
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

// Members whose status is a rule's and whose record last changed more than the rule's years
// before `as_of` (updated_at, else created_at: the moment they left, for a record that
// nobody touched since).
struct RetentionCandidate {
  std::string member_id, status, last_change;
};

arrow::Result<std::vector<RetentionCandidate>> FindRetentionCandidates(store::MemberStore& store,
                                                                      const std::map<std::string, int>& rules,
                                                                      model::CivilDate as_of) {
  model::MemberNormalizer normalizer(store.registry());
  ARROW_ASSIGN_OR_RAISE(auto scan, store.Scan());
  std::vector<RetentionCandidate> out;
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    ARROW_RETURN_NOT_OK(scan.reader->ReadNext(&batch));
    if (batch == nullptr) break;
    auto column = [&](const char* name) -> std::shared_ptr<arrow::StringArray> {
      auto array = batch->GetColumnByName(name);
      if (array == nullptr || array->type_id() != arrow::Type::STRING) return nullptr;
      return std::static_pointer_cast<arrow::StringArray>(array);
    };
    auto ids = column("member_id"), statuses = column("status"), updated = column("updated_at"),
         created = column("created_at");
    if (!ids || !statuses || !updated || !created) return arrow::Status::Invalid("the registry lacks status or timestamps");
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      if (statuses->IsNull(row)) continue;
      auto status = normalizer.NormalizeField("status", std::string(statuses->GetView(row)));
      if (!status.ok() || !status->has_value()) continue;
      auto rule = rules.find(**status);
      if (rule == rules.end()) continue;
      const auto& stamp = updated->IsValid(row) ? updated : created;
      if (stamp->IsNull(row)) continue;
      auto when = normalizer.NormalizeField(stamp == updated ? "updated_at" : "created_at", std::string(stamp->GetView(row)));
      if (!when.ok() || !when->has_value() || (*when)->size() < 10) continue;
      auto day = model::ParseIsoDate((*when)->substr(0, 10));
      if (!day.ok()) continue;
      const model::CivilDate limit{as_of.year - rule->second, as_of.month, as_of.day};
      if (model::DaysFromCivil(*day) >= model::DaysFromCivil(limit)) continue;
      out.push_back({std::string(ids->GetView(row)), **status, **when});
    }
  }
  return out;
}

arrow::Status RunRetention(const GlobalOptions& global, const PrivacyCliOptions& o) {
  std::map<std::string, int> rules;
  for (const std::string& text : o.rules) {
    const size_t eq = text.find('=');
    const int years = eq == std::string::npos ? -1 : std::atoi(text.c_str() + eq + 1);
    if (eq == std::string::npos || eq == 0 || years < 1) {
      return arrow::Status::Invalid("--rule: expected STATUS=YEARS (YEARS at least 1), got '", text, "'");
    }
    rules[text.substr(0, eq)] = years;
  }
  if (rules.empty()) return arrow::Status::Invalid("--rule: at least one STATUS=YEARS");
  ARROW_ASSIGN_OR_RAISE(model::CivilDate as_of, ResolveAsOf(o.as_of));
  ARROW_ASSIGN_OR_RAISE(auto registry, LoadRegistry(global));
  model::MemberNormalizer normalizer(registry);
  for (const auto& [status, years] : rules) {
    auto canonical = normalizer.NormalizeField("status", status);
    if (!canonical.ok() || !canonical->has_value() || **canonical != status) {
      return arrow::Status::Invalid("--rule: '", status, "' is not a status of the registry");
    }
  }
  nlohmann::ordered_json doc;
  doc["dry_run"] = o.dry_run;
  doc["as_of"] = model::FormatIsoDate(as_of);
  std::vector<RetentionCandidate> candidates;
  std::unique_ptr<ErasureContext> context;
  if (o.dry_run) {
    ARROW_ASSIGN_OR_RAISE(auto store, OpenStore(global, o.store, /*create=*/false));
    ARROW_ASSIGN_OR_RAISE(candidates, FindRetentionCandidates(*store, rules, as_of));
  } else {
    ARROW_ASSIGN_OR_RAISE(context, OpenErasure(global, o));
    ARROW_ASSIGN_OR_RAISE(candidates, FindRetentionCandidates(*context->store, rules, as_of));
  }
  auto& list = doc["members"] = nlohmann::ordered_json::array();
  for (const auto& candidate : candidates) {
    nlohmann::ordered_json entry{{"member_id", candidate.member_id}, {"status", candidate.status},
                                 {"last_change", candidate.last_change}};
    if (!o.dry_run) {
      jobs::ErasureRequest request{candidate.member_id, OsUser(), "retention",
                                   "retention: " + candidate.status + " for more than " +
                                       std::to_string(rules[candidate.status]) + " years"};
      ARROW_ASSIGN_OR_RAISE(auto report, jobs::EraseMember(*context->store, *context->lake, request, context->options));
      entry = {{"member_pseudonym", report.member_pseudonym}, {"status", candidate.status},
               {"revised_snapshots", report.revised_snapshots.size()}, {"rows_removed", report.rows_removed}};
    }
    list.push_back(std::move(entry));
    if (!o.json) {
      std::printf("%s %s (%s, last change %s)\n", o.dry_run ? "would erase" : "erased",
                  o.dry_run ? candidate.member_id.c_str() : list.back()["member_pseudonym"].get<std::string>().c_str(),
                  candidate.status.c_str(), candidate.last_change.c_str());
    }
  }
  doc["count"] = candidates.size();
  if (o.json) std::printf("%s\n", doc.dump(2).c_str());
  if (!o.json) std::printf("%zu member(s) %s\n", candidates.size(), o.dry_run ? "would be erased" : "erased");
  return context ? context->audit->Sync() : arrow::Status::OK();
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
      "retention", "Erase members kept longer than their status allows (e.g. --rule Opgezegd=7); --dry-run first");
  retention->add_option("--rule", ro->rules, "STATUS=YEARS: erase members of that status unchanged for YEARS years")
      ->required();
  AddLakeOptions(retention, ro.get());
  retention->add_option("--as-of", ro->as_of, "Reference date (YYYY-MM-DD; default today in Europe/Amsterdam)");
  retention->add_flag("--dry-run", ro->dry_run, "Only list who would be erased");
  retention->callback([=] { context.Finish(RunRetention(*context.global, *ro)); });
}

}  // namespace memberlake::cli
