// `sxbench train`: supervised fine-tuning throughput of a Llama-architecture model with
// sxbench's own engine. --device cpu runs the fp32 CPU reference, data parallel over MPI (the
// mpi Communicator); --device cuda runs the CUDA engine (bf16, one GPU per process). Either
// writes sft_metrics.json in the output directory (rank 0).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands/command.hpp"
#include "commands/train_job.hpp"
#include "commands/train_plan.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "comm/communicator.hpp"
#include "platform/gpu_probe.hpp"
#include "comm/job_abort.hpp"
#include "comm/mpi_context.hpp"
#include "train/cpu_model.hpp"
#include "model/ds_config.hpp"
#include "train/gpu_trainer.hpp"
#include "model/flops.hpp"
#include "model/model_config.hpp"
#include "train/sft_metrics.hpp"
#include "train/token_data.hpp"
#include "train/trainer.hpp"

namespace sxb {

namespace {

struct TrainCliOptions : TrainJobRequest {
  std::string out_dir;
  bool list_models = false;
  bool device_set = false;  // --device given on the command line
  TrainPlanOptions plan;
  std::vector<std::string> plan_flags_given;  // planning flags seen (they need --plan-only)
};

void print_models() {
  std::printf("%-28s %15s %6s %6s %5s %5s %6s %7s %9s %8s\n", "model", "parameters", "hidden",
              "layers", "heads", "kv", "ffn", "vocab", "rope_theta", "max_pos");
  for (const auto& m : builtin_models()) {
    std::printf("%-28s %15lld %6lld %6lld %5lld %5lld %6lld %7lld %9g %8lld\n", m.name.c_str(),
                (long long)m.param_count(), (long long)m.hidden_size, (long long)m.num_layers,
                (long long)m.num_heads, (long long)m.num_kv_heads, (long long)m.intermediate_size,
                (long long)m.vocab_size, m.rope_theta, (long long)m.max_position_embeddings);
  }
}

// Gradient and parameter collectives through the Communicator (host memory on the mpi
// backend); scalar sums through the MPI context.
class CommReducer final : public GradientReducer {
 public:
  CommReducer(Communicator& comm, const MpiContext& mpi) : comm_(comm), mpi_(mpi) {}
  int rank() const override { return mpi_.rank(); }
  int world_size() const override { return mpi_.world_size(); }
  void all_reduce_sum(float* data, int64_t count) override {
    if (mpi_.world_size() > 1) comm_.all_reduce(data, data, size_t(count), DataType::f32);
  }
  void reduce_scatter_sum(const float* send, float* recv, int64_t shard_count) override {
    if (mpi_.world_size() > 1) {
      comm_.reduce_scatter(send, recv, size_t(shard_count), DataType::f32);
    } else if (send != recv) {
      std::copy(send, send + shard_count, recv);
    }
  }
  void all_gather(const float* send, float* recv, int64_t shard_count) override {
    if (mpi_.world_size() > 1) {
      comm_.all_gather(send, recv, size_t(shard_count), DataType::f32);
    } else if (send != recv) {
      std::copy(send, send + shard_count, recv);
    }
  }
  double sum(double v) override { return mpi_.sum(v); }
  int64_t sum(int64_t v) override { return mpi_.sum(v); }
  double max(double v) override { return mpi_.max(v); }
  double min(double v) override { return mpi_.min(v); }

 private:
  Communicator& comm_;
  const MpiContext& mpi_;
};

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", int(s) / 60, int(s) % 60);
  return fmt::format("{}h{:02d}m", int(s) / 3600, (int(s) % 3600) / 60);
}

bool progress_on_terminal(const EnvConfig& env) {
  const std::string p = env.get_string("PROGRESS");
  if (p == "on") return true;
  if (p == "off") return false;
  return ::isatty(STDERR_FILENO) != 0;
}

nlohmann::json stats_json(const std::vector<double>& v) {
  if (v.empty()) return nullptr;
  double sum = 0;
  for (double x : v) sum += x;
  return {{"median", quantile(v, 0.5)}, {"p10", quantile(v, 0.1)},
          {"p90", quantile(v, 0.9)},    {"mean", sum / double(v.size())},
          {"min", quantile(v, 0.0)},    {"max", quantile(v, 1.0)},
          {"count", v.size()}};
}

}  // namespace

