#pragma once
// The Llama decoder on one GPU (CUDA builds only): bf16 weights and activations, fp32 master
// weights (held as the bf16 working copy plus the low 16 bits, gpu_ops.hpp) and AdamW moments,
// fp32 or bf16 gradients (GradStorage), all in the flat layout of the CPU reference
// (cpu::parameter_layout), so q|k|v and gate|up are contiguous and each pair runs as one matrix
// product. Buffers come from one allocation sized by plan_gpu_memory() before anything runs.
//
// Shapes (N = B*T rows, d = hidden_size, kvd = num_kv_heads * head_dim, F = intermediate_size,
// V = vocab_size, H = num_heads; row-major): weights of layer l as PyTorch's Linear stores them,
// W (out, in) bf16, the layer's q|k|v as one (d + 2 kvd, d) matrix and gate|up as one (2F, d);
// embedding (V, d), output head (V, d); residual stream "resid" (L + 1) x (N, d) bf16, the input
// of every layer and of the final norm. Per layer (LayerActs below) the backward's activations.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "train/cpu_model.hpp"
#include "train/gpu_gemm.hpp"
#include "perfmodel/gpu_memory.hpp"
#include "train/gpu_ops.hpp"
#include "train/optimizer.hpp"

namespace sxb::gpu {

class LlamaGpu {
 public:
  // Allocates everything for micro-batches of up to max_B sequences of exactly T tokens, as
  // plan_gpu_memory(..., zero) lists it, for ZeRO stage zero.applied_stage() as rank `rank` of
  // zero.world (what each stage shards and exchanges: the table in train/zero.hpp). From stage 1
  // the master's low halves and the AdamW moments exist for the rank's shard [rank S, min(P,
  // (rank + 1) S)) only; the exchange itself is the callbacks below, which the caller sets for
  // its stage. Throws sxb::Error for shapes the kernels do not support, a layout
  // plan_gpu_memory refuses, or when the allocation fails.
  LlamaGpu(const ModelConfig& cfg, int64_t max_B, int64_t T, Recompute recompute, GradStorage grads,
           cudaStream_t stream, const ZeroLayout& zero = {}, int rank = 0);
  ~LlamaGpu();
  LlamaGpu(const LlamaGpu&) = delete;
  LlamaGpu& operator=(const LlamaGpu&) = delete;

  // The CPU reference's initialisation (matrices N(0, 0.02^2) from the seed's per-tensor
  // streams, norm weights 1), computed on the GPU; also sets the bf16 working copy.
  void init_weights(uint64_t seed);
  // Starts from given fp32 weights instead (flat layout, cfg.param_count() elements, e.g.
  // load_pretrained): the master weights are these values exactly, the bf16 working copy their
  // rounding; each ZeRO stage keeps the part it holds.
  void load_weights(const std::vector<float>& params);

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
  // Stages 1-2: called once per optimizer step after AdamW has updated this rank's shard of the
  // working copy `w` (W x S elements, rank r's shard at r S): must replace every other shard
  // with its owner's, ordered after the work queued on `stream` so far, and make `stream` wait
  // for the result.
  using GatherWeights = std::function<void(bf16* w, int64_t shard_elements, cudaStream_t stream)>;
  void set_gather_weights(GatherWeights f) { gather_ = std::move(f); }
  // Stages 2-3: called in every micro-batch as soon as a unit's gradients are complete in `grads`
  // (the unit's `count` elements from flat offset `offset`, after the work queued on the main
  // stream so far): must sum them over the ranks into each owner's shard of `shard` (owner r's
  // elements [r S, (r + 1) S) at shard[0..)), adding to what is there when `accumulate`, and
  // record `done` when `grads` may be overwritten.
  using ReduceUnit = std::function<void(float* grads, int64_t offset, int64_t count,
                                        bool accumulate, float* shard, cudaEvent_t done)>;
  void set_reduce_unit(ReduceUnit f) { reduce_unit_ = std::move(f); }
  // Stages 2-3: the sum over the ranks of a host value (the squared-gradient partial sums).
  using SumOverRanks = std::function<double(double)>;
  void set_sum_over_ranks(SumOverRanks f) { sum_over_ranks_ = std::move(f); }
  // Stage 3: must fill `unit` with the weights of flat elements offset..offset+count from their
  // owners' shards of `shard` (owner r's elements at shard[flat - r S]) after the events `free`
  // and `updated`, and record `done`.
  using GatherUnit =
      std::function<void(bf16* unit, int64_t offset, int64_t count, const bf16* shard,
                         cudaEvent_t free, cudaEvent_t updated, cudaEvent_t done)>;
  void set_gather_unit(GatherUnit f) { gather_unit_ = std::move(f); }
  int zero_stage() const { return zero_stage_; }
  // Order-independent checksums (sums of 32-bit words mod 2^64; they synchronise): of the bf16
  // working copy (all P weights, equal on every rank), and of the master weights' low halves this
  // rank holds (all of them at stage 0, its shard from stage 1; summed over the ranks they are
  // stage 0's). Replicas that hold equal weights have equal checksums.
  uint64_t weights_checksum();
  uint64_t master_low_checksum();
  // Both (stage 0: the whole master's bits).
  uint64_t param_checksum() { return weights_checksum() + master_low_checksum(); }
  // Sum of the token losses since the last call; synchronises the stream.
  double take_loss_sum();
  // Global-norm clipping (max_norm <= 0: off) and AdamW step t (1-based) over all parameters.
  // The step runs on the engine's own optimizer stream, one launch per parameter unit in forward
  // order (embedding, each layer, final norm with the output head). With the optimizer overlap
  // on, the call returns without making the main stream wait: the next forward waits for each
  // unit's update just before it uses the unit, so the update of the later units runs while the
  // first layers compute. Off: the main stream waits for the whole step here.
  void optimizer_step(const AdamWParams& p, int64_t t, double max_norm);
  // Gradient norm before clipping of the last optimizer_step; waits for that norm only, not for
  // the parameter update.
  double last_grad_norm();
  // Milliseconds from the end of step t's backward to the end of its AdamW update, on the
  // optimizer stream (CUDA events; with the overlap, while the next forward runs); waits for the
  // update. Kept for the last two steps.
  double optimizer_ms(int64_t t);
  // Waits for all work of both streams.
  void synchronize() const;

