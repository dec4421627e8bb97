#include "core/stats.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace sxb {

namespace {

// The value of an empty sample under `if_empty`; `what` names the statistic in the error.
double empty_sample(IfEmpty if_empty, const char* what) {
  if (if_empty == IfEmpty::error) throw runtime_error(std::string(what) + " of an empty sample");
  return std::nan("");
}

}  // namespace

double quantile(std::vector<double> v, double q, IfEmpty if_empty) {
  if (v.empty()) return empty_sample(if_empty, "quantile");
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double median_of(std::vector<double> v, IfEmpty if_empty) {
  if (v.empty()) return empty_sample(if_empty, "median");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace sxb
