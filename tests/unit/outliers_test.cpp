// diagnose's verdicts (validate/outliers): a slow unit against the job median and a baseline, at,
// under and over the threshold and the noise allowance; "inconclusive" where the spread is too
// wide or there are too few units; the pair matrix's reference, schedule and blame.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.hpp"
#include "validate/outliers.hpp"

namespace sxb {
namespace {

UnitSamples unit(const std::string& name, double centre, double spread = 0) {
  // Five samples: centre, centre +- spread/2, centre +- spread: IQR = spread, noise = spread / c.
  return {name, {centre - spread, centre - spread / 2, centre, centre + spread / 2, centre + spread}};
}

Standing standing_of(const std::vector<UnitVerdict>& vs, const std::string& name) {
  for (const auto& v : vs) {
    if (v.unit == name) return v.standing;
  }
  ADD_FAILURE() << name << " not judged";
  return Standing::ok;
}

TEST(Outliers, CleanUnitsAreOkAndAQuietSlowOneIsNamedWithItsNumbers) {
  OutlierRule rule;  // 5 %, 3 x the median's uncertainty, 3 units
  std::vector<UnitSamples> us = {unit("a", 100), unit("b", 101), unit("c", 99), unit("d", 100)};
  for (const auto& v : judge_against_median(us, rule, "GB/s")) {
    EXPECT_EQ(v.standing, Standing::ok) << v.reason;
    EXPECT_DOUBLE_EQ(v.reference, 100);  // median of 99, 100, 100, 101
  }
  us.push_back(unit("e", 80));
  const auto vs = judge_against_median(us, rule, "GB/s");
  EXPECT_EQ(standing_of(vs, "e"), Standing::slow);
  for (const char* ok : {"a", "b", "c", "d"}) EXPECT_EQ(standing_of(vs, ok), Standing::ok) << ok;
  const auto& e = vs.back();
  EXPECT_DOUBLE_EQ(e.deviation, -0.2);
  EXPECT_DOUBLE_EQ(e.allowed, 0.05);
  EXPECT_EQ(e.reason,
            "slow: median 80 GB/s of 5 samples is -20.0% against the job median 100 GB/s; allowed "
            "5.0% + 3 x 0.0% (the median's uncertainty: noise 0.0% / sqrt(5)) = 5.0%");
}

// Step times: lower is better, so the rule is mirrored: the unit above the job median by more
// than its allowance is the slow one, and a faster one is never named.
TEST(Outliers, WhereLowerIsBetterTheUnitAboveTheReferenceIsSlow) {
  OutlierRule rule;
  rule.lower_is_better = true;
  auto judge_e = [&](double centre, double spread) {
    std::vector<UnitSamples> us = {unit("a", 100, spread), unit("b", 100, spread),
                                   unit("c", 100, spread), unit("e", centre, spread * centre / 100)};
    return judge_against_median(us, rule, "s").back();
  };
  EXPECT_EQ(judge_e(104.5, 0).standing, Standing::ok);
  EXPECT_EQ(judge_e(105.5, 0).standing, Standing::slow);
  EXPECT_EQ(judge_e(150, 0).standing, Standing::slow);
  EXPECT_EQ(judge_e(50, 0).standing, Standing::ok);  // faster: never slow
  EXPECT_EQ(judge_e(107, 2).standing, Standing::inconclusive);
  EXPECT_NE(judge_e(107, 2).reason.find("inconclusive (above the threshold"), std::string::npos);
  EXPECT_EQ(judge_e(109, 2).standing, Standing::slow);
  const UnitVerdict v = judge_e(200, 0);
  EXPECT_DOUBLE_EQ(v.deviation, 1.0);
  EXPECT_EQ(v.reason,
            "slow: median 200 s of 5 samples is +100.0% against the job median 100 s; allowed "
            "5.0% + 3 x 0.0% (the median's uncertainty: noise 0.0% / sqrt(5)) = 5.0%");
  // Against a baseline the same.
  const auto b = judge_against_baseline({unit("a", 120), unit("b", 101)}, 100, rule, "s");
  EXPECT_EQ(b[0].standing, Standing::slow);
  EXPECT_EQ(b[1].standing, Standing::ok);
}

TEST(Outliers, TheThresholdAndTheNoiseAllowanceAreBoundsAtUnderAndOver) {
  OutlierRule rule;
  auto judge_e = [&](double centre, double spread) {
    std::vector<UnitSamples> us = {unit("a", 100, spread), unit("b", 100, spread),
                                   unit("c", 100, spread), unit("e", centre, spread * centre / 100)};
    return judge_against_median(us, rule, "x").back();
  };
  // No noise: 5 % is the bound.
  EXPECT_EQ(judge_e(95.5, 0).standing, Standing::ok);
  EXPECT_EQ(judge_e(94.5, 0).standing, Standing::slow);
  // 2 % noise everywhere: the median's uncertainty is 2 / sqrt(5) = 0.894 %, so 5 + 3 x 0.894 =
  // 7.68 % is allowed; 6 and 7 % below are inside it, 8 % is not.
  EXPECT_EQ(judge_e(94, 2).standing, Standing::inconclusive);
  EXPECT_NEAR(judge_e(94, 2).allowed, 0.05 + 3 * 0.02 / std::sqrt(5.0), 1e-12);
  EXPECT_NEAR(judge_e(94, 2).uncertainty, 0.02 / std::sqrt(5.0), 1e-12);
  EXPECT_EQ(judge_e(93, 2).standing, Standing::inconclusive);
  EXPECT_EQ(judge_e(92, 2).standing, Standing::slow);
  // A unit whose median is uncertain by more than the threshold (noise 20 % / sqrt(5) = 9 %) is
  // not called ok when below the median, and a clearly slow one is still named.
  std::vector<UnitSamples> noisy = {unit("a", 100), unit("b", 100), unit("c", 100),
                                    unit("e", 99, 20)};
  EXPECT_EQ(judge_against_median(noisy, rule, "x").back().standing, Standing::inconclusive);
  noisy.back() = unit("e", 99, 10);  // uncertain by 4.5 %, 1 % below: ok
  EXPECT_EQ(judge_against_median(noisy, rule, "x").back().standing, Standing::ok);
  noisy.back() = unit("e", 50, 5);
  EXPECT_EQ(judge_against_median(noisy, rule, "x").back().standing, Standing::slow);
  // Faster than the job is never slow.
  EXPECT_EQ(judge_e(150, 0).standing, Standing::ok);
}

TEST(Outliers, TooFewUnitsOrABaselineDecideWhatAJobMedianCannot) {
  OutlierRule rule;
  const std::vector<UnitSamples> two = {unit("a", 100), unit("b", 50)};
  for (const auto& v : judge_against_median(two, rule, "x")) {
    EXPECT_EQ(v.standing, Standing::inconclusive);
    EXPECT_NE(v.reason.find("2 unit(s) measured, 3 needed"), std::string::npos) << v.reason;
  }
  const auto bs = judge_against_baseline(two, 100, rule, "x");
  EXPECT_EQ(bs[0].standing, Standing::ok);
  EXPECT_EQ(bs[1].standing, Standing::slow);
  EXPECT_NE(bs[1].reason.find("against the baseline 100 x"), std::string::npos) << bs[1].reason;
  EXPECT_THROW(judge_against_baseline(two, 0, rule, "x"), Error);
}

TEST(Outliers, BadSamplesAndRulesAreOneLineErrors) {
  OutlierRule rule;
  EXPECT_THROW(judge_against_median({}, rule, "x"), Error);
  EXPECT_THROW(judge_against_median({{"a", {}}}, rule, "x"), Error);
  EXPECT_THROW(judge_against_median({{"a", {1, -2}}}, rule, "x"), Error);
  EXPECT_THROW(judge_against_median({{"a", {1, std::nan("")}}}, rule, "x"), Error);
  rule.threshold = 0;
  EXPECT_THROW(judge_against_median({unit("a", 1)}, rule, "x"), Error);
}

TEST(Outliers, RoundRobinMeetsEveryPairOnceInDisjointRounds) {
  for (int n = 2; n <= 9; ++n) {
    const auto rounds = round_robin_rounds(n);
    EXPECT_EQ(static_cast<int>(rounds.size()), n % 2 == 0 ? n - 1 : n) << n;
    std::set<std::pair<int, int>> seen;
    for (const auto& round : rounds) {
      std::set<int> busy;
      for (const auto& [a, b] : round) {
        EXPECT_LT(a, b);
        EXPECT_TRUE(busy.insert(a).second) << n;
        EXPECT_TRUE(busy.insert(b).second) << n;
        EXPECT_TRUE(seen.insert({a, b}).second) << n;
      }
      EXPECT_EQ(static_cast<int>(round.size()), n / 2) << n;
    }
    EXPECT_EQ(static_cast<int>(seen.size()), n * (n - 1) / 2) << n;
  }
  EXPECT_TRUE(round_robin_rounds(1).empty());
}

// Pairs of n units with one bad unit (every pair it is on at a third of the rate): its pairs are
// slow, the unit is blamed, nobody else is, even at n = 3 where most pairs are the bad unit's.
TEST(Outliers, PairMatrixBlamesTheBadUnitNotItsPeers) {
  OutlierRule rule;
  for (int n = 3; n <= 8; ++n) {
    for (int bad = 0; bad < n; bad += n - 1) {
      std::vector<std::pair<int, int>> pairs;
      std::vector<UnitSamples> samples;
      for (const auto& round : round_robin_rounds(n)) {
        for (const auto& p : round) {
          pairs.push_back(p);
          const bool slow = p.first == bad || p.second == bad;
          samples.push_back(unit("p", slow ? 30 : 90 + p.first, 1));
        }
      }
      const auto vs = judge_pairs(n, pairs, samples, rule, "GB/s");
      std::vector<std::pair<int, int>> slow;
      for (size_t i = 0; i < vs.size(); ++i) {
        const bool on_bad = pairs[i].first == bad || pairs[i].second == bad;
        EXPECT_EQ(vs[i].standing, on_bad ? Standing::slow : Standing::ok)
            << "n=" << n << " bad=" << bad << ": " << vs[i].reason;
        if (vs[i].standing == Standing::slow) slow.push_back(pairs[i]);
      }
      const PairBlame blame = blame_pairs(n, slow);
      EXPECT_EQ(blame.units, std::vector<int>{bad}) << "n=" << n;
      EXPECT_TRUE(blame.links.empty()) << "n=" << n;
    }
  }
}

TEST(Outliers, OneSlowLinkIsALinkAndTwoUnitsAreInconclusive) {
  OutlierRule rule;
  const int n = 4;
  std::vector<std::pair<int, int>> pairs;
  std::vector<UnitSamples> samples;
  for (const auto& round : round_robin_rounds(n)) {
    for (const auto& p : round) {
      pairs.push_back(p);
      samples.push_back(unit("p", p == std::make_pair(1, 2) ? 40 : 100, 1));
    }
  }
  const auto vs = judge_pairs(n, pairs, samples, rule, "GB/s");
  std::vector<std::pair<int, int>> slow;
  for (size_t i = 0; i < vs.size(); ++i) {
    if (vs[i].standing == Standing::slow) slow.push_back(pairs[i]);
  }
  ASSERT_EQ(slow.size(), 1u);
  const PairBlame blame = blame_pairs(n, slow);
  EXPECT_TRUE(blame.units.empty());
  EXPECT_EQ(blame.links, (std::vector<std::pair<int, int>>{{1, 2}}));
  // Two units: one pair, nothing to compare it with.
  const auto two = judge_pairs(2, {{0, 1}}, {unit("p", 10)}, rule, "GB/s");
  EXPECT_EQ(two[0].standing, Standing::inconclusive);
  EXPECT_THROW(judge_pairs(3, {{0, 3}}, {unit("p", 10)}, rule, "GB/s"), Error);
  // Noise explained away: one extra slow pair beside a blamed unit stays a link, not a unit.
  const PairBlame mixed = blame_pairs(4, {{0, 2}, {1, 2}, {2, 3}, {0, 1}});
  EXPECT_EQ(mixed.units, std::vector<int>{2});
  EXPECT_EQ(mixed.links, (std::vector<std::pair<int, int>>{{0, 1}}));
}

}  // namespace
}  // namespace sxb