  // Scheduling knobs (read from SXB_OVERLAP_OPTIMIZER and SXB_NORM_IN_BACKWARD, 0 or 1, both on
  // by default). overlap: as optimizer_step says. norm_in_backward: each unit's squared-gradient
  // sum runs on the optimizer stream during the backward as soon as the unit's gradients are
  // final, instead of as one pass before AdamW (not with the gradient exchange, which changes
  // the gradients after the backward).
  void set_overlap_optimizer(bool on);
  void set_norm_in_backward(bool on) { norm_in_backward_ = on; }
  // SMs the overlapped update runs on, the next forward's products planned for the others
  // (SXB_OPTIMIZER_SMS); 0: no partition. Throws unless 0 <= n < the GPU's SM count.
  void set_update_sms(int64_t n);
  bool overlap_optimizer() const { return overlap_; }
  bool norm_in_backward() const { return norm_in_backward_; }

  // Times every operation of the following steps with CUDA events, by category (matrix
  // products, attention, norms, ...); take_profile_ms() synchronises, returns milliseconds per
  // category since the last call and clears them.
  void set_profiling(bool on) { profiling_ = on; }
  std::map<std::string, double> take_profile_ms();

  // The fp32 master weights, joined from their halves (stage 0 only: a sharded master is not
  // held whole anywhere).
  std::vector<float> download_params() const;
  // Gradients as fp32 whatever their storage.
  std::vector<float> download_grads() const;
  GradStorage grad_storage() const { return grads_; }

 private:
  // One layer's activations kept for its backward (x = resid[l], the layer's input):
  //   ln1 = rmsnorm(x) (N, d), rstd1 (N) fp32; qkv = ln1 Wqkv^T, rotated (N, d + 2 kvd), query
  //   heads then kv heads; o = attention(q, k, v) (N, d), lse (B, H, T) fp32 log2 domain;
  //   xm = x + o Wo^T (N, d), the mid residual; ln2 = rmsnorm(xm) (N, d), rstd2 (N) fp32;
  //   gu = ln2 Wgu^T (N, 2F), gate | up; act = silu(gate) * up (N, F). bf16 unless fp32 is said.
  // Full recomputation keeps one set for all layers (rebuilt from resid[l]); selective and full
  // rebuild ln1, ln2 (one shared buffer) and act (another) where the backward needs them.
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
  // Element offsets into the flat layout: attn_norm (d), wqkv (d + 2 kvd, d), wo (d, d),
  // mlp_norm (d), wgu (2F, d), wdown (d, F).
  struct LayerParams {
    int64_t attn_norm, wqkv, wo, mlp_norm, wgu, wdown;  // element offsets
  };

  template <typename T>
  T* buf(const std::string& name, int64_t i = 0) const;
  // RAII event pair around the operations of one category (a no-op unless profiling).
  class Span {
   public:
    Span(LlamaGpu& m, const char* category, bool optimizer_stream = false);
    ~Span();
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

