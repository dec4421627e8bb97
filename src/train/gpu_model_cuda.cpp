#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "platform/cuda_check.hpp"
#include "train/cpu_ops.hpp"
#include "train/gpu_model.hpp"

namespace sxb::gpu {

namespace {

void check_shape(const ModelConfig& cfg, int64_t T) {
  cfg.validate();
  const int64_t hd = cfg.head_dim();
  if (!attention_supports_head_dim(hd)) {
    throw usage_error(fmt::format(
        "{}: head_dim {} is not supported by the CUDA attention kernels (16, 32, 64 or 128)",
        cfg.name, hd));
  }
  if (cfg.hidden_size % 8 || cfg.kv_dim() % 8 || cfg.intermediate_size % 8 ||
      cfg.hidden_size > 8192) {
    throw usage_error(fmt::format(
        "{}: the CUDA engine needs hidden ({}), kv ({}) and intermediate ({}) sizes that are "
        "multiples of 8, hidden at most 8192",
        cfg.name, cfg.hidden_size, cfg.kv_dim(), cfg.intermediate_size));
  }
  if (T < 1) throw usage_error("sequence length must be at least 1");
}

}  // namespace

template <typename T>
T* LlamaGpu::buf(const std::string& name, int64_t i) const {
  auto it = bufs_.find(name);
  if (it == bufs_.end() || i >= int64_t(it->second.size())) {
    throw runtime_error(fmt::format("CUDA engine: no buffer {}[{}]", name, i));
  }
  return static_cast<T*>(it->second[size_t(i)]);
}

LlamaGpu::LlamaGpu(const ModelConfig& cfg, int64_t max_B, int64_t T, Recompute recompute,
                   GradStorage grads, cudaStream_t stream, const ZeroLayout& zero, int rank)
    : cfg_(cfg), max_B_(max_B), T_(T), recompute_(recompute), grads_(grads), stream_(stream) {
  check_shape(cfg_, T_);
  zero_stage_ = zero.applied_stage();
  world_ = zero.world;
  rank_ = rank;
  if (rank_ < 0 || rank_ >= world_) {
    throw usage_error(fmt::format("CUDA engine: rank {} outside a world of {}", rank_, world_));
  }
  // Tuning knob: how many cuBLASLt candidates are timed per product (1: heuristic's first).
  if (const auto n = environment_knob_int("SXB_GEMM_CANDIDATES")) gemm_.set_candidates(int(*n));
  if (const auto on = environment_knob_bool("SXB_OVERLAP_OPTIMIZER")) overlap_ = *on;
  if (const auto on = environment_knob_bool("SXB_NORM_IN_BACKWARD")) norm_in_backward_ = *on;
  if (const auto n = environment_knob_int("SXB_OPTIMIZER_SMS")) set_update_sms(*n);
  plan_ = plan_gpu_memory(cfg_, max_B_, T_, recompute_, grads_, gemm_.workspace_bytes(), zero);
  const int64_t P = cfg_.param_count();
  shard_elements_ = plan_.shard_elements;
  state_begin_ = zero_stage_ >= 1 ? std::min(P, int64_t(rank_) * shard_elements_) : 0;
  state_end_ = zero_stage_ >= 1 ? std::min(P, state_begin_ + shard_elements_) : P;
  layout_ = cpu::parameter_layout(cfg_);
  wte_ = layout_[0].offset;
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const cpu::ParamTensor* t = &layout_[size_t(1 + 9 * l)];
    // q, k, v and gate, up are consecutive in the layout: one matrix each.
    lp_.push_back({t[0].offset, t[1].offset, t[4].offset, t[5].offset, t[6].offset, t[8].offset});
  }
  final_norm_ = layout_[layout_.size() - 2].offset;
  lm_head_ = layout_.back().offset;
  // Parameter units (cpu::parameter_units: embedding, each layer, final norm with the head), in
  // layout order. Each gets its atomically summed tensors (the embedding's scattered rows, the
  // norm weights' column sums; summed in fp32 first with bf16 storage) and its part of the AdamW
  // chunk table: every tensor's elements inside this rank's state range, cut into pieces of at
  // most kAdamChunkElements.
  for (const ElementRange& r : cpu::parameter_units(cfg_)) {
    units_.push_back(Unit{r.begin, r.size(), 0, 0, {}});
  }
  std::vector<AdamChunk> chunks;
  int64_t summed = 0;
  size_t ui = 0;
  for (size_t i = 0; i < layout_.size(); ++i) {
    const auto& t = layout_[i];
    while (t.offset >= units_[ui].offset + units_[ui].size) ++ui;
    Unit& u = units_[ui];
    if (u.n_chunks == 0) u.first_chunk = int64_t(chunks.size());
    if (i == 0 || t.shape.size() == 1) {
      u.summed.push_back(t.offset);
      u.summed.push_back(t.size);
      sum_offsets_[t.offset] = summed;
      summed += t.size;
    }
    const int64_t lo = std::max(t.offset, state_begin_);
    const int64_t hi = std::min(t.offset + t.size, state_end_);
    for (int64_t o = lo; o < hi; o += kAdamChunkElements) {
      const int64_t n = std::min<int64_t>(kAdamChunkElements, hi - o);
      chunks.push_back({o, int32_t(n), t.weight_decay ? 1 : 0});
      ++u.n_chunks;
    }
  }
  if (summed != atomic_gradient_elements(cfg_)) {
    throw runtime_error("CUDA engine: summed-gradient segments differ from the memory plan");
  }
  n_chunks_ = int64_t(chunks.size());
  if (uint64_t(n_chunks_) * sizeof(AdamChunk) > plan_.find("adam.chunks")->bytes) {
    throw runtime_error("CUDA engine: AdamW chunk table exceeds its planned size");
  }

