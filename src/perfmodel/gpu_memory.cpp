#include "perfmodel/gpu_memory.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "model/model_shape.hpp"

namespace sxb {

namespace {

double gib(uint64_t b) {
  return double(b) / double(1ull << 30);
}

void check_layout(const ZeroLayout& z, GradStorage grads) {
  if (z.stage < 0 || z.stage > 3) {
    throw usage_error(fmt::format("ZeRO stage {} is not 0, 1, 2 or 3", z.stage));
  }
  if (z.world < 1) throw usage_error(fmt::format("world size {} must be at least 1", z.world));
  if (z.reduce_bucket_elements < 1 || z.allgather_bucket_elements < 1) {
    throw usage_error("ZeRO bucket sizes must be at least one element");
  }
  if (grads == GradStorage::bf16 && z.world > 1) {
    throw usage_error(fmt::format(
        "bf16 gradient storage needs one GPU: with {} GPUs gradients are reduced in fp32",
        z.world));
  }
}

}  // namespace

uint64_t aligned_bytes(uint64_t bytes) {
  const uint64_t a = GpuMemoryPlan::kAlignment;
  return (bytes + a - 1) / a * a;
}

std::string grad_storage_name(GradStorage g) {
  return g == GradStorage::bf16 ? "bf16" : "fp32";
}

ZeroLayout zero_layout(const DsConfig& ds, const ModelConfig& m, int world) {
  ZeroLayout z;
  z.stage = ds.zero_stage;
  z.world = world;
  z.reduce_bucket_elements = uint64_t(std::max<int64_t>(0, ds.reduce_bucket_elements(m)));
  z.allgather_bucket_elements = uint64_t(std::max<int64_t>(0, ds.allgather_bucket_size));
  return z;
}

int64_t atomic_gradient_elements(const ModelConfig& cfg) {
  // Embedding (V, d); per layer two norm weights of d; the final norm.
  return cfg.vocab_size * cfg.hidden_size + (2 * cfg.num_layers + 1) * cfg.hidden_size;
}

int64_t largest_parameter_unit(const ModelConfig& cfg) {
  int64_t most = 0;
  for (const int64_t u : cfg.parameter_unit_sizes()) most = std::max(most, u);
  return most;
}

uint64_t GpuMemoryPlan::total_bytes() const {
  uint64_t total = 0;
  for (const auto& b : buffers) total += aligned_bytes(b.bytes) * uint64_t(b.count);
  return total;
}

std::map<std::string, uint64_t> GpuMemoryPlan::bytes_by_category() const {
  std::map<std::string, uint64_t> out;
  for (const auto& b : buffers) out[b.category] += aligned_bytes(b.bytes) * uint64_t(b.count);
  return out;
}

const GpuBuffer* GpuMemoryPlan::find(const std::string& name) const {
  for (const auto& b : buffers) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

GpuMemoryPlan plan_gpu_memory(const ModelConfig& cfg, int64_t B, int64_t T, Recompute r,
                              GradStorage grads, uint64_t workspace_bytes, const ZeroLayout& zero) {
  check_layout(zero, grads);
  GpuMemoryPlan p;
  p.recompute = r;
  p.grads = grads;
  p.micro_batch = B;
  p.seq_len = T;
  p.zero_stage = zero.applied_stage();
  p.world = zero.world;
  const int stage = p.zero_stage;
  const uint64_t P = uint64_t(cfg.param_count());
  const uint64_t W = uint64_t(zero.world);
  const uint64_t S = (P + W - 1) / W;  // ShardPlan::shard_size() (train/zero.hpp)
  const uint64_t U = uint64_t(largest_parameter_unit(cfg));
  p.shard_elements = int64_t(S);
  p.largest_unit_elements = int64_t(U);
  const uint64_t N = uint64_t(B) * uint64_t(T), d = uint64_t(cfg.hidden_size);
  const uint64_t kvd = uint64_t(cfg.kv_dim()), F = uint64_t(cfg.intermediate_size);
  const uint64_t H = uint64_t(cfg.num_heads), V = uint64_t(cfg.vocab_size);
  const uint64_t L = uint64_t(cfg.num_layers);
  const uint64_t qkv = d + 2 * kvd;
  constexpr uint64_t bf = 2, f32 = 4;
  auto add = [&](std::string name, std::string cat, uint64_t bytes, int64_t count = 1) {
    p.buffers.push_back({std::move(name), std::move(cat), bytes, count});
  };
  // Elements of the optimizer's part of the model: the whole buffer, or the rank's shard.
  const uint64_t opt_elems = stage >= 1 ? S : P;
  if (stage == 3) {
    add("param.bf16", "weights", S * bf);
    add("param.unit", "weights", U * bf, 2);  // the gathered unit in use, the prefetched next
  } else if (stage >= 1) {
    // Padded to W whole shards: after AdamW every rank's updated shard is all-gathered in place
    // (rank r's shard at r S), so no gather bucket is needed.
    add("param.bf16", "weights", W * S * bf);
  } else {
    add("param.bf16", "weights", P * bf);
  }
  // fp32 master weights: the low 16 bits of each; the high half is the bf16 working copy itself
  // (rounded, see gpu_ops.hpp), so at stages 1-2 the shard's master is its slice of the full
  // working copy plus these.
  add("param.lo", "master", opt_elems * bf);
  if (grads == GradStorage::bf16) {
    add("grad.bf16", "gradients", P * bf);
    add("grad.fp32_sums", "gradients", uint64_t(atomic_gradient_elements(cfg)) * f32);
  } else if (stage >= 2) {
    add("grad.shard", "gradients", S * f32);
    add("grad.unit", "gradients", U * f32, 2);  // written by the backward, being reduced
  } else {
    add("grad.fp32", "gradients", P * f32);
  }
  add("adam.m", "optimizer", opt_elems * f32);
  add("adam.v", "optimizer", opt_elems * f32);
  // AdamChunk table: at most one chunk per 65,536 elements plus one per tensor (9 L + 3).
  add("adam.chunks", "optimizer", 16 * (opt_elems / 65536 + 9 * L + 3));
  add("rope.cos", "scratch", uint64_t(T) * uint64_t(cfg.head_dim() / 2) * f32);
  add("rope.sin", "scratch", uint64_t(T) * uint64_t(cfg.head_dim() / 2) * f32);
  add("tokens", "scratch", N * 4);
  add("targets", "scratch", N * 4);
  add("scalars", "scratch", 64);
  // Residual stream: the input of every layer and the final norm's input.
  add("resid", "activations", N * d * bf, int64_t(L + 1));
  // What each layer keeps for its backward and what is rebuilt, by recomputation mode: the one
  // definition in model/recompute.hpp. Per-layer buffers are saved activations; a buffer that
  // every layer reuses (full's one set, the rebuilt normed input and SwiGLU output) is scratch.
  for (const LayerActivationBuffer& b : layer_activation_buffers(model_shape(cfg), r)) {
    add(b.name, b.per_layer ? "activations" : "scratch", N * uint64_t(b.bytes_per_token()),
        b.per_layer ? int64_t(L) : 1);
  }
  add("final.ln", "activations", N * d * bf);
  add("final.rstd", "activations", N * f32);
  add("logits", "activations", N * V * bf);  // logits, then their gradient in place
  add("bwd.dres", "scratch", N * d * bf);
  add("bwd.dln", "scratch", N * d * bf);
  add("bwd.do", "scratch", N * d * bf);
  add("bwd.dact", "scratch", N * F * bf);
  add("bwd.dgu", "scratch", N * 2 * F * bf);
  add("bwd.dqkv", "scratch", N * qkv * bf);
  add("bwd.dq_accum", "scratch", N * d * f32);
  add("bwd.dsum", "scratch", uint64_t(B) * H * uint64_t(T) * f32);
  add("cublaslt.workspace", "workspace", workspace_bytes);
  // No communication buckets: stages 0-1 all-reduce each unit's gradient in place, stages 2-3
  // reduce it from its unit buffer straight into the owners' "grad.shard", and the weights are
  // all-gathered in place (train/gpu_exchange.hpp).
  return p;
}

std::vector<ReserveItem> memory_reserve(const GpuMemoryPlan& plan, CapacityKind kind) {
  std::vector<ReserveItem> out;
  out.push_back({"engine", GpuMemoryPlan::kReserveBytes,
                 "cuBLASLt's internal allocations, the CUDA runtime's per-launch needs and "
                 "allocator granularity"});
  if (kind == CapacityKind::device_total) {
    out.push_back({"cuda_context", kCudaContextBytes,
                   "the process's CUDA context and library state (bench/RESULTS.md: device used "
                   "peak exceeded the planned buffers by 0.48-0.54 GiB)"});
  }
  if (plan.world > 1) {
    out.push_back({"nccl", kNcclBytes,
                   "NCCL's connection buffers for the data-parallel communicator (NCCL_BUFFSIZE "
                   "per protocol, channel and peer; not measured here)"});
  }
  return out;
}

MemoryVerdict judge_gpu_memory(const GpuMemoryPlan& plan, const GpuCapacity& capacity) {
  MemoryVerdict v;
  v.reserve = memory_reserve(plan, capacity.kind);
  for (const auto& item : v.reserve) v.reserve_bytes += item.bytes;
  v.plan_bytes = plan.total_bytes();
  v.needed_bytes = v.plan_bytes + v.reserve_bytes;
  v.capacity_bytes = capacity.bytes;
  v.fits = v.needed_bytes <= v.capacity_bytes;
  if (v.fits) {
    v.free_bytes = v.capacity_bytes - v.needed_bytes;
  } else {
    v.shortfall_bytes = v.needed_bytes - v.capacity_bytes;
  }
  const auto cats = plan.bytes_by_category();
  std::vector<std::pair<std::string, uint64_t>> sorted(cats.begin(), cats.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  sorted.resize(std::min<size_t>(3, sorted.size()));
  v.largest = sorted;
  const std::string needed = fmt::format(
      "{:.2f} GiB needed (plan {:.2f} + reserve {:.2f}) of {:.2f} GiB", gib(v.needed_bytes),
      gib(v.plan_bytes), gib(v.reserve_bytes), gib(v.capacity_bytes));
  if (v.fits) {
    v.detail = fmt::format("{}, {:.2f} GiB free", needed, gib(v.free_bytes));
    v.line = "fits: " + v.detail;
  } else {
    std::string top;
    for (const auto& [cat, bytes] : v.largest) {
      top += fmt::format("{}{} {:.2f} GiB", top.empty() ? "" : ", ", cat, gib(bytes));
    }
    v.detail =
        fmt::format("{}, short by {:.2f} GiB; largest: {}", needed, gib(v.shortfall_bytes), top);
    v.line = "does not fit: " + v.detail;
  }
  return v;
}

std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              const GpuCapacity& capacity, GradStorage grads,
                                              const ZeroLayout& zero, uint64_t workspace_bytes) {
  for (Recompute r : {Recompute::none, Recompute::selective, Recompute::full}) {
    if (judge_gpu_memory(plan_gpu_memory(cfg, B, T, r, grads, workspace_bytes, zero), capacity)
            .fits) {
      return r;
    }
  }
  return std::nullopt;
}

std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              uint64_t available_bytes, GradStorage grads) {
  return choose_gpu_recompute(cfg, B, T,
                              GpuCapacity{available_bytes, CapacityKind::free_after_context, ""},
                              grads, ZeroLayout{});
}

std::string describe_gpu_memory(const GpuMemoryPlan& plan) {
  const auto cats = plan.bytes_by_category();
  std::string parts;
  for (const char* c : {"weights", "master", "gradients", "optimizer", "activations", "scratch",
                        "workspace", "buffers"}) {
    auto it = cats.find(c);
    if (it == cats.end()) continue;
    parts += fmt::format("{}{} {:.2f} GiB", parts.empty() ? "" : " + ", c, gib(it->second));
  }
  return fmt::format("{:.2f} GiB = {}", gib(plan.total_bytes()), parts);
}

}  // namespace sxb
