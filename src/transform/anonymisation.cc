#include "transform/anonymisation.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <optional>
#include <set>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "model/arrow_compute.h"
#include "transform/anonymisation_levels.h"

namespace memberlake::transform {
namespace {

namespace cp = arrow::compute;
using internal::LevelCodes;
using Kind = GeneralisationLevel::Kind;

arrow::Result<std::shared_ptr<arrow::Array>> Pseudonyms(const arrow::ChunkedArray& ids, const std::string& key) {
  arrow::StringBuilder out;
  ARROW_RETURN_NOT_OK(out.Reserve(ids.length()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  static const char kHex[] = "0123456789abcdef";
  for (const auto& chunk : ids.chunks()) {
    const auto& strings = static_cast<const arrow::StringArray&>(*chunk);
    for (int64_t i = 0; i < strings.length(); ++i) {
      if (strings.IsNull(i)) {
        ARROW_RETURN_NOT_OK(out.AppendNull());
        continue;
      }
      std::string_view id = strings.GetView(i);
      unsigned int length = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(id.data()),
           id.size(), digest, &length);
      char hex[32];
      for (int b = 0; b < 16; ++b) {  // 128 bits: no collisions at any club size
        hex[2 * b] = kHex[digest[b] >> 4];
        hex[2 * b + 1] = kHex[digest[b] & 15];
      }
      ARROW_RETURN_NOT_OK(out.Append(hex, 32));
    }
  }
  return out.Finish();
}

// Rows grouped into equivalence classes: a dense class id per row and each class's size. The
// buffers are reused from one search step to the next: at 1M rows fresh ones would cost more
// in page faults than the grouping itself.
struct Grouping {
  std::vector<int32_t> class_of;
  std::vector<int64_t> size;
  std::vector<uint64_t> key, slots;
  std::vector<int32_t> values;
};

// Dense ids for 64-bit keys in first-seen order: a direct table when the key space is small,
// else open addressing (keys are mixed-radix codes, so a multiplicative hash spreads them).
int32_t Densify(Grouping& g, uint64_t radix) {
  const std::vector<uint64_t>& keys = g.key;
  const size_t n = keys.size();
  g.class_of.resize(n);
  int32_t next = 0;
  if (radix <= std::max<uint64_t>(4 * static_cast<uint64_t>(n), 1u << 16)) {
    g.values.assign(static_cast<size_t>(radix), -1);
    for (size_t i = 0; i < n; ++i) {
      int32_t& id = g.values[static_cast<size_t>(keys[i])];
      if (id < 0) id = next++;
      g.class_of[i] = id;
    }
    return next;
  }
  int shift = 64;
  size_t capacity = 1;
  while (capacity < 2 * n) {
    capacity <<= 1;
    --shift;
  }
  constexpr uint64_t kEmpty = std::numeric_limits<uint64_t>::max();
  g.slots.assign(capacity, kEmpty);
  g.values.resize(capacity);
  const size_t mask = capacity - 1;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    size_t slot = shift >= 64 ? 0 : static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift);
    while (g.slots[slot] != kEmpty && g.slots[slot] != key) slot = (slot + 1) & mask;
    if (g.slots[slot] == kEmpty) {
      g.slots[slot] = key;
      g.values[slot] = next++;
    }
    g.class_of[i] = g.values[slot];
  }
  return next;
}

void Group(const std::vector<const LevelCodes*>& columns, size_t n, Grouping& g) {
  g.key.assign(n, 0);
  uint64_t radix = 1;
  for (const LevelCodes* column : columns) {
    const auto card = static_cast<uint64_t>(column->cardinality);
    if (card <= 1) continue;
    if (radix > (uint64_t{1} << 62) / card) {  // the next digit would overflow: renumber first
      radix = static_cast<uint64_t>(Densify(g, radix));
      std::copy(g.class_of.begin(), g.class_of.end(), g.key.begin());
    }
    const int32_t* codes = column->codes.data();
    uint64_t* key = g.key.data();
    for (size_t i = 0; i < n; ++i) key[i] = key[i] * card + static_cast<uint64_t>(codes[i]);
    radix *= card;
  }
  const int32_t classes = Densify(g, radix);
  g.size.assign(static_cast<size_t>(classes), 0);
  for (int32_t id : g.class_of) ++g.size[static_cast<size_t>(id)];
}

// Which classes hold: at least k rows and, per sensitive column, at least l distinct values
// (counted as bits of code % 64: a collision undercounts, which only suppresses more).
std::vector<bool> ClassesThatHold(const Grouping& grouping, const std::vector<const LevelCodes*>& sensitive, int k,
                                  int l) {
  std::vector<bool> holds(grouping.size.size());
  for (size_t c = 0; c < holds.size(); ++c) holds[c] = grouping.size[c] >= k;
  if (l <= 1) return holds;
  std::vector<uint64_t> seen(grouping.size.size());
  for (const LevelCodes* column : sensitive) {
    std::fill(seen.begin(), seen.end(), 0);
    for (size_t i = 0; i < grouping.class_of.size(); ++i) {
      seen[static_cast<size_t>(grouping.class_of[i])] |= uint64_t{1} << (column->codes[i] & 63);
    }
    for (size_t c = 0; c < holds.size(); ++c) {
      if (std::popcount(seen[c]) < l) holds[c] = false;
    }
  }
  return holds;
}

int64_t Suppressed(const Grouping& grouping, const std::vector<bool>& holds) {
  int64_t rows = 0;
  for (size_t c = 0; c < holds.size(); ++c) {
    if (!holds[c]) rows += grouping.size[c];
  }
  return rows;
}

// The chosen quasi-identifiers with their hierarchy levels, computed when first needed.
class Hierarchies {
 public:
  Hierarchies(const arrow::Table& rows, std::vector<const AnonymisedColumn*> columns, int k)
      : rows_(rows), columns_(std::move(columns)), k_(k), levels_(columns_.size()), base_(columns_.size()) {
    for (size_t c = 0; c < columns_.size(); ++c) levels_[c].resize(columns_[c]->levels.size());
  }
  size_t size() const { return columns_.size(); }
  size_t Depth(size_t c) const { return columns_[c]->levels.size(); }
  const AnonymisedColumn& column(size_t c) const { return *columns_[c]; }

