#include "model/field_registry.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <arrow/api.h>
#include <toml++/toml.h>

namespace memberlake::model {

extern const std::string_view kDefaultRegistryToml;

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kDate: return "date";
    case FieldType::kTimestamp: return "timestamp";
    case FieldType::kInteger: return "integer";
    case FieldType::kEnum: return "enum";
  }
  return "?";
}

std::shared_ptr<arrow::DataType> FieldRegistry::LakeType(FieldType type) {
  switch (type) {
    case FieldType::kString: return arrow::utf8();
    case FieldType::kDate: return arrow::date32();
    case FieldType::kTimestamp: return arrow::timestamp(arrow::TimeUnit::MILLI, "UTC");
    case FieldType::kInteger: return arrow::int64();
    case FieldType::kEnum: return arrow::dictionary(arrow::int32(), arrow::utf8());
  }
  return arrow::utf8();
}

// Reads one TOML document into a FieldRegistry. Every error names the source and the entry.
class RegistryParser {
 public:
  RegistryParser(FieldRegistry* out, std::string source) : out_(out), source_(std::move(source)) {}

  arrow::Status Parse(const toml::table& doc) {
    auto version = doc["schema_version"].value<int64_t>();
    if (!version || *version < 1) return Fail("", "schema_version must be a positive integer");
    out_->schema_version_ = static_cast<int>(*version);

    const toml::array* fields = doc["field"].as_array();
    if (fields == nullptr || fields->empty()) return Fail("", "no [[field]] entries");
    for (const auto& node : *fields) {
      ARROW_ASSIGN_OR_RAISE(FieldSpec spec, ParseField(node, /*calculated=*/false));
      out_->stored_.push_back(std::move(spec));
    }
    if (const toml::array* calc = doc["calculated"].as_array()) {
      for (const auto& node : *calc) {
        ARROW_ASSIGN_OR_RAISE(FieldSpec spec, ParseField(node, /*calculated=*/true));
        out_->calculated_.push_back(std::move(spec));
      }
    }
    if (const toml::table* lake = doc["lake"].as_table()) {
      ARROW_ASSIGN_OR_RAISE(out_->sort_by_, Strings(*lake, "sort_by", "[lake]"));
      out_->partition_field_ = (*lake)["partition_field"].value_or(std::string());
      out_->cluster_by_ = (*lake)["cluster_by"].value_or(std::string());
    }
    if (const toml::array* views = doc["view"].as_array()) {
      for (const auto& node : *views) {
        ARROW_ASSIGN_OR_RAISE(ViewSpec view, ParseView(node));
        out_->views_.push_back(std::move(view));
      }
    }
    return arrow::Status::OK();
  }

 private:
  template <typename... Args>
  arrow::Status Fail(const std::string& entry, const Args&... parts) const {
    std::ostringstream msg;
    msg << "field registry " << source_ << ": ";
    if (!entry.empty()) msg << entry << ": ";
    (msg << ... << parts);
    return arrow::Status::Invalid(msg.str());
  }

  arrow::Result<std::vector<std::string>> Strings(const toml::table& table, const char* key,
                                                  const std::string& entry) const {
    std::vector<std::string> out;
    const toml::node* node = table.get(key);
    if (node == nullptr) return out;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Fail(entry, "'", key, "' must be an array of strings");
    for (const auto& item : *array) {
      auto text = item.value<std::string>();
      if (!text) return Fail(entry, "'", key, "' must be an array of strings");
      out.push_back(*text);
    }
    return out;
  }

