#include "ai/privacy_guard.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "query/result_format.h"

namespace memberlake::ai {
namespace {

bool UsableField(const model::FieldSpec& field) {
  if (field.sensitivity == model::Sensitivity::kNone) return true;
  // A quasi-identifier that anonymised data may keep (coarsened or as is) is coarse enough
  // for counted groups of at least k; one it must drop (postcode, birth date) is not.
  return field.sensitivity == model::Sensitivity::kQuasi && field.anonymise.kind != model::AnonymiseRule::Kind::kDrop;
}

}  // namespace

PrivacyGuard::PrivacyGuard(const model::FieldRegistry& registry, int k) : registry_(registry), k_(std::max(k, 2)) {
  for (const auto* fields : {&registry.stored_fields(), &registry.calculated_fields()}) {
    for (const auto& field : *fields) {
      if (!UsableField(field)) continue;
      columns_.push_back(&field);
      usable_.insert(field.name);
    }
  }
}

namespace {

arrow::Status Refuse(const model::FieldRegistry& registry, const std::string& column) {
  const model::FieldSpec* field = registry.Find(column);
  if (field == nullptr) return arrow::Status::Invalid("unknown column '", column, "'");
  switch (field->sensitivity) {
    case model::Sensitivity::kDirect:
      return arrow::Status::Invalid("column '", column, "' is personal data (an identifier) and cannot be used");
    case model::Sensitivity::kRestricted:
      return arrow::Status::Invalid("column '", column, "' is restricted and cannot be used");
    default:
      return arrow::Status::Invalid("column '", column,
                                    "' narrows groups down to single members (a quasi-identifier) and cannot be used");
  }
}

}  // namespace

arrow::Status PrivacyGuard::CheckSpec(const query::QuerySpec& spec) const {
  if (!spec.select.empty()) {
    return arrow::Status::Invalid("only aggregates are available: give group_by and aggregates, not a select");
  }
  if (spec.limit) return arrow::Status::Invalid("a limit is not allowed (it would hide groups that totals reveal)");
  if (spec.group_by.size() > kMaxGroupBy) {
    return arrow::Status::Invalid("group by at most ", kMaxGroupBy, " columns");
  }
  for (const auto& filter : spec.where) {
    if (!Usable(filter.column)) return Refuse(registry_, filter.column);
  }
  for (const auto& column : spec.group_by) {
    if (!Usable(column)) return Refuse(registry_, column);
  }
  for (const auto& aggregate : spec.aggregates) {
    if (aggregate.column.empty()) continue;
    if (!Usable(aggregate.column)) return Refuse(registry_, aggregate.column);
    const bool extreme = aggregate.fn == query::AggregateFn::kMin || aggregate.fn == query::AggregateFn::kMax;
    if (extreme && registry_.Find(aggregate.column)->sensitivity == model::Sensitivity::kQuasi) {
      return arrow::Status::Invalid("min and max of '", aggregate.column,
                                    "' would describe one member; use avg, median or quantile");
    }
  }
  for (const auto& order : spec.order_by) {
    const bool output = std::any_of(spec.aggregates.begin(), spec.aggregates.end(),
                                    [&](const query::AggregateSpec& a) { return a.name == order.column; });
    if (!output && !Usable(order.column)) return Refuse(registry_, order.column);
  }
  return arrow::Status::OK();
}

arrow::Status PrivacyGuard::CheckFilterText(std::string_view text) const {
  size_t i = 0;
  while (i < text.size()) {
    if (!(std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    const std::string word(text.substr(i, end - i));
    if (registry_.Find(word) != nullptr && !Usable(word)) return Refuse(registry_, word);
    i = end;
  }
  return arrow::Status::OK();
}

query::QuerySpec PrivacyGuard::Counted(query::QuerySpec spec) {
  query::AggregateSpec count;
  count.fn = query::AggregateFn::kCountAll;
  count.name = std::string(kCountColumn);
  spec.aggregates.push_back(std::move(count));
  return spec;
}

arrow::Result<PrivacyGuard::Released> PrivacyGuard::Suppress(const arrow::Table& result,
                                                            const std::vector<std::string>& group_by) const {
  const int count_index = result.schema()->GetFieldIndex(std::string(kCountColumn));
  if (count_index < 0) return arrow::Status::Invalid("internal: the result has no member count");
  ARROW_ASSIGN_OR_RAISE(auto combined, result.CombineChunks());
  const int64_t rows = combined->num_rows();
  if (rows == 0) {
    ARROW_ASSIGN_OR_RAISE(auto empty, combined->RemoveColumn(count_index));
    return Released{std::move(empty), 0};
  }
  std::vector<int64_t> members(rows, 0);
  const auto& counts = *combined->column(count_index)->chunk(0);
  ARROW_ASSIGN_OR_RAISE(auto as_int, arrow::compute::Cast(counts, arrow::int64()));
  const auto& count_array = static_cast<const arrow::Int64Array&>(*as_int);
  for (int64_t i = 0; i < rows; ++i) members[i] = count_array.IsNull(i) ? 0 : count_array.Value(i);

  // The text of each row's group values (null distinct from any text).
  std::vector<std::vector<std::string>> keys(rows, std::vector<std::string>(group_by.size()));
  for (size_t g = 0; g < group_by.size(); ++g) {
    auto column = combined->GetColumnByName(group_by[g]);
    if (!column) return arrow::Status::Invalid("internal: the result has no column ", group_by[g]);
    for (int64_t i = 0; i < rows; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto text, query::CellText(*column->chunk(0), i));
      keys[i][g] = text ? "v" + *text : "n";
    }
  }
  std::vector<bool> suppressed(rows);
  for (int64_t i = 0; i < rows; ++i) suppressed[i] = members[i] < k_;
  // Complementary suppression until every line's suppressed total is 0 or at least k. Each
  // pass only adds suppressions, so it ends (at worst with everything suppressed).
  const size_t dimensions = std::max<size_t>(group_by.size(), 1);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t d = 0; d < dimensions; ++d) {
      std::map<std::string, std::vector<int64_t>> lines;
      for (int64_t i = 0; i < rows; ++i) {
        std::string line;
        for (size_t g = 0; g < group_by.size(); ++g) {
          if (g != d) line += keys[i][g] + '\x1f';
        }
        lines[line].push_back(i);
      }
      for (const auto& [line, members_of_line] : lines) {
        int64_t hidden = 0;
        int64_t smallest = -1;
        for (int64_t i : members_of_line) {
          if (suppressed[i]) hidden += members[i];
          else if (smallest < 0 || members[i] < members[smallest]) smallest = i;
        }
        if (hidden > 0 && hidden < k_ && smallest >= 0) {
          suppressed[smallest] = true;
          changed = true;
        }
      }
    }
  }
  Released released;
  arrow::BooleanBuilder keep;
  for (int64_t i = 0; i < rows; ++i) {
    ARROW_RETURN_NOT_OK(keep.Append(!suppressed[i]));
    released.suppressed_groups += suppressed[i] ? 1 : 0;
  }
  ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
  ARROW_ASSIGN_OR_RAISE(auto filtered, arrow::compute::Filter(combined, mask));
  ARROW_ASSIGN_OR_RAISE(released.table, filtered.table()->RemoveColumn(count_index));
  return released;
}

}  // namespace memberlake::ai