  // One allocation; the cuBLASLt workspace is the Gemm's own and is counted in the plan.
  uint64_t bytes = 0;
  for (const auto& b : plan_.buffers) {
    if (b.name != "cublaslt.workspace") bytes += aligned_bytes(b.bytes) * uint64_t(b.count);
  }
  cuda_check(cudaMalloc(&arena_, bytes),
             fmt::format("cudaMalloc of the training buffers ({:.2f} GiB: {})",
                         double(bytes) / double(1ull << 30), describe_gpu_memory(plan_)));
  uint64_t off = 0;
  for (const auto& b : plan_.buffers) {
    if (b.name == "cublaslt.workspace") continue;
    auto& v = bufs_[b.name];
    for (int64_t i = 0; i < b.count; ++i) {
      v.push_back(arena_ + off);
      off += aligned_bytes(b.bytes);
    }
  }

  // Rotary tables as the CPU reference computes them.
  const std::vector<double> inv = cpu::rope_inv_freq(cfg_);
  std::vector<float> cos_t(size_t(T_) * inv.size()), sin_t(cos_t.size());
  cpu::rope_tables(cos_t.data(), sin_t.data(), inv, T_);
  cuda_check(
      cudaMemcpy(buf<float>("rope.cos"), cos_t.data(), cos_t.size() * 4, cudaMemcpyHostToDevice),
      "copy rope tables");
  cuda_check(
      cudaMemcpy(buf<float>("rope.sin"), sin_t.data(), sin_t.size() * 4, cudaMemcpyHostToDevice),
      "copy rope tables");

  // The AdamW chunk table built above.
  cuda_check(cudaMemcpy(buf<AdamChunk>("adam.chunks"), chunks.data(),
                        chunks.size() * sizeof(AdamChunk), cudaMemcpyHostToDevice),
             "copy AdamW chunk table");
  auto clear = [&](const char* name) {
    cuda_check(cudaMemsetAsync(bufs_.at(name)[0], 0, plan_.find(name)->bytes, stream_),
               std::string("clear ") + name);
  };
  clear("adam.m");
  clear("adam.v");
  clear("param.lo");
  clear("param.bf16");  // at stage 1 also the padding past P
  if (grads_ == GradStorage::bf16) {
    clear("grad.bf16");
    clear("grad.fp32_sums");
  } else if (zero_stage_ >= 2) {
    clear("grad.shard");
  } else {
    clear("grad.fp32");
  }
  cuda_check(cudaMemsetAsync(buf<double>("scalars"), 0, 64, stream_), "clear scalars");

  // The optimizer stream yields to the main stream's pending blocks.
  int least = 0, greatest = 0;
  cuda_check(cudaDeviceGetStreamPriorityRange(&least, &greatest),
             "cudaDeviceGetStreamPriorityRange");
  cuda_check(cudaStreamCreateWithPriority(&opt_stream_, cudaStreamNonBlocking, least),
             "create the optimizer stream");
  auto make = [](cudaEvent_t& e, bool timed) {
    cuda_check(cudaEventCreateWithFlags(&e, timed ? cudaEventDefault : cudaEventDisableTiming),
               "cudaEventCreate");
  };
  grad_ready_.resize(units_.size());
  updated_.resize(units_.size());
  for (auto& e : grad_ready_) make(e, false);
  for (auto& e : updated_) make(e, false);
  make(main_mark_, false);
  make(norm_done_, false);
  for (int i = 0; i < 2; ++i) {
    make(opt_begin_[i], true);
    make(opt_end_[i], true);
    make(slot_free_[i], false);
    make(wfree_[i], false);
    make(wready_[i], false);
  }
  cuda_check(cudaHostAlloc(reinterpret_cast<void**>(&norm_host_), 2 * sizeof(double),
                           cudaHostAllocPortable),
             "cudaHostAlloc(gradient norm)");
  norm_host_[0] = norm_host_[1] = 0;
}

LlamaGpu::~LlamaGpu() {
  cudaStreamSynchronize(stream_);
  if (opt_stream_) cudaStreamSynchronize(opt_stream_);
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
  for (cudaEvent_t e : grad_ready_) cudaEventDestroy(e);
  for (cudaEvent_t e : updated_) cudaEventDestroy(e);
  for (cudaEvent_t e : {main_mark_, norm_done_, opt_begin_[0], opt_begin_[1], opt_end_[0],
                        opt_end_[1], slot_free_[0], slot_free_[1], wfree_[0], wfree_[1],
                        wready_[0], wready_[1]}) {
    if (e) cudaEventDestroy(e);
  }
  if (opt_stream_) cudaStreamDestroy(opt_stream_);
  cudaFreeHost(norm_host_);
  cudaFree(arena_);
}

void LlamaGpu::synchronize() const {
  cuda_check(cudaStreamSynchronize(opt_stream_), "optimizer stream");
  cuda_check(cudaStreamSynchronize(stream_), "training stream");
}

void LlamaGpu::set_overlap_optimizer(bool on) {
  if (!on && updates_pending_) {
    for (size_t u = 0; u < units_.size(); ++u) wait_update(u);
  }
  overlap_ = on;
}