  arrow::Result<FieldSpec> ParseField(const toml::node& node, bool calculated) const {
    const toml::table* table = node.as_table();
    std::string kind = calculated ? "[[calculated]]" : "[[field]]";
    if (table == nullptr) return Fail(kind, "entry must be a table");
    FieldSpec spec;
    spec.calculated = calculated;
    spec.name = (*table)["name"].value_or(std::string());
    if (spec.name.empty()) return Fail(kind, "entry without a name");
    std::string entry = kind + " '" + spec.name + "'";
    spec.description = (*table)["description"].value_or(std::string());

    static const std::set<std::string> kKnownKeys = {
        "name", "description", "type", "required", "values", "aliases", "default", "format",
        "group", "sensitivity", "lookup", "dictionary", "function", "from", "anonymise",
        "placeholders", "min", "note_field"};
    for (const auto& [key, value] : *table) {
      if (!kKnownKeys.count(std::string(key.str()))) {
        return Fail(entry, "unknown key '", key.str(), "'");
      }
    }

    std::string type = (*table)["type"].value_or(std::string());
    if (type == "string") spec.type = FieldType::kString;
    else if (type == "date") spec.type = FieldType::kDate;
    else if (type == "timestamp") spec.type = FieldType::kTimestamp;
    else if (type == "integer") spec.type = FieldType::kInteger;
    else if (type == "enum") spec.type = FieldType::kEnum;
    else return Fail(entry, "unknown type '", type, "' (string, date, timestamp, integer, enum)");

    spec.required = (*table)["required"].value_or(false);
    spec.lookup = (*table)["lookup"].value_or(false);
    spec.dictionary = (*table)["dictionary"].value_or(true);
    spec.group = (*table)["group"].value_or(std::string());
    ARROW_ASSIGN_OR_RAISE(spec.values, Strings(*table, "values", entry));
    if (spec.type == FieldType::kEnum && spec.values.empty()) {
      return Fail(entry, "an enum needs a non-empty 'values' list");
    }
    if (spec.type != FieldType::kEnum && !spec.values.empty()) {
      return Fail(entry, "'values' is only for enums");
    }
    if (const toml::table* aliases = (*table)["aliases"].as_table()) {
      for (const auto& [alias, target] : *aliases) {
        auto canonical = target.value<std::string>();
        if (!canonical || std::find(spec.values.begin(), spec.values.end(), *canonical) ==
                              spec.values.end()) {
          return Fail(entry, "alias '", alias.str(), "' must map to one of the field's values");
        }
        spec.aliases.emplace_back(std::string(alias.str()), *canonical);
      }
    }
    if (auto def = (*table)["default"].value<std::string>()) {
      if (spec.type == FieldType::kEnum &&
          std::find(spec.values.begin(), spec.values.end(), *def) == spec.values.end()) {
        return Fail(entry, "default '", *def, "' is not one of the values");
      }
      spec.default_value = *def;
    }
    ARROW_ASSIGN_OR_RAISE(spec.placeholders, Strings(*table, "placeholders", entry));
    if (const toml::node* min = table->get("min")) {
      if (spec.type != FieldType::kInteger || !min->is_integer()) {
        return Fail(entry, "'min' is an integer and only for integer fields");
      }
      spec.min = min->value<int64_t>();
    }
    spec.note_field = (*table)["note_field"].value_or(std::string());
    if (!spec.note_field.empty() && spec.type != FieldType::kInteger) {
      return Fail(entry, "'note_field' is only for integer fields");
    }
    std::string format = (*table)["format"].value_or(std::string());
    if (format.empty()) spec.format = FieldFormat::kNone;
    else if (format == "email") spec.format = FieldFormat::kEmail;
    else if (format == "nl_postcode") spec.format = FieldFormat::kNlPostcode;
    else if (format == "iban") spec.format = FieldFormat::kIban;
    else return Fail(entry, "unknown format '", format, "' (email, nl_postcode, iban)");

    std::string sensitivity = (*table)["sensitivity"].value_or(std::string("none"));
    if (sensitivity == "none") spec.sensitivity = Sensitivity::kNone;
    else if (sensitivity == "quasi") spec.sensitivity = Sensitivity::kQuasi;
    else if (sensitivity == "direct") spec.sensitivity = Sensitivity::kDirect;
    else if (sensitivity == "restricted") spec.sensitivity = Sensitivity::kRestricted;
    else return Fail(entry, "unknown sensitivity '", sensitivity, "' (none, quasi, direct, restricted)");

    using Rule = AnonymiseRule::Kind;
    const bool identifying = spec.sensitivity == Sensitivity::kDirect || spec.sensitivity == Sensitivity::kRestricted;
    spec.anonymise.kind = spec.sensitivity == Sensitivity::kNone ? Rule::kKeep : Rule::kDrop;
    if (auto rule = (*table)["anonymise"].value<std::string>()) {
      const std::string& text = *rule;
      auto number = [&](size_t from) {
        int n = 0;
        for (size_t i = from; i < text.size(); ++i) {
          if (text[i] < '0' || text[i] > '9' || n > 1000) return 0;
          n = n * 10 + (text[i] - '0');
        }
        return from < text.size() ? n : 0;
      };
      const bool date = spec.type == FieldType::kDate || spec.type == FieldType::kTimestamp;
      if (text == "keep") spec.anonymise = {Rule::kKeep, 0};
      else if (text == "drop") spec.anonymise = {Rule::kDrop, 0};
      else if (text == "year" && date) spec.anonymise = {Rule::kYear, 0};
      else if (text.rfind("band:", 0) == 0 && spec.type == FieldType::kInteger && number(5) > 0) spec.anonymise = {Rule::kBand, number(5)};
      else if (text.rfind("prefix:", 0) == 0 && spec.type == FieldType::kString && number(7) > 0) spec.anonymise = {Rule::kPrefix, number(7)};
      else return Fail(entry, "anonymise '", text, "' does not fit this ", type, " field (keep, drop, year for dates, band:N for integers, prefix:N for text)");
      if (identifying && spec.anonymise.kind != Rule::kDrop) {
        return Fail(entry, "anonymise '", text, "': ", sensitivity, " fields are always dropped");
      }
    } else if ((*table)["anonymise"]) {
      return Fail(entry, "'anonymise' must be a string");
    }

    spec.function = (*table)["function"].value_or(std::string());
    ARROW_ASSIGN_OR_RAISE(spec.from, Strings(*table, "from", entry));
    if (calculated && (spec.function.empty() || spec.from.empty())) {
      return Fail(entry, "a calculated field needs 'function' and 'from'");
    }
    if (!calculated && (!spec.function.empty() || !spec.from.empty())) {
      return Fail(entry, "'function' and 'from' belong to [[calculated]] entries");
    }
    return spec;
  }

