#pragma once
// The Llama decoder on one GPU (CUDA builds only): bf16 weights and activations, fp32 master
// weights and AdamW moments, fp32 or bf16 gradients (GradStorage), all in the flat layout of the CPU reference
// (cpu::parameter_layout), so q|k|v and gate|up are contiguous and each pair runs as one matrix
// product. Buffers come from one allocation sized by plan_gpu_memory() before anything runs.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "train/cpu_model.hpp"
#include "train/gpu_gemm.hpp"
#include "train/gpu_memory.hpp"
#include "train/gpu_ops.hpp"
#include "train/optimizer.hpp"

namespace sxb::gpu {

class LlamaGpu {
 public:
  // Allocates everything for micro-batches of up to max_B sequences of exactly T tokens.
  // Throws sxb::Error for shapes the kernels do not support or when the allocation fails.
  LlamaGpu(const ModelConfig& cfg, int64_t max_B, int64_t T, Recompute recompute,
           GradStorage grads, cudaStream_t stream);
  ~LlamaGpu();
  LlamaGpu(const LlamaGpu&) = delete;
  LlamaGpu& operator=(const LlamaGpu&) = delete;

  // The CPU reference's initialisation (matrices N(0, 0.02^2) from the seed's per-tensor
  // streams, norm weights 1), computed on the GPU; also sets the bf16 working copy.
  void init_weights(uint64_t seed);

  // One micro-batch of B sequences: tokens/targets are host arrays of B*T (target -1: not
  // counted). Forward, loss, backward; parameter gradients are overwritten when `first` and
  // added otherwise (fp32 gradients only: with bf16 gradients every micro-batch is `first`).
  // dloss: d(objective)/d(loss of one counted token).
  // `last`: the step's last micro-batch, in which the unit-ready callback runs.
  void forward_backward(const int32_t* tokens, const int32_t* targets, int64_t B, double dloss,
                        bool first, bool last = true);
  // Called during the backward of a step's last micro-batch with each parameter unit's fp32
  // gradients as soon as they are final, in the order the backward finishes them: final norm with
  // the output head, each decoder layer from the last, the embedding (data-parallel exchange).
  // fp32 gradient storage only.
  using UnitReady = std::function<void(float* grads, int64_t count)>;
  void set_unit_ready(UnitReady f);
  // Order-independent checksum of the fp32 master weights' bits (synchronises): replicas that
  // hold equal weights have equal checksums.
  uint64_t param_checksum();
  // Sum of the token losses since the last call; synchronises the stream.
  double take_loss_sum();
  // Global-norm clipping (max_norm <= 0: off) and AdamW step t (1-based) over all parameters.
  void optimizer_step(const AdamWParams& p, int64_t t, double max_norm);
  // Gradient norm before clipping of the last optimizer_step; synchronises the stream.
  double last_grad_norm();

  // Times every operation of the following steps with CUDA events, by category (matrix
  // products, attention, norms, ...); take_profile_ms() synchronises, returns milliseconds per
  // category since the last call and clears them.
  void set_profiling(bool on) { profiling_ = on; }
  std::map<std::string, double> take_profile_ms();

  std::vector<float> download_params() const;
  // Gradients as fp32 whatever their storage.
  std::vector<float> download_grads() const;
  GradStorage grad_storage() const { return grads_; }

 private:
  struct LayerActs {
    float* rstd1;
    bf16* qkv;
    bf16* o;
    float* lse;
    bf16* xm;
    float* rstd2;
    bf16* gu;
    bf16* ln1;  // none: per layer; otherwise the shared buffer
    bf16* ln2;
    bf16* act;
  };
  struct LayerParams {
    int64_t attn_norm, wqkv, wo, mlp_norm, wgu, wdown;  // element offsets
  };

  template <typename T>
  T* buf(const std::string& name, int64_t i = 0) const;
  // RAII event pair around the operations of one category (a no-op unless profiling).
  class Span {
   public:
    Span(LlamaGpu& m, const char* category);
    ~Span();
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

   private:
    LlamaGpu& m_;
    const char* category_;
    cudaEvent_t begin_ = nullptr;
  };
  cudaEvent_t next_event();
  LayerActs acts(int64_t l) const;
  std::vector<float> download(const std::string& fp32_buffer) const;
  AttentionShape attention_shape(int64_t B) const;
  void layer_forward(int64_t l, int64_t B, bool write_output);
  void layer_backward(int64_t l, int64_t B, bool first);
  // The gradient of the matrix at layout offset `off` from dy (N, OC) and x (N, C): written as
  // bf16, or written/added (acc) in fp32.
  void weight_grad(int64_t off, const bf16* dy, const bf16* x, int64_t N, int64_t C, int64_t OC,
                   bool acc);
  // Where the atomically summed gradient of the tensor at layout offset `off` (embedding, norm
  // weights) is accumulated in fp32.
  float* sum_grad(int64_t off) const;

  ModelConfig cfg_;
  int64_t max_B_, T_;
  Recompute recompute_;
  GradStorage grads_;
  cudaStream_t stream_;
  GpuMemoryPlan plan_;
  std::vector<cpu::ParamTensor> layout_;
  std::vector<LayerParams> lp_;
  int64_t wte_ = 0, final_norm_ = 0, lm_head_ = 0;
  // Offset, size pairs of the atomically summed gradients (embedding, norm weights), cleared
  // before a first micro-batch.
  std::vector<int64_t> zeroed_segments_;
  std::map<int64_t, int64_t> sum_offsets_;  // bf16 storage: layout offset -> grad.fp32_sums offset
  int64_t n_chunks_ = 0;
  bool profiling_ = false;
  UnitReady unit_ready_;
  std::vector<cudaEvent_t> events_;
  size_t next_event_ = 0;
  std::vector<std::pair<const char*, std::pair<cudaEvent_t, cudaEvent_t>>> marks_;
  unsigned char* arena_ = nullptr;
  std::map<std::string, std::vector<void*>> bufs_;
  Gemm gemm_;
};

}  // namespace sxb::gpu
