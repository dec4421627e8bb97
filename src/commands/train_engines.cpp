#include "commands/train_engines.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "comm/communicator.hpp"
#include "core/hardware.hpp"
#include "core/stats.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "platform/gpu_probe.hpp"
#include "train/comm_reducer.hpp"
#include "train/gpu_trainer.hpp"
#include "train/sft_metrics.hpp"

namespace sxb {

nlohmann::json stats_json(const std::vector<double>& v) {
  if (v.empty()) return nullptr;
  double sum = 0;
  for (double x : v) sum += x;
  return {{"median", quantile(v, 0.5)}, {"p10", quantile(v, 0.1)},
          {"p90", quantile(v, 0.9)},    {"mean", sum / double(v.size())},
          {"min", quantile(v, 0.0)},    {"max", quantile(v, 1.0)},
          {"count", v.size()}};
}

EngineRun run_cpu_engine(TrainJob& job, const MpiContext& mpi, const TrainOptions& topt,
                         uint64_t per_rank) {
  const DsConfig& ds = job.ds;
  auto comm = make_communicator(Backend::mpi, mpi);
  CommReducer reducer(*comm, mpi);
  EngineRun e;
  e.run = train_cpu(topt, reducer);
  const uint64_t rss = peak_rss_bytes();
  const double rss_max = mpi.max(double(rss));
  e.engine = "cpu-reference-fp32";
  e.device_kind = "cpu";
  e.device_name = "CPU: " + host_cpu_model_name();
  e.device_unit = "rank";
  e.device_note = "one device = one MPI rank running the fp32 CPU reference";
  e.short_name = "rank";
  const int stage = e.run.zero_stage;
  const char* collectives[] = {
      "gradients: all_reduce fp32 sum, divided by world size; every rank takes the whole AdamW "
      "step",
      "gradients: all_reduce fp32 sum, divided by world size; each rank updates its parameter "
      "shard, then all_gather of the shards (allgather_bucket_size elements per call)",
      "gradients: reduce_scatter fp32 sum of the shards (reduce_bucket_size elements per call), "
      "divided by world size; each rank updates its parameter shard, then all_gather of the "
      "shards (allgather_bucket_size elements per call)",
      "parameters: all_gather of each unit (embedding, each decoder layer, final norm + head) "
      "before its forward and before its backward (the embedding's backward needs none); "
      "gradients: reduce_scatter of each unit after its backward, every micro-step, divided by "
      "world size; each rank updates its parameter shard"};
  e.communication = {
      {"backend", "mpi"},
      {"library", comm->library_version()},
      {"gradient_reduction", stage <= 1   ? "all_reduce fp32 sum, divided by world size"
                             : stage == 2 ? "reduce_scatter fp32 sum in buckets, divided "
                                            "by world size"
                                          : "reduce_scatter fp32 sum per parameter unit and "
                                            "micro-step, divided by world size"},
      {"zero_stage_applied", stage},
      {"collectives", collectives[stage]}};
  if (stage == 2) e.communication["reduce_bucket_size"] = ds.reduce_bucket_elements(job.model);
  if (stage == 1 || stage == 2) e.communication["allgather_bucket_size"] = ds.allgather_bucket_size;
  e.precision = {{"requested", ds.precision()},
                 {"computed", "fp32"},
                 {"note", ds.precision() == "fp32" ? "" : "the CPU reference computes in fp32"}};
  const char* sharding[] = {
      "stage 0: every rank keeps a full replica of weights, gradients and optimizer state",
      "stage 1: AdamW moments sharded over the ranks; weights and gradients replicated",
      "stage 2: AdamW moments and the reduced gradients sharded over the ranks; weights "
      "replicated",
      "stage 3: weights, reduced gradients and AdamW moments sharded over the ranks; each "
      "parameter unit is gathered only while it is used"};
  e.zero = {{"requested", ds.zero_stage}, {"applied", stage}, {"note", sharding[stage]}};
  e.recomputation = {
      {"requested", ds.activation_checkpointing ? "full" : "none"},
      {"applied", ds.activation_checkpointing},
      {"mode", ds.activation_checkpointing ? "full" : "none"},
      {"method", "full: each layer's activations recomputed from its input before its backward"}};
  e.peak_memory = {{"host_rss_max_over_ranks", uint64_t(rss_max)},
                   {"host_rss_rank0", rss},
                   {"planned_per_rank", per_rank},
                   {"method", "getrusage ru_maxrss (peak resident set) of each rank"}};
  e.mfu_note = "peak FLOP/s of this CPU is unknown, so MFU is not computed";
  e.comm_method =
      "wall clock inside the step's collectives (gradient all_reduce or reduce_scatter, parameter "
      "all_gather, loss, token-count and gradient-norm sums), max over ranks; the CPU reference "
      "does not overlap communication, so all of it is exposed";
  e.busy_method =
      "the CPU time of its thread in the step outside communication (its own work; time it was "
      "preempted by other processes not counted)";
  e.timing_method =
      "steady_clock around each optimizer step (data, forward, backward, gradient and parameter "
      "collectives, clipping, AdamW), max over ranks; statistics exclude the warm-up steps";
  const int64_t T = topt.seq_len;
  // The CPU reference's recomputation is full recomputation (model/recompute.hpp).
  const ModelShape shape = model_shape(job.model);
  e.executed_flops_per_token =
      palm_flops_per_token(shape, T) +
      recompute_flops_per_token(shape,
                                ds.activation_checkpointing ? Recompute::full : Recompute::none, T);
  comm.reset();
  return e;
}

#ifdef SXB_HAVE_CUDA
EngineRun run_cuda_engine(TrainJob& job, const MpiContext& mpi, const TrainOptions& topt) {
  // Scalars (token counts, losses, times) go through MPI; gradients through the exchange's
  // communicator: nccl by default with several ranks, mpi (host-staged) when asked for.
  auto host_comm = make_communicator(Backend::mpi, mpi);
  CommReducer reducer(*host_comm, mpi);
  const std::string backend = job.comm_backend == "auto"
                                  ? (mpi.world_size() > 1 ? std::string("nccl") : std::string())
                                  : job.comm_backend;
  std::unique_ptr<Communicator> nccl_comm;
  GpuTrainSettings settings;
  if (backend == "nccl") {
    nccl_comm = make_communicator(Backend::nccl, mpi);  // one GPU per local rank, checked
    settings.comm = nccl_comm.get();
  } else if (backend == "mpi") {
    settings.comm = host_comm.get();
  }
  settings.recompute = job.recompute;
  // Ranks of the host-staged exchange may share GPUs; nccl needs one GPU per local rank.
  settings.device =
      backend == "mpi" ? mpi.local_rank() % std::max(1, visible_cuda_devices()) : mpi.local_rank();
  settings.profile = job.profile;
  settings.grad_dtype = job.grad_dtype;
  const GpuTrainReport rep = train_gpu(topt, reducer, settings);
  EngineRun e;
  e.run = rep.run;
  e.engine = "sxbench-cuda-bf16";
  e.device_kind = "gpu";
  e.device_name = rep.device_name;
  e.device_unit = "GPU";
  e.device_note = fmt::format("GPU {} of this host; CUDA runtime {}, driver API {}, cuBLASLt {}",
                              rep.device_index, rep.cuda_runtime, rep.cuda_driver, rep.cublaslt);
  e.short_name = "GPU";
  if (settings.comm) {
    e.communication = {
        {"backend", backend},
        {"library", settings.comm->library_version()},
        {"gradient_reduction",
         rep.zero_stage >= 2 ? "reduce (fp32 sum) of each parameter unit into its owners' shards, "
                               "every micro-batch"
                             : "all_reduce fp32 sum per parameter unit"},
        {"weight_gather",
         rep.zero_stage >= 3   ? "broadcast of each unit's parts from their owners into a unit "
                                 "buffer before its forward and its backward"
         : rep.zero_stage >= 1 ? "in-place all_gather of the updated bf16 shards after AdamW"
                               : "none (full replicas)"},
        {"zero_stage_applied", rep.zero_stage},
        {"collectives", rep.exchange_method}};
    e.comm_method =
        backend == "nccl"
            ? "exposed time per step: CUDA events from the end of the backward to the end of the "
              "last gradient all_reduce (zero when the exchange is hidden behind the backward), "
              "plus at ZeRO-1 the weight all_gather the step's forward waited for (the previous "
              "step's; the last step's own), max over ranks"
            : "wall clock of the host-staged gradient exchange (synchronous: all of it is "
              "exposed), max over ranks";
  } else {
    e.communication = {{"backend", "none"}, {"note", "one GPU: no gradient communication"}};
    e.comm_method = "one GPU: no communication";
  }
  e.precision = {
      {"requested", job.ds.precision()},
      {"computed",
       fmt::format("bf16 matrix products and activations with fp32 accumulation; fp32 master "
                   "weights and AdamW moments; {} gradients",
                   grad_storage_name(rep.memory.grads))},
      {"gradients", grad_storage_name(rep.memory.grads)},
      {"gradients_reason", rep.memory.grads_reason}};
  std::string zero_note;
  if (mpi.world_size() == 1) {
    zero_note = job.ds.zero_stage > 0
                    ? "one rank: with a world of one every ZeRO stage is stage 0 (the one shard "
                      "is the whole model), so stage 0 runs"
                    : "one GPU holds the whole model";
  } else if (rep.zero_stage == 0) {
    zero_note =
        "stage 0: full replicas, gradients all-reduced, every rank takes the whole AdamW "
        "step";
  } else if (rep.zero_stage == 1) {
    zero_note =
        "stage 1: gradients all-reduced; each rank keeps the AdamW moments and the fp32 "
        "master's low halves of its shard, updates the shard and all-gathers the "
        "updated bf16 weights";
  } else if (rep.zero_stage == 2) {
    zero_note =
        "stage 2: as stage 1, with each unit's gradients reduced into the owners' "
        "shards (two unit buffers instead of the full gradient)";
  } else {
    zero_note =
        "stage 3: as stage 2, with the bf16 weights sharded too: each unit is gathered "
        "from its owners into one of two unit buffers before its forward and backward, "
        "the next one while the current one computes";
  }
  e.zero = {{"requested", job.ds.zero_stage}, {"applied", rep.zero_stage}, {"note", zero_note}};
  const std::string mode = recompute_name(rep.memory.recompute);
  e.recomputation = {
      {"requested", job.recompute},
      {"applied", rep.memory.recompute != Recompute::none},
      {"mode", mode},
      {"reason", rep.memory.recompute_reason},
      {"method", mode == "full" ? "each layer's forward runs again from its kept input before its "
                                  "backward"
                 : mode == "selective"
                     ? "the two normed inputs and the SwiGLU output of every layer are "
                       "rebuilt in the backward from kept tensors (no extra matrix "
                       "products)"
                     : "every activation the backward needs is kept"}};
  nlohmann::json plan = nlohmann::json::object();
  for (const auto& [cat, bytes] : rep.memory.plan.bytes_by_category()) plan[cat] = bytes;
  e.peak_memory = {
      {"engine_buffers_bytes", rep.memory.plan.total_bytes()},
      {"engine_buffers_by_category", plan},
      {"engine_buffers", describe_gpu_memory(rep.memory.plan)},
      {"device_used_peak_bytes", rep.device_used_peak_bytes},
      {"device_total_bytes", rep.device_total_bytes},
      {"device_free_before_bytes", rep.device_free_before_bytes},
      {"method",
       "engine_buffers: the engine's own allocation (one buffer list, planned before "
       "allocating); device_used_peak: total - free from cudaMemGetInfo after allocation and "
       "after every step (includes the CUDA context and cuBLASLt)"}};
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  if (auto spec = find_gpu_spec(specs, rep.device_name)) {
    if (auto peak = spec->value("dense_bf16_tflops")) {
      e.peak_tflops = *peak;
      e.peak_source = spec->figure("dense_bf16_tflops").source;
    }
  }
  if (!e.peak_tflops) {
    e.mfu_note = "no configs/hardware entry matches " + rep.device_name + ": MFU not computed";
  }
  e.busy_method =
      "the CUDA-event time of its compute stream over the step's forward and backward less the "
      "exchanges exposed in it (host-staged exchanges on mpi; the wait for the last gradient "
      "collective on nccl), which is what it waited for the other ranks; at ZeRO stage 3 the "
      "waits for weight gathers stay in it";
  e.timing_method =
      rep.overlap_optimizer
          ? "steady_clock per step from the end of the previous one (data, copies, forward, "
            "backward) to the synchronisation after its backward; the step's clipping and AdamW "
            "run on the optimizer stream while the next forward starts, which waits for each "
            "layer's update before using it, and the last step also waits for its update, so "
            "the steps' times add up to the run; compute_ms (forward and backward, including "
            "those waits) and optimizer_ms (end of the backward to the end of AdamW) from CUDA "
            "events; statistics exclude the warm-up steps"
          : "steady_clock around each optimizer step (data, copies, forward, backward, "
            "clipping, AdamW) ending with a stream synchronisation; compute_ms/optimizer_ms from "
            "CUDA events; statistics exclude the warm-up steps";
  const int64_t T = topt.seq_len;
  const ModelShape shape = model_shape(job.model);
  e.executed_flops_per_token =
      palm_flops_per_token(shape, T) + recompute_flops_per_token(shape, rep.memory.recompute, T);
  std::vector<double> c, opt;
  const size_t warm = size_t(std::min<int64_t>(job.warmup_steps, job.steps - 1));
  for (size_t i = warm; i < rep.compute_ms.size(); ++i) {
    c.push_back(rep.compute_ms[i]);
    opt.push_back(rep.optimizer_ms[i]);
  }
  if (!rep.profile_ms.empty()) {
    nlohmann::json prof = nlohmann::json::object();
    std::string line;
    for (const auto& [cat, ms] : rep.profile_ms) {
      prof[cat] = ms;
      line += fmt::format("{}{} {:.1f}", line.empty() ? "" : ", ", cat, ms);
    }
    e.profile = {{"last_step_ms", prof},
                 {"method",
                  "CUDA events around every operation of the last step, summed per category; "
                  "layers.forward and layers.backward span each decoder layer whole (its "
                  "operations, waits for its weights and its gradient exchange calls, so they "
                  "overlap the other categories); the gradient-norm sums queued during the "
                  "backward on the optimizer stream are not included"}};
    const double L = double(job.model.num_layers);
    auto mean_layer = [&](const char* cat) {
      auto it = rep.profile_ms.find(cat);
      return it == rep.profile_ms.end() ? 0.0 : it->second / L;
    };
    e.profile["per_layer_ms"] = {{"forward", mean_layer("layers.forward")},
                                 {"backward", mean_layer("layers.backward")},
                                 {"layers", job.model.num_layers}};
    if (mpi.rank() == 0) {
      std::printf("profile of the last step (ms): %s\n", line.c_str());
      std::printf("per decoder layer (ms, mean of %lld): forward %.2f, backward %.2f\n",
                  (long long)job.model.num_layers, mean_layer("layers.forward"),
                  mean_layer("layers.backward"));
    }
  }
  e.extra = {{"compute_ms", stats_json(c)},
             {"optimizer_ms", stats_json(opt)},
             {"optimizer_overlaps_next_forward", rep.overlap_optimizer},
             {"gradient_norm_during_backward", rep.norm_in_backward},
             {"init_seconds", rep.init_seconds},
             {"memory_reserve_bytes", rep.memory.verdict.reserve_bytes},
             {"memory_reserve_note",
              "kept free beyond the engine's buffers for cuBLASLt and the CUDA runtime (an "
              "assumption)"},
             {"memory_verdict", rep.memory.verdict.line}};
  return e;
}
#endif

}  // namespace sxb
