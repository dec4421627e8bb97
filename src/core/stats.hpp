#pragma once
// Order statistics of a sample (timings, throughputs over repeated runs): the one home for the
// median and quantiles that results, reports and benchmarks print.
#include <vector>

namespace sxb {

// What an empty sample gives: NaN (a figure with no runs behind it, printed as missing) or an
// sxb::Error (a timed measurement, whose sample is never empty unless its caller is broken).
enum class IfEmpty { nan, error };

// q-quantile (q in 0..1, clamped) with linear interpolation between order statistics, numpy's
// default: with the values sorted as v[0] <= ... <= v[n-1], pos = q (n - 1), lo = floor(pos),
// result = v[lo] + (v[lo+1] - v[lo]) (pos - lo).
double quantile(std::vector<double> values, double q, IfEmpty if_empty = IfEmpty::nan);

// The middle value, or the mean of the two middle values for an even count: 0.5 (a + b), which
// is quantile(values, 0.5) up to the last bit of rounding.
double median_of(std::vector<double> values, IfEmpty if_empty = IfEmpty::nan);

}  // namespace sxb
