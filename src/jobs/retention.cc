#include "jobs/retention.h"

#include <algorithm>
#include <set>

#include <arrow/api.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "jobs/retention_statistics.h"
#include "lake/snapshot_manifest.h"
#include "model/member_normalizer.h"

namespace memberlake::jobs {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kRunJournalDir = "privacy/retention";

arrow::Result<RetentionAction> ParseAction(std::string_view text, const std::string& where) {
  if (text == "erase") return RetentionAction::kErase;
  if (text == "anonymise" || text == "anonymize") return RetentionAction::kAnonymise;
  return arrow::Status::Invalid(where, ": action must be \"erase\" or \"anonymise\", got '", std::string(text), "'");
}

void SetRule(std::vector<RetentionRule>* rules, RetentionRule rule) {
  for (auto& existing : *rules) {
    if (existing.status == rule.status) {
      existing = std::move(rule);
      return;
    }
  }
  rules->push_back(std::move(rule));
}

// A member due under a rule, with what the statistics need of them.
struct Candidate {
  RetentionMember member;
  RetentionStatisticsInput statistics;
};

arrow::Result<std::vector<Candidate>> FindCandidates(store::MemberStore& store, const RetentionConfig& config,
                                                     model::CivilDate as_of) {
  model::MemberNormalizer normalizer(store.registry());
  ARROW_ASSIGN_OR_RAISE(auto scan, store.Scan());
  // A field's canonical text, or nullopt for a null or an unreadable value.
  auto normal = [&](const char* field, const std::shared_ptr<arrow::StringArray>& column,
                    int64_t row) -> std::optional<std::string> {
    if (column == nullptr || column->IsNull(row)) return std::nullopt;
    auto value = normalizer.NormalizeField(field, std::string(column->GetView(row)));
    if (!value.ok() || !value->has_value()) return std::nullopt;
    return **value;
  };
  std::vector<Candidate> out;
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
         created = column("created_at"), regions = column("regio"), births = column("geboortedatum");
    if (!ids || !statuses || !updated || !created) return arrow::Status::Invalid("the registry lacks status or timestamps");
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      auto status = normal("status", statuses, row);
      if (!status) continue;
      auto rule = std::find_if(config.rules.begin(), config.rules.end(),
                               [&](const RetentionRule& r) { return r.status == *status; });
      if (rule == config.rules.end()) continue;
      // The moment they left: the record's last change (a record nobody touched since).
      auto when = updated->IsValid(row) ? normal("updated_at", updated, row) : normal("created_at", created, row);
      if (!when || when->size() < 10) continue;
      auto day = model::ParseIsoDate(when->substr(0, 10));
      if (!day.ok()) continue;
      const model::CivilDate limit{as_of.year - rule->years, as_of.month, as_of.day};
      if (model::DaysFromCivil(*day) >= model::DaysFromCivil(limit)) continue;
      Candidate c;
      c.member.member_id = std::string(ids->GetView(row));
      c.member.status = *status;
      c.member.last_change = *when;
      c.member.rule = static_cast<size_t>(rule - config.rules.begin());
      c.statistics.status = *status;
      c.statistics.regio = normal("regio", regions, row).value_or("");
      c.statistics.leave_year = day->year;
      if (auto birth = normal("geboortedatum", births, row)) {
        if (auto date = model::ParseIsoDate(*birth); date.ok()) c.statistics.age = model::WholeYearsBetween(*date, *day);
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

// Pseudonyms an earlier run counted in its statistics but did not see erased (killed).
arrow::Result<std::set<std::string>> CountedEarlier(const lake::LakeStorage& lake, std::vector<std::string>* journals) {
  std::set<std::string> counted;
  ARROW_ASSIGN_OR_RAISE(auto names, lake.List(kRunJournalDir));
  for (const std::string& name : names) {
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    const std::string path = std::string(kRunJournalDir) + "/" + name;
    ARROW_ASSIGN_OR_RAISE(std::string text, lake.ReadAll(path));
    auto doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.contains("pseudonyms") || !doc["pseudonyms"].is_array()) {
      return arrow::Status::Invalid("malformed retention journal ", path);
    }
    // Its statistics were never written: those members were not counted.
    const std::string statistics = doc.value("statistics", "");
    ARROW_ASSIGN_OR_RAISE(bool written, lake.Exists(statistics));
    if (written) {
      for (const auto& p : doc["pseudonyms"]) {
        if (p.is_string()) counted.insert(p.get<std::string>());
      }
    }
    journals->push_back(path);
  }
  return counted;
}

}  // namespace

std::string_view RetentionActionName(RetentionAction action) {
  return action == RetentionAction::kAnonymise ? "anonymise" : "erase";
}

arrow::Result<RetentionConfig> RetentionConfig::FromToml(std::string_view toml_text) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("retention config: ", error.description(), " (line ", error.source().begin.line, ")");
  }
  RetentionConfig config;
  const toml::table* section = doc["retention"].as_table();
  if (section == nullptr) {
    if (doc.contains("retention")) return arrow::Status::Invalid("retention: must be a section");
    return config;
  }
  for (const auto& [key, value] : *section) {
    if (key.str() == "dry_run") {
      auto flag = value.value<bool>();
      if (!flag) return arrow::Status::Invalid("retention.dry_run: must be true or false");
      config.dry_run = *flag;
    } else if (key.str() == "k") {
      auto k = value.value<int64_t>();
      if (!k || *k < 2 || *k > 1000) return arrow::Status::Invalid("retention.k: must be a whole number 2..1000");
      config.k = static_cast<int>(*k);
    } else if (key.str() == "rules") {
      const toml::array* rules = value.as_array();
      if (rules == nullptr) return arrow::Status::Invalid("retention.rules: must be a list of {status, years, action}");
      for (size_t i = 0; i < rules->size(); ++i) {
        const std::string where = "retention.rules[" + std::to_string(i) + "]";
        const toml::table* t = (*rules)[i].as_table();
        if (t == nullptr) return arrow::Status::Invalid(where, ": must be {status, years, action}");
        for (const auto& [field, unused] : *t) {
          if (field.str() != "status" && field.str() != "years" && field.str() != "action") {
            return arrow::Status::Invalid(where, ": unknown key ", std::string(field.str()));
          }
        }
        RetentionRule rule;
        rule.status = (*t)["status"].value<std::string>().value_or("");
        auto years = (*t)["years"].value<int64_t>();
        if (rule.status.empty()) return arrow::Status::Invalid(where, ".status: required");
        if (!years || *years < 1 || *years > 200) return arrow::Status::Invalid(where, ".years: must be 1..200");
        rule.years = static_cast<int>(*years);
        ARROW_ASSIGN_OR_RAISE(rule.action, ParseAction((*t)["action"].value<std::string>().value_or("erase"), where));
        for (const auto& existing : config.rules) {
          if (existing.status == rule.status) return arrow::Status::Invalid(where, ": a second rule for ", rule.status);
        }
        config.rules.push_back(std::move(rule));
      }
    } else {
      return arrow::Status::Invalid("retention: unknown key ", std::string(key.str()));
    }
  }
  return config;
}

