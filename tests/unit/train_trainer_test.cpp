#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <exception>
#include <thread>

#include "core/error.hpp"
#include "core/stats.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "train/cpu_model.hpp"
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
  EXPECT_DOUBLE_EQ(palm_flops_per_token(model_shape(m), 4096), 40430493696.0 + 6442450944.0);
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

// ---- ZeRO: the trainer ----

TrainOptions zero_options(int world, int stage, int64_t accum, const SequenceSource& data) {
  TrainOptions o;
  o.model = resolve_model("tiny");
  o.ds = default_ds_config();
  o.ds.optimizer.lr = 3e-3;
  o.ds.optimizer.weight_decay = 0.01;
  o.ds.gradient_clipping = 0.5;  // below the tiny model's norms: clipping is active
  o.ds.zero_stage = stage;
  o.ds.reduce_bucket_size = 10000;  // several buckets per shard
  o.ds.allgather_bucket_size = 25000;
  o.batch = resolve_batch(o.ds, world);
  o.batch.micro_batch_per_gpu = 1;
  o.batch.gradient_accumulation_steps = accum;
  o.batch.train_batch_size = accum * world;
  o.seq_len = 16;
  o.steps = 3;
  o.seed = 9;
  o.data = &data;
  return o;
}

TEST(TrainerZero, WorldOfOneEveryStageEqualsStageZero) {
  const SyntheticSequenceSource data(9, 16, resolve_model("tiny").vocab_size);
  for (int64_t accum : {1, 2}) {
    LocalReducer job;
    const TrainRun base = train_cpu(zero_options(1, 0, accum, data), job);
    EXPECT_GT(base.steps.front().grad_norm, 0.5) << "clipping must be active";
    EXPECT_NE(base.steps[0].loss, base.steps[2].loss);
    for (int stage : {1, 2, 3}) {
      const TrainRun z = train_cpu(zero_options(1, stage, accum, data), job);
      EXPECT_EQ(z.zero_stage, stage);
      ASSERT_EQ(z.steps.size(), base.steps.size());
      for (size_t i = 0; i < base.steps.size(); ++i) {
        const std::string where = "stage " + std::to_string(stage) + " accumulation " +
                                  std::to_string(accum) + " step " + std::to_string(i + 1);
        if (stage < 3 || accum == 1) {
          // Same sums in the same order: bit-identical.
          EXPECT_EQ(z.steps[i].loss, base.steps[i].loss) << where;
          EXPECT_EQ(z.steps[i].grad_norm, base.steps[i].grad_norm) << where;
        } else {
          // Stage 3 sums each micro-step's gradient into the shard; stage 0 lets the second
          // backward add into the first's gradients: the same sum, rounded differently.
          EXPECT_NEAR(z.steps[i].loss / base.steps[i].loss, 1.0, 1e-6) << where;
          EXPECT_NEAR(z.steps[i].grad_norm / base.steps[i].grad_norm, 1.0, 1e-5) << where;
        }
        EXPECT_EQ(z.steps[i].comm_bytes, 0) << where;  // one rank: nothing leaves the process
      }
      if (stage < 3 || accum == 1) {
        EXPECT_EQ(z.param_checksum, base.param_checksum) << "stage " << stage;
      }
      EXPECT_TRUE(z.replicas_identical);
    }
  }
}

TEST(TrainerZero, StageThreeWithRecomputationEqualsStageZero) {
  const SyntheticSequenceSource data(9, 16, resolve_model("tiny").vocab_size);
  TrainOptions o0 = zero_options(1, 0, 1, data), o3 = zero_options(1, 3, 1, data);
  o0.ds.activation_checkpointing = o3.ds.activation_checkpointing = true;
  LocalReducer job;
  const TrainRun a = train_cpu(o0, job), b = train_cpu(o3, job);
  for (size_t i = 0; i < a.steps.size(); ++i) EXPECT_EQ(a.steps[i].loss, b.steps[i].loss);
  EXPECT_EQ(a.param_checksum, b.param_checksum);
}

TEST(TrainerZero, InvalidStageIsRefused) {
  const SyntheticSequenceSource data(9, 16, resolve_model("tiny").vocab_size);
  LocalReducer job;
  EXPECT_THROW(train_cpu(zero_options(1, 4, 1, data), job), Error);
  EXPECT_THROW(train_cpu(zero_options(1, -1, 1, data), job), Error);
}