void LlamaGpu::set_update_sms(int64_t n) {
  if (n < 0 || n >= sm_count()) {
    throw usage_error(fmt::format(
        "SXB_OPTIMIZER_SMS={} must be 0 (the whole GPU) or below the GPU's {} SMs", n,
        sm_count()));
  }
  update_sms_ = int(n);
}

void LlamaGpu::wait_update(size_t u) {
  if (!updates_pending_) return;
  cuda_check(cudaStreamWaitEvent(stream_, updated_[u], 0), "wait for a parameter update");
  if (u + 1 == units_.size()) updates_pending_ = false;
}

float* LlamaGpu::grad_at(int64_t off) const {
  if (zero_stage_ >= 2) return buf<float>("grad.unit", slot_) + (off - units_[cur_unit_].offset);
  return buf<float>("grad.fp32") + off;
}

const bf16* LlamaGpu::weights(size_t u) const {
  if (zero_stage_ < 3) return buf<bf16>("param.bf16");
  const size_t s = u % 2;
  if (resident_[s] != int64_t(u)) {
    throw runtime_error(fmt::format("CUDA engine: unit {} is not gathered", u));
  }
  // Flat offsets of unit u index its buffer from the unit's first element.
  return buf<bf16>("param.unit", int64_t(s)) - units_[u].offset;
}

void LlamaGpu::prefetch_unit(size_t u) {
  if (zero_stage_ < 3 || u >= units_.size()) return;
  const size_t s = u % 2;
  if (resident_[s] == int64_t(u)) return;
  if (!gather_unit_) throw runtime_error("CUDA engine: ZeRO stage 3 without a unit gather");
  // The buffer's previous unit: everything queued on the main stream so far is done with it.
  cuda_check(cudaEventRecord(wfree_[s], stream_), "cudaEventRecord");
  gather_unit_(buf<bf16>("param.unit", int64_t(s)), units_[u].offset, units_[u].size,
               buf<bf16>("param.bf16"), wfree_[s], updated_[u], wready_[s]);
  resident_[s] = int64_t(u);
}

void LlamaGpu::use_unit(size_t u) {
  if (zero_stage_ < 3) return;
  prefetch_unit(u);
  cuda_check(cudaStreamWaitEvent(stream_, wready_[u % 2], 0), "wait for a unit's weights");
}

void LlamaGpu::begin_unit(size_t u) {
  if (zero_stage_ < 2) return;
  slot_ ^= 1;
  cur_unit_ = u;
  if (slot_used_[slot_]) {
    cuda_check(cudaStreamWaitEvent(stream_, slot_free_[slot_], 0), "wait for a unit buffer");
  }
  clear_sums(u);
}

void LlamaGpu::clear_sums(size_t u) {
  const auto& seg = units_[u].summed;
  for (size_t i = 0; i < seg.size(); i += 2) {
    cuda_check(cudaMemsetAsync(sum_grad(seg[i]), 0, size_t(seg[i + 1]) * 4, stream_),
               "clear gradients");
  }
}

void LlamaGpu::unit_done(size_t u, bool last) {
  const Unit& unit = units_[u];
  if (grads_ == GradStorage::bf16) {
    Span t(*this, u == 0 ? "embedding" : "norm");
    bf16* Gb = buf<bf16>("grad.bf16");
    for (size_t i = 0; i < unit.summed.size(); i += 2) {
      cast(Gb + unit.summed[i], sum_grad(unit.summed[i]), unit.summed[i + 1], stream_);
    }
  }
  if (!last || !norm_in_backward_ || unit_ready_ || reduce_unit_) return;
  double* sumsq = buf<double>("scalars") + 1;
  cuda_check(cudaEventRecord(grad_ready_[u], stream_), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(opt_stream_, grad_ready_[u], 0), "cudaStreamWaitEvent");
  if (u + 1 == units_.size()) {  // the backward's first unit: a new sum
    cuda_check(cudaMemsetAsync(sumsq, 0, sizeof(double), opt_stream_), "reset norm");
  }
  if (grads_ == GradStorage::bf16) {
    sum_squares(sumsq, buf<bf16>("grad.bf16") + unit.offset, unit.size, opt_stream_);
  } else {
    sum_squares(sumsq, buf<float>("grad.fp32") + unit.offset, unit.size, opt_stream_);
  }
  norm_queued_ = u == 0;  // the embedding, the backward's last unit, completes the sum
}

cudaEvent_t LlamaGpu::next_event() {
  if (next_event_ == events_.size()) {
    cudaEvent_t e = nullptr;
    cuda_check(cudaEventCreate(&e), "cudaEventCreate");
    events_.push_back(e);
  }
  return events_[next_event_++];
}

LlamaGpu::Span::Span(LlamaGpu& m, const char* category, bool optimizer_stream)
    : m_(m), category_(category), stream_(optimizer_stream ? m.opt_stream_ : m.stream_) {
  if (!m_.profiling_) return;
  begin_ = m_.next_event();
  cudaEventRecord(begin_, stream_);
}

LlamaGpu::Span::~Span() {
  if (!begin_) return;
  cudaEvent_t end = m_.next_event();
  cudaEventRecord(end, stream_);
  m_.marks_.push_back({category_, {begin_, end}});
}

std::map<std::string, double> LlamaGpu::take_profile_ms() {
  synchronize();
  std::map<std::string, double> out;
  for (const auto& [cat, ev] : marks_) {
    float ms = 0;
    cudaEventElapsedTime(&ms, ev.first, ev.second);
    out[cat] += ms;
  }
  if (!marks_.empty()) {
    float total = 0;
    cudaEventElapsedTime(&total, marks_.front().second.first, marks_.back().second.second);
    out["total (first to last event)"] = total;
  }
  marks_.clear();
  next_event_ = 0;
  return out;
}