  arrow::Result<ViewSpec> ParseView(const toml::node& node) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Fail("[[view]]", "entry must be a table");
    ViewSpec view;
    view.name = (*table)["name"].value_or(std::string());
    if (view.name.empty()) return Fail("[[view]]", "entry without a name");
    std::string entry = "[[view]] '" + view.name + "'";
    ARROW_ASSIGN_OR_RAISE(view.columns, Strings(*table, "columns", entry));
    if (const toml::array* where = (*table)["where"].as_array()) {
      for (const auto& clause_node : *where) {
        const toml::table* clause = clause_node.as_table();
        if (clause == nullptr) return Fail(entry, "'where' entries must be tables");
        ViewPredicate predicate;
        predicate.field = (*clause)["field"].value_or(std::string());
        ARROW_ASSIGN_OR_RAISE(predicate.in, Strings(*clause, "in", entry));
        predicate.not_null = (*clause)["not_null"].value_or(false);
        if (predicate.field.empty() || (predicate.in.empty() && !predicate.not_null)) {
          return Fail(entry, "a 'where' clause needs a field and 'in' or 'not_null'");
        }
        view.where.push_back(std::move(predicate));
      }
    }
    return view;
  }

  FieldRegistry* out_;
  std::string source_;
};

arrow::Status FieldRegistry::Finish(const std::string& source) {
  auto fail = [&](const std::string& msg) {
    return arrow::Status::Invalid("field registry ", source, ": ", msg);
  };
  std::set<std::string> names;
  for (const auto* list : {&stored_, &calculated_}) {
    for (const FieldSpec& spec : *list) {
      if (!names.insert(spec.name).second) return fail("duplicate field '" + spec.name + "'");
    }
  }
  if (StoredIndex("member_id") < 0) return fail("the registry must define 'member_id'");
  for (const FieldSpec& spec : calculated_) {
    for (const std::string& input : spec.from) {
      if (StoredIndex(input) < 0) {
        return fail("calculated field '" + spec.name + "' uses unknown stored field '" + input + "'");
      }
    }
  }
  for (const FieldSpec& spec : stored_) {
    if (spec.note_field.empty()) continue;
    int note = StoredIndex(spec.note_field);
    if (note < 0 || stored_[static_cast<size_t>(note)].type != FieldType::kString ||
        !stored_[static_cast<size_t>(note)].note_field.empty()) {
      return fail("field '" + spec.name + "': note_field '" + spec.note_field + "' must be a stored string field");
    }
  }
  for (const std::string& name : sort_by_) {
    if (Find(name) == nullptr) return fail("[lake] sort_by names unknown field '" + name + "'");
  }
  if (!cluster_by_.empty()) {
    const FieldSpec* cluster = Find(cluster_by_);
    if (cluster == nullptr || cluster->type == FieldType::kEnum) {
      return fail("[lake] cluster_by '" + cluster_by_ + "' must be a field that is not an enum");
    }
  }
  if (!partition_field_.empty()) {
    const FieldSpec* partition = Find(partition_field_);
    if (partition == nullptr || partition->type != FieldType::kEnum) {
      return fail("[lake] partition_field '" + partition_field_ + "' must be an enum field");
    }
  }
  for (const ViewSpec& view : views_) {
    for (const ViewPredicate& predicate : view.where) {
      if (Find(predicate.field) == nullptr) {
        return fail("view '" + view.name + "' filters on unknown field '" + predicate.field + "'");
      }
    }
    for (const std::string& column : view.columns) {
      if (Find(column) == nullptr) {
        return fail("view '" + view.name + "' selects unknown field '" + column + "'");
      }
    }
  }

  arrow::FieldVector raw_fields, lake_fields;
  for (const FieldSpec& spec : stored_) {
    raw_fields.push_back(arrow::field(spec.name, arrow::utf8()));
    lake_fields.push_back(arrow::field(spec.name, LakeType(spec.type), !spec.required));
  }
  for (const FieldSpec& spec : calculated_) {
    lake_fields.push_back(arrow::field(spec.name, LakeType(spec.type)));
  }
  raw_schema_ = arrow::schema(std::move(raw_fields));
  lake_schema_ = arrow::schema(std::move(lake_fields));
  return arrow::Status::OK();
}

