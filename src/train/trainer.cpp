#include "train/trainer.hpp"

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "train/cpu_model.hpp"
#include "train/optimizer.hpp"
#include "train/safetensors.hpp"
#include "train/zero.hpp"

namespace sxb {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
// CPU time of the calling thread (the engine is single-threaded): time it was preempted by other
// processes is not counted, while work that takes longer (a slow core, the test-only fault) is.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The job with a meter: time spent inside its collectives and their payload (TrainStep's
// comm_time_s and comm_bytes), and this thread's CPU time inside them (what a rank's own work
// excludes). Payloads count only when there is more than one rank.
class MeteredJob {
 public:
  explicit MeteredJob(GradientReducer& job) : job_(job), world_(job.world_size()) {}
  int rank() const { return job_.rank(); }
  int world_size() const { return world_; }

  void all_reduce_sum(float* data, int64_t count) {
    const auto t0 = Clock::now();
    const double cpu0 = thread_cpu_s();
    job_.all_reduce_sum(data, count);
    account(t0, cpu0, 4 * count);
  }
  void reduce_scatter_sum(const float* send, float* recv, int64_t shard_count) {
    const auto t0 = Clock::now();
    const double cpu0 = thread_cpu_s();
    job_.reduce_scatter_sum(send, recv, shard_count);
    account(t0, cpu0, 4 * shard_count * world_);
  }
  void all_gather(const float* send, float* recv, int64_t shard_count) {
    const auto t0 = Clock::now();
    const double cpu0 = thread_cpu_s();
    job_.all_gather(send, recv, shard_count);
    account(t0, cpu0, 4 * shard_count * world_);
  }
  double sum(double v) {
    const auto t0 = Clock::now();
    const double cpu0 = thread_cpu_s();
    v = job_.sum(v);
    account(t0, cpu0, 8);
    return v;
  }
  int64_t sum(int64_t v) {
    const auto t0 = Clock::now();
    const double cpu0 = thread_cpu_s();
    v = job_.sum(v);
    account(t0, cpu0, 8);
    return v;
  }

  void reset() {
    seconds_ = 0;
    cpu_seconds_ = 0;
    bytes_ = 0;
  }
  double seconds() const { return seconds_; }
  double cpu_seconds() const { return cpu_seconds_; }
  int64_t bytes() const { return bytes_; }

 private:
  void account(Clock::time_point t0, double cpu0, int64_t payload) {
    seconds_ += seconds_since(t0);
    cpu_seconds_ += thread_cpu_s() - cpu0;
    if (world_ > 1) bytes_ += payload;
  }
  GradientReducer& job_;
  int world_;
  double seconds_ = 0, cpu_seconds_ = 0;
  int64_t bytes_ = 0;
};

// Elements this rank's shard has at shard offsets [c.begin, c.end): the rest is padding.
int64_t real_in(ElementRange shard, ElementRange c) {
  return std::clamp<int64_t>(shard.size() - c.begin, 0, c.size());
}

// Largest block of one equal-shard collective a stage issues (elements per rank).
int64_t largest_block(const ShardPlan& plan, const std::vector<ElementRange>& units, int stage,
                      int64_t reduce_bucket, int64_t gather_bucket) {
  int64_t block = 0;
  if (plan.total() == 0) return 0;
  if (stage == 1 || stage == 2) block = ShardBuckets(plan, gather_bucket).bucket(0).size();
  if (stage == 2) block = std::max(block, ShardBuckets(plan, reduce_bucket).bucket(0).size());
  if (stage == 3) {
    for (const auto& u : units) block = std::max(block, plan.largest_part(u));
  }
  return block;
}

// The collectives of the sharded stages between the full-size working buffers of the model and
// this rank's shard. Every collective stages its blocks in `buf_` (zero padded).
class ShardComm {
 public:
  ShardComm(const ShardPlan& plan, MeteredJob& job, int64_t largest_block)
      : plan_(plan),
        job_(job),
        rank_(job.rank()),
        mine_(plan.owned(job.rank())),
        buf_(largest_block * plan.world()),
        recv_(largest_block) {}
  ElementRange mine() const { return mine_; }