void LlamaGpu::init_weights(uint64_t seed) {
  bf16* w = buf<bf16>("param.bf16");
  uint16_t* lo = buf<uint16_t>("param.lo");
  for (const auto& t : layout_) {
    // Up to stage 2 every rank holds the whole working copy, the low halves only for its state
    // range; at stage 3 the working copy too.
    const bool sharded_w = zero_stage_ >= 3;
    const MasterLows lows{lo, t.offset - state_begin_,
                          std::clamp<int64_t>(state_begin_ - t.offset, 0, t.size),
                          std::clamp<int64_t>(state_end_ - t.offset, 0, t.size), sharded_w};
    bf16* wt = sharded_w ? w : w + t.offset;
    if (t.shape.size() == 1) {
      fill(wt, lows, t.size, 1.0f, stream_);
    } else {
      init_normal(wt, lows, t.size, seed, uint64_t(t.offset), 0.02, stream_);
    }
  }
  cuda_check(cudaStreamSynchronize(stream_), "weight initialisation");
}

void LlamaGpu::load_weights(const std::vector<float>& params) {
  const int64_t P = cfg_.param_count();
  if (int64_t(params.size()) != P) {
    throw usage_error(fmt::format("CUDA engine: {} weights given, the model has {}",
                                  params.size(), P));
  }
  // Split on the host into the working copy and the low halves (gpu_ops.hpp's
  // split_master_bits), then upload what this rank holds: up to stage 2 the whole working copy
  // and the low halves of its state range; at stage 3 both for its range only.
  std::vector<uint16_t> w(static_cast<size_t>(P)), lo(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &params[size_t(i)], 4);
    split_master_bits(bits, w[size_t(i)], lo[size_t(i)]);
  }
  const int64_t n_state = state_end_ - state_begin_;
  const int64_t w_begin = zero_stage_ >= 3 ? state_begin_ : 0;
  const int64_t w_count = zero_stage_ >= 3 ? n_state : P;
  synchronize();
  cuda_check(cudaMemcpy(buf<bf16>("param.bf16"), w.data() + w_begin, size_t(w_count) * 2,
                        cudaMemcpyHostToDevice),
             "upload weights");
  cuda_check(cudaMemcpy(buf<uint16_t>("param.lo"), lo.data() + state_begin_, size_t(n_state) * 2,
                        cudaMemcpyHostToDevice),
             "upload weights");
}

