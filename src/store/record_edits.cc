#include "store/record_edits.h"

#include <charconv>
#include <cstdio>
#include <random>

#include "model/calendar.h"

namespace memberlake::store {

std::string NewMemberId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

bool HasValue(const FieldValues& values, const std::string& name) {
  for (const auto& [field, value] : values) {
    if (field == name && value && !value->empty()) return true;
  }
  return false;
}

void SetField(const model::FieldRegistry& registry, FieldValues& values, const std::string& name,
              std::optional<std::string> value, bool overwrite) {
  if (registry.StoredIndex(name) < 0) return;
  for (auto& [field, existing] : values) {
    if (field != name) continue;
    if (overwrite || !existing || existing->empty()) existing = value;
    return;
  }
  values.emplace_back(name, std::move(value));
}

arrow::Result<FieldValues> PrepareInsert(const model::FieldRegistry& registry, FieldValues values,
                                         const std::function<arrow::Result<int64_t>()>& next_lidnummer) {
  if (!HasValue(values, "member_id")) SetField(registry, values, "member_id", NewMemberId(), true);
  if (registry.StoredIndex("lidnummer") >= 0 && !HasValue(values, "lidnummer")) {
    ARROW_ASSIGN_OR_RAISE(int64_t next, next_lidnummer());
    SetField(registry, values, "lidnummer", std::to_string(next), true);
  }
  std::string now = model::UtcNowIso();
  SetField(registry, values, "created_at", now, /*overwrite=*/false);
  SetField(registry, values, "updated_at", now, /*overwrite=*/true);
  return values;
}

std::optional<int64_t> LidnummerOf(const model::FieldRegistry& registry, const model::MemberRecord& record) {
  const int index = registry.StoredIndex("lidnummer");
  if (index < 0 || !record[static_cast<size_t>(index)]) return std::nullopt;
  const std::string& text = *record[static_cast<size_t>(index)];
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

arrow::Status LidnummerInUse(int64_t lidnummer) {
  return arrow::Status::AlreadyExists("lidnummer: ", lidnummer, " is already another member's number");
}

arrow::Result<FieldValues> MergeUpdate(const model::FieldRegistry& registry, const std::string& member_id,
                                       const model::MemberRecord& current, const FieldValues& changes) {
  FieldValues values;
  const auto& specs = registry.stored_fields();
  for (size_t i = 0; i < specs.size() && i < current.size(); ++i) values.emplace_back(specs[i].name, current[i]);
  for (const auto& [name, value] : changes) {
    if (name == "member_id" && value != std::optional<std::string>(member_id)) {
      return arrow::Status::Invalid("member_id: cannot be changed");
    }
    if (registry.StoredIndex(name) < 0) {
      // The club's forms send the calculated fields along: stale copies, ignored.
      const model::FieldSpec* spec = registry.Find(name);
      if (spec != nullptr && spec->calculated) continue;
      return arrow::Status::Invalid("unknown field '", name, "'");
    }
    SetField(registry, values, name, value, /*overwrite=*/true);
  }
  SetField(registry, values, "updated_at", model::UtcNowIso(), /*overwrite=*/true);
  return values;
}

arrow::Result<std::vector<std::shared_ptr<arrow::StringArray>>> ImportColumns(const model::FieldRegistry& registry,
                                                                              const arrow::RecordBatch& batch) {
  std::vector<std::shared_ptr<arrow::StringArray>> columns(registry.stored_fields().size());
  for (int c = 0; c < batch.num_columns(); ++c) {
    const std::string& name = batch.schema()->field(c)->name();
    int index = registry.StoredIndex(name);
    const model::FieldSpec* calculated = index < 0 ? registry.Find(name) : nullptr;
    if (calculated != nullptr && calculated->calculated) continue;  // a stale copy: never stored as a field
    if (index < 0) return arrow::Status::Invalid("unknown field '", name, "'");
    if (batch.column(c)->type_id() != arrow::Type::STRING) {
      return arrow::Status::TypeError("import column '", name, "' must be utf8");
    }
    columns[static_cast<size_t>(index)] = std::static_pointer_cast<arrow::StringArray>(batch.column(c));
  }
  return columns;
}

}  // namespace memberlake::store