// Ranks as threads of one process: collectives through shared pointers and a barrier, summing
// in rank order (so stage 0's all_reduce and stage 2's reduce_scatter add the same numbers in
// the same order).
class ThreadWorld {
 public:
  explicit ThreadWorld(int n) : n_(n), sync_(n), ptr_(n), val_(n) {}
  int size() const { return n_; }
  // Publishes this rank's pointer, waits for all, runs read(), waits until all have read.
  template <typename F>
  void exchange(int rank, const float* p, F&& read) {
    ptr_[rank] = p;
    sync_.arrive_and_wait();
    read(ptr_);
    sync_.arrive_and_wait();
  }
  template <typename F>
  double exchange_value(int rank, double v, F&& combine) {
    val_[rank] = v;
    sync_.arrive_and_wait();
    const double out = combine(val_);
    sync_.arrive_and_wait();
    return out;
  }

 private:
  int n_;
  std::barrier<> sync_;
  std::vector<const float*> ptr_;
  std::vector<double> val_;
};

class ThreadReducer final : public GradientReducer {
 public:
  ThreadReducer(ThreadWorld& w, int rank) : w_(w), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return w_.size(); }
  void all_reduce_sum(float* data, int64_t n) override {
    std::vector<float> out(n, 0.0f);
    w_.exchange(rank_, data, [&](const std::vector<const float*>& p) {
      for (int q = 0; q < w_.size(); ++q)
        for (int64_t i = 0; i < n; ++i) out[i] += p[q][i];
    });
    std::copy(out.begin(), out.end(), data);
  }
  void reduce_scatter_sum(const float* send, float* recv, int64_t n) override {
    std::vector<float> out(n, 0.0f);
    w_.exchange(rank_, send, [&](const std::vector<const float*>& p) {
      for (int q = 0; q < w_.size(); ++q)
        for (int64_t i = 0; i < n; ++i) out[i] += p[q][rank_ * n + i];
    });
    std::copy(out.begin(), out.end(), recv);
  }
  void all_gather(const float* send, float* recv, int64_t n) override {
    std::vector<float> out(n * w_.size());
    w_.exchange(rank_, send, [&](const std::vector<const float*>& p) {
      for (int q = 0; q < w_.size(); ++q) std::copy(p[q], p[q] + n, out.begin() + q * n);
    });
    std::copy(out.begin(), out.end(), recv);
  }
  double sum(double v) override {
    return w_.exchange_value(rank_, v, [](const std::vector<double>& x) {
      double s = 0;
      for (double y : x) s += y;
      return s;
    });
  }
  int64_t sum(int64_t v) override { return int64_t(sum(double(v))); }
  double max(double v) override {
    return w_.exchange_value(rank_, v, [](const std::vector<double>& x) {
      return *std::max_element(x.begin(), x.end());
    });
  }
  double min(double v) override {
    return w_.exchange_value(rank_, v, [](const std::vector<double>& x) {
      return *std::min_element(x.begin(), x.end());
    });
  }

 private:
  ThreadWorld& w_;
  int rank_;
};