std::vector<float> LlamaGpu::download_params() const {
  if (zero_stage_ > 0) {
    throw usage_error("CUDA engine: the master weights are sharded (ZeRO stage 1)");
  }
  const size_t P = size_t(cfg_.param_count());
  std::vector<uint16_t> w(P), lo(P);
  synchronize();
  cuda_check(cudaMemcpy(w.data(), buf<bf16>("param.bf16"), P * 2, cudaMemcpyDeviceToHost),
             "download weights");
  cuda_check(cudaMemcpy(lo.data(), buf<uint16_t>("param.lo"), P * 2, cudaMemcpyDeviceToHost),
             "download weights");
  std::vector<float> out(P);
  for (size_t i = 0; i < P; ++i) {
    const uint32_t bits = join_master_bits(w[i], lo[i]);
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}
std::vector<float> LlamaGpu::download_grads() const {
  if (zero_stage_ >= 2) {
    throw usage_error("CUDA engine: the gradients are sharded (ZeRO stage 2)");
  }
  if (grads_ == GradStorage::fp32) {
    std::vector<float> out(size_t(cfg_.param_count()));
    synchronize();
    cuda_check(cudaMemcpy(out.data(), buf<float>("grad.fp32"), out.size() * 4,
                          cudaMemcpyDeviceToHost),
               "download gradients");
    return out;
  }
  std::vector<bf16> raw(size_t(cfg_.param_count()));
  synchronize();
  cuda_check(cudaMemcpy(raw.data(), buf<bf16>("grad.bf16"), raw.size() * 2, cudaMemcpyDeviceToHost),
             "download gradients");
  std::vector<float> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = __bfloat162float(raw[i]);
  return out;
}

void LlamaGpu::weight_grad(int64_t off, const bf16* dy, const bf16* x, int64_t N, int64_t C,
                           int64_t OC, bool acc) {
  Span t(*this, "gemm.backward_weight");
  if (grads_ == GradStorage::bf16) {
    gemm_.linear_backward_weight(buf<bf16>("grad.bf16") + off, dy, x, N, C, OC, stream_);
  } else {
    // Stage 2: every micro-batch writes its unit buffer afresh (the sum is in the shards).
    gemm_.linear_backward_weight(grad_at(off), dy, x, N, C, OC, acc && zero_stage_ < 2, stream_);
  }
}

float* LlamaGpu::sum_grad(int64_t off) const {
  if (grads_ == GradStorage::fp32) return grad_at(off);
  return buf<float>("grad.fp32_sums") + sum_offsets_.at(off);
}

AttentionShape LlamaGpu::attention_shape(int64_t B) const {
  AttentionShape s;
  s.B = B;
  s.T = T_;
  s.H = cfg_.num_heads;
  s.KV = cfg_.num_kv_heads;
  s.hd = cfg_.head_dim();
  s.window = cfg_.sliding_window.value_or(0);
  s.q_stride = s.kv_stride = cfg_.hidden_size + 2 * cfg_.kv_dim();  // rows of the fused qkv
  s.o_stride = cfg_.hidden_size;
  s.deterministic = attention_backward_deterministic();
  return s;
}

LlamaGpu::LayerActs LlamaGpu::acts(int64_t l) const {
  const int64_t i = recompute_ == Recompute::full ? 0 : l;
  LayerActs a{};
  a.rstd1 = buf<float>("layer.rstd1", i);
  a.qkv = buf<bf16>("layer.qkv", i);
  a.o = buf<bf16>("layer.o", i);
  a.lse = buf<float>("layer.lse", i);
  a.xm = buf<bf16>("layer.xm", i);
  a.rstd2 = buf<float>("layer.rstd2", i);
  a.gu = buf<bf16>("layer.gu", i);
  if (recompute_ == Recompute::none) {
    a.ln1 = buf<bf16>("layer.ln1", i);
    a.ln2 = buf<bf16>("layer.ln2", i);
    a.act = buf<bf16>("layer.act", i);
  } else {
    a.ln1 = a.ln2 = buf<bf16>("shared.ln");
    a.act = buf<bf16>("shared.act");
  }
  return a;
}

// resid[l] -> resid[l + 1] (written only when write_output: a recomputation needs the layer's
// activations, not its output again).
void LlamaGpu::layer_forward(int64_t l, int64_t B, bool write_output) {
  const int64_t N = B * T_, d = cfg_.hidden_size, kvd = cfg_.kv_dim();
  const int64_t F = cfg_.intermediate_size, H = cfg_.num_heads, KV = cfg_.num_kv_heads;
  const int64_t hd = cfg_.head_dim(), qkv_w = d + 2 * kvd;
  const float eps = float(cfg_.norm_eps);
  const bf16* W = weights(size_t(1 + l));
  const LayerParams& p = lp_[size_t(l)];
  const LayerActs a = acts(l);
  const bf16* x = buf<bf16>("resid", l);
  const float* cos_t = buf<float>("rope.cos");
  const float* sin_t = buf<float>("rope.sin");
  const AttentionShape s = attention_shape(B);
  {
    Span t(*this, "norm");
    rmsnorm_forward(a.ln1, a.rstd1, x, W + p.attn_norm, N, d, eps, stream_);
  }
  {
    Span t(*this, "gemm.forward");
    gemm_.linear_forward(a.qkv, a.ln1, W + p.wqkv, nullptr, N, d, qkv_w, stream_);
  }
  {
    Span t(*this, "rope");
    rope_forward(a.qkv, qkv_w, 0, cos_t, sin_t, N, T_, H + KV, hd, stream_);  // q and k heads
  }
  {
    Span t(*this, "attention.forward");
    attention_forward(a.o, a.lse, a.qkv, a.qkv + d, a.qkv + d + kvd, s, stream_);
  }
  {
    Span t(*this, "gemm.forward");
    gemm_.linear_forward(a.xm, a.o, W + p.wo, x, N, d, d, stream_);
  }
  {
    Span t(*this, "norm");
    rmsnorm_forward(a.ln2, a.rstd2, a.xm, W + p.mlp_norm, N, d, eps, stream_);
  }
  {
    Span t(*this, "gemm.forward");
    gemm_.linear_forward(a.gu, a.ln2, W + p.wgu, nullptr, N, d, 2 * F, stream_);
  }
  if (write_output || recompute_ != Recompute::selective) {
    Span t(*this, "swiglu");
    swiglu_forward(a.act, a.gu, N, F, stream_);
  }
  if (write_output) {
    Span t(*this, "gemm.forward");
    gemm_.linear_forward(buf<bf16>("resid", l + 1), a.act, W + p.wdown, a.xm, N, F, d, stream_);
  }
}

// bwd.dres holds d(resid[l + 1]) on entry and d(resid[l]) on exit.
void LlamaGpu::layer_backward(int64_t l, int64_t B, bool first) {
  const int64_t N = B * T_, d = cfg_.hidden_size, kvd = cfg_.kv_dim();
  const int64_t F = cfg_.intermediate_size, H = cfg_.num_heads, KV = cfg_.num_kv_heads;
  const int64_t hd = cfg_.head_dim(), qkv_w = d + 2 * kvd;
  const float eps = float(cfg_.norm_eps);
  const bf16* W = weights(size_t(1 + l));
  const LayerParams& p = lp_[size_t(l)];
  const bool acc = !first;
  if (recompute_ == Recompute::full) {
    Span t(*this, "recompute");
    const bool was = profiling_;
    profiling_ = false;  // the recomputed forward counts as one category
    layer_forward(l, B, false);
    profiling_ = was;
  }
  const LayerActs a = acts(l);
  const bf16* x = buf<bf16>("resid", l);
  bf16* dres = buf<bf16>("bwd.dres");
  bf16* dln = buf<bf16>("bwd.dln");
  bf16* dact = buf<bf16>("bwd.dact");
  bf16* dgu = buf<bf16>("bwd.dgu");
  bf16* dO = buf<bf16>("bwd.do");
  bf16* dqkv = buf<bf16>("bwd.dqkv");
  const float* cos_t = buf<float>("rope.cos");
  const float* sin_t = buf<float>("rope.sin");

  if (recompute_ == Recompute::selective) {
    // The normed MLP input and the SwiGLU output, rebuilt from the kept mid residual and gate|up.
    Span t(*this, "recompute");
    rmsnorm_forward(a.ln2, a.rstd2, a.xm, W + p.mlp_norm, N, d, eps, stream_);
    swiglu_forward(a.act, a.gu, N, F, stream_);
  }
  // MLP branch.
  {
    Span t(*this, "gemm.backward_input");
    gemm_.linear_backward_input(dact, dres, W + p.wdown, N, F, d, stream_);
  }
  weight_grad(p.wdown, dres, a.act, N, F, d, acc);
  {
    Span t(*this, "swiglu");
    swiglu_backward(dgu, dact, a.gu, N, F, stream_);
  }
  {
    Span t(*this, "gemm.backward_input");
    gemm_.linear_backward_input(dln, dgu, W + p.wgu, N, d, 2 * F, stream_);
  }
  weight_grad(p.wgu, dgu, a.ln2, N, d, 2 * F, acc);
  {
    Span t(*this, "norm");
    rmsnorm_backward(dres, sum_grad(p.mlp_norm), dln, a.xm, W + p.mlp_norm, a.rstd2, dres, N, d, stream_);
  }
  // Attention branch: dres is d(mid residual). Without per-layer normed inputs, ln1 shares its
  // buffer with ln2, which the MLP branch just used: rebuild it.
  if (recompute_ != Recompute::none) {
    Span t(*this, "recompute");
    rmsnorm_forward(a.ln1, a.rstd1, x, W + p.attn_norm, N, d, eps, stream_);
  }
  {
    Span t(*this, "gemm.backward_input");
    gemm_.linear_backward_input(dO, dres, W + p.wo, N, d, d, stream_);
  }
  weight_grad(p.wo, dres, a.o, N, d, d, acc);
  const AttentionShape s = attention_shape(B);
  float* dq_accum = buf<float>("bwd.dq_accum");
  {
    Span t(*this, "attention.backward");
    attention_backward(dq_accum, dqkv + d, dqkv + d + kvd, buf<float>("bwd.dsum"), dO, a.o, a.lse,
                       a.qkv, a.qkv + d, a.qkv + d + kvd, s, stream_);
  }
  {
    Span t(*this, "rope");
    rope_backward_f32(dqkv, qkv_w, 0, dq_accum, cos_t, sin_t, N, T_, H, hd, stream_);
    rope_backward(dqkv, qkv_w, d, cos_t, sin_t, N, T_, KV, hd, stream_);
  }
  {
    Span t(*this, "gemm.backward_input");
    gemm_.linear_backward_input(dln, dqkv, W + p.wqkv, N, d, qkv_w, stream_);
  }
  weight_grad(p.wqkv, dqkv, a.ln1, N, d, qkv_w, acc);
  {
    Span t(*this, "norm");
    rmsnorm_backward(dres, sum_grad(p.attn_norm), dln, x, W + p.attn_norm, a.rstd1, dres, N, d, stream_);
  }
}

void LlamaGpu::set_unit_ready(UnitReady f) {
  if (f && grads_ != GradStorage::fp32) {
    throw usage_error("CUDA engine: the gradient exchange needs fp32 gradient storage");
  }
  unit_ready_ = std::move(f);
}

namespace {
// Sum of the 32-bit words of n 16-bit values (n rounded up: the buffers are zeroed past their
// content, so an odd count adds a zero half).
uint64_t half_word_checksum(const void* data, int64_t n, uint64_t* scratch, cudaStream_t stream) {
  cuda_check(cudaMemsetAsync(scratch, 0, sizeof(uint64_t), stream), "reset checksum");
  word_sum(scratch, data, (n + 1) / 2, stream);
  uint64_t v = 0;
  cuda_check(cudaMemcpyAsync(&v, scratch, sizeof(v), cudaMemcpyDeviceToHost, stream),
             "read checksum");
  cuda_check(cudaStreamSynchronize(stream), "checksum");
  return v;
}
}  // namespace

uint64_t LlamaGpu::weights_checksum() {
  for (size_t u = 0; u < units_.size(); ++u) wait_update(u);
  return half_word_checksum(buf<bf16>("param.bf16"),
                            zero_stage_ >= 3 ? state_end_ - state_begin_ : cfg_.param_count(),
                            reinterpret_cast<uint64_t*>(buf<double>("scalars") + 4), stream_);
}

uint64_t LlamaGpu::master_low_checksum() {
  for (size_t u = 0; u < units_.size(); ++u) wait_update(u);
  return half_word_checksum(buf<uint16_t>("param.lo"), state_end_ - state_begin_,
                            reinterpret_cast<uint64_t*>(buf<double>("scalars") + 4), stream_);
}

void LlamaGpu::forward_backward(const int32_t* tokens, const int32_t* targets, int64_t B,
                                double dloss, bool first, bool last) {
  if (B < 1 || B > max_B_) {
    throw usage_error(fmt::format("micro-batch {} outside the allocated 1..{}", B, max_B_));
  }
  const int64_t N = B * T_, d = cfg_.hidden_size, V = cfg_.vocab_size;
  const float eps = float(cfg_.norm_eps);
  int32_t* dtok = buf<int32_t>("tokens");
  int32_t* dtgt = buf<int32_t>("targets");
  cuda_check(cudaMemcpyAsync(dtok, tokens, size_t(N) * 4, cudaMemcpyHostToDevice, stream_),
             "copy tokens");
  cuda_check(cudaMemcpyAsync(dtgt, targets, size_t(N) * 4, cudaMemcpyHostToDevice, stream_),
             "copy targets");
  if (!first && grads_ == GradStorage::bf16) {
    throw usage_error("CUDA engine: bf16 gradients cannot accumulate over micro-batches");
  }
  const size_t head_unit = units_.size() - 1;
  // Each unit waits for its update of the previous optimizer step just before its first use.
  // Everything the backward writes (gradients, summed tensors) comes after the last wait, so
  // the previous update has read them by then. ZeRO-3: each unit's weights are gathered first,
  // the next unit's while this one computes.
  // With an SM partition the products beside the update leave it its SMs until the last unit's
  // update is waited for.
  if (overlap_ && updates_pending_ && update_sms_ > 0) gemm_.set_sm_target(sm_count() - update_sms_);
  wait_update(0);
  use_unit(0);
  prefetch_unit(1);
  {
    Span t(*this, "embedding");
    embedding_forward(buf<bf16>("resid", 0), dtok, weights(0) + wte_, N, d, stream_);
  }
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    Span layer(*this, "layers.forward");  // each decoder layer, waits for its weights included
    wait_update(size_t(1 + l));
    use_unit(size_t(1 + l));
    prefetch_unit(size_t(2 + l));
    layer_forward(l, B, true);
  }
  wait_update(head_unit);
  gemm_.set_sm_target(0);
  use_unit(head_unit);
  const bf16* W = weights(head_unit);
  bf16* x_last = buf<bf16>("resid", cfg_.num_layers);
  bf16* lnf = buf<bf16>("final.ln");
  float* rstdf = buf<float>("final.rstd");
  bf16* logits = buf<bf16>("logits");
  if (first && zero_stage_ < 2) {  // stage 2 clears each unit buffer as its backward starts
    for (size_t u = 0; u < units_.size(); ++u) clear_sums(u);
  }
  {
    Span t(*this, "norm");
    rmsnorm_forward(lnf, rstdf, x_last, W + final_norm_, N, d, eps, stream_);
  }
  {
    Span t(*this, "gemm.forward");
    gemm_.linear_forward(logits, lnf, W + lm_head_, nullptr, N, d, V, stream_);
  }
  {
    Span t(*this, "loss");
    cross_entropy_fused(logits, buf<double>("scalars"), dtgt, N, V, float(dloss), stream_);
  }

  // Backward: the logits buffer now holds d(objective)/d(logits).
  const bool acc = !first;
  begin_unit(head_unit);
  bf16* dln = buf<bf16>("bwd.dln");
  bf16* dres = buf<bf16>("bwd.dres");
  {
    Span t(*this, "gemm.backward_input");
    gemm_.linear_backward_input(dln, logits, W + lm_head_, N, d, V, stream_);
  }
  weight_grad(lm_head_, logits, lnf, N, d, V, acc);
  {
    Span t(*this, "norm");
    rmsnorm_backward(dres, sum_grad(final_norm_), dln, x_last, W + final_norm_, rstdf, nullptr, N, d,
                     stream_);
  }
  const bool exchange = last && unit_ready_;
  norm_queued_ = false;
  auto done = [&](size_t u) {
    unit_done(u, last);
    if (exchange) unit_ready_(buf<float>("grad.fp32") + units_[u].offset, units_[u].size);
    if (reduce_unit_) {
      reduce_unit_(buf<float>("grad.unit", slot_), units_[u].offset, units_[u].size, !first,
                   buf<float>("grad.shard"), slot_free_[slot_]);
      slot_used_[slot_] = true;
    }
  };
  done(head_unit);
  for (int64_t l = cfg_.num_layers - 1; l >= 0; --l) {
    Span layer(*this, "layers.backward");
    begin_unit(size_t(1 + l));
    use_unit(size_t(1 + l));  // the last two units are still resident from the forward
    if (l >= 1) prefetch_unit(size_t(l));
    layer_backward(l, B, first);
    done(size_t(1 + l));
  }
  begin_unit(0);
  {
    Span t(*this, "embedding");
    embedding_backward(sum_grad(wte_), dres, dtok, N, d, stream_);
  }
  done(0);
}

