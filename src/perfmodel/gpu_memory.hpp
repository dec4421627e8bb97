#pragma once
// The CUDA engine's device-memory plan: every buffer it allocates, by name, size and purpose,
// for a model, micro-batch, sequence length, recomputation mode and data-parallel sharding. On
// one GPU the engine allocates exactly this list (train/gpu_model_cuda.cpp), so the plan is the
// engine's real footprint, known before any allocation; a job that cannot fit is refused with
// these numbers. For more than one GPU it lists what the engine allocates per GPU at the ZeRO
// stage of ZeroLayout (the stages: the table in train/zero.hpp), which is also what
// `sxbench train --plan-only` reports. Pure, no CUDA; below train/ in the layer order, so it
// reads the model layer only.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/ds_config.hpp"
#include "model/model_config.hpp"
#include "model/recompute.hpp"

namespace sxb {

// How parameter gradients are stored. fp32: one fp32 buffer that the matrix products write
// (first micro-batch) or add into (later ones). bf16: the products write bf16 gradients, as
// PyTorch's bf16 backward does; the gradients that are sums of atomic additions (embedding rows,
// norm weights) are summed in fp32 and cast once their unit's backward is done. Only on one GPU
// without gradient accumulation: bf16 cannot carry a running sum, and with more than one GPU
// gradients are reduced (summed over the ranks) in fp32.
enum class GradStorage { fp32, bf16 };
std::string grad_storage_name(GradStorage g);

// Data-parallel sharding of the plan, with DeepSpeed's stage semantics over `world` GPUs. The
// flat parameter buffer of P elements is cut into shards of S = ceil(P / world) elements
// (ShardPlan, train/zero.hpp). With world 1 every stage is stage 0 (the one shard is the whole
// model), and the plan is the one-GPU engine's.
struct ZeroLayout {
  int stage = 0;  // requested: 0..3
  int world = 1;  // data-parallel GPUs, >= 1
  // zero_optimization.reduce_bucket_size and allgather_bucket_size, in elements (DsConfig).
  uint64_t reduce_bucket_elements = uint64_t(kDeepSpeedBucketElements);
  uint64_t allgather_bucket_elements = uint64_t(kDeepSpeedBucketElements);

