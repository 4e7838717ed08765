// The field registry: the schema of a member, loaded from a TOML file (config/fields.toml).
// Everything typed about members derives from it: the raw schema stores emit, the typed lake
// schema, validation and normalisation rules, sensitivity classes, the lake's sort order and
// the filtered views. A registry is immutable once loaded and safe to share between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace memberlake::model {

enum class FieldType { kString, kDate, kTimestamp, kInteger, kEnum };
enum class Sensitivity { kNone, kQuasi, kDirect, kRestricted };
enum class FieldFormat { kNone, kEmail, kNlPostcode, kIban };

std::string_view FieldTypeName(FieldType type);

// What anonymisation does with a field (registry key `anonymise`): keep it, drop it, keep only
// the year of a date, the band of an integer ("band:5": 40-44), or the first N characters of
// a text ("prefix:2": the PC2 area of a postcode). Direct and restricted fields are always
// dropped; quasi-identifiers are dropped unless a rule says how to coarsen them.
struct AnonymiseRule {
  enum class Kind { kKeep, kDrop, kYear, kBand, kPrefix };
  Kind kind = Kind::kKeep;
  int n = 0;  // band width or prefix length
};

struct FieldSpec {
  std::string name;
  std::string description;  // one line: what the field holds
  FieldType type = FieldType::kString;
  bool required = false;
  std::vector<std::string> values;                            // enum: canonical spellings
  std::vector<std::pair<std::string, std::string>> aliases;   // enum: spelling -> canonical
  std::optional<std::string> default_value;
  // Texts that stand for "no value" (a form's placeholder such as "test@h-dcn.nl"), compared
  // ignoring ASCII case after trimming: such a value is treated as missing.
  std::vector<std::string> placeholders;
  std::optional<int64_t> min;  // integers: the smallest value allowed
  // Integers: a stored string field that takes the text written next to the number
  // ("1234 Donateur" -> 1234 and "Donateur"; "Donateur" alone -> no number and "Donateur").
  std::string note_field;
  FieldFormat format = FieldFormat::kNone;
  std::string group;
  Sensitivity sensitivity = Sensitivity::kNone;
  bool lookup = false;      // write a bloom filter for equality lookups
  bool dictionary = true;   // dictionary-encode in Parquet (false for identifiers)
  AnonymiseRule anonymise;  // defaults by sensitivity (see AnonymiseRule)

  // Calculated fields only: the built-in function and its input fields, in order.
  bool calculated = false;
  std::string function;
  std::vector<std::string> from;
};

// A filter clause of a view: `field IN values`, or `field IS NOT NULL`.
struct ViewPredicate {
  std::string field;
  std::vector<std::string> in;
  bool not_null = false;
};

struct ViewSpec {
  std::string name;                    // also the folder name in the lake
  std::vector<ViewPredicate> where;    // ANDed
  std::vector<std::string> columns;    // empty: all lake columns
};

class FieldRegistry {
 public:
  // Loads and checks a registry. Errors (Status::Invalid) name the file, the entry and the
  // problem: unknown type, enum without values, duplicate name, calculated input that does
  // not exist, view on an unknown field, ...
  static arrow::Result<std::shared_ptr<const FieldRegistry>> LoadFile(const std::string& path);
  static arrow::Result<std::shared_ptr<const FieldRegistry>> LoadString(
      std::string_view toml_text, const std::string& source_name);
  // The club's registry, compiled into the binary from config/fields.toml so that a lone
  // binary (e.g. on Lambda) needs no files next to it.
  static arrow::Result<std::shared_ptr<const FieldRegistry>> LoadDefault();
  // `path` if non-empty, else $MEMBERLAKE_REGISTRY if set, else the built-in default.
  static arrow::Result<std::shared_ptr<const FieldRegistry>> Load(const std::string& path);

  int schema_version() const { return schema_version_; }
  // Stored (non-calculated) fields, in registry order: the columns of the live store.
  const std::vector<FieldSpec>& stored_fields() const { return stored_; }
  const std::vector<FieldSpec>& calculated_fields() const { return calculated_; }
  // Stored or calculated field by name; nullptr when unknown.
  const FieldSpec* Find(std::string_view name) const;
  // Index into stored_fields(), or -1.
  int StoredIndex(std::string_view name) const;

  // What live stores emit: one nullable utf8 column per stored field, raw text as stored.
  const std::shared_ptr<arrow::Schema>& raw_schema() const { return raw_schema_; }
  // The typed lake schema: stored fields (enums dictionary-encoded, dates date32,
  // timestamps ms UTC, integers int64) followed by the calculated fields.
  const std::shared_ptr<arrow::Schema>& lake_schema() const { return lake_schema_; }

  const std::vector<std::string>& sort_by() const { return sort_by_; }
  const std::string& partition_field() const { return partition_field_; }
  // Within each row group, rows that tie on sort_by are ordered by this column (empty: none),
  // so that it and the columns that follow it encode small (docs/scale.md).
  const std::string& cluster_by() const { return cluster_by_; }
  const std::vector<ViewSpec>& views() const { return views_; }

  // The Arrow type a field has in the lake schema.
  static std::shared_ptr<arrow::DataType> LakeType(FieldType type);

 private:
  FieldRegistry() = default;
  arrow::Status Finish(const std::string& source_name);

  int schema_version_ = 0;
  std::vector<FieldSpec> stored_;
  std::vector<FieldSpec> calculated_;
  std::vector<std::string> sort_by_;
  std::string partition_field_;
  std::vector<ViewSpec> views_;
  std::shared_ptr<arrow::Schema> raw_schema_;
  std::shared_ptr<arrow::Schema> lake_schema_;
  std::string cluster_by_;

  friend class RegistryParser;
};

}  // namespace memberlake::model
