// Grouping on dictionary codes: the group keys (enums, and text keys read as the files'
// dictionaries, unified across row groups) give each row a cell of a dense array, and count,
// count(col), sum, min, max, avg and quantiles of integer columns are accumulated per cell in
// one pass, only over the rows the code filters admit: the filtered rows are never
// materialised, no key is hashed per row, and quantiles select within each cell's values.
#include <algorithm>
#include <atomic>
#include <limits>

#include <arrow/api.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/parallel.h>
#include <arrow/util/thread_pool.h>

#include "query/query_internal.h"

namespace memberlake::query::internal {

double QuantileOf(std::vector<double>& values, double q) {
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(position);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(below), values.end());
  const double low = values[below];
  if (below + 1 >= values.size()) return low;
  // The next order statistic is the smallest value after the selected one.
  const double high = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(below) + 1, values.end());
  return low + (position - static_cast<double>(below)) * (high - low);
}

namespace {

bool OnCodes(AggregateFn fn) {
  return fn == AggregateFn::kCountAll || fn == AggregateFn::kCount || fn == AggregateFn::kSum ||
         fn == AggregateFn::kMin || fn == AggregateFn::kMax || fn == AggregateFn::kAvg || fn == AggregateFn::kQuantile ||
         fn == AggregateFn::kCountDistinct;
}

// One aggregate's running state, a slot per cell.
struct CellState {
  const AggregateSpec* spec = nullptr;
  std::vector<int64_t> count, sum, min, max;
  std::vector<std::vector<double>> values;  // quantiles
  int64_t codes = 0;                        // count(distinct): the column's dictionary size
  std::vector<uint8_t> seen;                // count(distinct): cell * codes + code
};

}  // namespace

bool AggregatesOnCodes(const QuerySpec& spec) {
  return !spec.aggregates.empty() && std::all_of(spec.aggregates.begin(), spec.aggregates.end(),
                                                 [](const AggregateSpec& a) { return OnCodes(a.fn); });
}

