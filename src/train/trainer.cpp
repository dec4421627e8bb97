#include "train/trainer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "core/error.hpp"
#include "train/cpu_model.hpp"
#include "train/optimizer.hpp"

namespace sxb {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
}  // namespace

int64_t sequence_index(const BatchPlan& b, int64_t step, int64_t micro_step, int rank, int64_t j) {
  return step * b.train_batch_size + (micro_step * b.world_size + rank) * b.micro_batch_per_gpu + j;
}

TrainRun train_cpu(const TrainOptions& o, GradientReducer& job) {
  const int64_t B = o.batch.micro_batch_per_gpu, T = o.seq_len;
  const int64_t accum = o.batch.gradient_accumulation_steps;
  const int world = job.world_size();
  if (o.batch.world_size != world) {
    throw runtime_error(
        fmt::format("batch plan is for {} ranks, the job has {}", o.batch.world_size, world));
  }
  cpu::LlamaCpu<float> model(o.model, B, T, o.ds.activation_checkpointing);
  model.init_weights(o.seed);
  AdamW opt(model.layout(), o.model.param_count(), o.ds.optimizer);
  const int64_t n_params = o.model.param_count();
  std::vector<int32_t> tokens(accum * B * T), targets(accum * B * T);
  TrainRun run;

  for (int64_t s = 0; s < o.steps; ++s) {
    const auto t_step = Clock::now();
    double comm_s = 0;
    // This rank's sequences of the step, all micro-batches.
    int64_t local_targets = 0;
    for (int64_t i = 0; i < accum; ++i) {
      for (int64_t j = 0; j < B; ++j) {
        const int64_t row = (i * B + j) * T;
        o.data->fill(sequence_index(o.batch, s, i, job.rank(), j), &tokens[row], &targets[row]);
      }
    }
    for (int32_t t : targets) local_targets += t >= 0 ? 1 : 0;
    auto t_comm = Clock::now();
    const int64_t global_targets = job.sum(local_targets);
    comm_s += seconds_since(t_comm);
    if (global_targets == 0) {
      throw runtime_error(
          fmt::format("step {} has no target tokens (every token is masked)", s + 1));
    }
    // Objective = (sum of token losses over the global batch) / global_targets. Each rank
    // back-propagates world / global_targets per token so that the all-reduce's sum divided by
    // the world size is exactly the gradient of that objective, however the batch is split.
    const double dloss = double(world) / double(global_targets);
    model.zero_grad();
    double local_loss_sum = 0;
    for (int64_t i = 0; i < accum; ++i) {
      const int64_t row = i * B * T;
      local_loss_sum += model.forward(&tokens[row], &targets[row], B, T);
      model.backward(dloss);
    }
    float* grads = model.grads().data();
    t_comm = Clock::now();
    job.all_reduce_sum(grads, n_params);
    const double loss_sum = job.sum(local_loss_sum);
    comm_s += seconds_since(t_comm);
    const float inv_world = 1.0f / float(world);
    if (world > 1) {
      for (int64_t i = 0; i < n_params; ++i) grads[i] *= inv_world;
    }
    TrainStep rec;
    rec.step = s + 1;
    rec.loss = loss_sum / double(global_targets);
    rec.grad_norm = clip_grad_norm(grads, n_params, o.ds.gradient_clipping);
    rec.lr = o.ds.optimizer.lr;
    rec.target_tokens = global_targets;
    opt.step(model.params().data(), grads);
    rec.step_time_s = seconds_since(t_step);
    rec.comm_time_s = comm_s;
    if (!std::isfinite(rec.loss)) {
      throw runtime_error(fmt::format("step {}: loss is not finite ({})", rec.step, rec.loss));
    }
    if (o.on_step) o.on_step(rec);
    run.steps.push_back(rec);
  }
  // Per-step times as the job saw them: the slowest rank.
  for (auto& r : run.steps) {
    r.step_time_s = job.max(r.step_time_s);
    r.comm_time_s = job.max(r.comm_time_s);
  }
  double checksum = 0;
  for (float p : model.params()) checksum += double(p);
  run.param_checksum = checksum;
  run.replicas_identical = job.max(checksum) == job.min(checksum);
  return run;
}

}  // namespace sxb