  // Stages 1 and 2: every rank's shard into full (total elements); own: this rank's shard.
  void all_gather_shards(const float* own, float* full, int64_t bucket) {
    const ShardBuckets b(plan_, bucket);
    for (int64_t j = 0; j < b.count(); ++j) {
      const ElementRange c = b.bucket(j);
      const int64_t len = c.size();
      float* blk = buf_.data() + rank_ * len;
      const int64_t real = real_in(mine_, c);
      std::copy(own + c.begin, own + c.begin + real, blk);
      std::fill(blk + real, blk + len, 0.0f);
      job_.all_gather(blk, buf_.data(), len);
      for (int q = 0; q < plan_.world(); ++q) {
        const ElementRange o = plan_.owned(q);
        const float* src = buf_.data() + q * len;
        std::copy(src, src + real_in(o, c), full + o.begin + c.begin);
      }
    }
  }
  // Stage 2: shard (shard_size() elements) receives the sum over ranks of this rank's shard of
  // full (total elements); padding comes back as zeros.
  void reduce_scatter_shards(const float* full, float* shard, int64_t bucket) {
    const ShardBuckets b(plan_, bucket);
    for (int64_t j = 0; j < b.count(); ++j) {
      const ElementRange c = b.bucket(j);
      const int64_t len = c.size();
      for (int q = 0; q < plan_.world(); ++q) {
        const ElementRange o = plan_.owned(q);
        float* blk = buf_.data() + q * len;
        const int64_t real = real_in(o, c);
        std::copy(full + o.begin + c.begin, full + o.begin + c.begin + real, blk);
        std::fill(blk + real, blk + len, 0.0f);
      }
      job_.reduce_scatter_sum(buf_.data(), shard + c.begin, len);
    }
  }
  // Stage 3: full[range] from the ranks that own its parts; own: this rank's shard.
  void all_gather_range(ElementRange range, const float* own, float* full) {
    const int64_t chunk = plan_.largest_part(range);
    if (chunk == 0) return;
    const ElementRange p = plan_.owned_part(rank_, range);
    float* blk = buf_.data() + rank_ * chunk;
    std::copy(own + (p.begin - mine_.begin), own + (p.begin - mine_.begin) + p.size(), blk);
    std::fill(blk + p.size(), blk + chunk, 0.0f);
    job_.all_gather(blk, buf_.data(), chunk);
    for (int q = 0; q < plan_.world(); ++q) {
      const ElementRange pq = plan_.owned_part(q, range);
      const float* src = buf_.data() + q * chunk;
      std::copy(src, src + pq.size(), full + pq.begin);
    }
  }
  // Stage 3: adds to shard (this rank's shard) the sum over ranks of its part of full[range].
  void reduce_scatter_range_add(ElementRange range, const float* full, float* shard) {
    const int64_t chunk = plan_.largest_part(range);
    if (chunk == 0) return;
    for (int q = 0; q < plan_.world(); ++q) {
      const ElementRange pq = plan_.owned_part(q, range);
      float* blk = buf_.data() + q * chunk;
      std::copy(full + pq.begin, full + pq.end, blk);
      std::fill(blk + pq.size(), blk + chunk, 0.0f);
    }
    job_.reduce_scatter_sum(buf_.data(), recv_.data(), chunk);
    const ElementRange p = plan_.owned_part(rank_, range);
    float* dst = shard + (p.begin - mine_.begin);
    for (int64_t i = 0; i < p.size(); ++i) dst[i] += recv_[i];
  }

 private:
  const ShardPlan& plan_;
  MeteredJob& job_;
  int rank_;
  ElementRange mine_;
  std::vector<float> buf_, recv_;
};

void check_stage(int stage) {
  if (stage < 0 || stage > 3) {
    throw usage_error(fmt::format("zero_optimization.stage {} is not 0, 1, 2 or 3", stage));
  }
}

}  // namespace

int64_t sequence_index(const BatchPlan& b, int64_t step, int64_t micro_step, int rank, int64_t j) {
  return step * b.train_batch_size + (micro_step * b.world_size + rank) * b.micro_batch_per_gpu + j;
}

uint64_t cpu_training_bytes(const ModelConfig& m, const DsConfig& ds, int world, int64_t B,
                            int64_t T) {
  check_stage(ds.zero_stage);
  const int stage = ds.zero_stage;
  const int64_t P = m.param_count();
  const ShardPlan plan(P, world);
  const int64_t S = stage == 0 ? P : plan.shard_size();
  const int64_t block = largest_block(plan, cpu::parameter_units(m), stage,
                                      ds.reduce_bucket_elements(m), ds.allgather_bucket_size);
  int64_t elements = 2 * P + cpu::activation_elements(m, B, T, ds.activation_checkpointing);
  elements += 2 * S;                          // AdamW moments
  if (stage >= 2) elements += S;              // gradient shard
  if (stage == 3) elements += S + block;      // parameter shard, reduce-scatter result
  elements += block * int64_t(plan.world());  // staging buffer of the collectives
  return uint64_t(elements) * sizeof(float);
}