  int applied_stage() const { return world > 1 ? stage : 0; }
};
// The ds_config's stage and bucket sizes for `world` GPUs.
ZeroLayout zero_layout(const DsConfig& ds, const ModelConfig& m, int world);

struct GpuBuffer {
  std::string name;      // "grad.fp32", "layer.qkv", ...
  std::string category;  // weights, master, gradients, optimizer, activations, scratch,
                         // workspace, buffers
  uint64_t bytes = 0;    // one instance
  int64_t count = 1;     // instances (per-layer buffers: one per layer)
};

inline constexpr uint64_t kCublasLtWorkspaceBytes = uint64_t(64) << 20;  // Gemm's default

struct GpuMemoryPlan {
  Recompute recompute = Recompute::none;
  GradStorage grads = GradStorage::fp32;
  int64_t micro_batch = 0, seq_len = 0;
  int zero_stage = 0;  // applied (0 when world is 1)
  int world = 1;
  int64_t shard_elements = 0;         // S = ceil(P / world) (P when world is 1)
  int64_t largest_unit_elements = 0;  // largest parameter unit (ModelConfig::parameter_unit_sizes)
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

// Buffers for training `cfg` with micro-batch B of T tokens and the given recomputation, whose
// layer buffers are model/recompute.hpp's layer_activation_buffers:
//   none      - every layer keeps its normed inputs, qkv, attention output and lse, the mid
//               residual, gate|up and the SwiGLU output;
//   selective - the same without the two normed inputs and the SwiGLU output, which the backward
//               recomputes from kept tensors (elementwise work, no extra matrix products);
//   full      - only each layer's input is kept; the layer's forward up to the SwiGLU output
//               runs again before its backward.
// Gradients as `grads` says (GradStorage). Activations do not depend on the sharding.
//
// Per GPU for world W > 1 (S = ceil(P / W), U = elements of the largest parameter unit: the
// embedding, one decoder layer, or the final norm with the output head):
//   stage 0: the one-GPU buffers with fp32 gradients: what the engine's data-parallel stage 0
//            allocates (each unit's gradient is all-reduced in place as the backward finishes it,
//            train/gpu_exchange.hpp), so no bucket;
//   stage 1: "param.lo", "adam.m", "adam.v" (and the AdamW chunk table) for the S elements of
//            the rank's shard; full fp32 gradients (all-reduced in place as at stage 0) and full
//            bf16 weights padded to W x S elements, into which the updated shards are
//            all-gathered in place after AdamW (no bucket) — what the engine allocates;
//   stage 2: as stage 1, with "grad.shard" (S fp32, the reduced gradient of the shard) and
//            "grad.unit" (2 x U fp32: the unit the backward writes and the one being reduced
//            from it straight into its owners' shards, one reduce per owner) instead of the full
//            gradient — what the engine allocates;
//   stage 3: as stage 2, with "param.bf16" for the shard (S bf16) and "param.unit" (2 x U bf16:
//            the gathered unit in use and the prefetched next one) instead of the full weights;
//            units are gathered straight into "param.unit" — what the engine allocates.
//   No stage has a communication bucket (reduce_bucket_size and allgather_bucket_size size
//   only the CPU reference's calls).
// Throws sxb::Error (usage) for a stage outside 0..3, a world below 1, a bucket below one element,
// or bf16 gradients with world > 1. The defaults give the one-GPU engine's plan.
GpuMemoryPlan plan_gpu_memory(const ModelConfig& cfg, int64_t B, int64_t T, Recompute r,
                              GradStorage grads = GradStorage::fp32,
                              uint64_t workspace_bytes = kCublasLtWorkspaceBytes,
                              const ZeroLayout& zero = {});

// Elements of the gradients summed by atomic additions: the embedding and every norm weight
// (the "grad.fp32_sums" buffer of a bf16-gradient plan).
int64_t atomic_gradient_elements(const ModelConfig& cfg);

// Elements of the largest parameter unit (ModelConfig::parameter_unit_sizes).
int64_t largest_parameter_unit(const ModelConfig& cfg);

// --- Capacity, reserve and verdict -------------------------------------------------------------

// What a capacity figure already excludes. free_after_context: cudaMemGetInfo's free bytes in
// a process whose CUDA context exists (the engine measures after creating it); device_total: the
// whole memory of the GPU (a datasheet figure, planning without a GPU), from which the process's
// CUDA context must still be subtracted.
enum class CapacityKind { free_after_context, device_total };

struct GpuCapacity {
  uint64_t bytes = 0;
  CapacityKind kind = CapacityKind::free_after_context;
  std::string source;  // where the figure came from, for the output
};

// Assumptions about memory the plan's buffers do not cover, each a named constant.
// The per-process CUDA context (module images of the engine's kernels, cuBLASLt's state): the
// device used peak (total - free from cudaMemGetInfo) of the Llama-2-7B runs of bench/RESULTS.md
// exceeded the engine's planned buffers by 0.48-0.54 GiB; 512 MiB counted on top of the engine
// reserve when the capacity is a device total.
inline constexpr uint64_t kCudaContextBytes = uint64_t(512) << 20;
// NCCL's own device memory per process for the data-parallel communicator: connection buffers
// of NCCL_BUFFSIZE (4 MiB by default) per protocol, channel and peer, allocated at the first
// collective (after the engine measures its free memory); not measured by this suite (no
// multi-GPU figure yet). An assumption for world > 1.
inline constexpr uint64_t kNcclBytes = uint64_t(1) << 30;

struct ReserveItem {
  std::string name;  // engine, cuda_context, nccl
  uint64_t bytes = 0;
  std::string assumption;
};

// engine (kReserveBytes) always; cuda_context (kCudaContextBytes) when the capacity is a device
// total; nccl (kNcclBytes) when the plan's world is above 1.
std::vector<ReserveItem> memory_reserve(const GpuMemoryPlan& plan, CapacityKind kind);

struct MemoryVerdict {
  bool fits = false;
  uint64_t plan_bytes = 0;     // plan.total_bytes()
  uint64_t reserve_bytes = 0;  // sum of `reserve`
  uint64_t needed_bytes = 0;   // plan + reserve
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;       // capacity - needed when it fits, else 0
  uint64_t shortfall_bytes = 0;  // needed - capacity when it does not, else 0
  std::vector<ReserveItem> reserve;
  std::vector<std::pair<std::string, uint64_t>> largest;  // the 3 largest categories, largest first
  // One line: "fits: N GiB needed (plan P + reserve R) of C GiB, F GiB free" or "does not fit: N
  // GiB needed (...) of C GiB, short by X GiB; largest: optimizer A GiB, master B GiB, ...".
  std::string line;
  std::string detail;  // the line without its "fits: " / "does not fit: " prefix
};

MemoryVerdict judge_gpu_memory(const GpuMemoryPlan& plan, const GpuCapacity& capacity);

// The lightest recomputation whose plan plus the reserve fits `capacity`.
std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              const GpuCapacity& capacity, GradStorage grads,
                                              const ZeroLayout& zero,
                                              uint64_t workspace_bytes = kCublasLtWorkspaceBytes);
// One GPU, `available_bytes` free after the CUDA context (reserve: kReserveBytes).
std::optional<Recompute> choose_gpu_recompute(const ModelConfig& cfg, int64_t B, int64_t T,
                                              uint64_t available_bytes,
                                              GradStorage grads = GradStorage::fp32);

// One line: "<total> = weights ... + master ... + ..." with GiB figures.
std::string describe_gpu_memory(const GpuMemoryPlan& plan);

}  // namespace sxb
