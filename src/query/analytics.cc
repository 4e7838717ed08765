#include "query/analytics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "model/calendar.h"
#include "query/result_format.h"

namespace memberlake::query {
namespace {

double Quantile(const std::vector<double>& sorted, double q) {
  double position = q * static_cast<double>(sorted.size() - 1);
  size_t below = static_cast<size_t>(std::floor(position));
  size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

arrow::Result<double> NumberAt(const arrow::Array& column, int64_t row) {
  switch (column.type_id()) {
    case arrow::Type::INT64: return static_cast<double>(static_cast<const arrow::Int64Array&>(column).Value(row));
    case arrow::Type::DOUBLE: return static_cast<const arrow::DoubleArray&>(column).Value(row);
    default: return arrow::Status::Invalid("distribution needs a numeric column, got ", column.type()->ToString());
  }
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> Distribution(const arrow::Table& rows, const std::string& column,
                                                          const std::vector<std::string>& group_by, int kde_points) {
  ARROW_ASSIGN_OR_RAISE(auto batch, rows.CombineChunksToBatch());
  auto values = batch->GetColumnByName(column);
  if (values == nullptr) return arrow::Status::Invalid("distribution: no column '", column, "'");
  std::vector<std::shared_ptr<arrow::Array>> keys;
  for (const auto& name : group_by) {
    auto key = batch->GetColumnByName(name);
    if (key == nullptr) return arrow::Status::Invalid("distribution: no column '", name, "'");
    keys.push_back(key);
  }
  // Group values by the text of their keys; std::map keeps groups in byte order.
  std::map<std::vector<std::string>, std::vector<double>> groups;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    if (values->IsNull(row)) continue;
    std::vector<std::string> key;
    for (const auto& k : keys) {
      ARROW_ASSIGN_OR_RAISE(auto text, CellText(*k, row));
      key.push_back(text.value_or(""));
    }
    ARROW_ASSIGN_OR_RAISE(double value, NumberAt(*values, row));
    groups[key].push_back(value);
  }
  std::vector<arrow::StringBuilder> key_builders(group_by.size());
  arrow::Int64Builder n;
  arrow::DoubleBuilder min, p25, p50, p75, max, mean;
  arrow::ListBuilder kde_x(arrow::default_memory_pool(), std::make_shared<arrow::DoubleBuilder>());
  arrow::ListBuilder kde_y(arrow::default_memory_pool(), std::make_shared<arrow::DoubleBuilder>());
  auto* xs = static_cast<arrow::DoubleBuilder*>(kde_x.value_builder());
  auto* ys = static_cast<arrow::DoubleBuilder*>(kde_y.value_builder());
  for (auto& [key, sample] : groups) {
    std::sort(sample.begin(), sample.end());
    const double count = static_cast<double>(sample.size());
    double sum = 0;
    for (double v : sample) sum += v;
    const double average = sum / count;
    double variance = 0;
    for (double v : sample) variance += (v - average) * (v - average);
    const double sd = sample.size() > 1 ? std::sqrt(variance / (count - 1)) : 0;
    const double iqr = Quantile(sample, 0.75) - Quantile(sample, 0.25);
    double spread = std::min(sd, iqr / 1.34);
    if (spread <= 0) spread = sd > 0 ? sd : 1;
    const double bandwidth = 0.9 * spread * std::pow(count, -0.2);
    for (size_t k = 0; k < key.size(); ++k) ARROW_RETURN_NOT_OK(key_builders[k].Append(key[k]));
    ARROW_RETURN_NOT_OK(n.Append(static_cast<int64_t>(sample.size())));
    ARROW_RETURN_NOT_OK(min.Append(sample.front()));
    ARROW_RETURN_NOT_OK(p25.Append(Quantile(sample, 0.25)));
    ARROW_RETURN_NOT_OK(p50.Append(Quantile(sample, 0.5)));
    ARROW_RETURN_NOT_OK(p75.Append(Quantile(sample, 0.75)));
    ARROW_RETURN_NOT_OK(max.Append(sample.back()));
    ARROW_RETURN_NOT_OK(mean.Append(average));
    ARROW_RETURN_NOT_OK(kde_x.Append());
    ARROW_RETURN_NOT_OK(kde_y.Append());
    const double lo = sample.front(), hi = sample.back();
    const double norm = 1.0 / (count * bandwidth * std::sqrt(2 * M_PI));
    for (int i = 0; i < kde_points; ++i) {
      double x = kde_points > 1 ? lo + (hi - lo) * i / (kde_points - 1) : lo;
      double density = 0;
      for (double v : sample) {
        double u = (x - v) / bandwidth;
        density += std::exp(-0.5 * u * u);
      }
      ARROW_RETURN_NOT_OK(xs->Append(x));
      ARROW_RETURN_NOT_OK(ys->Append(density * norm));
    }
  }
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (size_t k = 0; k < group_by.size(); ++k) {
    fields.push_back(arrow::field(group_by[k], arrow::utf8()));
    ARROW_ASSIGN_OR_RAISE(auto array, key_builders[k].Finish());
    arrays.push_back(array);
  }
  auto add = [&](const std::string& name, arrow::ArrayBuilder& builder) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
    fields.push_back(arrow::field(name, array->type()));
    arrays.push_back(array);
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(add("n", n));
  ARROW_RETURN_NOT_OK(add("min", min));
  ARROW_RETURN_NOT_OK(add("p25", p25));
  ARROW_RETURN_NOT_OK(add("p50", p50));
  ARROW_RETURN_NOT_OK(add("p75", p75));
  ARROW_RETURN_NOT_OK(add("max", max));
  ARROW_RETURN_NOT_OK(add("mean", mean));
  ARROW_RETURN_NOT_OK(add("kde_x", kde_x));
  ARROW_RETURN_NOT_OK(add("kde_y", kde_y));
  return arrow::Table::Make(arrow::schema(fields), arrays, static_cast<int64_t>(groups.size()));
}

arrow::Result<std::shared_ptr<arrow::Table>> AlvJubilees(const arrow::Table& rows, int year) {
  ARROW_ASSIGN_OR_RAISE(auto batch, rows.CombineChunksToBatch());
  auto joined = batch->GetColumnByName("ingangsdatum");
  if (joined == nullptr || joined->type_id() != arrow::Type::DATE32) {
    return arrow::Status::Invalid("ALV jubilees need the ingangsdatum date column");
  }
  const auto& dates = static_cast<const arrow::Date32Array&>(*joined);
  const model::CivilDate alv{year, 4, 1};
  arrow::Int32Builder keep;
  arrow::Int64Builder years;
  arrow::StringBuilder award;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    if (dates.IsNull(row)) continue;
    int whole = model::WholeYearsBetween(model::CivilFromDays(dates.Value(row)), alv);
    std::string label;
    if (whole >= 50) label = "certificaat 50+";
    else if (whole >= 25 && whole % 5 == 0) label = "certificaat " + std::to_string(whole);
    else if (whole == 10) label = "speld 10";
    else continue;
    ARROW_RETURN_NOT_OK(keep.Append(static_cast<int32_t>(row)));
    ARROW_RETURN_NOT_OK(years.Append(whole));
    ARROW_RETURN_NOT_OK(award.Append(label));
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, keep.Finish());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(batch, indices));
  auto selected = taken.record_batch();
  ARROW_ASSIGN_OR_RAISE(auto years_array, years.Finish());
  ARROW_ASSIGN_OR_RAISE(auto award_array, award.Finish());
  ARROW_ASSIGN_OR_RAISE(selected, selected->AddColumn(selected->num_columns(), "jaren_op_alv", years_array));
  ARROW_ASSIGN_OR_RAISE(selected, selected->AddColumn(selected->num_columns(), "onderscheiding", award_array));
  return arrow::Table::FromRecordBatches({selected});
}

}  // namespace memberlake::query