arrow::Result<std::optional<std::shared_ptr<arrow::Table>>> AggregateByCodes(
    const arrow::Table& rows, const QuerySpec& spec, const std::vector<FilterSpec>& code_filters) {
  using Nothing = std::optional<std::shared_ptr<arrow::Table>>;
  if (!AggregatesOnCodes(spec)) return Nothing();
  // count(distinct) of a text column counts the codes of its one (unified) dictionary.
  auto one_dictionary = [&](const std::string& name) -> std::shared_ptr<arrow::Array> {
    auto column = rows.GetColumnByName(name);
    if (column == nullptr || column->type()->id() != arrow::Type::DICTIONARY || column->num_chunks() == 0) return nullptr;
    auto dictionary = static_cast<const arrow::DictionaryArray&>(*column->chunk(0)).dictionary();
    for (const auto& chunk : column->chunks()) {
      const auto& other = static_cast<const arrow::DictionaryArray&>(*chunk).dictionary();
      if (other != dictionary && !other->Equals(*dictionary)) return nullptr;
    }
    return dictionary;
  };
  for (const AggregateSpec& a : spec.aggregates) {
    if (a.fn == AggregateFn::kCountAll || a.fn == AggregateFn::kCount) continue;
    if (a.fn == AggregateFn::kCountDistinct) {
      if (one_dictionary(a.column) == nullptr) return Nothing();
      continue;
    }
    auto column = rows.GetColumnByName(a.column);
    if (column == nullptr || column->type()->id() != arrow::Type::INT64) return Nothing();
  }
  std::vector<std::shared_ptr<arrow::Array>> dictionaries;
  std::vector<int64_t> strides;
  int64_t cells = 1;
  for (const std::string& key : spec.group_by) {
    auto dictionary = one_dictionary(key);
    if (dictionary == nullptr) return Nothing();
    strides.push_back(cells);
    cells *= dictionary->length() + 1;  // the last code of each key stands for null
    if (cells > (1 << 20)) return Nothing();
    dictionaries.push_back(dictionary);
  }
  for (const FilterSpec& filter : code_filters) {
    auto column = rows.GetColumnByName(filter.column);
    if (column == nullptr ||
        (column->type()->id() != arrow::Type::DICTIONARY && column->type()->id() != arrow::Type::STRING)) {
      return Nothing();
    }
  }
  const auto n_cells = static_cast<size_t>(cells);
  std::vector<CellState> states;
  size_t state_bytes = 0;  // of one worker's tallies
  for (const AggregateSpec& a : spec.aggregates) {
    CellState state;
    state.spec = &a;
    if (a.fn != AggregateFn::kCountAll) state.count.assign(n_cells, 0);
    if (a.fn == AggregateFn::kSum || a.fn == AggregateFn::kAvg) state.sum.assign(n_cells, 0);
    if (a.fn == AggregateFn::kMin) state.min.assign(n_cells, std::numeric_limits<int64_t>::max());
    if (a.fn == AggregateFn::kMax) state.max.assign(n_cells, std::numeric_limits<int64_t>::min());
    if (a.fn == AggregateFn::kQuantile) state.values.resize(n_cells);
    if (a.fn == AggregateFn::kCountDistinct) {
      state.codes = one_dictionary(a.column)->length();
      if (static_cast<int64_t>(n_cells) * state.codes > (int64_t{1} << 26)) return Nothing();
      state.seen.assign(n_cells * static_cast<size_t>(state.codes), 0);
    }
    state_bytes += n_cells * 4 * sizeof(int64_t) + state.seen.size();
    states.push_back(std::move(state));
  }
  // Four interleaved tallies of rows per cell: rows arrive sorted by region, so consecutive
  // rows mostly hit the same cell, and one tally would serialise every increment on the last.
  constexpr int kLanes = 4;
  // Runs at least this long on average: accumulated a run at a time (else row by row).
  constexpr int64_t kRowsPerRun = 8;
  // The batches are tallied on both cores, each worker into its own cells, merged at the end:
  // alone on one core this was the larger part of a grouped sum/min/max after a parallel scan.
  struct Tally {
    std::vector<CellState> states;
    std::vector<int64_t> lanes;
    std::vector<uint32_t> cell;  // cells < 2^20
    std::vector<uint8_t> keep;
    std::vector<int64_t> runs;  // starts of the runs of one cell, then the batch's length
  };
  ARROW_ASSIGN_OR_RAISE(arrow::RecordBatchVector batches, arrow::TableBatchReader(rows).ToRecordBatches());
  const int capacity = arrow::internal::GetCpuThreadPool()->GetCapacity();
  // Workers' own cells are worth it while they are small against the rows they tally.
  const bool parallel = batches.size() > 1 && capacity > 1 && state_bytes < (size_t{8} << 20);
  const int workers = parallel ? static_cast<int>(std::min<size_t>(static_cast<size_t>(capacity), batches.size())) : 1;
  std::vector<Tally> tallies(static_cast<size_t>(workers), Tally{states, std::vector<int64_t>(n_cells * kLanes, 0), {}, {}, {}});
  auto tally_batch = [&](const std::shared_ptr<arrow::RecordBatch>& batch, Tally& t) -> arrow::Status {
    std::vector<uint32_t>& cell = t.cell;
    std::vector<uint8_t>& keep = t.keep;
    const int64_t n = batch->num_rows();
    cell.assign(static_cast<size_t>(n), 0);
    keep.assign(static_cast<size_t>(n), 1);
    ARROW_RETURN_NOT_OK(ApplyCodeFilters(*batch, code_filters, &keep));
    if (auto mask = batch->GetColumnByName(kKeepColumn)) {  // a masked scan's verdicts
      const uint8_t* verdicts = static_cast<const arrow::UInt8Array&>(*mask).raw_values();
      for (int64_t i = 0; i < n; ++i) keep[static_cast<size_t>(i)] &= verdicts[i];
    }
    for (size_t k = 0; k < spec.group_by.size(); ++k) {
      const auto& encoded = static_cast<const arrow::DictionaryArray&>(*batch->GetColumnByName(spec.group_by[k]));
      const arrow::Array& indices = *encoded.indices();
      const auto null_code = static_cast<uint32_t>(dictionaries[k]->length());
      const auto stride = static_cast<uint32_t>(strides[k]);
      uint32_t* target = cell.data();
      ARROW_RETURN_NOT_OK(VisitCodes(encoded, [&](const auto* codes) {
        if (indices.null_count() == 0) {
          for (int64_t i = 0; i < n; ++i) target[i] += static_cast<uint32_t>(codes[i]) * stride;
        } else {
          for (int64_t i = 0; i < n; ++i) {
            target[i] += (indices.IsValid(i) ? static_cast<uint32_t>(codes[i]) : null_code) * stride;
          }
        }
      }));
    }
    const uint32_t* cells_of = cell.data();
    const uint8_t* kept = keep.data();
    int64_t* tally = t.lanes.data();
    // Runs of rows in one cell: the files are ordered by region, status and membership, so a
    // batch holds a few long runs (at 1M members, 600 runs of lidmaatschap in 1M rows). A run is
    // accumulated in registers and its cell updated once: per row, each update of a cell waited
    // for the previous one to the same cell.
    std::vector<int64_t>& runs = t.runs;
    runs.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || cells_of[i] != cells_of[i - 1]) runs.push_back(i);
    }
    runs.push_back(n);
    const bool by_runs = static_cast<int64_t>(runs.size() - 1) * kRowsPerRun <= n;
    if (by_runs) {
      for (size_t r = 0; r + 1 < runs.size(); ++r) {
        int64_t rows_kept = 0;
        for (int64_t i = runs[r]; i < runs[r + 1]; ++i) rows_kept += kept[i];
        tally[static_cast<size_t>(cells_of[runs[r]]) * kLanes] += rows_kept;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) tally[static_cast<size_t>(cells_of[i]) * kLanes + (i & (kLanes - 1))] += kept[i];
    }
    for (CellState& state : t.states) {
      const AggregateSpec& a = *state.spec;
      if (a.fn == AggregateFn::kCountAll) continue;
      const arrow::Array& column = *batch->GetColumnByName(a.column);
      // The validity bitmap read directly: Array::IsValid per row was 7% of a grouped sum.
      const uint8_t* bits = column.null_count() == 0 ? nullptr : column.null_bitmap_data();
      const int64_t offset = column.offset();
      auto valid = [&](int64_t i) {
        return kept[i] && (bits == nullptr || arrow::bit_util::GetBit(bits, offset + i));
      };
      const int64_t* values = a.fn == AggregateFn::kCount || a.fn == AggregateFn::kCountDistinct
                                  ? nullptr
                                  : static_cast<const arrow::Int64Array&>(column).raw_values();
      int64_t* count = state.count.data();
      if (by_runs && a.fn != AggregateFn::kQuantile && a.fn != AggregateFn::kCountDistinct) {
        // One pass a run for count, sum, min or max; `use(i)` is 1 when row i counts.
        auto over_runs = [&](auto use) {
          for (size_t r = 0; r + 1 < runs.size(); ++r) {
            const int64_t start = runs[r], end = runs[r + 1];
            const uint32_t c = cells_of[start];
            int64_t used = 0;
            // min or max: `none` stands in for the rows that do not count
            auto extreme = [&](auto pick, int64_t none, int64_t& into) {
              int64_t best = none;
              for (int64_t i = start; i < end; ++i) {
                const int64_t u = use(i);
                used += u;
                best = pick(best, u ? values[i] : none);
              }
              into = pick(into, best);
            };
            switch (a.fn) {
              case AggregateFn::kCount:
                for (int64_t i = start; i < end; ++i) used += use(i);
                break;
              case AggregateFn::kSum:
              case AggregateFn::kAvg: {
                int64_t total = 0;
                for (int64_t i = start; i < end; ++i) {
                  const int64_t u = use(i);
                  used += u;
                  total += values[i] & -u;
                }
                state.sum[c] += total;
                break;
              }
              case AggregateFn::kMin:
                extreme([](int64_t x, int64_t y) { return std::min(x, y); }, std::numeric_limits<int64_t>::max(),
                        state.min[c]);
                break;
              case AggregateFn::kMax:
                extreme([](int64_t x, int64_t y) { return std::max(x, y); }, std::numeric_limits<int64_t>::min(),
                        state.max[c]);
                break;
              default: break;
            }
            count[c] += used;
          }
        };
        if (bits == nullptr) {
          over_runs([&](int64_t i) -> int64_t { return kept[i]; });
        } else {
          over_runs([&](int64_t i) -> int64_t { return valid(i) ? 1 : 0; });
        }
        continue;
      }
      if (a.fn == AggregateFn::kCount) {
        for (int64_t i = 0; i < n; ++i) count[cells_of[i]] += valid(i) ? 1 : 0;
        continue;
      }
      if (a.fn == AggregateFn::kCountDistinct) {
        const auto& encoded = static_cast<const arrow::DictionaryArray&>(column);
        uint8_t* seen = state.seen.data();
        const auto codes_per_cell = static_cast<size_t>(state.codes);
        ARROW_RETURN_NOT_OK(VisitCodes(encoded, [&](const auto* codes) {
          for (int64_t i = 0; i < n; ++i) {
            if (valid(i)) seen[static_cast<size_t>(cells_of[i]) * codes_per_cell + static_cast<size_t>(codes[i])] = 1;
          }
        }));
        continue;
      }
      // One loop per aggregate, and without the validity test when the column has no nulls:
      // a switch per row was the largest part of a grouped sum/min/max.
      auto each = [&](auto&& body) {
        if (bits == nullptr) {
          for (int64_t i = 0; i < n; ++i) {
            if (kept[i]) body(cells_of[i], values[i]);
          }
        } else {
          for (int64_t i = 0; i < n; ++i) {
            if (valid(i)) body(cells_of[i], values[i]);
          }
        }
      };
      switch (a.fn) {
        case AggregateFn::kSum:
        case AggregateFn::kAvg: {
          int64_t* sum = state.sum.data();
          each([&](uint32_t c, int64_t v) { count[c] += 1, sum[c] += v; });
          break;
        }
        case AggregateFn::kMin: {
          int64_t* min = state.min.data();
          each([&](uint32_t c, int64_t v) { count[c] += 1, min[c] = std::min(min[c], v); });
          break;
        }
        case AggregateFn::kMax: {
          int64_t* max = state.max.data();
          each([&](uint32_t c, int64_t v) { count[c] += 1, max[c] = std::max(max[c], v); });
          break;
        }
        case AggregateFn::kQuantile:
          each([&](uint32_t c, int64_t v) { count[c] += 1, state.values[c].push_back(static_cast<double>(v)); });
          break;
        default: break;
      }
    }
    return arrow::Status::OK();
  };
  std::atomic<size_t> next{0};
  ARROW_RETURN_NOT_OK(arrow::internal::OptionalParallelFor(workers > 1, workers, [&](int w) -> arrow::Status {
    for (size_t b = next++; b < batches.size(); b = next++) {
      ARROW_RETURN_NOT_OK(tally_batch(batches[b], tallies[static_cast<size_t>(w)]));
    }
    return arrow::Status::OK();
  }));
  // The workers' cells merged into the first's.
  std::vector<int64_t>& lanes = tallies[0].lanes;
  states = std::move(tallies[0].states);
  for (size_t w = 1; w < tallies.size(); ++w) {
    Tally& other = tallies[w];
    for (size_t i = 0; i < lanes.size(); ++i) lanes[i] += other.lanes[i];
    for (size_t s = 0; s < states.size(); ++s) {
      CellState& into = states[s];
      CellState& from = other.states[s];
      for (size_t c = 0; c < into.count.size(); ++c) into.count[c] += from.count[c];
      for (size_t c = 0; c < into.sum.size(); ++c) into.sum[c] += from.sum[c];
      for (size_t c = 0; c < into.min.size(); ++c) into.min[c] = std::min(into.min[c], from.min[c]);
      for (size_t c = 0; c < into.max.size(); ++c) into.max[c] = std::max(into.max[c], from.max[c]);
      for (size_t c = 0; c < into.values.size(); ++c) {
        into.values[c].insert(into.values[c].end(), from.values[c].begin(), from.values[c].end());
      }
      for (size_t i = 0; i < into.seen.size(); ++i) into.seen[i] |= from.seen[i];
    }
  }
  std::vector<int64_t> rows_in(n_cells, 0);
  for (size_t c = 0; c < n_cells; ++c) {
    for (int lane = 0; lane < kLanes; ++lane) rows_in[c] += lanes[c * kLanes + static_cast<size_t>(lane)];
  }
  // One row per combination that occurs (every cell when there are no keys: one row, even for
  // no rows), with key codes (null for the null code) and the aggregates.
  std::vector<arrow::Int32Builder> keys(spec.group_by.size());
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> outputs;
  for (const CellState& state : states) {
    const AggregateFn fn = state.spec->fn;
    if (fn == AggregateFn::kAvg || fn == AggregateFn::kQuantile) {
      outputs.push_back(std::make_unique<arrow::DoubleBuilder>());
    } else {
      outputs.push_back(std::make_unique<arrow::Int64Builder>());
    }
  }
  for (size_t c = 0; c < n_cells; ++c) {
    if (rows_in[c] == 0 && !spec.group_by.empty()) continue;
    for (size_t k = 0; k < keys.size(); ++k) {
      int64_t code = (static_cast<int64_t>(c) / strides[k]) % (dictionaries[k]->length() + 1);
      ARROW_RETURN_NOT_OK(code == dictionaries[k]->length() ? keys[k].AppendNull()
                                                            : keys[k].Append(static_cast<int32_t>(code)));
    }
    for (size_t s = 0; s < states.size(); ++s) {
      CellState& state = states[s];
      const AggregateFn fn = state.spec->fn;
      // Each builder is cast to its own type only (avg and quantiles: double, the rest: int64).
      auto ints = [&] { return static_cast<arrow::Int64Builder*>(outputs[s].get()); };
      auto doubles = [&] { return static_cast<arrow::DoubleBuilder*>(outputs[s].get()); };
      if (fn == AggregateFn::kCountAll) { ARROW_RETURN_NOT_OK(ints()->Append(rows_in[c])); continue; }
      if (fn == AggregateFn::kCount) { ARROW_RETURN_NOT_OK(ints()->Append(state.count[c])); continue; }
      if (fn == AggregateFn::kCountDistinct) {
        const auto begin = state.seen.begin() + static_cast<std::ptrdiff_t>(c * static_cast<size_t>(state.codes));
        ARROW_RETURN_NOT_OK(ints()->Append(std::count(begin, begin + state.codes, uint8_t{1})));
        continue;
      }
      if (state.count[c] == 0) {  // a group without values: null, like SQL
        ARROW_RETURN_NOT_OK(outputs[s]->AppendNull());
        continue;
      }
      switch (fn) {
        case AggregateFn::kSum: ARROW_RETURN_NOT_OK(ints()->Append(state.sum[c])); break;
        case AggregateFn::kMin: ARROW_RETURN_NOT_OK(ints()->Append(state.min[c])); break;
        case AggregateFn::kMax: ARROW_RETURN_NOT_OK(ints()->Append(state.max[c])); break;
        case AggregateFn::kAvg:
          ARROW_RETURN_NOT_OK(doubles()->Append(static_cast<double>(state.sum[c]) / static_cast<double>(state.count[c])));
          break;
        case AggregateFn::kQuantile:
          ARROW_RETURN_NOT_OK(doubles()->Append(QuantileOf(state.values[c], state.spec->quantile)));
          break;
        default: break;
      }
    }
  }
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t k = 0; k < keys.size(); ++k) {
    ARROW_ASSIGN_OR_RAISE(auto indices, keys[k].Finish());
    ARROW_ASSIGN_OR_RAISE(auto encoded, arrow::DictionaryArray::FromArrays(
                                            arrow::dictionary(arrow::int32(), dictionaries[k]->type()), indices, dictionaries[k]));
    fields.push_back(arrow::field(spec.group_by[k], encoded->type()));
    columns.push_back(encoded);
  }
  for (size_t s = 0; s < states.size(); ++s) {
    ARROW_ASSIGN_OR_RAISE(auto array, outputs[s]->Finish());
    fields.push_back(arrow::field(states[s].spec->name, array->type()));
    columns.push_back(array);
  }
  return Nothing(arrow::Table::Make(arrow::schema(fields), columns));
}

}  // namespace memberlake::query::internal
