#include <cublasLt.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "platform/cuda_resources.hpp"
#include "train/gpu_exchange.hpp"
#include "train/gpu_model.hpp"
#include "train/gpu_trainer.hpp"
#include "train/safetensors.hpp"

namespace sxb {

namespace {

using Clock = std::chrono::steady_clock;

std::string version_text(int v) {
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

}  // namespace

GpuTrainReport train_gpu(const TrainOptions& o, GradientReducer& job, const GpuTrainSettings& s) {
  if (job.world_size() > 1 && !s.comm) {
    throw runtime_error("CUDA engine: a job of several ranks needs a communicator");
  }
  const int64_t B = o.batch.micro_batch_per_gpu, T = o.seq_len;
  const int64_t accum = o.batch.gradient_accumulation_steps;
  GpuTrainReport rep;
  rep.device_index = s.device;
  cuda_check(cudaSetDevice(s.device), fmt::format("cudaSetDevice({})", s.device));
  cudaDeviceProp prop{};
  cuda_check(cudaGetDeviceProperties(&prop, s.device), "cudaGetDeviceProperties");
  rep.device_name = prop.name;
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  rep.cuda_runtime = version_text(rt);
  rep.cuda_driver = version_text(drv);
  const size_t lt = cublasLtGetVersion();
  rep.cublaslt = fmt::format("{}.{}.{}", lt / 10000, (lt / 100) % 100, lt % 100);
  cuda_check(cudaFree(nullptr), "CUDA context");
  size_t free_b = 0, total_b = 0;
  cuda_check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  rep.device_total_bytes = total_b;
  rep.device_free_before_bytes = free_b;

  // Gradient storage, recomputation (an explicit setting, the ds_config's activation
  // checkpointing, or the lightest mode that fits), the plan and its verdict against the free
  // memory: the same decision `sxbench train --plan-only` prints. Refused before any allocation
  // when it does not fit. Over several ranks the engine runs the ds_config's ZeRO stage (the
  // table in train/zero.hpp); the reserve adds NCCL's for more than one rank.
  ZeroLayout zero = zero_layout(o.ds, o.model, job.world_size());
  rep.zero_stage = zero.applied_stage();
  const GpuCapacity capacity{free_b, CapacityKind::free_after_context,
                             "cudaMemGetInfo free after creating the CUDA context"};
  GpuMemoryChoice choice =
      choose_gpu_memory(o.model, B, T, accum, o.ds.activation_checkpointing, s.recompute,
                        s.grad_dtype, s.comm != nullptr, zero, capacity);
  if (choice.auto_found_none) {
    throw environment_error(fmt::format(
        "{} with micro-batch {} x {} tokens does not fit on {} even with full recomputation: "
        "{} (plan {}); use a smaller micro-batch or sequence, or more GPUs with ZeRO",
        o.model.name, B, T, prop.name, choice.verdict.detail, describe_gpu_memory(choice.plan)));
  }
  if (!choice.verdict.fits) {
    throw environment_error(fmt::format(
        "{} with micro-batch {} x {} tokens and {} recomputation does not fit on {}: {} (plan "
        "{})",
        o.model.name, B, T, recompute_name(choice.recompute), prop.name, choice.verdict.detail,
        describe_gpu_memory(choice.plan)));
  }
  rep.memory = choice;

  const auto t_init = Clock::now();
  // The main stream's blocks go first; the model's optimizer stream fills in behind them.
  const Stream owned_stream(StreamPriority::highest);
  const cudaStream_t stream = owned_stream.get();
  gpu::LlamaGpu model(o.model, B, T, choice.recompute, choice.grads, stream, zero, job.rank());
  if (o.pretrained_dir.empty()) {
    model.init_weights(o.seed);
  } else {
    model.load_weights(load_pretrained(o.model, o.pretrained_dir));
  }
  rep.overlap_optimizer = model.overlap_optimizer();
  rep.norm_in_backward = model.norm_in_backward() && !s.comm;
  std::unique_ptr<gpu::GradientExchange> exchange;
  if (s.comm) {
    exchange = std::make_unique<gpu::GradientExchange>(*s.comm, stream);
    rep.exchange_method = exchange->method(rep.zero_stage);
    if (rep.zero_stage >= 2) {
      exchange->set_shards(choice.plan.shard_elements, o.model.param_count());
      model.set_reduce_unit([&](float* g, int64_t off, int64_t n, bool acc, float* shard,
                                cudaEvent_t done) {
        exchange->reduce_unit(g, off, n, acc, shard, done);
      });
      model.set_sum_over_ranks([&](double v) { return job.sum(v); });
    } else {
      model.set_unit_ready([&](float* g, int64_t n) { exchange->unit_ready(g, n); });
    }
    if (rep.zero_stage >= 3) {
      model.set_gather_unit([&](gpu::bf16* unit, int64_t off, int64_t n, const gpu::bf16* shard,
                                cudaEvent_t free, cudaEvent_t updated, cudaEvent_t done) {
        exchange->gather_unit(unit, off, n, shard, free, updated, done);
      });
    } else if (rep.zero_stage >= 1) {
      model.set_gather_weights([&](gpu::bf16* w, int64_t shard, cudaStream_t st) {
        exchange->gather_weights(w, shard, st);
      });
    }
  }
  rep.init_seconds = std::chrono::duration<double>(Clock::now() - t_init).count();
  auto note_used = [&] {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
      rep.device_used_peak_bytes = std::max<uint64_t>(rep.device_used_peak_bytes, t - f);
    }
  };
  note_used();