TrainJob prepare_train_job(const TrainJobRequest& o, const EnvConfig& env) {
  // Everything that can be checked without MPI fails here, identically on every rank.
  check_recompute_setting(o.recompute);
  check_grad_dtype_setting(o.grad_dtype);
  if (o.comm_backend != "auto" && o.comm_backend != "nccl" && o.comm_backend != "mpi") {
    throw usage_error("--comm-backend must be auto, nccl or mpi (got '" + o.comm_backend + "')");
  }
  if (o.device == "cuda") {
    // Planning (--plan-only) needs neither a CUDA build nor a GPU.
    if (!o.plan_only && !built_with_cuda()) {
      throw environment_error(
          "--device cuda: this sxbench was built without CUDA; use --device cpu (the fp32 CPU "
          "reference) or a CUDA build");
    }
    if (!o.plan_only && visible_cuda_devices() == 0) {
      throw environment_error("--device cuda: no GPU is visible to this process");
    }
  } else if (o.recompute != "auto") {
    throw usage_error(
        "--recompute applies to --device cuda; the CPU reference follows the "
        "ds_config's activation checkpointing");
  } else if (o.grad_dtype != "auto") {
    throw usage_error("--grad-dtype applies to --device cuda; the CPU reference is fp32 throughout");
  } else if (o.comm_backend != "auto") {
    throw usage_error(
        "--comm-backend applies to --device cuda; the CPU reference communicates through MPI");
  }
  if (o.steps < 1) throw usage_error("--steps must be at least 1");
  if (o.warmup_steps < 0) throw usage_error("--warmup-steps must be 0 or more");
  const std::string model_name = o.model.empty() ? env.get_string("MODEL_NAME") : o.model;
  const ModelConfig model = resolve_model(model_name, env.get_string("HF_HOME"));
  DsConfig ds = o.ds_config.empty() ? default_ds_config() : load_ds_config(o.ds_config);

  std::optional<PackedDataset> packed;
  if (!o.data.empty()) packed = read_token_file(o.data);
  int64_t seq_len = o.seq_len;
  std::string seq_len_source = "--seq-len";
  if (seq_len == 0) {
    if (packed && env.source("SEQ_LEN") == "default") {
      seq_len = packed->seq_len;
      seq_len_source = "data file";
    } else {
      seq_len = env.get_int("SEQ_LEN").value_or(4096);
      seq_len_source = "SEQ_LEN (" + env.source("SEQ_LEN") + ")";
    }
  }
  if (seq_len < 2) throw usage_error(fmt::format("sequence length {} must be at least 2", seq_len));
  if (seq_len > model.max_position_embeddings) {
    throw usage_error(fmt::format("sequence length {} ({}) exceeds {}'s max_position_embeddings {}",
                                  seq_len, seq_len_source, model.name,
                                  model.max_position_embeddings));
  }
  std::unique_ptr<SequenceSource> data;
  if (packed) {
    data =
        std::make_unique<FileSequenceSource>(std::move(*packed), o.data, seq_len, model.vocab_size);
  } else {
    data = std::make_unique<SyntheticSequenceSource>(o.seed, seq_len, model.vocab_size);
  }
  std::optional<int64_t> micro_override;
  std::string micro_source;
  if (o.micro_batch > 0) {
    micro_override = o.micro_batch;
    micro_source = "--micro-batch";
  } else if (auto env_mb = env.get_int("BATCH_SIZE_PER_GPU")) {
    micro_override = *env_mb;
    micro_source = "BATCH_SIZE_PER_GPU";
  }

  TrainJob job;
  job.device = o.device;
  job.recompute = o.recompute;
  job.profile = o.profile;
  job.grad_dtype = o.grad_dtype;
  job.comm_backend = o.comm_backend;
  job.model = model;
  job.ds = std::move(ds);
  job.data = std::move(data);
  job.seq_len = seq_len;
  job.seq_len_source = seq_len_source;
  job.micro_override = micro_override;
  job.micro_source = micro_source;
  job.steps = o.steps;
  job.warmup_steps = o.warmup_steps;
  job.seed = o.seed;
  job.progress_on_terminal = progress_on_terminal(env);
  return job;
}

