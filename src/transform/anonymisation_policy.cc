#include "transform/anonymisation_policy.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace memberlake::transform {

extern const std::string_view kDefaultAnonymisationToml;

namespace {

using Kind = GeneralisationLevel::Kind;

bool Released(const model::FieldSpec& spec) {
  return spec.sensitivity != model::Sensitivity::kDirect && spec.sensitivity != model::Sensitivity::kRestricted;
}

}  // namespace

// Reads one TOML document into a policy. Every error names the source and the entry.
class PolicyParser {
 public:
  PolicyParser(AnonymisationPolicy* out, std::string source, const model::FieldRegistry& registry)
      : out_(out), source_(std::move(source)), registry_(registry) {}

  arrow::Status Parse(const toml::table& doc) {
    if (const toml::table* defaults = doc["defaults"].as_table()) {
      out_->k_ = static_cast<int>((*defaults)["k"].value_or(int64_t{5}));
      out_->l_ = static_cast<int>((*defaults)["l"].value_or(int64_t{2}));
      out_->max_suppression_ = (*defaults)["max_suppression"].value_or(0.05);
      if (out_->k_ < 2) return Fail("[defaults]", "k must be at least 2");
      if (out_->l_ < 1) return Fail("[defaults]", "l must be at least 1");
      if (!(out_->max_suppression_ >= 0 && out_->max_suppression_ <= 1)) {
        return Fail("[defaults]", "max_suppression must be between 0 and 1");
      }
      if (const toml::array* columns = (*defaults)["columns"].as_array()) {
        for (const auto& node : *columns) {
          auto name = node.value<std::string>();
          if (!name) return Fail("[defaults]", "columns must be strings");
          out_->default_columns_.push_back(*name);
        }
      }
    }
    const toml::array* columns = doc["column"].as_array();
    if (columns == nullptr || columns->empty()) return Fail("", "no [[column]] entries");
    std::set<std::string> seen;
    for (const auto& node : *columns) {
      const toml::table* table = node.as_table();
      if (table == nullptr) return Fail("[[column]]", "must be a table");
      AnonymisedColumn column;
      column.name = (*table)["name"].value_or(std::string());
      const std::string entry = "column '" + column.name + "'";
      if (column.name.empty()) return Fail("[[column]]", "name is missing");
      if (!seen.insert(column.name).second) return Fail(entry, "listed twice");
      const model::FieldSpec* spec = registry_.Find(column.name);
      if (spec == nullptr) return Fail(entry, "not a field of the registry");
      if (!Released(*spec)) return Fail(entry, "an identifier or restricted field can never be released");
      const std::string role = (*table)["role"].value_or(std::string());
      if (role == "quasi") {
        column.role = AnonymisedColumn::Role::kQuasi;
      } else if (role == "sensitive") {
        column.role = AnonymisedColumn::Role::kSensitive;
      } else {
        return Fail(entry, "role must be quasi or sensitive, not '", role, "'");
      }
      if (const toml::array* levels = (*table)["levels"].as_array()) {
        for (const auto& level_node : *levels) {
          auto text = level_node.value<std::string>();
          if (!text) return Fail(entry, "levels must be strings");
          ARROW_ASSIGN_OR_RAISE(auto level, ParseLevel(entry, *spec, *text));
          column.levels.push_back(std::move(level));
        }
      }
      if (column.role == AnonymisedColumn::Role::kQuasi) {
        if (column.levels.empty() || column.levels.back().kind != Kind::kSuppressed) {
          return Fail(entry, "the levels of a quasi-identifier must end with \"*\"");
        }
        if (column.levels.front().kind == Kind::kRare) return Fail(entry, "\"rare\" needs a level before it");
      } else if (!column.levels.empty()) {
        return Fail(entry, "a sensitive column is never generalised: no levels");
      }
      out_->columns_.push_back(std::move(column));
    }
    for (const auto& name : out_->default_columns_) {
      if (out_->Find(name) == nullptr) return Fail("[defaults]", "column '", name, "' has no [[column]] entry");
    }
    if (out_->default_columns_.empty()) return Fail("[defaults]", "columns is empty");
    return arrow::Status::OK();
  }

 private:
  template <typename... Args>
  arrow::Status Fail(const std::string& entry, const Args&... parts) const {
    std::ostringstream msg;
    msg << "anonymisation policy " << source_ << ": ";
    if (!entry.empty()) msg << entry << ": ";
    (msg << ... << parts);
    return arrow::Status::Invalid(msg.str());
  }