arrow::Status RetentionConfig::Override(const std::string& text) {
  const size_t eq = text.find('=');
  const size_t colon = text.find(':', eq == std::string::npos ? 0 : eq);
  const std::string years_text =
      eq == std::string::npos ? "" : text.substr(eq + 1, colon == std::string::npos ? std::string::npos : colon - eq - 1);
  const bool digits = !years_text.empty() && years_text.size() <= 3 &&
                      std::all_of(years_text.begin(), years_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (eq == std::string::npos || eq == 0 || !digits || std::stoi(years_text) < 1) {
    return arrow::Status::Invalid("--rule: expected STATUS=YEARS[:erase|anonymise] (YEARS at least 1), got '", text, "'");
  }
  RetentionRule rule{text.substr(0, eq), std::stoi(years_text), RetentionAction::kErase};
  if (colon != std::string::npos) {
    ARROW_ASSIGN_OR_RAISE(rule.action, ParseAction(text.substr(colon + 1), "--rule"));
  }
  SetRule(&rules, std::move(rule));
  return arrow::Status::OK();
}

arrow::Status RetentionConfig::Validate(const model::FieldRegistry& registry) const {
  const model::FieldSpec* status = registry.Find("status");
  for (const RetentionRule& rule : rules) {
    if (status == nullptr || std::find(status->values.begin(), status->values.end(), rule.status) == status->values.end()) {
      return arrow::Status::Invalid("retention rule: '", rule.status, "' is not a status of the registry");
    }
  }
  return arrow::Status::OK();
}

std::string RetentionReport::ToJson(bool with_member_ids) const {
  Json doc;
  doc["run_id"] = run_id;
  doc["as_of"] = as_of;
  doc["dry_run"] = dry_run;
  Json rule_list = Json::array();
  for (size_t i = 0; i < rules.size(); ++i) {
    Json pseudonyms = Json::array();
    int64_t count = 0;
    for (const auto& m : members) {
      if (m.rule != i) continue;
      ++count;
      if (!m.pseudonym.empty()) pseudonyms.push_back(m.pseudonym);
    }
    rule_list.push_back({{"status", rules[i].status},
                         {"years", rules[i].years},
                         {"action", std::string(RetentionActionName(rules[i].action))},
                         {"count", count},
                         {"pseudonyms", std::move(pseudonyms)}});
  }
  doc["rules"] = std::move(rule_list);
  doc["count"] = members.size();
  doc["statistics"] = {{"path", statistics_path.empty() ? Json(nullptr) : Json(statistics_path)},
                       {"rows", statistics_rows}};
  if (with_member_ids) {
    Json list = Json::array();
    for (const auto& m : members) {
      Json entry = {{"member_id", m.member_id}, {"member_pseudonym", m.pseudonym}, {"status", m.status},
                    {"last_change", m.last_change}, {"action", std::string(RetentionActionName(rules[m.rule].action))}};
      if (!dry_run) {
        entry["revised_snapshots"] = m.erasure.revised_snapshots.size();
        entry["rows_removed"] = m.erasure.rows_removed;
      }
      list.push_back(std::move(entry));
    }
    doc["members"] = std::move(list);
  }
  return doc.dump(with_member_ids ? 2 : -1);
}

std::string RetentionReport::AuditDetail() const { return ToJson(/*with_member_ids=*/false); }

arrow::Result<RetentionReport> ApplyRetentionRules(store::MemberStore& store, lake::LakeStorage& lake,
                                                   const RetentionConfig& config, const RetentionRunOptions& options) {
  if (!options.dry_run && options.erasure.pseudonym_key.empty()) {
    return arrow::Status::Invalid("pseudonym key: not configured (the audit trail names erased members by it)");
  }
  RetentionReport report;
  report.run_id = lake::NewSnapshotId();
  report.as_of = model::FormatIsoDate(options.as_of);
  report.dry_run = options.dry_run;
  report.rules = config.rules;
  if (config.rules.empty()) return report;
  std::vector<std::string> earlier_journals;
  std::set<std::string> counted_earlier;
  if (!options.dry_run) {
    ARROW_ASSIGN_OR_RAISE(counted_earlier, CountedEarlier(lake, &earlier_journals));
  }
  ARROW_ASSIGN_OR_RAISE(auto candidates, FindCandidates(store, config, options.as_of));
  std::vector<RetentionStatisticsInput> counted;
  Json counted_pseudonyms = Json::array();
  for (auto& c : candidates) {
    if (!options.erasure.pseudonym_key.empty()) {
      c.member.pseudonym = MemberPseudonym(options.erasure.pseudonym_key, c.member.member_id);
    }
    if (config.rules[c.member.rule].action != RetentionAction::kAnonymise) continue;
    if (counted_earlier.count(c.member.pseudonym)) continue;
    c.member.counted = true;
    counted.push_back(c.statistics);
    counted_pseudonyms.push_back(c.member.pseudonym);
  }
  const auto groups = AggregateRetentionStatistics(counted, config.k);
  report.statistics_rows = static_cast<int64_t>(groups.size());
  const std::string journal = std::string(kRunJournalDir) + "/" + report.run_id + ".json";
  if (!options.dry_run && !counted.empty()) {
    // The journal first: once the statistics exist, its pseudonyms are not counted again.
    const std::string statistics = std::string(kRetentionStatisticsDir) + "/" + report.run_id + ".jsonl";
    Json doc = {{"run_id", report.run_id}, {"statistics", statistics}, {"pseudonyms", counted_pseudonyms}};
    ARROW_RETURN_NOT_OK(lake.PutAtomic(journal, doc.dump(2) + "\n"));
    if (options.erasure.step) options.erasure.step("retention-journaled");
    ARROW_ASSIGN_OR_RAISE(report.statistics_path,
                          WriteRetentionStatistics(lake, report.run_id, report.as_of, config.k, groups));
    if (options.erasure.step) options.erasure.step("retention-statistics");
  }
  for (auto& c : candidates) {
    if (!options.dry_run) {
      const RetentionRule& rule = config.rules[c.member.rule];
      ErasureRequest request{c.member.member_id, options.requested_by, options.auth,
                             "retention: " + rule.status + " for more than " + std::to_string(rule.years) +
                                 " years (" + std::string(RetentionActionName(rule.action)) + ")"};
      ARROW_ASSIGN_OR_RAISE(c.member.erasure, EraseMember(store, lake, request, options.erasure));
    }
    report.members.push_back(std::move(c.member));
  }
  if (!options.dry_run) {
    earlier_journals.push_back(journal);
    for (const std::string& path : earlier_journals) {
      ARROW_ASSIGN_OR_RAISE(bool exists, lake.Exists(path));
      if (exists) ARROW_RETURN_NOT_OK(lake.DeleteAllVersions(path).status());
    }
  }
  return report;
}

}  // namespace memberlake::jobs