TrainRun train_cpu(const TrainOptions& o, GradientReducer& reducer) {
  const int64_t B = o.batch.micro_batch_per_gpu, T = o.seq_len;
  const int64_t accum = o.batch.gradient_accumulation_steps;
  const int world = reducer.world_size();
  const int stage = o.ds.zero_stage;
  check_stage(stage);
  if (o.batch.world_size != world) {
    throw runtime_error(
        fmt::format("batch plan is for {} ranks, the job has {}", o.batch.world_size, world));
  }
  MeteredJob job(reducer);
  cpu::LlamaCpu<float> model(o.model, B, T, o.ds.activation_checkpointing);
  if (o.pretrained_dir.empty()) {
    model.init_weights(o.seed);
  } else {
    load_pretrained(o.model, o.pretrained_dir, model.params().data());
  }
  const int64_t n_params = o.model.param_count();
  float* params = model.params().data();
  float* grads = model.grads().data();

  // Sharding. Stage 0 owns everything; from stage 1 this rank owns plan.owned(rank).
  const ShardPlan plan(n_params, world);
  const std::vector<ElementRange> units = cpu::parameter_units(o.model);
  const int64_t reduce_bucket = o.ds.reduce_bucket_elements(o.model);
  const int64_t gather_bucket = o.ds.allgather_bucket_size;
  ShardComm shards(plan, job, largest_block(plan, units, stage, reduce_bucket, gather_bucket));
  const ElementRange mine = stage == 0 ? ElementRange{0, n_params} : shards.mine();
  AdamW opt(model.layout(), mine.begin, mine.end, o.ds.optimizer);
  // Stages 2 and 3: the summed gradient of this rank's shard (shard_size elements, the padding
  // stays zero). Stage 3: the fp32 parameters of the shard, the only persistent copy.
  std::vector<float> grad_shard(stage >= 2 ? plan.shard_size() : 0);
  std::vector<float> param_shard;
  if (stage == 3) {
    param_shard.assign(params + mine.begin, params + mine.end);
    // Parameters outside a unit's use are released; NaN makes any use of them visible.
    std::fill(params, params + n_params, std::numeric_limits<float>::quiet_NaN());
    auto release = [params](ElementRange u) {
      std::fill(params + u.begin, params + u.end, std::numeric_limits<float>::quiet_NaN());
    };
    cpu::UnitHooks hooks;
    hooks.before = [&, params](cpu::Pass pass, int64_t u) {
      // The embedding's backward reads no parameters: nothing to gather for it.
      if (pass == cpu::Pass::backward && u == 0) return;
      shards.all_gather_range(units[u], param_shard.data(), params);
    };
    hooks.after = [&, params, grads, release](cpu::Pass pass, int64_t u) {
      release(units[u]);
      if (pass == cpu::Pass::backward) {
        // This micro-batch's gradients of unit u are complete: sum them into the owners'
        // shards and clear them for the next micro-batch.
        shards.reduce_scatter_range_add(units[u], grads, grad_shard.data());
        std::fill(grads + units[u].begin, grads + units[u].end, 0.0f);
      }
    };
    model.set_unit_hooks(std::move(hooks));
  }

  std::vector<int32_t> tokens(accum * B * T), targets(accum * B * T);
  TrainRun run;
  run.zero_stage = stage;

  for (int64_t s = 0; s < o.steps; ++s) {
    const auto t_step = Clock::now();
    const double cpu_step = thread_cpu_s();
    job.reset();
    // This rank's sequences of the step, all micro-batches.
    int64_t local_targets = 0;
    for (int64_t i = 0; i < accum; ++i) {
      for (int64_t j = 0; j < B; ++j) {
        const int64_t row = (i * B + j) * T;
        o.data->fill(sequence_index(o.batch, s, i, job.rank(), j), &tokens[row], &targets[row]);
      }
    }
    for (int32_t t : targets) local_targets += t >= 0 ? 1 : 0;
    const int64_t global_targets = job.sum(local_targets);
    if (global_targets == 0) {
      throw runtime_error(
          fmt::format("step {} has no target tokens (every token is masked)", s + 1));
    }
    // Objective = (sum of token losses over the global batch) / global_targets. Each rank
    // back-propagates world / global_targets per token so that the sum over ranks divided by
    // the world size is exactly the gradient of that objective, however the batch is split.
    const double dloss = double(world) / double(global_targets);
    model.zero_grad();
    std::fill(grad_shard.begin(), grad_shard.end(), 0.0f);
    double local_loss_sum = 0;
    for (int64_t i = 0; i < accum; ++i) {
      const int64_t row = i * B * T;
      const double cpu_micro = thread_cpu_s();
      const double comm_before = job.cpu_seconds();
      local_loss_sum += model.forward(&tokens[row], &targets[row], B, T);
      model.backward(dloss);  // stage 3: reduce-scatters every unit's gradients on the way
      if (o.slow_factor > 1) {
        // The test-only straggler: its own work (communication inside the pass excluded)
        // takes slow_factor times as much CPU time.
        const double work = thread_cpu_s() - cpu_micro - (job.cpu_seconds() - comm_before);
        const double until = thread_cpu_s() + (o.slow_factor - 1) * std::max(0.0, work);
        while (thread_cpu_s() < until) {
        }
      }
    }
    // The gradient this rank updates with: the whole buffer (stages 0, 1) or its shard.
    float* g = grads + mine.begin;
    const int64_t n_mine = mine.size();
    if (stage <= 1) {
      job.all_reduce_sum(grads, n_params);
    } else if (stage == 2) {
      shards.reduce_scatter_shards(grads, grad_shard.data(), reduce_bucket);
    }
    if (stage >= 2) g = grad_shard.data();
    const double loss_sum = job.sum(local_loss_sum);
    const float inv_world = 1.0f / float(world);
    const int64_t n_scaled = stage <= 1 ? n_params : n_mine;
    float* scaled = stage <= 1 ? grads : g;
    if (world > 1) {
      for (int64_t i = 0; i < n_scaled; ++i) scaled[i] *= inv_world;
    }
    TrainStep rec;
    rec.step = s + 1;
    rec.loss = loss_sum / double(global_targets);
    if (stage <= 1) {
      // The full gradient is here: its norm directly, as stage 0.
      rec.grad_norm = global_grad_norm(grads, n_params);
    } else {
      rec.grad_norm = std::sqrt(job.sum(grad_square_sum(g, n_mine)));
    }
    const float clip = clip_coefficient(rec.grad_norm, o.ds.gradient_clipping);
    if (clip != 1.0f) {
      for (int64_t i = 0; i < n_mine; ++i) g[i] *= clip;
    }
    rec.lr = o.ds.optimizer.lr;
    rec.target_tokens = global_targets;
    if (stage == 3) {
      opt.step(param_shard.data(), g);
    } else {
      opt.step(params + mine.begin, g);
      if (stage >= 1) shards.all_gather_shards(params + mine.begin, params, gather_bucket);
    }
    rec.step_time_s = seconds_since(t_step);
    rec.comm_time_s = job.seconds();
    rec.comm_bytes = job.bytes();
    run.rank_step_time_s.push_back(rec.step_time_s);
    run.rank_busy_time_s.push_back(std::max(0.0, thread_cpu_s() - cpu_step - job.cpu_seconds()));
    if (!std::isfinite(rec.loss)) {
      throw runtime_error(fmt::format("step {}: loss is not finite ({})", rec.step, rec.loss));
    }
    if (o.on_step) o.on_step(rec);
    run.steps.push_back(rec);
  }
  // Per-step times as the job saw them: the slowest rank.
  for (auto& r : run.steps) {
    r.step_time_s = reducer.max(r.step_time_s);
    r.comm_time_s = reducer.max(r.comm_time_s);
  }
  if (stage == 3) {
    // The full parameters once, for the checksum.
    for (const auto& u : units) shards.all_gather_range(u, param_shard.data(), params);
  }
  double checksum = 0;
  for (float p : model.params()) checksum += double(p);
  run.param_checksum = checksum;
  run.replicas_identical = reducer.max(checksum) == reducer.min(checksum);
  // Every stage holds the full parameters here (stage 3 gathered them for the checksum).
  if (!o.save_weights_dir.empty() && reducer.rank() == 0) {
    save_pretrained(o.model, model.params().data(), o.save_weights_dir, o.save_dtype);
  }
  return run;
}

}  // namespace sxb