std::vector<TrainRun> train_threads(const TrainOptions& o, int world) {
  ThreadWorld w(world);
  std::vector<TrainRun> runs(world);
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadReducer job(w, r);
      try {
        runs[r] = train_cpu(o, job);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return runs;
}

// Payload of one step on one rank, as TrainStep::comm_bytes defines it.
int64_t expected_step_bytes(const TrainOptions& o, int world) {
  const int64_t P = o.model.param_count();
  const ShardPlan plan(P, world);
  const int64_t scalars = 8 * (o.ds.zero_stage >= 2 ? 3 : 2);  // targets, loss (, norm)
  auto gathered = [&](int64_t bucket) {  // one all_gather or reduce_scatter of the shards
    const ShardBuckets b(plan, bucket);
    int64_t bytes = 0;
    for (int64_t j = 0; j < b.count(); ++j) bytes += 4 * world * b.bucket(j).size();
    return bytes;
  };
  switch (o.ds.zero_stage) {
    case 0:
      return 4 * P + scalars;
    case 1:
      return 4 * P + gathered(o.ds.allgather_bucket_size) + scalars;
    case 2:
      return gathered(o.ds.reduce_bucket_size) + gathered(o.ds.allgather_bucket_size) + scalars;
    default: {
      const auto units = cpu::parameter_units(o.model);
      int64_t per_micro = 0;
      for (size_t u = 0; u < units.size(); ++u) {
        const int64_t block = 4 * world * plan.largest_part(units[u]);
        per_micro += block * (u == 0 ? 2 : 3);  // gathers (the embedding once), reduce_scatter
      }
      return per_micro * o.batch.gradient_accumulation_steps + scalars;
    }
  }
}

void check_sharded_world(int world) {
  const SyntheticSequenceSource data(9, 16, resolve_model("tiny").vocab_size);
  const auto base = train_threads(zero_options(world, 0, 2, data), world);
  EXPECT_TRUE(base[0].replicas_identical);
  for (int stage : {1, 2, 3}) {
    const TrainOptions o = zero_options(world, stage, 2, data);
    const auto runs = train_threads(o, world);
    for (int r = 0; r < world; ++r) {
      ASSERT_EQ(runs[r].steps.size(), base[0].steps.size());
      EXPECT_TRUE(runs[r].replicas_identical) << "stage " << stage;
      EXPECT_EQ(runs[r].param_checksum, runs[0].param_checksum);
      for (size_t i = 0; i < base[0].steps.size(); ++i) {
        const std::string where = "world " + std::to_string(world) + " stage " +
                                  std::to_string(stage) + " rank " + std::to_string(r) + " step " +
                                  std::to_string(i + 1);
        const TrainStep &z = runs[r].steps[i], &b = base[0].steps[i];
        // Sums over ranks happen in the same order; what may round differently is the norm's
        // sum of per-shard squares (stages 2, 3) and stage 3's per-micro-step accumulation.
        EXPECT_NEAR(z.loss / b.loss, 1.0, 1e-6) << where;
        EXPECT_NEAR(z.grad_norm / b.grad_norm, 1.0, 1e-5) << where;
        EXPECT_EQ(z.target_tokens, b.target_tokens) << where;
        EXPECT_EQ(z.comm_bytes, expected_step_bytes(o, world)) << where;
        EXPECT_GT(z.comm_time_s, 0.0) << where;
      }
    }
    EXPECT_NEAR(runs[0].param_checksum / base[0].param_checksum, 1.0, 1e-5) << "stage " << stage;
  }
  // Stage 0's payload is the gradient all_reduce and the two scalar sums.
  EXPECT_EQ(base[0].steps[0].comm_bytes, 4 * resolve_model("tiny").param_count() + 16);
}

TEST(TrainerZero, TwoThreadRanksEveryStageEqualsStageZero) {
  check_sharded_world(2);
}
TEST(TrainerZero, ThreeThreadRanksWithPaddedShardsEqualStageZero) {
  check_sharded_world(3);
}

TEST(TrainerZero, ThreadRanksMatchOneRankOfTheSameGlobalBatch) {
  // 2 ranks x accumulation 2 at stage 3 against 1 rank x accumulation 4 at stage 0.
  const SyntheticSequenceSource data(9, 16, resolve_model("tiny").vocab_size);
  LocalReducer one;
  const TrainRun a = train_cpu(zero_options(1, 0, 4, data), one);
  const auto b = train_threads(zero_options(2, 3, 2, data), 2);
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_NEAR(b[0].steps[i].loss / a.steps[i].loss, 1.0, 1e-5) << "step " << i + 1;
  }
}

TEST(TrainerZero, PlannedBytesFollowTheStage) {
  const ModelConfig m = resolve_model("small");
  DsConfig ds = default_ds_config();
  EXPECT_EQ(cpu_training_bytes(m, ds, 4, 2, 64), cpu::training_bytes_needed(m, 2, 64, false));
  const uint64_t full = cpu_training_bytes(m, ds, 4, 2, 64);
  for (int stage : {1, 2, 3}) {
    ds.zero_stage = stage;
    EXPECT_LT(cpu_training_bytes(m, ds, 4, 2, 64), full) << "stage " << stage;
  }
  ds.zero_stage = 1;
  // Moments of a quarter of the parameters instead of all, plus one gathered buffer.
  const int64_t P = m.param_count(), S = ShardPlan(P, 4).shard_size();
  EXPECT_EQ(int64_t(full) - int64_t(cpu_training_bytes(m, ds, 4, 2, 64)),
            4 * (2 * P - 2 * S - 4 * S));
  ds.zero_stage = 5;
  EXPECT_THROW(cpu_training_bytes(m, ds, 4, 2, 64), Error);
}

}  // namespace
}  // namespace sxb
