#include "validate/outliers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/stats.hpp"

namespace sxb {

const char* standing_name(Standing s) {
  switch (s) {
    case Standing::ok:
      return "ok";
    case Standing::slow:
      return "slow";
    case Standing::inconclusive:
      return "inconclusive";
  }
  return "?";
}

namespace {

struct Summary {
  double median = 0, noise = 0, uncertainty = 0;
};

Summary summarize(const UnitSamples& u) {
  if (u.values.empty()) throw usage_error(fmt::format("diagnose: {} has no samples", u.unit));
  for (double v : u.values) {
    if (!std::isfinite(v) || v <= 0) {
      throw usage_error(fmt::format("diagnose: {} has a sample that is not a positive number ({})",
                                    u.unit, v));
    }
  }
  Summary s;
  s.median = median_of(u.values, IfEmpty::error);
  s.noise = (quantile(u.values, 0.75) - quantile(u.values, 0.25)) / s.median;
  s.uncertainty = s.noise / std::sqrt(double(u.values.size()));
  return s;
}

// A unit's figures against `reference`, before any verdict.
UnitVerdict measured(const UnitSamples& u, const Summary& s, double reference) {
  UnitVerdict v;
  v.unit = u.unit;
  v.median = s.median;
  v.noise = s.noise;
  v.uncertainty = s.uncertainty;
  v.reference = reference;
  v.deviation = s.median / reference - 1;
  return v;
}

// One unit's verdict against `reference`, allowing `uncertainty` (the larger of its own and the
// peers' typical one) times noise_k on top of the threshold.
UnitVerdict judge(const UnitSamples& u, const Summary& s, double reference, double uncertainty,
                  const OutlierRule& rule, const std::string& against, const std::string& unit_of) {
  UnitVerdict v = measured(u, s, reference);
  v.allowed = rule.threshold + rule.noise_k * uncertainty;
  const std::string numbers = fmt::format(
      "median {:.4g} {} of {} samples is {:+.1f}% against {} {:.4g} {}; allowed {:.1f}% + {:g} x "
      "{:.1f}% (the median's uncertainty: noise {:.1f}% / sqrt({})) = {:.1f}%",
      s.median, unit_of, u.values.size(), 100 * v.deviation, against, reference, unit_of,
      100 * rule.threshold, rule.noise_k, 100 * uncertainty, 100 * s.noise, u.values.size(),
      100 * v.allowed);
  // How much worse than the reference: below it for rates, above it for times.
  const double worse = rule.lower_is_better ? v.deviation : -v.deviation;
  if (worse > v.allowed) {
    v.standing = Standing::slow;
    v.reason = "slow: " + numbers;
  } else if (worse > rule.threshold) {
    v.standing = Standing::inconclusive;
    v.reason = fmt::format("inconclusive ({} the threshold, within the uncertainty): {}",
                           rule.lower_is_better ? "above" : "below", numbers);
  } else if (s.uncertainty > rule.threshold && worse > 0) {
    v.standing = Standing::inconclusive;
    v.reason = fmt::format("inconclusive (its median is uncertain by {:.1f}%, more than the "
                           "{:.1f}% threshold): {}",
                           100 * s.uncertainty, 100 * rule.threshold, numbers);
  } else {
    v.standing = Standing::ok;
    v.reason = "ok: " + numbers;
  }
  return v;
}

// A unit that too few peers leave undecided: its numbers against `reference`, no allowance.
UnitVerdict undecided(const UnitSamples& u, const Summary& s, double reference,
                      std::string reason) {
  UnitVerdict v = measured(u, s, reference);
  v.standing = Standing::inconclusive;
  v.reason = std::move(reason);
  return v;
}

void check_rule(const OutlierRule& rule) {
  if (!(rule.threshold > 0 && rule.threshold < 1) || !(rule.noise_k >= 0) || rule.min_units < 2) {
    throw usage_error("diagnose: the threshold must lie in (0, 1), the noise multiple be >= 0 and "
                      "at least 2 units be compared");
  }
}

}  // namespace

std::vector<UnitVerdict> judge_against_median(const std::vector<UnitSamples>& units,
                                              const OutlierRule& rule, const std::string& unit_of) {
  check_rule(rule);
  if (units.empty()) throw usage_error("diagnose: nothing to compare");
  std::vector<Summary> sums;
  std::vector<double> medians, uncertainties;
  for (const auto& u : units) {
    sums.push_back(summarize(u));
    medians.push_back(sums.back().median);
    uncertainties.push_back(sums.back().uncertainty);
  }
  const double reference = median_of(medians, IfEmpty::error);
  const double typical = median_of(uncertainties, IfEmpty::error);
  std::vector<UnitVerdict> out;
  for (size_t i = 0; i < units.size(); ++i) {
    if (static_cast<int>(units.size()) < rule.min_units) {
      const double deviation = sums[i].median / reference - 1;
      out.push_back(undecided(
          units[i], sums[i], reference,
          fmt::format("inconclusive: {} unit(s) measured, {} needed for a job median that one "
                      "slow unit cannot move (median {:.4g} {}, {:+.1f}% against the mean of the "
                      "middle); compare with a baseline instead",
                      units.size(), rule.min_units, sums[i].median, unit_of, 100 * deviation)));
      continue;
    }
    out.push_back(judge(units[i], sums[i], reference, std::max(sums[i].uncertainty, typical), rule,
                        "the job median", unit_of));
  }
  return out;
}

std::vector<UnitVerdict> judge_against_baseline(const std::vector<UnitSamples>& units,
                                                double baseline, const OutlierRule& rule,
                                                const std::string& unit_of) {
  check_rule(rule);
  if (!(std::isfinite(baseline) && baseline > 0)) {
    throw usage_error(fmt::format("diagnose: baseline {} is not a positive number", baseline));
  }
  std::vector<UnitVerdict> out;
  for (const auto& u : units) {
    const Summary s = summarize(u);
    out.push_back(judge(u, s, baseline, s.uncertainty, rule, "the baseline", unit_of));
  }
  return out;
}

std::vector<UnitVerdict> judge_pairs(int n, const std::vector<std::pair<int, int>>& pairs,
                                     const std::vector<UnitSamples>& samples,
                                     const OutlierRule& rule, const std::string& unit_of) {
  check_rule(rule);
  if (pairs.size() != samples.size() || pairs.empty()) {
    throw usage_error("diagnose: one sample list per pair is needed");
  }
  std::vector<Summary> sums;
  std::vector<double> best(static_cast<size_t>(n), 0.0), uncertainties;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto [a, b] = pairs[i];
    if (a < 0 || b < 0 || a >= n || b >= n || a == b) {
      throw usage_error(fmt::format("diagnose: pair ({}, {}) is not two of {} units", a, b, n));
    }
    sums.push_back(summarize(samples[i]));
    uncertainties.push_back(sums.back().uncertainty);
    best[size_t(a)] = std::max(best[size_t(a)], sums.back().median);
    best[size_t(b)] = std::max(best[size_t(b)], sums.back().median);
  }
  std::vector<double> measured_best;
  for (double v : best) {
    if (v > 0) measured_best.push_back(v);
  }
  const double reference = median_of(measured_best, IfEmpty::error);
  const double typical = median_of(uncertainties, IfEmpty::error);
  std::vector<UnitVerdict> out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (n < rule.min_units) {
      out.push_back(undecided(
          samples[i], sums[i], reference,
          fmt::format("inconclusive: {} units, {} needed to tell a slow link from a slow unit "
                      "(median {:.4g} {})",
                      n, rule.min_units, sums[i].median, unit_of)));
      continue;
    }
    out.push_back(judge(samples[i], sums[i], reference, std::max(sums[i].uncertainty, typical),
                        rule, "the units' best-pair median", unit_of));
  }
  return out;
}

