// What an anonymised dataset may release and how (config/anonymisation.toml, compiled in as the
// default): per column its role (a quasi-identifier, generalised along a hierarchy of levels;
// or a sensitive attribute, kept l-diverse) and the defaults (k, l, suppression cap, the
// columns released when the caller chooses none). Checked against the field registry when
// loaded: a direct identifier or a restricted field can never be part of a policy.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "model/field_registry.h"

namespace memberlake::transform {

// One step of a generalisation hierarchy (see config/anonymisation.toml).
struct GeneralisationLevel {
  enum class Kind { kValue, kYear, kBand, kPrefix, kRare, kParent, kSuppressed };
  Kind kind = Kind::kValue;
  int n = 0;           // band width or prefix length
  std::string parent;  // kParent: the field whose value replaces this one
  std::string text;    // as written in the policy ("band:10"), for summaries
};

struct AnonymisedColumn {
  enum class Role { kQuasi, kSensitive };
  std::string name;  // a registry field
  Role role = Role::kQuasi;
  std::vector<GeneralisationLevel> levels;  // quasi: finest first, the last is "*"
};

class AnonymisationPolicy {
 public:
  static arrow::Result<std::shared_ptr<const AnonymisationPolicy>> LoadString(std::string_view toml_text,
                                                                             const std::string& source_name,
                                                                             const model::FieldRegistry& registry);
  static arrow::Result<std::shared_ptr<const AnonymisationPolicy>> LoadDefault(const model::FieldRegistry& registry);
  // `path` if non-empty (a registry other than the club's needs its own policy), else the default.
  static arrow::Result<std::shared_ptr<const AnonymisationPolicy>> Load(const std::string& path,
                                                                       const model::FieldRegistry& registry);

  int default_k() const { return k_; }
  int default_l() const { return l_; }
  double max_suppression() const { return max_suppression_; }
  const std::vector<std::string>& default_columns() const { return default_columns_; }
  const std::vector<AnonymisedColumn>& columns() const { return columns_; }
  const AnonymisedColumn* Find(std::string_view name) const;

  // The columns a caller asked for, checked: empty means the defaults; an identifier or
  // restricted field, a field the policy does not release, an unknown name or a duplicate
  // is Invalid naming the column. In policy order.
  arrow::Result<std::vector<const AnonymisedColumn*>> Choose(const std::vector<std::string>& requested,
                                                             const model::FieldRegistry& registry) const;
  // The lake columns Anonymise reads for `chosen`: the columns themselves and the fields
  // their hierarchies refer to (parent:FIELD), plus member_id for pseudonyms. Reading only
  // these keeps a 1M-member run from decoding forty columns it never looks at.
  static std::vector<std::string> InputColumns(const std::vector<const AnonymisedColumn*>& chosen, bool pseudonyms);

 private:
  friend class PolicyParser;
  int k_ = 5;
  int l_ = 2;
  double max_suppression_ = 0.05;
  std::vector<std::string> default_columns_;
  std::vector<AnonymisedColumn> columns_;
};

}  // namespace memberlake::transform
