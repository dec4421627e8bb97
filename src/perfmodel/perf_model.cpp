#include "perfmodel/perf_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "bench/gemm_shapes.hpp"
#include "model/flops.hpp"
#include "perfmodel/gpu_memory.hpp"

namespace sxb {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// --- Efficiencies that stand in for a measurement of the node (each listed with a prediction
// that uses it) ---------------------------------------------------------------------------------
// bf16 products at a model's shapes without a compute.json: bench/RESULTS.md (2026-11-25,
// nvidia-h200, `sxbench compute`): the Llama-2-7B forward products ran at 657-721 TFLOP/s and the
// 70B ones at 677-749, 66-76 % of the 989.4 TFLOP/s datasheet figure; 70 % is their middle.
constexpr double kGemmDatasheetEfficiency = 0.70;
// HBM copy without a compute.json: bench/RESULTS.md (2026-11-25): the copy kernel moved 4159.9
// GB/s (read + write counted) of the 4800 GB/s datasheet figure.
constexpr double kHbmCopyDatasheetEfficiency = 4159.9 / 4800.0;
// The engine's attention kernels, measured alone at Llama-2-7B's shape (B 1, 32 heads, T 4096,
// head_dim 128; GPU test, median of 15; bench/RESULTS.md, 2026-12-01, third measurement): forward
// 0.585 ms = 234.9 TFLOP/s, backward 1.742 ms = 197.2 TFLOP/s, causal work counted; as fractions
// of the 989.4 TFLOP/s dense bf16 datasheet figure.
constexpr double kAttentionForwardEfficiency = 234.9 / 989.4;
constexpr double kAttentionBackwardEfficiency = 197.2 / 989.4;
// Flash attention's backward runs five T x T products per block against the forward's two, with
// the same sizes: 2.5 x the forward FLOPs (Dao, FlashAttention-2, 2023, section 3.1; the
// engine's backward of gpu_attention.cu is this algorithm).
constexpr double kAttentionBackwardFactor = 2.5;

// --- Bytes each pass moves (what the engine's kernels read and write, train/gpu_ops.hpp) -------
// bf16 activations: 2 bytes per element. Per token, with d hidden, kv the width of k (and v), F
// the SwiGLU width, V the vocabulary:
//   RMSNorm forward    read x, write y                            4 d
//   RMSNorm backward   read dy, x and the residual gradient, write dx  8 d
//   RoPE               q and k in place, read + write, each way   4 (d + kv)
//   SwiGLU forward     read gate|up, write the product            6 F
//   SwiGLU backward    read dact and gate|up, write dgate|dup     10 F
//   embedding          forward read row + write 4 d; backward read dout (2 d) and add into the
//                      fp32 gradient (read + write 8 d)           14 d
//   loss (fused)       read the logits, write their gradient      4 V
constexpr double kNormForwardBytesPerD = 4, kNormBackwardBytesPerD = 8;
constexpr double kRopeBytesPerWidth = 4;
constexpr double kSwigluForwardBytesPerF = 6, kSwigluBackwardBytesPerF = 10;
constexpr double kEmbeddingBytesPerD = 14;
constexpr double kLossBytesPerV = 4;
// AdamW on the split master (bf16 working copy + low 16 bits, train/gpu_ops.hpp): reads the
// weight (2), its low half (2), m (4), v (4) and the gradient, writes weight, low half, m and v
// (12): 24 + the gradient's bytes; the gradient norm reads the gradient once more.
constexpr double kAdamBytesPerParamWithoutGradient = 24;

ModelConfig config_of(const ModelShape& m) {
  ModelConfig c;
  c.name = m.name;
  c.hidden_size = m.hidden;
  c.num_layers = m.layers;
  c.num_heads = m.heads;
  c.num_kv_heads = m.kv_heads;
  c.intermediate_size = m.ffn;
  c.vocab_size = m.vocab;
  return c;
}

// bf16 gradients when one GPU writes each gradient once (the engine's auto: no accumulation);
// fp32 otherwise (accumulation, or a reduction over ranks).
GradStorage grad_storage(const TrainSetup& t, const Cluster& c) {
  return c.world() == 1 && t.grad_accum <= 1 ? GradStorage::bf16 : GradStorage::fp32;
}

double hbm_gb_per_s(const Cluster& c) {
  return c.ceilings.hbm_copy_gb_per_s ? *c.ceilings.hbm_copy_gb_per_s
                                      : c.hbm_gb_per_s * kHbmCopyDatasheetEfficiency;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The rate a product runs at, in this order: measured at its shape in its pass; a backward
// product at its layer's forward rate (same FLOPs; `sxbench compute` measures the backward shapes
// only with --backward); measured at its shape in another pass (a square product of the same
// size); the median of the measured model-shape products, else of the square ones; the datasheet
// at kGemmDatasheetEfficiency.
struct GemmRates {
  const Cluster& c;
  double model_shape_median = 0, square_median = 0;
  int same_pass = 0, forward_stand_in = 0, other_pass = 0, median_stand_in = 0, datasheet = 0;

  explicit GemmRates(const Cluster& cl) : c(cl) {
    std::vector<double> model, square;
    for (const auto& g : c.ceilings.gemm) {
      if (!(g.tflop_per_s > 0)) continue;
      (g.phase == "-" ? square : model).push_back(g.tflop_per_s);
    }
    model_shape_median = median(model);
    square_median = median(square);
  }
  std::optional<double> measured(const GemmShape& s, bool any_pass) const {
    for (const auto& g : c.ceilings.gemm) {
      if (g.m == s.m && g.n == s.n && g.k == s.k && (any_pass || g.phase == s.phase) &&
          g.tflop_per_s > 0) {
        return g.tflop_per_s;
      }
    }
    return std::nullopt;
  }
  double rate(const GemmShape& s, const GemmShape& forward) {
    if (auto r = measured(s, false)) {
      ++same_pass;
      return *r;
    }
    if (auto r = measured(forward, false)) {
      ++forward_stand_in;
      return *r;
    }
    if (auto r = measured(s, true)) {
      ++other_pass;
      return *r;
    }
    if (model_shape_median > 0 || square_median > 0) {
      ++median_stand_in;
      return model_shape_median > 0 ? model_shape_median : square_median;
    }
    ++datasheet;
    return c.peak_bf16_tflops * kGemmDatasheetEfficiency;
  }
  std::string describe() const {
    std::vector<std::string> parts;
    if (same_pass) parts.push_back(fmt::format("{} at their own measured shape", same_pass));
    if (forward_stand_in) {
      parts.push_back(
          fmt::format("{} backward at their layer's measured forward rate", forward_stand_in));
    }
    if (other_pass) {
      parts.push_back(fmt::format("{} at their shape measured as a square product", other_pass));
    }
    if (median_stand_in) {
      parts.push_back(fmt::format(
          "{} at the median measured {} rate {:.1f} TFLOP/s", median_stand_in,
          model_shape_median > 0 ? "model-shape" : "square",
          model_shape_median > 0 ? model_shape_median : square_median));
    }
    if (datasheet) {
      parts.push_back(fmt::format("{} at {:.0f} % of the {:g} TFLOP/s datasheet figure", datasheet,
                                  100 * kGemmDatasheetEfficiency, c.peak_bf16_tflops));
    }
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
  }
};

}  // namespace

NodeCeilings node_ceilings(const ComputeReport& r, int device) {
  NodeCeilings out;
  int chosen = device;
  if (chosen < 0) {
    for (const auto& g : r.gemm) {
      if (g.dtype == "bf16") {
        chosen = g.device;
        break;
      }
    }
    if (chosen < 0) {
      for (const auto& b : r.bandwidth) {
        if (b.test == "hbm") {
          chosen = b.src_device;
          break;
        }
      }
    }
  }
  for (const auto& g : r.gemm) {
    if (g.dtype != "bf16" || g.device != chosen || !(g.tflop_per_s > 0)) continue;
    out.gemm.push_back({g.m, g.n, g.k, g.phase, g.tflop_per_s});
  }
  for (const auto& b : r.bandwidth) {
    if (b.test != "hbm" || b.variant != "copy" || b.src_device != chosen || !(b.gb_per_s > 0)) {
      continue;
    }
    if (!out.hbm_copy_gb_per_s || b.gb_per_s > *out.hbm_copy_gb_per_s) out.hbm_copy_gb_per_s = b.gb_per_s;
  }
  return out;
}

MemoryPlan plan_memory(const ModelShape& m, const TrainSetup& t, const Cluster& c) {
  MemoryPlan p;
  ZeroLayout zero;
  zero.stage = t.zero_stage;
  zero.world = std::max(1, c.world());
  const GpuMemoryPlan plan = plan_gpu_memory(config_of(m), t.micro_batch, t.seq_len, t.recompute,
                                             grad_storage(t, c), kCublasLtWorkspaceBytes, zero);
  // The capacity is a datasheet total: the CUDA context is counted on top of the engine's
  // reserve (memory_reserve).
  const MemoryVerdict v = judge_gpu_memory(
      plan, GpuCapacity{static_cast<uint64_t>(c.gpu_memory_bytes), CapacityKind::device_total,
                        "datasheet"});
  const auto cats = plan.bytes_by_category();
  auto cat = [&](const char* name) {
    auto it = cats.find(name);
    return it == cats.end() ? 0.0 : static_cast<double>(it->second);
  };
  const GpuBuffer* logits = plan.find("logits");
  p.logits_bytes = logits ? static_cast<double>(aligned_bytes(logits->bytes)) : 0;
  p.weights_bytes = cat("weights");
  p.gradients_bytes = cat("gradients");
  p.optimizer_bytes = cat("master") + cat("optimizer");
  p.activations_bytes = cat("activations") - p.logits_bytes;
  p.buffers_bytes = cat("scratch") + cat("workspace") + cat("buffers") +
                    static_cast<double>(v.reserve_bytes);
  p.total_bytes = static_cast<double>(v.needed_bytes);
  p.capacity_bytes = c.gpu_memory_bytes;
  p.fits = v.fits;
  struct Term {
    const char* name;
    double bytes;
  };
  const Term terms[] = {{"weights", p.weights_bytes},
                        {"gradients", p.gradients_bytes},
                        {"optimizer state", p.optimizer_bytes},
                        {"activations", p.activations_bytes},
                        {"logits", p.logits_bytes},
                        {"buffers", p.buffers_bytes}};
  const Term* big =
      std::max_element(std::begin(terms), std::end(terms),
                       [](const Term& a, const Term& b) { return a.bytes < b.bytes; });
  if (p.fits) {
    p.verdict = fmt::format("fits: {:.1f} of {:.1f} GiB ({:.1f} GiB free)", p.total_bytes / kGiB,
                            p.capacity_bytes / kGiB, (p.capacity_bytes - p.total_bytes) / kGiB);
  } else {
    p.verdict = fmt::format(
        "does not fit: {:.1f} GiB needed, {:.1f} GiB per GPU; largest term {} "
        "{:.1f} GiB",
        p.total_bytes / kGiB, p.capacity_bytes / kGiB, big->name, big->bytes / kGiB);
  }
  return p;
}

std::optional<Recompute> choose_recompute(const ModelShape& m, TrainSetup t, const Cluster& c) {
  for (Recompute r : {Recompute::none, Recompute::selective, Recompute::full}) {
    t.recompute = r;
    if (plan_memory(m, t, c).fits) return r;
  }
  return std::nullopt;
}

Assumption default_intra_node_busbw(double nvlink_per_direction_gb_per_s) {
  return {"intra_node_allreduce_busbw", 0.75 * nvlink_per_direction_gb_per_s, "GB/s",
          "75% of the datasheet NVLink rate per direction (large-message NCCL all_reduce on "
          "NVLink4 systems reaches 70-80%); replaced by a measured nccl.json when present"};
}

Assumption default_inter_node_busbw(double nic_gb_per_s_per_port, double ports_per_node) {
  return {"inter_node_allreduce_busbw", 0.9 * nic_gb_per_s_per_port * ports_per_node, "GB/s",
          fmt::format("90% of the node's NIC line rate ({:g} ports x {:g} GB/s per direction; a "
                      "ring all_reduce across nodes is bounded by it); replaced by a measured "
                      "multi-node nccl.json when present",
                      ports_per_node, nic_gb_per_s_per_port)};
}

namespace {

// The uncalibrated compute categories of one micro-step, scaled to the step's micro-steps.
void predict_compute(const ModelShape& m, const TrainSetup& t, const Cluster& c,
                     StepPrediction& s) {
  const ModelConfig cfg = config_of(m);
  const double A = static_cast<double>(std::max<int64_t>(1, t.grad_accum));
  const int64_t tokens = t.micro_batch * t.seq_len;
  const double N = static_cast<double>(tokens);
  const double L = static_cast<double>(m.layers), d = static_cast<double>(m.hidden);
  const double kv = static_cast<double>(m.kv_dim()), F = static_cast<double>(m.ffn);
  const double V = static_cast<double>(m.vocab), T = static_cast<double>(t.seq_len);
  const bool full = t.recompute == Recompute::full;
  const bool selective = t.recompute == Recompute::selective;

  // Matrix products: every linear layer's three products, the decoder layers L times; full
  // recomputation repeats each layer's forward up to the SwiGLU output (model/recompute.hpp):
  // qkv, attn_out and mlp_up_gate, not mlp_down.
  GemmRates rates(c);
  const std::vector<GemmShape> shapes = llama_training_shapes(m.name, cfg, tokens, true);
  std::map<std::string, GemmShape> forward;
  for (const auto& g : shapes) {
    if (g.phase == "fwd") forward[g.name] = g;
  }
  double flops = 0;
  for (const auto& g : shapes) {
    const double count = g.name == "lm_head" ? 1 : L;
    const double f = count * gemm_flop(g.m, g.n, g.k);
    const double sec = f / (rates.rate(g, forward[g.name]) * 1e12);
    flops += f;
    if (g.phase == "fwd") {
      s.matmul_forward_s += sec;
      if (full && g.name != "lm_head" && g.name != "mlp_down") {
        s.matmul_recompute_s += sec;
        flops += f;
      }
    } else if (g.phase == "dgrad") {
      s.matmul_backward_input_s += sec;
    } else {
      s.matmul_backward_weight_s += sec;
    }
  }
  s.matmul_flops_per_token = flops / N;

  // Attention: causal FLOPs, forward 4 B H T^2 hd / 2 = 2 d T per token and layer.
  const double fwd_attention = 2.0 * d * T * N * L;  // per micro-step
  const double bwd_attention = kAttentionBackwardFactor * fwd_attention;
  const double peak = c.peak_bf16_tflops * 1e12;
  const double recomputed_attention = full ? fwd_attention : 0;
  s.attention_s = (fwd_attention + recomputed_attention) / (kAttentionForwardEfficiency * peak) +
                  bwd_attention / (kAttentionBackwardEfficiency * peak);
  s.attention_flops_per_token = (fwd_attention + recomputed_attention + bwd_attention) / N;

  // Elementwise passes at the HBM copy rate.
  const double layer_forward = 2 * kNormForwardBytesPerD * d + kRopeBytesPerWidth * (d + kv) +
                               kSwigluForwardBytesPerF * F;
  const double layer_backward = 2 * kNormBackwardBytesPerD * d + kRopeBytesPerWidth * (d + kv) +
                                kSwigluBackwardBytesPerF * F;
  const double layer_rebuilt = full ? layer_forward
                               : selective
                                   ? 2 * kNormForwardBytesPerD * d + kSwigluForwardBytesPerF * F
                                   : 0;
  const double once = kEmbeddingBytesPerD * d + (kNormForwardBytesPerD + kNormBackwardBytesPerD) * d +
                      kLossBytesPerV * V;
  const double bytes = N * (L * (layer_forward + layer_backward + layer_rebuilt) + once);
  s.elementwise_s = bytes / (hbm_gb_per_s(c) * 1e9);

  s.matmul_forward_s *= A;
  s.matmul_backward_input_s *= A;
  s.matmul_backward_weight_s *= A;
  s.matmul_recompute_s *= A;
  s.attention_s *= A;
  s.elementwise_s *= A;
  const double matmul_s = s.matmul_forward_s + s.matmul_backward_input_s +
                          s.matmul_backward_weight_s + s.matmul_recompute_s;
  s.compute_s = matmul_s + s.attention_s + s.elementwise_s;

  const std::string ceiling_source = !c.ceilings.source.empty() ? c.ceilings.source
                                     : c.ceilings.gemm.empty() && !c.ceilings.hbm_copy_gb_per_s
                                         ? std::string("datasheet")
                                         : std::string("measured ceilings");
  s.categories.push_back(
      {"matrix products", matmul_s,
       fmt::format("bf16 products at the model's shapes ({}; {}): forward {:.1f} ms, backward "
                   "input {:.1f}, backward weight {:.1f}{}",
                   rates.describe(), ceiling_source, 1e3 * s.matmul_forward_s,
                   1e3 * s.matmul_backward_input_s, 1e3 * s.matmul_backward_weight_s,
                   full ? fmt::format(", recomputed forward {:.1f}", 1e3 * s.matmul_recompute_s)
                        : std::string())});
  s.categories.push_back(
      {"attention", s.attention_s,
       fmt::format("causal FLOPs (forward 2 d T per token and layer{}, backward {:g}x) at {:.1f} "
                   "% (forward) and {:.1f} % (backward) of the {:g} TFLOP/s datasheet figure",
                   full ? ", twice with recomputation" : "", kAttentionBackwardFactor,
                   100 * kAttentionForwardEfficiency, 100 * kAttentionBackwardEfficiency,
                   c.peak_bf16_tflops)});
  s.categories.push_back(
      {"elementwise", s.elementwise_s,
       fmt::format("RMSNorm, RoPE, SwiGLU, embedding and loss: {:.2f} GB per step at {:.0f} GB/s "
                   "HBM copy ({})",
                   A * bytes / 1e9, hbm_gb_per_s(c),
                   c.ceilings.hbm_copy_gb_per_s ? ceiling_source : std::string("datasheet"))});
  s.assumptions.push_back({"attention_forward_efficiency", kAttentionForwardEfficiency,
                           "fraction of dense bf16 peak",
                           "bench/RESULTS.md (2026-12-01): the engine's attention forward alone "
                           "at Llama-2-7B's shape, 234.9 TFLOP/s causal"});
  s.assumptions.push_back({"attention_backward_efficiency", kAttentionBackwardEfficiency,
                           "fraction of dense bf16 peak",
                           "bench/RESULTS.md (2026-12-01): the engine's attention backward alone "
                           "at Llama-2-7B's shape, 197.2 TFLOP/s causal"});
  if (rates.datasheet > 0) {
    s.assumptions.push_back({"gemm_datasheet_efficiency", kGemmDatasheetEfficiency,
                             "fraction of dense bf16 peak",
                             "no compute.json: bench/RESULTS.md (2026-11-25) measured model-shape "
                             "bf16 products at 66-76 % of the datasheet figure"});
  }
}

}  // namespace

StepPrediction predict_step(const ModelShape& m, const TrainSetup& t, const Cluster& c,
                            const Calibration& cal) {
  StepPrediction s;
  s.memory = plan_memory(m, t, c);
  const double world = c.world();
  s.flops_per_token = palm_flops_per_token(m, t.seq_len);
  // Recomputation repeats forward work (model/flops.hpp): none for selective, whose rebuilt
  // tensors are elementwise; each layer's forward up to the SwiGLU output for full.
  s.executed_flops_per_token =
      s.flops_per_token + recompute_flops_per_token(m, t.recompute, t.seq_len);
  const double tokens_per_gpu = static_cast<double>(t.micro_batch * t.grad_accum * t.seq_len);
  s.tokens_per_step = tokens_per_gpu * world;

  if (cal.achieved_tflops_per_gpu) {
    // Calibrated: executed FLOPs at the measured run's achieved rate.
    s.compute_s = tokens_per_gpu * s.executed_flops_per_token / (*cal.achieved_tflops_per_gpu * 1e12);
    s.categories.push_back({"compute (calibrated)", s.compute_s,
                            fmt::format("executed FLOPs at {:.1f} TFLOP/s: {}",
                                        *cal.achieved_tflops_per_gpu, cal.achieved_source)});
  } else {
    predict_compute(m, t, c, s);
  }

  // Gradient traffic in bf16 (2 bytes per parameter): all_reduce volume for stages 0-2
  // (reduce_scatter + all_gather have the same volume), 1.5x for stage 3 (parameters gathered
  // in forward and backward, gradients reduce-scattered). t = bytes x factor / busbw.
  if (world > 1) {
    const double grad_bytes = 2.0 * static_cast<double>(m.params);
    const bool multi_node = c.nodes > 1;
    const double busbw = multi_node ? c.inter_node_busbw_gb_per_s : c.intra_node_busbw_gb_per_s;
    const double ring = 2.0 * (world - 1) / world;
    const double volume = t.zero_stage >= 3 ? 1.5 : 1.0;
    s.comm_s = busbw > 0 ? grad_bytes * ring * volume / (busbw * 1e9) : 0;
    // Bucketed communication overlaps the backward pass of the last micro-step.
    const double backward_last = (s.compute_s / t.grad_accum) * 2.0 / 3.0;
    s.exposed_comm_s = std::max(0.0, s.comm_s - cal.comm_overlap_fraction * backward_last);
    s.assumptions.push_back({"comm_overlap_fraction", cal.comm_overlap_fraction,
                             "of the last micro-step's backward",
                             "bucketed gradient communication on its own stream overlaps most of "
                             "backward; the last buckets cannot"});
  }
  // AdamW and the gradient norm are memory-bound on this GPU's optimizer shard.
  const double shard =
      t.zero_stage >= 1 ? static_cast<double>(m.params) / world : static_cast<double>(m.params);
  const double grad_bytes = grad_storage(t, c) == GradStorage::bf16 ? 2 : 4;
  const double optimizer_bytes_per_param = kAdamBytesPerParamWithoutGradient + 2 * grad_bytes;
  s.optimizer_s = shard * optimizer_bytes_per_param / (hbm_gb_per_s(c) * 1e9);
  s.assumptions.push_back({"optimizer_bytes_per_parameter", optimizer_bytes_per_param, "bytes",
                           fmt::format("AdamW on the split master reads weight, low half, m, v and "
                                       "the {} gradient and writes weight, low half, m and v; the "
                                       "gradient norm reads the gradient once more",
                                       grad_bytes == 2 ? "bf16" : "fp32")});
  if (!c.ceilings.hbm_copy_gb_per_s) {
    s.assumptions.push_back({"hbm_copy_efficiency", kHbmCopyDatasheetEfficiency,
                             "fraction of datasheet",
                             "no compute.json: bench/RESULTS.md (2026-11-25) measured the HBM copy "
                             "kernel at 4159.9 of 4800 GB/s on H200"});
  }
  s.categories.push_back(
      {"optimizer", s.optimizer_s,
       fmt::format("{:g} bytes per parameter of a {:.3g}-parameter shard at {:.0f} GB/s HBM copy",
                   optimizer_bytes_per_param, shard, hbm_gb_per_s(c))});
  s.categories.push_back({"exposed communication", s.exposed_comm_s,
                          world > 1 ? fmt::format("{:.1f} ms of gradient traffic, less what the "
                                                  "last backward hides",
                                                  1e3 * s.comm_s)
                                    : std::string("one GPU: none")});
  s.step_s = s.compute_s + s.exposed_comm_s + s.optimizer_s;
  s.tokens_per_s = s.tokens_per_step / s.step_s;
  s.tokens_per_s_per_gpu = s.tokens_per_s / world;
  s.samples_per_s = s.tokens_per_s / static_cast<double>(t.seq_len);
  s.mfu = s.tokens_per_s_per_gpu * s.flops_per_token / (c.peak_bf16_tflops * 1e12);
  return s;
}

}  // namespace sxb