const FieldSpec* FieldRegistry::Find(std::string_view name) const {
  for (const auto* list : {&stored_, &calculated_}) {
    for (const FieldSpec& spec : *list) {
      if (spec.name == name) return &spec;
    }
  }
  return nullptr;
}

int FieldRegistry::StoredIndex(std::string_view name) const {
  for (size_t i = 0; i < stored_.size(); ++i) {
    if (stored_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

arrow::Result<std::shared_ptr<const FieldRegistry>> FieldRegistry::LoadString(
    std::string_view toml_text, const std::string& source_name) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    std::ostringstream msg;
    msg << "field registry " << source_name << ": line " << error.source().begin.line << ": "
        << error.description();
    return arrow::Status::Invalid(msg.str());
  }
  std::shared_ptr<FieldRegistry> registry(new FieldRegistry());
  RegistryParser parser(registry.get(), source_name);
  ARROW_RETURN_NOT_OK(parser.Parse(doc));
  ARROW_RETURN_NOT_OK(registry->Finish(source_name));
  return std::shared_ptr<const FieldRegistry>(std::move(registry));
}

arrow::Result<std::shared_ptr<const FieldRegistry>> FieldRegistry::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read field registry '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  return LoadString(text.str(), path);
}

arrow::Result<std::shared_ptr<const FieldRegistry>> FieldRegistry::LoadDefault() {
  return LoadString(kDefaultRegistryToml, "built-in config/fields.toml");
}

arrow::Result<std::shared_ptr<const FieldRegistry>> FieldRegistry::Load(const std::string& path) {
  if (!path.empty()) return LoadFile(path);
  if (const char* env = std::getenv("MEMBERLAKE_REGISTRY"); env != nullptr && *env != '\0') {
    return LoadFile(env);
  }
  return LoadDefault();
}

}  // namespace memberlake::model
