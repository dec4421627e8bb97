#include <gtest/gtest.h>

#include <cmath>

#include "train/sft_metrics.hpp"
#include "train/trainer.hpp"
#include "train/zero.hpp"

namespace sxb {
namespace {

TEST(SftMetrics, PalmFlopsPerToken) {
  // Llama-2-7B at 4096 tokens: 6N = 6 x 6,738,415,616 = 40,430,493,696;
  // 12 L d T = 12 x 32 x 4096 x 4096 = 6,442,450,944.
  const ModelConfig m = resolve_model("meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(m.matmul_param_count(), 6607077376);  // embedding table and norms excluded
  EXPECT_DOUBLE_EQ(palm_flops_per_token(m, 4096), 40430493696.0 + 6442450944.0);
}

TEST(SftMetrics, QuantilesInterpolateLikeNumpy) {
  const std::vector<double> v = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(quantile(v, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(quantile(v, 0.9), 4.6);
  EXPECT_DOUBLE_EQ(quantile({2.5}, 0.9), 2.5);
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
}

TEST(Trainer, SequenceIndicesCoverTheGlobalBatchOnce) {
  BatchPlan b;
  b.micro_batch_per_gpu = 2;
  b.gradient_accumulation_steps = 3;
  b.world_size = 4;
  b.train_batch_size = 24;
  std::vector<int> seen(48, 0);
  for (int64_t step = 0; step < 2; ++step)
    for (int64_t i = 0; i < 3; ++i)
      for (int r = 0; r < 4; ++r)
        for (int64_t j = 0; j < 2; ++j) ++seen.at(sequence_index(b, step, i, r, j));
  for (int s : seen) EXPECT_EQ(s, 1);
}

TrainRun run_with(int64_t micro, int64_t accum, int64_t steps) {
  TrainOptions o;
  o.model = resolve_model("tiny");
  o.ds = default_ds_config();
  o.ds.optimizer.lr = 1e-3;
  o.ds.gradient_clipping = 1.0;
  o.batch = resolve_batch(o.ds, 1);
  o.batch.micro_batch_per_gpu = micro;
  o.batch.gradient_accumulation_steps = accum;
  o.batch.train_batch_size = micro * accum;
  o.seq_len = 16;
  o.steps = steps;
  o.seed = 5;
  SyntheticSequenceSource data(5, 16, o.model.vocab_size);
  o.data = &data;
  LocalReducer job;
  return train_cpu(o, job);
}

TEST(Trainer, AccumulationMatchesOneLargeMicroBatch) {
  const TrainRun a = run_with(4, 1, 3), b = run_with(1, 4, 3), c = run_with(2, 2, 3);
  ASSERT_EQ(a.steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.steps[i].loss / b.steps[i].loss, 1.0, 1e-6) << "step " << i + 1;
    EXPECT_NEAR(a.steps[i].loss / c.steps[i].loss, 1.0, 1e-6) << "step " << i + 1;
    EXPECT_NEAR(a.steps[i].grad_norm / b.steps[i].grad_norm, 1.0, 1e-5) << "step " << i + 1;
    EXPECT_EQ(a.steps[i].target_tokens, 4 * 15);
  }
  EXPECT_TRUE(a.replicas_identical);
}

// ---- ZeRO: shard arithmetic ----

TEST(ZeroShards, EqualShardsOfCeilSizeCoverTheBufferOnce) {
  const ShardPlan p(10, 3);
  EXPECT_EQ(p.shard_size(), 4);
  EXPECT_EQ(p.padded_size(), 12);
  EXPECT_EQ(p.owned(0), (ElementRange{0, 4}));
  EXPECT_EQ(p.owned(1), (ElementRange{4, 8}));
  EXPECT_EQ(p.owned(2), (ElementRange{8, 10}));  // 2 elements + 2 of padding
  // More ranks than a shard each: the last rank owns nothing.
  const ShardPlan q(5, 4);
  EXPECT_EQ(q.shard_size(), 2);
  EXPECT_EQ(q.owned(2), (ElementRange{4, 5}));
  EXPECT_TRUE(q.owned(3).empty());
  EXPECT_EQ(ShardPlan(7, 1).owned(0), (ElementRange{0, 7}));
  EXPECT_EQ(ShardPlan(0, 2).shard_size(), 0);
  for (int64_t total : {1, 2, 7, 64, 119104, 119105}) {
    for (int world : {1, 2, 3, 5, 8}) {
      const ShardPlan s(total, world);
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const ElementRange o = s.owned(r);
        if (o.empty()) continue;
        EXPECT_EQ(o.begin, next) << total << "/" << world << " rank " << r;
        EXPECT_LE(o.size(), s.shard_size());
        next = o.end;
      }
      EXPECT_EQ(next, total) << total << "/" << world;
      EXPECT_LT(s.padded_size() - total, world);
    }
  }
  EXPECT_THROW(ShardPlan(10, 0), std::invalid_argument);
  EXPECT_THROW(ShardPlan(-1, 2), std::invalid_argument);
}

TEST(ZeroShards, PartsOfARange) {
  const ShardPlan p(10, 3);  // shards [0,4) [4,8) [8,10)
  const ElementRange r{3, 9};
  EXPECT_EQ(p.owned_part(0, r), (ElementRange{3, 4}));
  EXPECT_EQ(p.owned_part(1, r), (ElementRange{4, 8}));
  EXPECT_EQ(p.owned_part(2, r), (ElementRange{8, 9}));
  EXPECT_EQ(p.largest_part(r), 4);
  EXPECT_TRUE(p.owned_part(2, {0, 4}).empty());
  EXPECT_EQ(p.largest_part({5, 7}), 2);
  EXPECT_EQ(p.largest_part({5, 5}), 0);
}

TEST(ZeroShards, BucketsWalkEveryShardInSlices) {
  const ShardPlan p(10, 3);    // shard size 4
  const ShardBuckets b(p, 7);  // 7 / 3 = 2 elements per rank per call
  EXPECT_EQ(b.per_rank(), 2);
  ASSERT_EQ(b.count(), 2);
  EXPECT_EQ(b.bucket(0), (ElementRange{0, 2}));
  EXPECT_EQ(b.bucket(1), (ElementRange{2, 4}));
  const ShardBuckets tiny(p, 1);  // smaller than the world: one element per rank
  EXPECT_EQ(tiny.count(), 4);
  const ShardBuckets big(p, 1000000);
  ASSERT_EQ(big.count(), 1);
  EXPECT_EQ(big.bucket(0), (ElementRange{0, 4}));
  const ShardBuckets uneven(ShardPlan(119104, 3), 10000);  // shard 39702, 3333 per rank
  int64_t covered = 0;
  for (int64_t j = 0; j < uneven.count(); ++j) {
    EXPECT_EQ(uneven.bucket(j).begin, covered);
    EXPECT_LE(uneven.bucket(j).size() * 3, 10000);
    covered = uneven.bucket(j).end;
  }
  EXPECT_EQ(covered, 39702);
  EXPECT_EQ(uneven.count(), 12);
  EXPECT_THROW(ShardBuckets(p, 0), std::invalid_argument);
}

}  // namespace
}  // namespace sxb