namespace {

// What the device-specific part of a run contributes to sft_metrics.json.
struct EngineRun {
  TrainRun run;
  std::string engine, device_kind, device_name, device_unit, device_note;
  nlohmann::json communication, precision, zero, recomputation, peak_memory, extra, profile;
  std::optional<double> peak_tflops;  // per device, dense bf16, from configs/hardware
  std::string peak_source, mfu_note, comm_method, timing_method, short_name;
  double executed_flops_per_token = 0;  // model FLOPs plus recomputation
};

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
      {"requested", ds.activation_checkpointing},
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
  settings.device = backend == "mpi" ? mpi.local_rank() % std::max(1, visible_cuda_devices())
                                     : mpi.local_rank();
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
    e.communication = {{"backend", backend},
                       {"library", settings.comm->library_version()},
                       {"gradient_reduction",
                        rep.zero_stage >= 2
                            ? "reduce (fp32 sum) of each parameter unit into its owners' shards, "
                              "every micro-batch"
                            : "all_reduce fp32 sum per parameter unit"},
                       {"weight_gather",
                        rep.zero_stage >= 3
                            ? "broadcast of each unit's parts from their owners into a unit "
                              "buffer before its forward and its backward"
                        : rep.zero_stage >= 1
                            ? "in-place all_gather of the updated bf16 shards after AdamW"
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
    zero_note = "stage 0: full replicas, gradients all-reduced, every rank takes the whole AdamW "
                "step";
  } else if (rep.zero_stage == 1) {
    zero_note = "stage 1: gradients all-reduced; each rank keeps the AdamW moments and the fp32 "
                "master's low halves of its shard, updates the shard and all-gathers the "
                "updated bf16 weights";
  } else if (rep.zero_stage == 2) {
    zero_note = "stage 2: as stage 1, with each unit's gradients reduced into the owners' "
                "shards (two unit buffers instead of the full gradient)";
  } else {
    zero_note = "stage 3: as stage 2, with the bf16 weights sharded too: each unit is gathered "
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

}  // namespace

nlohmann::json run_train_job(TrainJob& job, const MpiContext& mpi,
                             const std::filesystem::path& out_dir) {
  const bool root = mpi.rank() == 0;
  const ModelConfig& model = job.model;
  const DsConfig& ds = job.ds;
  const int64_t seq_len = job.seq_len;
  const std::string& seq_len_source = job.seq_len_source;
  const bool cuda = job.device == "cuda";
  auto& data = job.data;
  // Checks whose outcome every rank shares: rank 0 reports and exits with the error's code; the
  // others leave quietly with 0, so that the launcher does not kill rank 0 before it reports.
  BatchPlan batch;
  uint64_t per_rank = 0;
  try {
    batch = resolve_batch(ds, mpi.world_size(), job.micro_override, job.micro_source);
    if (!cuda) {
      // Refuse before allocating: what every rank of this host allocates in this ZeRO stage.
      per_rank =
          cpu_training_bytes(model, ds, mpi.world_size(), batch.micro_batch_per_gpu, seq_len);
      const uint64_t host_needed = per_rank * uint64_t(mpi.local_size());
      const auto available = host_mem_available_bytes();
      const bool fits = !available || host_needed <= *available;
      if (mpi.min(fits ? 1.0 : 0.0) < 1.0) {
        throw environment_error(fmt::format(
            "{} does not fit in host memory for the CPU reference: {} rank(s) on {} x {} ({} "
            "fp32 params: weights, gradients, AdamW moments (ZeRO stage {}) + activations of "
            "micro-batch {} x {}) = {} needed, {} available",
            model.name, mpi.local_size(), mpi.host(), format_bytes(per_rank), model.param_count(),
            ds.zero_stage, batch.micro_batch_per_gpu, seq_len, format_bytes(host_needed),
            format_bytes(available.value_or(0))));
      }
    }
  } catch (const Error& e) {
    if (!root) throw Error("", ExitCode::ok);  // rank 0 reports the shared refusal
    throw;
  }
  try {
    for (const auto& w : ds.warnings) {
      if (root) std::fprintf(stderr, "sxbench: warning: %s\n", w.c_str());
    }
    if (root) std::filesystem::create_directories(out_dir);
    const bool tty = root && job.progress_on_terminal;
    if (root) {
      std::printf("sxbench train: %s (%lld parameters) on %d rank(s), %s, %s\n", model.name.c_str(),
                  (long long)model.param_count(), mpi.world_size(),
                  cuda ? "CUDA engine (bf16)"
                       : fmt::format("fp32 CPU reference, ZeRO stage {}", ds.zero_stage).c_str(),
                  cuda ? ("recomputation " + job.recompute).c_str()
                       : (ds.activation_checkpointing ? "activation recomputation on"
                                                      : "activation recomputation off"));
      std::printf(
          "batch: micro %lld x accumulation %lld x world %d = %lld sequences of %lld tokens "
          "per step; data: %s\n",
          (long long)batch.micro_batch_per_gpu, (long long)batch.gradient_accumulation_steps,
          mpi.world_size(), (long long)batch.train_batch_size, (long long)seq_len,
          data->description().c_str());
      std::fflush(stdout);
    }

    TrainOptions topt;
    topt.model = model;
    topt.ds = ds;
    topt.batch = batch;
    topt.seq_len = seq_len;
    topt.steps = job.steps;
    topt.seed = job.seed;
    topt.data = data.get();
    const auto started = std::chrono::steady_clock::now();
    const std::string started_utc = utc_iso8601_now();
    topt.on_step = [&](const TrainStep& s) {
      if (!root) return;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const double eta = elapsed / double(s.step) * double(job.steps - s.step);
      if (tty) {
        std::fprintf(stderr, "\rstep %lld/%lld  loss %.4f  %.3f s/step  ETA %s   ",
                     (long long)s.step, (long long)job.steps, s.loss, s.step_time_s,
                     format_duration(eta).c_str());
        if (s.step == job.steps) std::fputc('\n', stderr);
        std::fflush(stderr);
      } else {
        std::printf("step %lld/%lld loss %.6f grad_norm %.4g step_time_s %.4f\n", (long long)s.step,
                    (long long)job.steps, s.loss, s.grad_norm, s.step_time_s);
        std::fflush(stdout);
      }
    };
    EngineRun e;
    if (cuda) {
#ifdef SXB_HAVE_CUDA
      e = run_cuda_engine(job, mpi, topt);
#else
      throw environment_error("--device cuda: this sxbench was built without CUDA");
#endif
    } else {
      e = run_cpu_engine(job, mpi, topt, per_rank);
    }
    const TrainRun& run = e.run;

    // Timing statistics over the steps after warm-up (at least one step is always kept).
    const int64_t warm = std::min<int64_t>(job.warmup_steps, job.steps - 1);
    std::vector<double> step_times, comm_shares, comm_times, comm_bytes;
    double comm_total = 0, step_total = 0;
    for (int64_t i = warm; i < job.steps; ++i) {
      comm_bytes.push_back(double(run.steps[i].comm_bytes));
      step_times.push_back(run.steps[i].step_time_s);
      comm_shares.push_back(run.steps[i].comm_time_s / run.steps[i].step_time_s);
      comm_times.push_back(run.steps[i].comm_time_s);
      comm_total += run.steps[i].comm_time_s;
      step_total += run.steps[i].step_time_s;
    }
    const double median_s = quantile(step_times, 0.5);
    const int64_t tokens_per_step = batch.train_batch_size * seq_len;
    const double tokens_per_s = double(tokens_per_step) / median_s;
    const double tokens_per_s_per_device = tokens_per_s / mpi.world_size();
    const double flops_per_token = palm_flops_per_token(model_shape(model), seq_len);
    const double tflops_per_device = flops_per_token * tokens_per_s_per_device / 1e12;
    const double hw_tflops_per_device = e.executed_flops_per_token * tokens_per_s_per_device / 1e12;
    int64_t targets_measured = 0;
    for (int64_t i = warm; i < job.steps; ++i) targets_measured += run.steps[i].target_tokens;

    nlohmann::json loss_curve = nlohmann::json::array();
    for (const auto& s : run.steps) {
      loss_curve.push_back({{"step", s.step},
                            {"loss", s.loss},
                            {"grad_norm", s.grad_norm},
                            {"lr", s.lr},
                            {"target_tokens", s.target_tokens},
                            {"step_time_s", s.step_time_s},
                            {"comm_time_s", s.comm_time_s},
                            {"comm_bytes", s.comm_bytes}});
    }
    // Per-step communication of the measured steps, next to the engine's description.
    e.communication["time_s_per_step"] = stats_json(comm_times);
    e.communication["bytes_per_rank_per_step"] = stats_json(comm_bytes);
    e.communication["bytes_method"] =
        "payload of every collective of the step on one rank (all_reduce: its buffer; "
        "reduce_scatter: its input, world blocks; all_gather: its output, world blocks; 8 per "
        "scalar sum), zero padding of uneven shards included; not the bytes on the wire, which "
        "depend on the algorithm; 0 with one rank";
    nlohmann::json mfu = nullptr, hfu = nullptr, peak = nullptr;
    if (e.peak_tflops) {
      mfu = tflops_per_device / *e.peak_tflops;
      hfu = hw_tflops_per_device / *e.peak_tflops;
      peak = *e.peak_tflops * 1e12;
    }
    nlohmann::json m = {
        {"schema", "sxbench.sft_metrics/1"},
        {"tool_version", SXB_VERSION},
        {"status", "complete"},
        {"started_utc", started_utc},
        {"finished_utc", utc_iso8601_now()},
        {"engine", e.engine},
        {"device",
         {{"kind", e.device_kind},
          {"name", e.device_name},
          {"unit", e.device_unit},
          {"note", e.device_note}}},
        {"world_size", mpi.world_size()},
        {"node_count", mpi.node_count()},
        {"launcher", mpi.launcher()},
        {"communication", e.communication},
        {"model", model.to_json()},
        {"precision", e.precision},
        {"zero_stage", e.zero},
        {"activation_recomputation", e.recomputation},
        {"ds_config", ds.to_json()},
        {"batch", batch.to_json()},
        {"seq_len", seq_len},
        {"seq_len_source", seq_len_source},
        {"data", data->to_json()},
        {"seed", job.seed},
        {"steps", job.steps},
        {"warmup_steps_excluded", warm},
        {"measured_steps", job.steps - warm},
        {"step_time_s", stats_json(step_times)},
        {"tokens_per_step", tokens_per_step},
        {"tokens_per_s", tokens_per_s},
        {"tokens_per_s_per_device", tokens_per_s_per_device},
        {"target_tokens_per_s", double(targets_measured) / step_total},
        {"samples_per_s", double(batch.train_batch_size) / median_s},
        {"sample_definition", fmt::format("one packed sequence of {} tokens", seq_len)},
        {"model_flops_per_token", flops_per_token},
        {"model_tflops_per_s_per_device", tflops_per_device},
        {"flops_formula",
         "PaLM: 6N + 12*L*d*T per token, N = all parameters (embedding and output head "
         "included), T = seq_len, full T x T attention"},
        {"recomputation_counted", false},
        {"executed_flops_per_token", e.executed_flops_per_token},
        {"executed_tflops_per_s_per_device", hw_tflops_per_device},
        {"executed_flops_note",
         "model FLOPs plus the forward work that recomputation repeats (full: 2 x layer "
         "parameters + 4*L*d*T per token); hfu uses these"},
        {"mfu", mfu},
        {"hfu", hfu},
        {"peak_flops_per_s_per_device", peak},
        {"peak_flops_source", e.peak_source},
        {"mfu_note", e.mfu_note},
        {"peak_memory_bytes", e.peak_memory},
        {"exposed_communication_share", comm_total / step_total},
        {"exposed_communication_share_per_step", stats_json(comm_shares)},
        {"communication_time_s", stats_json(comm_times)},
        {"communication_method", e.comm_method},
        {"timing_method", e.timing_method},
        {"replicas_identical", run.replicas_identical},
        {"final_loss", run.steps.back().loss},
        {"initial_loss", run.steps.front().loss},
        {"loss_curve", loss_curve},
        {"warnings", ds.warnings}};
    if (!e.extra.is_null()) m["engine_timing"] = e.extra;
    if (!e.profile.is_null()) m["engine_profile"] = e.profile;
    if (root) {
      const auto path = out_dir / "sft_metrics.json";
      write_json_atomic(path, m);
      const std::string mfu_text =
          e.peak_tflops ? fmt::format("MFU {:.1f}%", 100.0 * tflops_per_device / *e.peak_tflops)
                        : std::string("MFU n/a");
      std::printf(
          "step time median %.4f s (p10 %.4f, p90 %.4f) | %.1f tokens/s | %.1f tokens/s per %s "
          "| %.3f samples/s | %.4f model TFLOP/s per %s | %s | exposed comm %.1f%% | loss %.4f "
          "-> %.4f\n",
          median_s, quantile(step_times, 0.1), quantile(step_times, 0.9), tokens_per_s,
          tokens_per_s_per_device, e.short_name.c_str(), double(batch.train_batch_size) / median_s,
          tflops_per_device, e.short_name.c_str(), mfu_text.c_str(),
          100.0 * comm_total / step_total, run.steps.front().loss, run.steps.back().loss);
      std::fprintf(stderr, "sxbench: wrote %s\n", path.c_str());
    }
    if (!run.replicas_identical) {
      throw runtime_error("data-parallel replicas diverged: parameter checksums differ by rank");
    }
    return m;
  } catch (const Error& e) {
    abort_job_on_error(mpi, e);
    throw;
  }
}

namespace {

// --plan-only: the CUDA engine's settings resolved as a run resolves them, the plan printed by
// rank 0 and written to plan.json; nothing is allocated and no GPU is needed.
int run_train_plan_only(const TrainCliOptions& o, const CommandContext& ctx) {
  if (o.device_set && o.device != "cuda") {
    throw usage_error("--plan-only plans the CUDA engine's GPU memory; leave out --device or use "
                      "--device cuda");
  }
  TrainJobRequest request = o;
  request.device = "cuda";
  request.plan_only = true;
  TrainJob job = prepare_train_job(request, ctx.env);
  MpiContext mpi(nullptr, nullptr);
  const bool root = mpi.rank() == 0;
  std::filesystem::path out_dir;
  if (root) {
    out_dir =
        o.out_dir.empty()
            ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                      ("train_plan_" + utc_compact_now()))
            : std::filesystem::path(o.out_dir);
  }
  try {
    run_train_plan(job, o.plan, mpi.world_size(), out_dir, root);
  } catch (const Error& e) {
    if (!root) return static_cast<int>(e.code());  // rank 0 reports
    throw;
  }
  return 0;
}

int run_train(const TrainCliOptions& o, const CommandContext& ctx) {
  if (o.list_models) {
    print_models();
    return 0;
  }
  if (!o.plan_only && !o.plan_flags_given.empty()) {
    throw usage_error(o.plan_flags_given.front() + " applies to --plan-only");
  }
  if (o.plan_only) return run_train_plan_only(o, ctx);
  TrainJob job = prepare_train_job(o, ctx.env);
  MpiContext mpi(nullptr, nullptr);
  std::filesystem::path out_dir;
  if (mpi.rank() == 0) {
    out_dir =
        o.out_dir.empty()
            ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                      ("train_" + utc_compact_now()))
            : std::filesystem::path(o.out_dir);
  }
  try {
    run_train_job(job, mpi, out_dir);
  } catch (const Error& e) {
    if (e.code() == ExitCode::ok) return 0;  // another rank reported
    throw;
  }
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& root) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* app = root.add_subcommand(
      "train",
      "LLM supervised fine-tuning throughput with sxbench's engine (Llama architecture, "
      "AdamW, data parallel); writes sft_metrics.json");
  app->add_option("--device", o->device,
                  "cpu (fp32 reference, data parallel over MPI) or cuda (bf16 engine, one GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app->add_option("--model", o->model,
                  "Hugging Face id, built-in test shape, or directory with config.json "
                  "[MODEL_NAME]");
  app->add_option("--ds-config", o->ds_config, "DeepSpeed config JSON (configs/ds_config_*.json)");
  app->add_option("--steps", o->steps, "Optimizer steps")->capture_default_str();
  app->add_option("--warmup-steps", o->warmup_steps,
                  "Leading steps excluded from the timing statistics")
      ->capture_default_str();
  app->add_option("--seq-len", o->seq_len, "Tokens per sequence [SEQ_LEN; or the data file's]");
  app->add_option("--micro-batch", o->micro_batch,
                  "Sequences per rank per micro-step [BATCH_SIZE_PER_GPU; or the ds_config's]");
  app->add_option("--data", o->data, "Token file from `sxbench data pack` (default: synthetic)");
  app->add_option("--out", o->out_dir, "Output directory (default: $RESULTS_DIR/train_<UTC time>)");
  app->add_option("--seed", o->seed, "Seed of weights and synthetic data")->capture_default_str();
  app->add_option("--recompute", o->recompute,
                  "CUDA engine activation recomputation: auto (ds_config, else what fits), none, "
                  "selective or full")
      ->capture_default_str();
  app->add_option("--comm-backend", o->comm_backend,
                  "CUDA engine gradient exchange: auto (nccl with several ranks), nccl, or mpi "
                  "(host-staged; ranks may share a GPU); an explicit one runs with one rank too")
      ->capture_default_str();
  app->add_option("--grad-dtype", o->grad_dtype,
                  "CUDA engine gradient storage: auto (bf16 without gradient accumulation, else "
                  "fp32), fp32 or bf16")
      ->capture_default_str();
  app->add_flag("--profile", o->profile,
                "CUDA engine: time every operation of the last step by category (CUDA events)");
  app->add_flag("--list-models", o->list_models, "List the built-in models and exit");
  app->add_flag("--plan-only", o->plan_only,
                "Print the CUDA engine's per-GPU memory plan and its verdict, write plan.json; "
                "allocate nothing (no GPU needed). Exit 0 fits, 4 does not fit");
  app->add_option("--nodes", o->plan.nodes,
                  "--plan-only: node counts to plan, comma-separated (the first is the job; "
                  "default: the launch's own world)");
  app->add_option("--gpus-per-node", o->plan.gpus_per_node, "--plan-only: GPUs per node")
      ->capture_default_str();
  app->add_option("--gpu-memory-gib", o->plan.gpu_memory_gib,
                  "--plan-only: memory of one GPU in GiB (default: configs/hardware)");
  app->add_option("--gpu", o->plan.gpu, "--plan-only: GPU to plan for (a configs/hardware match)")
      ->capture_default_str();
  return {app, [o, app](const CommandContext& ctx) {
            o->device_set = app->count("--device") > 0;
            o->plan.gpu_memory_set = app->count("--gpu-memory-gib") > 0;
            o->plan_flags_given.clear();
            for (const char* f : {"--nodes", "--gpus-per-node", "--gpu-memory-gib", "--gpu"}) {
              if (app->count(f) > 0) o->plan_flags_given.push_back(f);
            }
            return run_train(*o, ctx);
          }};
}

}  // namespace sxb