double LlamaGpu::take_loss_sum() {
  double* scalars = buf<double>("scalars");
  double v = 0;
  cuda_check(cudaMemcpyAsync(&v, scalars, sizeof(double), cudaMemcpyDeviceToHost, stream_),
             "read loss");
  cuda_check(cudaMemsetAsync(scalars, 0, sizeof(double), stream_), "reset loss");
  cuda_check(cudaStreamSynchronize(stream_), "training step");
  return v;
}

// scalars: [0] loss sum, [1] sum of squared gradients, [2] gradient norm, [3] clip coefficient
// (float in the first half of the slot).
void LlamaGpu::optimizer_step(const AdamWParams& ap, int64_t t, double max_norm) {
  // Everything queued on the main stream so far (the backward, the exchange's completion)
  // comes before the update.
  cuda_check(cudaEventRecord(main_mark_, stream_), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(opt_stream_, main_mark_, 0), "cudaStreamWaitEvent");
  const int slot = int(t & 1);
  opt_step_[slot] = t;
  cuda_check(cudaEventRecord(opt_begin_[slot], opt_stream_), "cudaEventRecord");
  Span span(*this, "optimizer", true);
  double* scalars = buf<double>("scalars");
  const int64_t P = cfg_.param_count();
  if (zero_stage_ >= 2) {
    // Each rank sums its shard of the reduced gradients; the ranks' sums are added on the host.
    cuda_check(cudaMemsetAsync(scalars + 1, 0, sizeof(double), opt_stream_), "reset norm");
    sum_squares(scalars + 1, buf<float>("grad.shard"), state_end_ - state_begin_, opt_stream_);
    cuda_check(cudaMemcpyAsync(&norm_host_[1], scalars + 1, sizeof(double),
                               cudaMemcpyDeviceToHost, opt_stream_),
               "read the norm's partial sum");
    cuda_check(cudaStreamSynchronize(opt_stream_), "norm's partial sum");
    if (!sum_over_ranks_) throw runtime_error("CUDA engine: ZeRO stage 2 without a rank sum");
    norm_host_[1] = sum_over_ranks_(norm_host_[1]);
    cuda_check(cudaMemcpyAsync(scalars + 1, &norm_host_[1], sizeof(double),
                               cudaMemcpyHostToDevice, opt_stream_),
               "write the norm's sum");
  } else if (!norm_queued_) {
    cuda_check(cudaMemsetAsync(scalars + 1, 0, sizeof(double), opt_stream_), "reset norm");
    if (grads_ == GradStorage::bf16) {
      sum_squares(scalars + 1, buf<bf16>("grad.bf16"), P, opt_stream_);
    } else {
      sum_squares(scalars + 1, buf<float>("grad.fp32"), P, opt_stream_);
    }
  }
  norm_queued_ = false;
  float* clip = reinterpret_cast<float*>(scalars + 3);
  clip_coefficient(clip, scalars + 2, scalars + 1, max_norm, opt_stream_);
  cuda_check(cudaMemcpyAsync(norm_host_, scalars + 2, sizeof(double), cudaMemcpyDeviceToHost,
                             opt_stream_),
             "read gradient norm");
  cuda_check(cudaEventRecord(norm_done_, opt_stream_), "cudaEventRecord");
  AdamHyper h{};
  h.lr = float(ap.lr);
  h.beta1 = float(ap.beta1);
  h.beta2 = float(ap.beta2);
  h.eps = float(ap.eps);
  h.weight_decay = float(ap.weight_decay);
  h.step_size = float(ap.lr / (1.0 - std::pow(ap.beta1, double(t))));
  h.inv_sqrt_bc2 = float(1.0 / std::sqrt(1.0 - std::pow(ap.beta2, double(t))));
  h.decoupled = ap.decoupled_weight_decay ? 1 : 0;
  // One launch per unit in forward order, each followed by the event its next forward waits on;
  // on update_sms_ SMs where it overlaps the next forward with a partition.
  const AdamChunk* table = buf<AdamChunk>("adam.chunks");
  const int max_blocks = overlap_ ? update_sms_ : 0;
  for (size_t u = 0; u < units_.size(); ++u) {
    const Unit& unit = units_[u];
    auto step = [&](const auto* g) {
      adamw_step(buf<bf16>("param.bf16"), buf<uint16_t>("param.lo"), buf<float>("adam.m"),
                 buf<float>("adam.v"), g, clip, table + unit.first_chunk, unit.n_chunks, h,
                 opt_stream_, state_begin_, 0, 0, max_blocks);
    };
    if (grads_ == GradStorage::bf16) {
      step(buf<bf16>("grad.bf16"));
    } else if (zero_stage_ >= 2) {
      adamw_step(buf<bf16>("param.bf16"), buf<uint16_t>("param.lo"), buf<float>("adam.m"),
                 buf<float>("adam.v"), buf<float>("grad.shard"), clip, table + unit.first_chunk,
                 unit.n_chunks, h, opt_stream_, state_begin_, state_begin_,
                 zero_stage_ >= 3 ? state_begin_ : 0, max_blocks);
    } else {
      step(buf<float>("grad.fp32"));
    }
    if (zero_stage_ == 0 || zero_stage_ == 3) {  // per unit: no weight gather after the step
      cuda_check(cudaEventRecord(updated_[u], opt_stream_), "cudaEventRecord");
    }
  }
  if (zero_stage_ == 1 || zero_stage_ == 2) {
    // Every unit waits for the whole gather: each rank's shard spans many units.
    if (!gather_) throw runtime_error("CUDA engine: ZeRO stage 1 without a weight gather");
    gather_(buf<bf16>("param.bf16"), shard_elements_, opt_stream_);
    for (size_t u = 0; u < units_.size(); ++u) {
      cuda_check(cudaEventRecord(updated_[u], opt_stream_), "cudaEventRecord");
    }
  }
  cuda_check(cudaEventRecord(opt_end_[slot], opt_stream_), "cudaEventRecord");
  updates_pending_ = true;
  // ZeRO-3: the gathered units hold the weights before this update; the next forward gathers
  // every unit again.
  resident_[0] = resident_[1] = -1;
  if (!overlap_) {
    for (size_t u = 0; u < units_.size(); ++u) wait_update(u);
  }
}

double LlamaGpu::last_grad_norm() {
  cuda_check(cudaEventSynchronize(norm_done_), "gradient norm");
  return *norm_host_;
}

double LlamaGpu::optimizer_ms(int64_t t) {
  const int slot = int(t & 1);
  if (opt_step_[slot] != t) {
    throw runtime_error(fmt::format("CUDA engine: optimizer step {} is no longer timed", t));
  }
  cuda_check(cudaEventSynchronize(opt_end_[slot]), "optimizer step");
  float ms = 0;
  cuda_check(cudaEventElapsedTime(&ms, opt_begin_[slot], opt_end_[slot]), "cudaEventElapsedTime");
  return ms;
}

}  // namespace sxb::gpu
