#pragma once
// `sxbench diagnose`'s verdicts: which component (a rank's GPU, a node, a link between two of
// them) is slower than its peers or than a baseline, decided from repeated samples so the same
// measurements always give the same answer, and never a pass or a fail where the spread of the
// samples is too wide to tell. Pure: samples in, verdicts with their numbers out.
//
// For one figure where higher is better (TFLOP/s, GB/s), each unit's n samples give its median m,
// its noise e = (q75 - q25) / m (the relative interquartile range) and the uncertainty of its
// median u = e / sqrt(n) (about the median's standard error, 0.93 IQR / sqrt(n) for normal
// noise). Against the job:
//   reference M = the median of the units' medians (needs at least min_units units);
//   deviation d = m / M - 1; allowed = threshold + noise_k x max(u, the units' median u)
//   slow          d < -allowed                                   (named, with its numbers)
//   inconclusive  -allowed <= d < -threshold (within its uncertainty of the threshold), or the
//                 unit's own u alone exceeds the threshold (too wide to decide) and d < 0
//   ok            otherwise
// Against a baseline value B the same rule with M = B and the unit's own u. For a figure where
// lower is better (a step time: OutlierRule::lower_is_better) the rule is mirrored: d > allowed
// is slow, threshold < d <= allowed inconclusive, and so on.
#include <string>
#include <utility>
#include <vector>

namespace sxb {

struct OutlierRule {
  double threshold = 0.05;  // fraction below the reference that counts (SuperBench's 5 %)
  double noise_k = 3.0;     // multiples of the median's uncertainty allowed on top of it
  int min_units = 3;        // fewer units: no job median to stand out from (inconclusive)
  bool lower_is_better = false;  // times: a unit above the reference is the slow one
};

enum class Standing { ok, slow, inconclusive };
const char* standing_name(Standing s);

struct UnitSamples {
  std::string unit;            // "rank 2 (host a, GPU 2)", "host a", "rank 0 - rank 3"
  std::vector<double> values;  // higher is better (unless the rule says lower); at least one
};

struct UnitVerdict {
  std::string unit;
  double median = 0;
  double noise = 0;        // (q75 - q25) / median
  double uncertainty = 0;  // noise / sqrt(samples): the median's
  double reference = 0;    // the job's median of medians, or the baseline
  double deviation = 0;    // median / reference - 1 (negative is slower unless lower is better)
  double allowed = 0;      // threshold + noise_k x the uncertainty considered
  Standing standing = Standing::ok;
  std::string reason;  // the arithmetic, in words
};

// Every unit against the median of all units' medians. Throws sxb::Error on an empty unit list,
// a unit without samples or a sample that is not a positive finite number.
std::vector<UnitVerdict> judge_against_median(const std::vector<UnitSamples>& units,
                                              const OutlierRule& rule, const std::string& unit_of);
// Every unit against one baseline value (> 0), e.g. the job median of an earlier run.
std::vector<UnitVerdict> judge_against_baseline(const std::vector<UnitSamples>& units,
                                                double baseline, const OutlierRule& rule,
                                                const std::string& unit_of);

// Pairs (a, b) of n units, each with its samples (a link's bandwidth), against a reference that
// one bad unit cannot pull down: the median over units of each unit's best pair median (a bad
// GPU or NIC slows every pair it is on, often most of them, but its peers' best pairs are the
// healthy links). Needs at least rule.min_units units; the verdicts are in the pairs' order.
std::vector<UnitVerdict> judge_pairs(int n, const std::vector<std::pair<int, int>>& pairs,
                                     const std::vector<UnitSamples>& samples,
                                     const OutlierRule& rule, const std::string& unit_of);

// Rounds of disjoint pairs in which every pair of n units meets exactly once (the circle method:
// n - 1 rounds for even n, n rounds for odd n, one unit sitting out each round).
std::vector<std::vector<std::pair<int, int>>> round_robin_rounds(int n);

// The units to blame for slow pairs of an n x n pair matrix (a bad GPU, NIC or node slows every
// link it is on): repeatedly, the unit on the most slow pairs not yet explained is named when at
// least half of its pairs, and more than one, are among them, and its pairs count as explained;
// a slow pair left unexplained is a link of its own (returned in `links`).
struct PairBlame {
  std::vector<int> units;                 // indices, ascending
  std::vector<std::pair<int, int>> links;  // (a, b), a < b
};
PairBlame blame_pairs(int n, const std::vector<std::pair<int, int>>& slow_pairs);

}  // namespace sxb
