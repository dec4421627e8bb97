#pragma once
// The CUDA engine's device-memory plan: every buffer it allocates, by name, size and purpose,
// for a model, micro-batch, sequence length and recomputation mode. The engine allocates exactly
// this list (train/gpu_model_cuda.cpp), so the plan is the engine's real footprint, known before
// any allocation; a job that cannot fit is refused with these numbers. Pure, no CUDA.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "perfmodel/perf_model.hpp"
#include "train/model_config.hpp"

namespace sxb {

// How parameter gradients are stored. fp32: one fp32 buffer that the matrix products write
// (first micro-batch) or add into (later ones). bf16: the products write bf16 gradients, as
// PyTorch's bf16 backward does; the gradients that are sums of atomic additions (embedding rows,
// norm weights) are summed in fp32 and cast once after the backward. Only without gradient
// accumulation: bf16 cannot carry a running sum.
enum class GradStorage { fp32, bf16 };
std::string grad_storage_name(GradStorage g);

struct GpuBuffer {
  std::string name;      // "grad.fp32", "layer.qkv", ...
  std::string category;  // weights, master, gradients, optimizer, activations, scratch, workspace
  uint64_t bytes = 0;    // one instance
  int64_t count = 1;     // instances (per-layer buffers: one per layer)
};

struct GpuMemoryPlan {
  Recompute recompute = Recompute::none;
  GradStorage grads = GradStorage::fp32;
  int64_t micro_batch = 0, seq_len = 0;
  std::vector<GpuBuffer> buffers;
  static constexpr uint64_t kAlignment = 256;  // every instance starts on this boundary
  // Kept free for what the engine does not allocate itself: cuBLASLt's internal allocations,
  // the CUDA runtime's per-launch needs, allocator granularity. An assumption, stated in output.
  static constexpr uint64_t kReserveBytes = uint64_t(768) << 20;

  uint64_t total_bytes() const;  // aligned sum of all buffers
  std::map<std::string, uint64_t> bytes_by_category() const;
  const GpuBuffer* find(const std::string& name) const;
};

// Bytes of one instance rounded up to the plan's alignment.
uint64_t aligned_bytes(uint64_t bytes);

// Buffers for training `cfg` with micro-batch B of T tokens and the given recomputation:
//   none      - every layer keeps its normed inputs, qkv, attention output and lse, the mid
//               residual, gate|up and the SwiGLU output;
//   selective - the same without the two normed inputs and the SwiGLU output, which the backward
//               recomputes from kept tensors (elementwise work, no extra matrix products);
//   full      - only each layer's input is kept; the layer's forward runs again before its
//               backward (one more forward pass of matrix products).
// Gradients as `grads` says (GradStorage).
GpuMemoryPlan plan_gpu_memory(const ModelConfig& cfg, int64_t B, int64_t T, Recompute r,
                              GradStorage grads = GradStorage::fp32,
                              uint64_t workspace_bytes = uint64_t(64) << 20);

// Elements of the gradients summed by atomic additions: the embedding and every norm weight
// (the "grad.fp32_sums" buffer of a bf16-gradient plan).
int64_t atomic_gradient_elements(const ModelConfig& cfg);

// The lightest recomputation whose plan plus the reserve fits in `available_bytes`.
std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              uint64_t available_bytes,
                                              GradStorage grads = GradStorage::fp32);

// One line: "<total> = weights ... + master ... + ..." with GiB figures.
std::string describe_gpu_memory(const GpuMemoryPlan& plan);

}  // namespace sxb