  arrow::Result<const LevelCodes*> Get(size_t c, size_t level) {
    if (levels_[c][level]) return &*levels_[c][level];
    if (!base_[c]) {
      ARROW_ASSIGN_OR_RAISE(auto base, internal::ValueCodes(rows_, columns_[c]->name));
      base_[c] = std::move(base);
    }
    const LevelCodes* previous = nullptr;
    if (level > 0) {
      ARROW_ASSIGN_OR_RAISE(previous, Get(c, level - 1));
    }
    ARROW_ASSIGN_OR_RAISE(auto codes, internal::GeneraliseColumn(rows_, *columns_[c], columns_[c]->levels[level],
                                                                 previous, *base_[c], k_));
    levels_[c][level] = std::move(codes);
    return &*levels_[c][level];
  }

 private:
  const arrow::Table& rows_;
  std::vector<const AnonymisedColumn*> columns_;
  int k_;
  std::vector<std::vector<std::optional<LevelCodes>>> levels_;
  std::vector<std::optional<LevelCodes>> base_;
};

struct Trial {
  std::vector<bool> holds;
  int64_t suppressed = 0;
};

// Groups the rows at `levels` into `grouping` and says which classes hold.
arrow::Result<Trial> Evaluate(Hierarchies& hierarchies, const std::vector<size_t>& levels, Grouping& grouping,
                              const std::vector<const LevelCodes*>& sensitive, size_t n, int k, int l) {
  std::vector<const LevelCodes*> columns;
  for (size_t c = 0; c < levels.size(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto codes, hierarchies.Get(c, levels[c]));
    columns.push_back(codes);
  }
  Trial trial;
  Group(columns, n, grouping);
  trial.holds = ClassesThatHold(grouping, sensitive, k, l);
  trial.suppressed = Suppressed(grouping, trial.holds);
  return trial;
}

// The loss a search step weighs: the mean NCP of the quasi-identifiers, a suppressed row
// counting as fully generalised.
arrow::Result<double> Loss(Hierarchies& hierarchies, const std::vector<size_t>& levels, int64_t suppressed, size_t n) {
  if (levels.empty() || n == 0) return 0.0;
  double ncp = 0;
  for (size_t c = 0; c < levels.size(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto codes, hierarchies.Get(c, levels[c]));
    ncp += codes->ncp;
  }
  const double dropped = static_cast<double>(suppressed) / static_cast<double>(n);
  return ncp / static_cast<double>(levels.size()) * (1 - dropped) + dropped;
}

// Top-down specialisation over the full-domain lattice (see the header): the levels chosen per
// quasi-identifier.
arrow::Result<std::vector<size_t>> Search(Hierarchies& hierarchies, const std::vector<const LevelCodes*>& sensitive,
                                          size_t n, int k, int l, int64_t cap) {
  std::vector<size_t> levels(hierarchies.size());
  for (size_t c = 0; c < levels.size(); ++c) levels[c] = hierarchies.Depth(c) - 1;  // everything "*"
  Grouping grouping;
  ARROW_ASSIGN_OR_RAISE(Trial top, Evaluate(hierarchies, levels, grouping, sensitive, n, k, l));
  int64_t suppressed = top.suppressed;
  if (suppressed > cap) return levels;  // not even one class of all rows holds: nothing to release
  ARROW_ASSIGN_OR_RAISE(double loss, Loss(hierarchies, levels, suppressed, n));
  while (true) {
    std::optional<size_t> best;
    bool best_free = false;
    double best_score = 0, best_loss = 0;
    int64_t best_suppressed = 0;
    for (size_t c = 0; c < hierarchies.size(); ++c) {
      if (levels[c] == 0) continue;
      std::vector<size_t> trial_levels = levels;
      --trial_levels[c];
      ARROW_ASSIGN_OR_RAISE(Trial trial, Evaluate(hierarchies, trial_levels, grouping, sensitive, n, k, l));
      if (trial.suppressed > cap) continue;
      ARROW_ASSIGN_OR_RAISE(double trial_loss, Loss(hierarchies, trial_levels, trial.suppressed, n));
      const double gain = loss - trial_loss;
      if (gain <= 1e-12) continue;
      // A step that suppresses nobody more is taken first (largest gain); else the most
      // information regained per row given up.
      const int64_t given_up = trial.suppressed - suppressed;
      const bool free = given_up <= 0;
      const double score = free ? gain : gain / static_cast<double>(given_up);
      if (!best || (free && !best_free) || (free == best_free && score > best_score)) {
        best = c;
        best_free = free;
        best_score = score;
        best_loss = trial_loss;
        best_suppressed = trial.suppressed;
      }
    }
    if (!best) break;  // no step regains information within the suppression cap
    --levels[*best];
    loss = best_loss;
    suppressed = best_suppressed;
  }
  return levels;
}

}  // namespace

arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymisationPolicy& policy, const AnonymiseOptions& options) {
  ARROW_RETURN_NOT_OK(model::EnsureArrowCompute());
  if (options.k < 2) return arrow::Status::Invalid("k: must be at least 2 (k = 1 hides nobody)");
  const int l = options.l == 0 ? policy.default_l() : options.l;
  if (l < 1) return arrow::Status::Invalid("l: must be at least 1");
  const double cap_fraction = options.max_suppression < 0 ? policy.max_suppression() : options.max_suppression;
  if (cap_fraction > 1) return arrow::Status::Invalid("max suppression: a fraction between 0 and 1");
  if (!options.pseudonym_key.empty() && options.pseudonym_key.size() < 16) {
    return arrow::Status::Invalid("pseudonym key: at least 16 bytes (a short key can be guessed)");
  }
  ARROW_ASSIGN_OR_RAISE(auto chosen, policy.Choose(options.columns, registry));
  for (const AnonymisedColumn* column : chosen) {
    if (rows.GetColumnByName(column->name) == nullptr) {
      return arrow::Status::Invalid("column '", column->name, "' is not in the data");
    }
  }
  const auto n = static_cast<size_t>(rows.num_rows());
  AnonymisedDataset out;
  out.k = options.k;
  out.l = l;
  out.rows_in = rows.num_rows();

  std::vector<const AnonymisedColumn*> quasi;
  std::vector<LevelCodes> sensitive_codes;  // l-diversity counts their values per class
  for (const AnonymisedColumn* column : chosen) {
    if (column->role == AnonymisedColumn::Role::kQuasi) {
      quasi.push_back(column);
    } else {
      ARROW_ASSIGN_OR_RAISE(auto codes, internal::ValueCodes(rows, column->name));
      sensitive_codes.push_back(std::move(codes));
    }
  }
  std::vector<const LevelCodes*> sensitive_ptrs;
  for (const auto& codes : sensitive_codes) sensitive_ptrs.push_back(&codes);

  Hierarchies hierarchies(rows, quasi, options.k);
  const auto cap = static_cast<int64_t>(cap_fraction * static_cast<double>(n));
  ARROW_ASSIGN_OR_RAISE(auto levels, Search(hierarchies, sensitive_ptrs, n, options.k, l, cap));
  Grouping grouping;
  ARROW_ASSIGN_OR_RAISE(Trial final, Evaluate(hierarchies, levels, grouping, sensitive_ptrs, n, options.k, l));

  std::vector<int32_t> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (final.holds[static_cast<size_t>(grouping.class_of[i])]) kept.push_back(static_cast<int32_t>(i));
  }
  out.suppressed = static_cast<int64_t>(n - kept.size());
  for (size_t c = 0; c < final.holds.size(); ++c) {
    if (!final.holds[c]) continue;
    const int64_t size = grouping.size[c];
    ++out.classes;
    out.smallest_class = out.smallest_class == 0 ? size : std::min(out.smallest_class, size);
    out.discernibility += static_cast<double>(size) * static_cast<double>(size);
  }
  out.discernibility += static_cast<double>(out.suppressed) * static_cast<double>(n);

  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  if (!options.pseudonym_key.empty()) {
    auto ids = rows.GetColumnByName("member_id");
    if (ids == nullptr || ids->type()->id() != arrow::Type::STRING) {
      return arrow::Status::Invalid("pseudonyms need the member_id column");
    }
    ARROW_ASSIGN_OR_RAISE(auto pseudonyms, Pseudonyms(*ids, options.pseudonym_key));
    arrow::Int32Builder indices;
    ARROW_RETURN_NOT_OK(indices.AppendValues(kept));
    ARROW_ASSIGN_OR_RAISE(auto index_array, indices.Finish());
    ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(pseudonyms, index_array));
    fields.push_back(arrow::field("pseudonym", arrow::utf8()));
    columns.push_back(taken.make_array());
  }
  std::set<std::string> released;
  size_t q = 0, s = 0;
  double ncp_sum = 0;
  for (const AnonymisedColumn* column : chosen) {
    ColumnGeneralisation entry;
    entry.column = column->name;
    const LevelCodes* codes = nullptr;
    if (column->role == AnonymisedColumn::Role::kQuasi) {
      entry.role = "quasi";
      entry.level = static_cast<int>(levels[q]);
      entry.generalisation = column->levels[levels[q]].text;
      ARROW_ASSIGN_OR_RAISE(codes, hierarchies.Get(q, levels[q]));
      double penalty = static_cast<double>(out.suppressed);
      for (int32_t row : kept) penalty += codes->penalty[static_cast<size_t>(codes->codes[static_cast<size_t>(row)])];
      entry.ncp = n == 0 ? 0 : penalty / static_cast<double>(n);
      ncp_sum += entry.ncp;
      ++q;
      if (column->levels[levels[q - 1]].kind == Kind::kSuppressed) codes = nullptr;  // left out
    } else {
      entry.role = "sensitive";
      entry.generalisation = "value";
      codes = &sensitive_codes[s++];
      out.sensitive.push_back(column->name);
    }
    if (codes != nullptr) {
      ARROW_ASSIGN_OR_RAISE(auto values, internal::Decode(*codes, kept));
      std::vector<bool> used(static_cast<size_t>(codes->cardinality), false);
      for (int32_t row : kept) used[static_cast<size_t>(codes->codes[static_cast<size_t>(row)])] = true;
      entry.distinct = std::count(used.begin(), used.end(), true);
      fields.push_back(arrow::field(column->name, arrow::utf8()));
      columns.push_back(std::move(values));
      released.insert(column->name);
      if (entry.role == "quasi") out.quasi_identifiers.push_back(column->name);
    }
    out.generalisation.push_back(std::move(entry));
  }
  out.ncp = quasi.empty() ? 0 : ncp_sum / static_cast<double>(quasi.size());
  for (const auto& column : policy.columns()) {
    if (column.role != AnonymisedColumn::Role::kSensitive) continue;
    out.sensitive_handling[column.name] =
        released.count(column.name) ? "l-diverse (l = " + std::to_string(l) + ")" : "left out";
  }
  for (const auto& field : registry.lake_schema()->fields()) {
    if (!released.count(field->name())) out.dropped.push_back(field->name());
  }
  out.rows = arrow::Table::Make(arrow::schema(fields), columns, static_cast<int64_t>(kept.size()));
  return out;
}

arrow::Result<AnonymisedDataset> Anonymise(const arrow::Table& rows, const model::FieldRegistry& registry,
                                           const AnonymiseOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto policy, AnonymisationPolicy::LoadDefault(registry));
  return Anonymise(rows, registry, *policy, options);
}

}  // namespace memberlake::transform