  arrow::Result<GeneralisationLevel> ParseLevel(const std::string& entry, const model::FieldSpec& spec,
                                                const std::string& text) const {
    GeneralisationLevel level;
    level.text = text;
    const bool dated = spec.type == model::FieldType::kDate || spec.type == model::FieldType::kTimestamp;
    auto number = [&](size_t at) -> arrow::Result<int> {
      try {
        size_t used = 0;
        int n = std::stoi(text.substr(at), &used);
        if (used + at == text.size() && n >= 1) return n;
      } catch (const std::exception&) {
      }
      return Fail(entry, "level '", text, "': expected a positive number after ':'");
    };
    if (text == "value") {
      level.kind = Kind::kValue;
    } else if (text == "year") {
      if (!dated) return Fail(entry, "level 'year' needs a date or timestamp field");
      level.kind = Kind::kYear;
    } else if (text.rfind("band:", 0) == 0) {
      if (!dated && spec.type != model::FieldType::kInteger) return Fail(entry, "level '", text, "' needs an integer or date");
      level.kind = Kind::kBand;
      ARROW_ASSIGN_OR_RAISE(level.n, number(5));
    } else if (text.rfind("prefix:", 0) == 0) {
      level.kind = Kind::kPrefix;
      ARROW_ASSIGN_OR_RAISE(level.n, number(7));
    } else if (text == "rare") {
      level.kind = Kind::kRare;
    } else if (text.rfind("parent:", 0) == 0) {
      level.kind = Kind::kParent;
      level.parent = text.substr(7);
      const model::FieldSpec* parent = registry_.Find(level.parent);
      if (parent == nullptr || !Released(*parent)) {
        return Fail(entry, "level '", text, "': the parent must be a released field of the registry");
      }
    } else if (text == "*") {
      level.kind = Kind::kSuppressed;
    } else {
      return Fail(entry, "unknown level '", text, "' (value, year, band:N, prefix:N, rare, parent:FIELD, *)");
    }
    return level;
  }

  AnonymisationPolicy* out_;
  std::string source_;
  const model::FieldRegistry& registry_;
};

arrow::Result<std::shared_ptr<const AnonymisationPolicy>> AnonymisationPolicy::LoadString(
    std::string_view toml_text, const std::string& source_name, const model::FieldRegistry& registry) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return arrow::Status::Invalid("anonymisation policy ", source_name, ": ", error.description());
  }
  auto policy = std::shared_ptr<AnonymisationPolicy>(new AnonymisationPolicy());
  PolicyParser parser(policy.get(), source_name, registry);
  ARROW_RETURN_NOT_OK(parser.Parse(doc));
  return std::shared_ptr<const AnonymisationPolicy>(std::move(policy));
}

arrow::Result<std::shared_ptr<const AnonymisationPolicy>> AnonymisationPolicy::LoadDefault(
    const model::FieldRegistry& registry) {
  return LoadString(kDefaultAnonymisationToml, "built-in config/anonymisation.toml", registry);
}

arrow::Result<std::shared_ptr<const AnonymisationPolicy>> AnonymisationPolicy::Load(
    const std::string& path, const model::FieldRegistry& registry) {
  if (path.empty()) return LoadDefault(registry);
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read anonymisation policy '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  return LoadString(text.str(), path, registry);
}

const AnonymisedColumn* AnonymisationPolicy::Find(std::string_view name) const {
  for (const auto& column : columns_) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

arrow::Result<std::vector<const AnonymisedColumn*>> AnonymisationPolicy::Choose(
    const std::vector<std::string>& requested, const model::FieldRegistry& registry) const {
  const std::vector<std::string>& names = requested.empty() ? default_columns_ : requested;
  std::set<std::string> wanted;
  for (const auto& name : names) {
    const model::FieldSpec* spec = registry.Find(name);
    if (spec == nullptr) return arrow::Status::Invalid("column '", name, "': not a field of the registry");
    if (spec->sensitivity == model::Sensitivity::kDirect) {
      return arrow::Status::Invalid("column '", name, "': an identifier, never released in an anonymised dataset");
    }
    if (spec->sensitivity == model::Sensitivity::kRestricted) {
      return arrow::Status::Invalid("column '", name, "': restricted, never released in an anonymised dataset");
    }
    if (Find(name) == nullptr) {
      return arrow::Status::Invalid("column '", name,
                                    "': not released in anonymised datasets (config/anonymisation.toml lists no "
                                    "hierarchy for it: too close to one person)");
    }
    if (!wanted.insert(name).second) return arrow::Status::Invalid("column '", name, "': listed twice");
  }
  std::vector<const AnonymisedColumn*> chosen;
  for (const auto& column : columns_) {
    if (wanted.count(column.name)) chosen.push_back(&column);
  }
  return chosen;
}

std::vector<std::string> AnonymisationPolicy::InputColumns(const std::vector<const AnonymisedColumn*>& chosen,
                                                          bool pseudonyms) {
  std::vector<std::string> columns;
  auto add = [&](const std::string& name) {
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
  };
  if (pseudonyms) add("member_id");
  for (const AnonymisedColumn* column : chosen) {
    add(column->name);
    for (const auto& level : column->levels) {
      if (level.kind == Kind::kParent) add(level.parent);
    }
  }
  return columns;
}

}  // namespace memberlake::transform
