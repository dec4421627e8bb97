#include "train/gpu_memory.hpp"

#include <fmt/format.h>

namespace sxb {

uint64_t aligned_bytes(uint64_t bytes) {
  const uint64_t a = GpuMemoryPlan::kAlignment;
  return (bytes + a - 1) / a * a;
}

std::string grad_storage_name(GradStorage g) {
  return g == GradStorage::bf16 ? "bf16" : "fp32";
}

int64_t atomic_gradient_elements(const ModelConfig& cfg) {
  // Embedding (V, d); per layer two norm weights of d; the final norm.
  return cfg.vocab_size * cfg.hidden_size + (2 * cfg.num_layers + 1) * cfg.hidden_size;
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
                              GradStorage grads, uint64_t workspace_bytes) {
  GpuMemoryPlan p;
  p.recompute = r;
  p.grads = grads;
  p.micro_batch = B;
  p.seq_len = T;
  const uint64_t P = uint64_t(cfg.param_count());
  const uint64_t N = uint64_t(B) * uint64_t(T), d = uint64_t(cfg.hidden_size);
  const uint64_t kvd = uint64_t(cfg.kv_dim()), F = uint64_t(cfg.intermediate_size);
  const uint64_t H = uint64_t(cfg.num_heads), V = uint64_t(cfg.vocab_size);
  const uint64_t L = uint64_t(cfg.num_layers);
  const uint64_t qkv = d + 2 * kvd;
  constexpr uint64_t bf = 2, f32 = 4;
  auto add = [&](std::string name, std::string cat, uint64_t bytes, int64_t count = 1) {
    p.buffers.push_back({std::move(name), std::move(cat), bytes, count});
  };
  add("param.bf16", "weights", P * bf);
  add("param.fp32", "master", P * f32);
  if (grads == GradStorage::bf16) {
    add("grad.bf16", "gradients", P * bf);
    add("grad.fp32_sums", "gradients", uint64_t(atomic_gradient_elements(cfg)) * f32);
  } else {
    add("grad.fp32", "gradients", P * f32);
  }
  add("adam.m", "optimizer", P * f32);
  add("adam.v", "optimizer", P * f32);
  add("adam.chunks", "optimizer", 16 * (P / 65536 + 9 * L + 3));  // AdamChunk table
  add("rope.cos", "scratch", uint64_t(T) * uint64_t(cfg.head_dim() / 2) * f32);
  add("rope.sin", "scratch", uint64_t(T) * uint64_t(cfg.head_dim() / 2) * f32);
  add("tokens", "scratch", N * 4);
  add("targets", "scratch", N * 4);
  add("scalars", "scratch", 64);
  // Residual stream: the input of every layer and the final norm's input.
  add("resid", "activations", N * d * bf, int64_t(L + 1));
  const int64_t per_layer = r == Recompute::full ? 1 : int64_t(L);
  const std::string layer_cat = r == Recompute::full ? "scratch" : "activations";
  add("layer.rstd1", layer_cat, N * f32, per_layer);
  add("layer.qkv", layer_cat, N * qkv * bf, per_layer);
  add("layer.o", layer_cat, N * d * bf, per_layer);
  add("layer.lse", layer_cat, uint64_t(B) * H * uint64_t(T) * f32, per_layer);
  add("layer.xm", layer_cat, N * d * bf, per_layer);
  add("layer.rstd2", layer_cat, N * f32, per_layer);
  add("layer.gu", layer_cat, N * 2 * F * bf, per_layer);
  if (r == Recompute::none) {
    add("layer.ln1", "activations", N * d * bf, per_layer);
    add("layer.ln2", "activations", N * d * bf, per_layer);
    add("layer.act", "activations", N * F * bf, per_layer);
  } else {
    // One normed input and one SwiGLU output, rebuilt where the backward needs them.
    add("shared.ln", "scratch", N * d * bf);
    add("shared.act", "scratch", N * F * bf);
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
  return p;
}

std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              uint64_t available_bytes, GradStorage grads) {
  for (Recompute r : {Recompute::none, Recompute::selective, Recompute::full}) {
    if (plan_gpu_memory(cfg, B, T, r, grads).total_bytes() + GpuMemoryPlan::kReserveBytes <=
        available_bytes) {
      return r;
    }
  }
  return std::nullopt;
}

std::string describe_gpu_memory(const GpuMemoryPlan& plan) {
  const auto cats = plan.bytes_by_category();
  std::string parts;
  for (const char* c :
       {"weights", "master", "gradients", "optimizer", "activations", "scratch", "workspace"}) {
    auto it = cats.find(c);
    if (it == cats.end()) continue;
    parts += fmt::format("{}{} {:.2f} GiB", parts.empty() ? "" : " + ", c,
                         double(it->second) / double(1ull << 30));
  }
  return fmt::format("{:.2f} GiB = {}", double(plan.total_bytes()) / double(1ull << 30), parts);
}

}  // namespace sxb