std::vector<std::vector<std::pair<int, int>>> round_robin_rounds(int n) {
  std::vector<std::vector<std::pair<int, int>>> rounds;
  if (n < 2) return rounds;
  const int m = n % 2 == 0 ? n : n + 1;  // with a bye when odd
  std::vector<int> ring(static_cast<size_t>(m));
  for (int i = 0; i < m; ++i) ring[size_t(i)] = i;
  for (int r = 0; r < m - 1; ++r) {
    std::vector<std::pair<int, int>> round;
    for (int i = 0; i < m / 2; ++i) {
      const int a = ring[size_t(i)], b = ring[size_t(m - 1 - i)];
      if (a < n && b < n) round.emplace_back(std::min(a, b), std::max(a, b));
    }
    std::sort(round.begin(), round.end());
    rounds.push_back(round);
    // Keep ring[0] fixed, rotate the rest by one.
    std::rotate(ring.begin() + 1, ring.end() - 1, ring.end());
  }
  return rounds;
}

PairBlame blame_pairs(int n, const std::vector<std::pair<int, int>>& slow_pairs) {
  PairBlame out;
  std::vector<std::pair<int, int>> left = slow_pairs;
  const int pairs_per_unit = n - 1;
  // The unit on the most unexplained slow pairs first; its pairs are then explained by it, so a
  // bad unit does not make its peers look bad too.
  for (;;) {
    std::vector<int> count(static_cast<size_t>(n), 0);
    for (const auto& [a, b] : left) {
      ++count[size_t(a)];
      ++count[size_t(b)];
    }
    int best = -1;
    for (int u = 0; u < n; ++u) {
      if (best < 0 || count[size_t(u)] > count[size_t(best)]) best = u;
    }
    if (best < 0) break;
    const int c = count[size_t(best)];
    if (!(c > 1 && 2 * c >= pairs_per_unit)) break;
    out.units.push_back(best);
    left.erase(std::remove_if(left.begin(), left.end(),
                              [&](const std::pair<int, int>& p) {
                                return p.first == best || p.second == best;
                              }),
               left.end());
  }
  std::sort(out.units.begin(), out.units.end());
  for (const auto& [a, b] : left) out.links.emplace_back(std::min(a, b), std::max(a, b));
  std::sort(out.links.begin(), out.links.end());
  return out;
}

}  // namespace sxb