   private:
    LlamaGpu& m_;
    const char* category_;
    cudaStream_t stream_;
    cudaEvent_t begin_ = nullptr;
  };
  cudaEvent_t next_event();
  LayerActs acts(int64_t l) const;
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
  // Parameter units, in forward order: 0 the embedding, 1 + l decoder layer l, L + 1 the final
  // norm with the output head. Each is a contiguous range of the flat layout and of the AdamW
  // chunk table.
  struct Unit {
    int64_t offset, size;           // elements
    int64_t first_chunk, n_chunks;  // AdamW chunk table
    std::vector<int64_t> summed;    // (offset, size) pairs of its atomically summed tensors
  };
  // Called when unit u's gradients of this micro-batch are complete: with bf16 storage its
  // summed tensors are cast into grad.bf16; in the last micro-batch, with the norm in the
  // backward, its squared-gradient sum is queued on the optimizer stream.
  void unit_done(size_t u, bool last);
  // Clears unit u's summed tensors before the backward adds to them (first micro-batch).
  void clear_sums(size_t u);
  // Makes the main stream wait for unit u's parameter update of the previous optimizer step.
  void wait_update(size_t u);
  // Stages 2-3: unit u's backward starts: it gets the next unit buffer once that buffer's previous
  // reduction is done, with its summed tensors cleared.
  void begin_unit(size_t u);
  // Where the fp32 gradient of flat element `off` is written (stages 2-3: in the current unit's
  // buffer).
  float* grad_at(int64_t off) const;
  // The bf16 weights of unit u, indexed by flat offset (stage 3: its unit buffer, which must be
  // resident).
  const bf16* weights(size_t u) const;
  // Stage 3: makes unit u resident in buffer u % 2 (gathering it unless it is there) and the main
  // stream wait for it; prefetch_unit queues the gather only.
  void use_unit(size_t u);
  void prefetch_unit(size_t u);

  ModelConfig cfg_;
  int64_t max_B_, T_;
  int zero_stage_ = 0, world_ = 1, rank_ = 0;
  int64_t shard_elements_ = 0;               // S (P at stage 0)
  int64_t state_begin_ = 0, state_end_ = 0;  // the master/moment elements this rank holds
  GatherWeights gather_;
  ReduceUnit reduce_unit_;
  SumOverRanks sum_over_ranks_;
  GatherUnit gather_unit_;
  int64_t resident_[2] = {-1, -1};                 // stage 3: unit in each weight buffer
  cudaEvent_t wfree_[2] = {nullptr, nullptr};      // stage 3: main stream done with a buffer
  cudaEvent_t wready_[2] = {nullptr, nullptr};     // stage 3: buffer gathered
  cudaEvent_t slot_free_[2] = {nullptr, nullptr};  // stages 2-3: unit buffer reduced
  bool slot_used_[2] = {false, false};
  int slot_ = 0;         // stages 2-3: the unit buffer of the unit in backward
  size_t cur_unit_ = 0;  // stages 2-3: that unit
  Recompute recompute_;
  GradStorage grads_;
  cudaStream_t stream_;
  GpuMemoryPlan plan_;
  std::vector<cpu::ParamTensor> layout_;
  std::vector<LayerParams> lp_;
  int64_t wte_ = 0, final_norm_ = 0, lm_head_ = 0;
  std::map<int64_t, int64_t> sum_offsets_;  // bf16 storage: layout offset -> grad.fp32_sums offset
  int64_t n_chunks_ = 0;
  std::vector<Unit> units_;
  cudaStream_t opt_stream_ = nullptr;              // optimizer stream: norms and AdamW
  std::vector<cudaEvent_t> grad_ready_, updated_;  // per unit, on main / optimizer stream
  cudaEvent_t main_mark_ = nullptr, norm_done_ = nullptr;
  cudaEvent_t opt_begin_[2] = {nullptr, nullptr}, opt_end_[2] = {nullptr, nullptr};
  int64_t opt_step_[2] = {0, 0};  // the step each optimizer event pair timed
  double* norm_host_ = nullptr;   // page-locked: the gradient norm, copied before AdamW
  bool overlap_ = true, norm_in_backward_ = true;
  // SMs the overlapped update runs on (SXB_OPTIMIZER_SMS; 0: the whole GPU, the update's blocks
  // taking SMs as the forward frees them); with a partition, the products of a forward that runs
  // beside the update are planned for the device's other SMs.
  int update_sms_ = 0;
  bool updates_pending_ = false;  // the main stream has not waited for the last update yet
  bool norm_queued_ = false;      // the backward queued the squared-gradient sums
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
