// The JSON account of an anonymised dataset, shared by `memberlake anonymise --json` and
// GET /api/anonymised: k, l, rows in/out/suppressed, the released quasi-identifier and
// sensitive columns, per column the generalisation level chosen and its information loss
// (normalised certainty penalty), the overall NCP and the discernibility metric.
#pragma once

#include <nlohmann/json.hpp>

#include "transform/anonymisation.h"

namespace memberlake::transform {

inline nlohmann::ordered_json AnonymisationSummary(const AnonymisedDataset& dataset) {
  nlohmann::ordered_json columns = nlohmann::ordered_json::array();
  for (const auto& column : dataset.generalisation) {
    columns.push_back({{"column", column.column},
                       {"role", column.role},
                       {"level", column.level},
                       {"generalisation", column.generalisation},
                       {"released", column.generalisation != "*"},
                       {"distinct", column.distinct},
                       {"ncp", column.ncp}});
  }
  return {{"k", dataset.k},
          {"l", dataset.l},
          {"rows_in", dataset.rows_in},
          {"rows_out", dataset.rows->num_rows()},
          {"suppressed", dataset.suppressed},
          {"classes", dataset.classes},
          {"smallest_class", dataset.smallest_class},
          {"quasi_identifiers", dataset.quasi_identifiers},
          {"sensitive", dataset.sensitive_handling},
          {"columns", dataset.rows->schema()->field_names()},
          {"generalisation", columns},
          {"information_loss", {{"ncp", dataset.ncp}, {"discernibility", dataset.discernibility},
                                {"suppressed_fraction", dataset.rows_in == 0 ? 0.0 : static_cast<double>(dataset.suppressed) / static_cast<double>(dataset.rows_in)}}},
          {"dropped", dataset.dropped}};
}

}  // namespace memberlake::transform
