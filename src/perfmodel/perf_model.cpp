#include "perfmodel/perf_model.hpp"

#include "model/flops.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace sxb {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Fixed per-GPU overheads (assumptions, listed with every prediction).
constexpr double kContextBytes = 1.0 * kGiB;     // CUDA context, cuBLASLt workspace, kernels
constexpr double kNcclBytes = 0.5 * kGiB;        // NCCL channels and proxy buffers
constexpr double kBucketBytes = 2 * 500e6 / 2;   // two 500M-element-byte buckets in bf16 ≈ 0.5 GB
constexpr double kOptimizerBytesPerParam = 28;   // AdamW: read grad, master, m, v; write master, m, v, bf16 weight
constexpr double kHbmEfficiency = 0.8;           // streaming kernels reach ~80% of datasheet HBM
}  // namespace

namespace {

// Elements saved per token per layer for backward (bf16), by recomputation:
// none: residual input, attention norm output, q, k, v, attention output, MLP input, MLP norm
//       output, gate, up, SwiGLU product; plus the fp32 log-sum-exp per head.
// selective: the MLP intermediates (gate, up, product) are recomputed.
// full: only the layer input is kept; one layer's full set lives during its backward.
double saved_elements_per_token_layer(const ModelShape& m, Recompute r) {
  const double d = static_cast<double>(m.hidden);
  const double kv = static_cast<double>(m.kv_heads) * (d / static_cast<double>(m.heads));
  const double full = 6 * d + 2 * kv + 3 * static_cast<double>(m.ffn) + static_cast<double>(m.heads) * 2;
  switch (r) {
    case Recompute::none: return full;
    case Recompute::selective: return full - 3 * static_cast<double>(m.ffn);
    case Recompute::full: return d;
  }
  return full;
}

}  // namespace

MemoryPlan plan_memory(const ModelShape& m, const TrainSetup& t, const Cluster& c) {
  MemoryPlan p;
  const double n = static_cast<double>(m.params);
  const double world = std::max(1, c.world());
  const double per_layer = n / std::max<int64_t>(1, m.layers);
  p.weights_bytes = t.zero_stage >= 3 ? 2 * n / world + 2 * 2 * per_layer /*gathered + prefetch*/ : 2 * n;
  // bf16 gradients straight from backward when each step is one micro-step; an fp32
  // accumulation buffer when micro-steps add up.
  const double grad_bytes_per_param = t.grad_accum > 1 ? 4 : 2;
  p.gradients_bytes = grad_bytes_per_param * (t.zero_stage >= 2 ? n / world : n);
  p.optimizer_bytes = t.zero_stage >= 1 ? 12 * n / world : 12 * n;
  const double tokens = static_cast<double>(t.micro_batch * t.seq_len);
  const double layers = static_cast<double>(m.layers);
  double act = saved_elements_per_token_layer(m, t.recompute) * 2 * tokens * layers;
  if (t.recompute == Recompute::full) {
    act += saved_elements_per_token_layer(m, Recompute::none) * 2 * tokens;  // the layer in backward
  }
  p.activations_bytes = act;
  p.logits_bytes = tokens * static_cast<double>(m.vocab) * (2 + 4);
  p.buffers_bytes = kContextBytes + kNcclBytes + (c.world() > 1 ? kBucketBytes : 0);
  p.total_bytes = p.weights_bytes + p.gradients_bytes + p.optimizer_bytes + p.activations_bytes +
                  p.logits_bytes + p.buffers_bytes;
  p.capacity_bytes = c.gpu_memory_bytes;
  p.fits = p.total_bytes <= p.capacity_bytes;
  struct Term {
    const char* name;
    double bytes;
  };
  const Term terms[] = {{"weights", p.weights_bytes},       {"gradients", p.gradients_bytes},
                        {"optimizer state", p.optimizer_bytes}, {"activations", p.activations_bytes},
                        {"logits", p.logits_bytes},         {"buffers", p.buffers_bytes}};
  const Term* big = std::max_element(std::begin(terms), std::end(terms),
                                     [](const Term& a, const Term& b) { return a.bytes < b.bytes; });
  if (p.fits) {
    p.verdict = fmt::format("fits: {:.1f} of {:.1f} GiB ({:.1f} GiB free)", p.total_bytes / kGiB,
                            p.capacity_bytes / kGiB, (p.capacity_bytes - p.total_bytes) / kGiB);
  } else {
    p.verdict = fmt::format("does not fit: {:.1f} GiB needed, {:.1f} GiB per GPU; largest term {} "
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

StepPrediction predict_step(const ModelShape& m, const TrainSetup& t, const Cluster& c,
                            const Calibration& cal) {
  StepPrediction s;
  s.memory = plan_memory(m, t, c);
  const double world = c.world();
  s.flops_per_token = palm_flops_per_token(m, t.seq_len);
  // Recomputation repeats forward work: selective ~ the MLP forward (2 x 3·d·ffn per layer per
  // token), full = the whole forward (a third of 6N + 12LdT).
  double extra = 0;
  if (t.recompute == Recompute::selective) {
    extra = 2.0 * 3.0 * m.hidden * m.ffn * m.layers;
  } else if (t.recompute == Recompute::full) {
    extra = s.flops_per_token / 3.0;
  }
  s.executed_flops_per_token = s.flops_per_token + extra;
  const double tokens_per_gpu = static_cast<double>(t.micro_batch * t.grad_accum * t.seq_len);
  s.tokens_per_step = tokens_per_gpu * world;

  double achieved_tflops;
  if (cal.achieved_tflops_per_gpu) {
    achieved_tflops = *cal.achieved_tflops_per_gpu;
  } else {
    achieved_tflops = cal.assumed_mfu * c.peak_bf16_tflops;
    s.assumptions.push_back({"model_flops_utilization", cal.assumed_mfu, "fraction of peak",
                             "PyTorch FSDP2 + torch.compile reference on H200 (45% MFU, "
                             "reference figures); replaced by a measured sft_metrics.json"});
  }
  // Achieved TFLOP/s are counted in model FLOPs; executed extra work slows the step.
  s.compute_s = tokens_per_gpu * s.executed_flops_per_token / (achieved_tflops * 1e12);

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
  // AdamW is memory-bound on this GPU's optimizer shard.
  const double shard = t.zero_stage >= 1 ? static_cast<double>(m.params) / world
                                          : static_cast<double>(m.params);
  s.optimizer_s = shard * kOptimizerBytesPerParam / (c.hbm_gb_per_s * kHbmEfficiency * 1e9);
  s.assumptions.push_back({"optimizer_bytes_per_parameter", kOptimizerBytesPerParam, "bytes",
                           "fused AdamW reads gradient, master, m, v and writes master, m, v and "
                           "the bf16 weight"});
  s.assumptions.push_back({"hbm_efficiency", kHbmEfficiency, "fraction of datasheet",
                           "streaming kernels reach ~80% of datasheet HBM bandwidth (4.26 of "
                           "4.8 TB/s measured by device copy on H200)"});
  s.step_s = s.compute_s + s.exposed_comm_s + s.optimizer_s;
  s.tokens_per_s = s.tokens_per_step / s.step_s;
  s.tokens_per_s_per_gpu = s.tokens_per_s / world;
  s.samples_per_s = s.tokens_per_s / static_cast<double>(t.seq_len);
  s.mfu = s.tokens_per_s_per_gpu * s.flops_per_token / (c.peak_bf16_tflops * 1e12);
  return s;
}

}  // namespace sxb
