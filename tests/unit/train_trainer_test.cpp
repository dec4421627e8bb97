#include <gtest/gtest.h>

#include <cmath>

#include "train/sft_metrics.hpp"
#include "train/trainer.hpp"

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

}  // namespace
}  // namespace sxb