  // Page-locked, so the copies of each micro-batch to the GPU run asynchronously.
  const size_t step_tokens = size_t(accum * B * T);
  PinnedBuffer tokens_buf(step_tokens * sizeof(int32_t)),
      targets_buf(step_tokens * sizeof(int32_t));
  int32_t* tokens = static_cast<int32_t*>(tokens_buf.get());
  int32_t* targets = static_cast<int32_t*>(targets_buf.get());
  EventPairs ev(1);  // forward + backward of the step's micro-batches
  // The test-only straggler (SXB_FAULT_INJECT=slow:R[:F]) holds its compute stream, before each
  // step's forward, for F - 1 times the previous step's own work.
  double prev_own_work_s = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const auto t_step = Clock::now();
    int64_t local_targets = 0;
    for (int64_t i = 0; i < accum; ++i) {
      for (int64_t j = 0; j < B; ++j) {
        const int64_t row = (i * B + j) * T;
        o.data->fill(sequence_index(o.batch, step, i, job.rank(), j), tokens + row, targets + row);
      }
    }
    for (int64_t i = 0; i < accum * B * T; ++i) local_targets += targets[i] >= 0 ? 1 : 0;
    const int64_t global_targets = job.sum(local_targets);
    if (global_targets == 0) {
      throw runtime_error(
          fmt::format("step {} has no target tokens (every token is masked)", step + 1));
    }
    // The same objective as the CPU trainer: mean token loss over the global batch. The exchange
    // sums gradients over ranks, so each rank scales by the global count alone.
    const double dloss = 1.0 / double(global_targets);
    const bool profile_step = s.profile && step == o.steps - 1;
    model.set_profiling(profile_step);
    cuda_check(cudaEventRecord(ev.start(0), stream), "cudaEventRecord");
    if (exchange) exchange->begin_window();
    const double hold_s = o.slow_factor > 1 ? (o.slow_factor - 1) * prev_own_work_s : 0.0;
    if (hold_s > 0) gpu::hold_stream(hold_s, stream);
    for (int64_t i = 0; i < accum; ++i) {
      const int64_t row = i * B * T;
      model.forward_backward(tokens + row, targets + row, B, dloss, i == 0, i == accum - 1);
    }
    if (exchange) exchange->finish();
    cuda_check(cudaEventRecord(ev.stop(0), stream), "cudaEventRecord");
    // With the optimizer overlap, the update runs on while the next step's forward starts; the
    // step's time then ends with its backward and the next one includes what of the update it
    // waits for. The last step waits for its update, so the run's total covers every update.
    model.optimizer_step(o.ds.optimizer, step + 1, o.ds.gradient_clipping);
    const double loss_sum = job.sum(model.take_loss_sum());  // synchronises the main stream
    if (step == o.steps - 1) model.synchronize();
    if (profile_step) {
      rep.profile_ms = model.take_profile_ms();
      model.set_profiling(false);
    }
    TrainStep rec;
    rec.step = step + 1;
    rec.loss = loss_sum / double(global_targets);
    rec.grad_norm = model.last_grad_norm();
    rec.lr = o.ds.optimizer.lr;
    rec.target_tokens = global_targets;
    rec.step_time_s = std::chrono::duration<double>(Clock::now() - t_step).count();
    rec.comm_time_s = exchange ? exchange->take_exposed_ms() / 1000.0 : 0.0;
    rec.comm_bytes = exchange ? int64_t(exchange->take_bytes()) : 0;
    rep.compute_ms.push_back(ev.elapsed_us(0) / 1000.0);
    // This rank's own times: its wall clock, and its busy time, the compute stream's time over
    // the forward and backward less the exposed exchanges in it (what it waited for others).
    const double busy_s =
        std::max(0.0, (rep.compute_ms.back() - (exchange ? exchange->window_exposed_ms() : 0.0)) / 1000.0);
    rep.run.rank_step_time_s.push_back(rec.step_time_s);
    rep.run.rank_busy_time_s.push_back(busy_s);
    prev_own_work_s = std::max(0.0, busy_s - hold_s);
    // The previous step's update is complete here (this step's forward waited for it).
    if (step > 0) rep.optimizer_ms.push_back(model.optimizer_ms(step));
    if (step == o.steps - 1) rep.optimizer_ms.push_back(model.optimizer_ms(step + 1));
    note_used();
    if (!std::isfinite(rec.loss) || !std::isfinite(rec.grad_norm)) {
      throw runtime_error(fmt::format("step {}: loss {} or gradient norm {} is not finite",
                                      rec.step, rec.loss, rec.grad_norm));
    }
    if (o.on_step) o.on_step(rec);
    rep.run.steps.push_back(rec);
  }
  // Per-step times as the job saw them: the slowest rank.
  for (auto& r : rep.run.steps) {
    r.step_time_s = job.max(r.step_time_s);
    r.comm_time_s = job.max(r.comm_time_s);
  }
  // Every replica took the same steps from the same summed gradients: their weights agree bit
  // for bit. 64-bit checksums are compared and summed as exact 32-bit halves. Stage 0: each
  // rank's whole master; stages 1-2: the working copy (whole on every rank), and the master's
  // low halves summed over the ranks' shards, which adds up to stage 0's checksum. Stage 3
  // holds no replica: both parts are summed over the shards (the comparison then only checks
  // that the ranks agree on that sum).
  auto identical = [&](uint64_t v) {
    const double hi = double(v >> 32), lo = double(v & 0xffffffffu);
    return job.max(hi) == job.min(hi) && job.max(lo) == job.min(lo);
  };
  auto sum_over_ranks = [&](uint64_t v) {  // mod 2^64; each half's sum is exact in a double
    const uint64_t hi = uint64_t(job.sum(double(v >> 32)));
    const uint64_t lo = uint64_t(job.sum(double(v & 0xffffffffu)));
    return (hi << 32) + lo;
  };
  const uint64_t weights = model.weights_checksum(), lows = model.master_low_checksum();
  if (rep.zero_stage == 0) {
    rep.run.param_checksum = double(weights + lows);
    rep.run.replicas_identical = identical(weights + lows);
  } else if (rep.zero_stage >= 3) {
    const uint64_t total = sum_over_ranks(weights) + sum_over_ranks(lows);
    rep.run.param_checksum = double(total);
    rep.run.replicas_identical = identical(total);
  } else {
    rep.run.param_checksum = double(weights + sum_over_ranks(lows));
    rep.run.replicas_identical = identical(weights);
  }
  rep.run.zero_stage = rep.zero_stage;
  return rep;
}

}  // namespace sxb
