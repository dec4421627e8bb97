#include "commands/compute_attention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"
#include "model/model_config.hpp"
#include "train/cpu_ops.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "platform/cuda_check.hpp"
#include "platform/cuda_resources.hpp"
#include "train/gpu_attention_sm90.hpp"
#include "train/gpu_ops.hpp"
#endif

namespace sxb {

namespace {

// Head dims the engine's attention kernels take (train/gpu_ops.hpp attention_supports_head_dim,
// which CPU-only builds do not have).
bool supported_head_dim(int64_t hd) {
  return hd == 16 || hd == 32 || hd == 64 || hd == 128;
}

// Limits of --attention-shapes: a batch x sequence of 1 Mi tokens and 256 heads of 128 (q, k, v,
// o and their gradients stay within a few GiB per GiB of activations).
constexpr int64_t kMaxTokens = 1 << 20;
constexpr int64_t kMaxHeads = 256;

std::string short_name(const std::string& id) {
  const auto slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

bool same_shape(const AttentionBenchShape& a, const AttentionBenchShape& b) {
  const auto eff = [](const AttentionBenchShape& s) { return s.window >= s.seq ? 0 : s.window; };
  return std::tie(a.batch, a.heads, a.kv_heads, a.seq, a.head_dim) ==
             std::tie(b.batch, b.heads, b.kv_heads, b.seq, b.head_dim) &&
         eff(a) == eff(b);
}

std::string shape_text(const AttentionBenchShape& s) {
  return fmt::format("({}, {}, {} kv, {}, {}{})", s.batch, s.heads, s.kv_heads, s.seq, s.head_dim,
                     s.window > 0 && s.window < s.seq ? fmt::format(", window {}", s.window) : "");
}

}  // namespace

std::vector<AttentionBenchShape> default_attention_shapes() {
  std::vector<AttentionBenchShape> out = {
      {"Llama-2-7B (published comparisons)", 1, 32, 32, 4096, 128, 0},
      {"Llama-3-8B (published comparisons)", 1, 32, 8, 8192, 128, 0},
  };
  const auto add = [&](const AttentionBenchShape& s) {
    for (const auto& o : out) {
      if (same_shape(o, s)) return;
    }
    out.push_back(s);
  };
  for (const ModelConfig& m : builtin_models()) {
    if (m.name.find('/') == std::string::npos) continue;  // test shapes (tiny, small)
    const int64_t window = m.sliding_window.value_or(0);
    add({short_name(m.name), 1, m.num_heads, m.num_kv_heads, 4096, m.head_dim(), window});
    if (window > 0 && window < 8192) {
      add({short_name(m.name), 1, m.num_heads, m.num_kv_heads, 8192, m.head_dim(), window});
    }
  }
  return out;
}

std::vector<AttentionBenchShape> parse_attention_shapes(std::string_view text) {
  std::vector<AttentionBenchShape> out;
  for (std::string_view item : split_comma_list(text)) {
    if (item.empty()) continue;
    if (item == "default") {  // the default list, then the shapes around it in their order
      const auto defaults = default_attention_shapes();
      out.insert(out.end(), defaults.begin(), defaults.end());
      continue;
    }
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (true) {
      const size_t x = item.find('x', start);
      parts.push_back(item.substr(start, x == std::string_view::npos ? x : x - start));
      if (x == std::string_view::npos) break;
      start = x + 1;
    }
    const std::string where = fmt::format("attention shape '{}' (--attention-shapes)", item);
    if (parts.size() != 5 && parts.size() != 6) {
      throw usage_error(where + ": expected BxHxKVxTxD or BxHxKVxTxDxW");
    }
    AttentionBenchShape s;
    s.label = "--attention-shapes";
    s.batch = parse_int_in(parts[0], where + " batch", 1, kMaxTokens);
    s.heads = parse_int_in(parts[1], where + " heads", 1, kMaxHeads);
    s.kv_heads = parse_int_in(parts[2], where + " kv heads", 1, kMaxHeads);
    s.seq = parse_int_in(parts[3], where + " sequence", 1, kMaxTokens);
    s.head_dim = parse_int_in(parts[4], where + " head_dim", 1, 1024);
    if (parts.size() == 6) s.window = parse_int_in(parts[5], where + " window", 1, kMaxTokens);
    if (s.heads % s.kv_heads != 0) {
      throw usage_error(fmt::format("{}: {} heads are not a multiple of {} kv heads", where,
                                    s.heads, s.kv_heads));
    }
    if (!supported_head_dim(s.head_dim)) {
      throw usage_error(
          fmt::format("{}: head_dim {} (the engine's kernels take 16, 32, 64 or 128)", where,
                      s.head_dim));
    }
    if (s.batch * s.seq > kMaxTokens) {
      throw usage_error(fmt::format("{}: batch x sequence {} is above {} tokens", where,
                                    s.batch * s.seq, kMaxTokens));
    }
    out.push_back(s);
  }
  if (out.empty()) throw usage_error("no attention shape given (--attention-shapes)");
  return out;
}

namespace {

#ifdef SXB_HAVE_CUDA

using bf16 = __nv_bfloat16;

gpu::AttentionShape engine_shape(const AttentionBenchShape& s) {
  gpu::AttentionShape a;
  a.B = s.batch;
  a.T = s.seq;
  a.H = s.heads;
  a.KV = s.kv_heads;
  a.hd = s.head_dim;
  a.window = s.window;
  a.q_stride = a.o_stride = s.heads * s.head_dim;
  a.kv_stride = s.kv_heads * s.head_dim;
  return a;
}

const char* kernel_name(gpu::AttentionKernel k) {
  return k == gpu::AttentionKernel::sm90 ? "sm90" : "mma";
}

// The kernels that run at this shape in one direction: mma.sync always, the Hopper one where it
// applies (forward and backward at head_dim 64 and 128).
bool hopper_applies(const gpu::AttentionShape& s, bool backward) {
  return backward ? gpu::attention_backward_sm90_supports(s)
                  : gpu::attention_forward_sm90_supports(s);
}
std::vector<gpu::AttentionKernel> kernels_for(const gpu::AttentionShape& s, bool backward) {
  std::vector<gpu::AttentionKernel> k = {gpu::AttentionKernel::mma};
  if (hopper_applies(s, backward)) k.push_back(gpu::AttentionKernel::sm90);
  return k;
}

// q, k, v, dout, and the forward's and backward's outputs of one shape on the current GPU.
struct AttentionBuffers {
  int64_t q_elems, kv_elems, rows;
  DeviceBuffer q, k, v, dout, o, dk, dv, lse, dsum, dq;
  explicit AttentionBuffers(const AttentionBenchShape& s)
      : q_elems(s.batch * s.seq * s.heads * s.head_dim),
        kv_elems(s.batch * s.seq * s.kv_heads * s.head_dim),
        rows(s.batch * s.heads * s.seq),
        q(size_t(q_elems) * 2),
        k(size_t(kv_elems) * 2),
        v(size_t(kv_elems) * 2),
        dout(size_t(q_elems) * 2),
        o(size_t(q_elems) * 2),
        dk(size_t(kv_elems) * 2),
        dv(size_t(kv_elems) * 2),
        lse(size_t(rows) * 4),
        dsum(size_t(rows) * 4),
        dq(size_t(q_elems) * 4) {}
  bf16* b(const DeviceBuffer& d) const { return static_cast<bf16*>(d.get()); }
  float* f(const DeviceBuffer& d) const { return static_cast<float*>(d.get()); }
  void forward(const gpu::AttentionShape& s, gpu::AttentionKernel kernel, cudaStream_t st) {
    gpu::attention_forward(b(o), f(lse), b(q), b(k), b(v), s, st, kernel);
  }
  void backward(const gpu::AttentionShape& s, gpu::AttentionKernel kernel, cudaStream_t st) {
    gpu::attention_backward(f(dq), b(dk), b(dv), f(dsum), b(dout), b(o), f(lse), b(q), b(k),
                            b(v), s, st, kernel);
  }
};

double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

std::vector<double> download_bf16(const DeviceBuffer& d, int64_t n) {
  std::vector<bf16> h(static_cast<size_t>(n));
  cuda_check(cudaMemcpy(h.data(), d.get(), size_t(n) * 2, cudaMemcpyDeviceToHost), "download");
  std::vector<double> out(h.size());
  for (size_t i = 0; i < h.size(); ++i) out[i] = double(__bfloat162float(h[i]));
  return out;
}

std::vector<double> download_f32(const DeviceBuffer& d, int64_t n) {
  std::vector<float> h(static_cast<size_t>(n));
  cuda_check(cudaMemcpy(h.data(), d.get(), size_t(n) * 4, cudaMemcpyDeviceToHost), "download");
  return {h.begin(), h.end()};
}

// Random bf16 values (standard normal, seeded) into `d`; `exact` receives the rounded values.
void upload_random(const DeviceBuffer& d, int64_t n, uint32_t seed, std::vector<double>& exact) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<bf16> h(static_cast<size_t>(n));
  exact.resize(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    h[i] = __float2bfloat16(normal(rng));
    exact[i] = double(__bfloat162float(h[i]));
  }
  cuda_check(cudaMemcpy(d.get(), h.data(), size_t(n) * 2, cudaMemcpyHostToDevice), "upload");
}

constexpr double kCheckTolerance = 2e-2;  // bf16 inputs, outputs and P/dS operands

// Forward and backward of one kernel at a small shape against cpu::attention_* in float64 on the
// same bf16 inputs; outputs are poisoned (NaN) before the kernels run.
AttentionCheck check_kernel(int device, gpu::AttentionKernel kernel,
                            const AttentionBenchShape& shape) {
  AttentionBuffers buf(shape);
  const gpu::AttentionShape s = engine_shape(shape);
  std::vector<double> q, k, v, dout;
  upload_random(buf.q, buf.q_elems, 11, q);
  upload_random(buf.k, buf.kv_elems, 12, k);
  upload_random(buf.v, buf.kv_elems, 13, v);
  upload_random(buf.dout, buf.q_elems, 14, dout);
  for (const DeviceBuffer* d : {&buf.o, &buf.dk, &buf.dv, &buf.dq}) {
    cuda_check(cudaMemset(d->get(), 0xff, d->bytes()), "cudaMemset");
  }
  buf.forward(s, kernel, nullptr);
  // The backward the engine runs after this forward: the same kernel, or mma.sync where the
  // Hopper backward does not apply.
  buf.backward(s, hopper_applies(s, true) ? kernel : gpu::AttentionKernel::mma, nullptr);
  cuda_check(cudaDeviceSynchronize(), "attention check");

  const int64_t B = shape.batch, T = shape.seq, H = shape.heads, KV = shape.kv_heads,
                hd = shape.head_dim;
  std::vector<double> out(q.size()), att(size_t(B * H * T * T)), dq(q.size(), 0.0),
      dk(k.size(), 0.0), dv(v.size(), 0.0);
  cpu::attention_forward<double>(out.data(), att.data(), q.data(), k.data(), v.data(), B, T, H,
                                 KV, hd, shape.window);
  cpu::attention_backward<double>(dq.data(), dk.data(), dv.data(), dout.data(), q.data(),
                                  k.data(), v.data(), att.data(), B, T, H, KV, hd, shape.window);
  AttentionCheck c;
  c.device = device;
  c.kernel = kernel_name(kernel);
  c.shape = shape;
  c.error_out = relative_error(download_bf16(buf.o, buf.q_elems), out);
  c.error_dq = relative_error(download_f32(buf.dq, buf.q_elems), dq);
  c.error_dk = relative_error(download_bf16(buf.dk, buf.kv_elems), dk);
  c.error_dv = relative_error(download_bf16(buf.dv, buf.kv_elems), dv);
  c.relative_error = std::max({c.error_out, c.error_dq, c.error_dk, c.error_dv});
  c.tolerance = kCheckTolerance;
  c.passed = c.relative_error <= c.tolerance;
  return c;
}

std::vector<double> time_pass(AttentionBuffers& buf, const gpu::AttentionShape& s,
                              gpu::AttentionKernel kernel, bool backward, int warmup, int iters,
                              cudaStream_t st) {
  const auto once = [&] {
    if (backward) {
      buf.backward(s, kernel, st);
    } else {
      buf.forward(s, kernel, st);
    }
  };
  for (int i = 0; i < warmup; ++i) once();
  EventPairs ev(iters);
  for (int i = 0; i < iters; ++i) {
    cuda_check(cudaEventRecord(ev.start(i), st), "cudaEventRecord");
    once();
    cuda_check(cudaEventRecord(ev.stop(i), st), "cudaEventRecord");
  }
  cuda_check(cudaStreamSynchronize(st), "attention timing");
  std::vector<double> us;
  for (int i = 0; i < iters; ++i) us.push_back(ev.elapsed_us(i));
  return us;
}

// Small shapes that end inside a tile, GQA ratio 4, without and with a window crossing tiles.
std::vector<AttentionBenchShape> check_shapes(const std::vector<AttentionBenchShape>& timed) {
  std::set<int64_t> dims;
  for (const auto& s : timed) dims.insert(s.head_dim);
  std::vector<AttentionBenchShape> out;
  for (int64_t hd : dims) {
    out.push_back({"check", 1, 8, 2, 517, hd, 0});
    out.push_back({"check", 1, 8, 2, 517, hd, 200});
  }
  return out;
}

void run_attention(ComputeRun& run) {
  const ComputeOptions& o = run.options;
  for (int dev : run.devices) {
    cuda_check(cudaSetDevice(dev), "cudaSetDevice");
    if (o.check) {
      for (const auto& shape : check_shapes(o.attention_shapes)) {
        for (gpu::AttentionKernel kernel : kernels_for(engine_shape(shape), false)) {
          const AttentionCheck c = check_kernel(dev, kernel, shape);
          run.print(fmt::format(
              "  attention check gpu{} {:<4} {}: relative error out {:.2e} dq {:.2e} dk {:.2e} "
              "dv {:.2e} (tolerance {:.0e}) {}",
              dev, c.kernel, shape_text(shape), c.error_out, c.error_dq, c.error_dk, c.error_dv,
              c.tolerance, c.passed ? "ok" : "FAILED"));
          run.report.attention_checks.push_back(c);
        }
      }
      run.checkpoint();
    }
    run.print(fmt::format("  {:<4} {:<8} {:<5} {:<44} {:>10} {:>9}  {}", "gpu", "pass", "kernel",
                          "shape (B, H, KV, T, head_dim)", "time us", "TFLOP/s", "model"));
    Stream stream;
    for (const auto& shape : o.attention_shapes) {
      const gpu::AttentionShape s = engine_shape(shape);
      AttentionBuffers buf(shape);
      gpu::init_normal(buf.b(buf.q), {nullptr, 0, 0, 0}, buf.q_elems, 21, 0, 1.0, stream.get());
      gpu::init_normal(buf.b(buf.k), {nullptr, 0, 0, 0}, buf.kv_elems, 21, 1, 1.0, stream.get());
      gpu::init_normal(buf.b(buf.v), {nullptr, 0, 0, 0}, buf.kv_elems, 21, 2, 1.0, stream.get());
      gpu::init_normal(buf.b(buf.dout), {nullptr, 0, 0, 0}, buf.q_elems, 21, 3, 1.0,
                       stream.get());
      for (bool backward : {false, true}) {
        for (gpu::AttentionKernel kernel : kernels_for(s, backward)) {
          if (backward) buf.forward(s, kernel, stream.get());  // o and lse of this kernel
          const auto us = time_pass(buf, s, kernel, backward, o.attention_warmup_iters,
                                    o.attention_iters, stream.get());
          AttentionResult r;
          r.device = dev;
          r.shape = shape;
          r.kernel = kernel_name(kernel);
          r.engine_default = gpu::attention_kernel_choice(s, backward) == kernel;
          r.direction = backward ? "backward" : "forward";
          r.flop = attention_flop(shape, backward);
          r.time_us_median = median_of(us, IfEmpty::error);
          r.time_us_p10 = quantile(us, 0.10, IfEmpty::error);
          r.time_us_p90 = quantile(us, 0.90, IfEmpty::error);
          r.tflop_per_s = r.flop / (r.time_us_median * 1e-6) / 1e12;
          r.iters = static_cast<int>(us.size());
          run.print(fmt::format("  gpu{} {:<8} {:<5} {:<44} {:>10.1f} {:>9.1f}  {}", dev,
                                r.direction, r.kernel + (r.engine_default ? "*" : ""),
                                shape_text(shape), r.time_us_median, r.tflop_per_s, shape.label));
          run.report.attention.push_back(r);
        }
      }
      run.checkpoint();
    }
    run.print("  (* the kernel the training engine runs at that shape)");
  }
}

#else

void run_attention(ComputeRun&) {
  throw environment_error(
      "this sxbench binary was built without CUDA: `sxbench compute` needs a CUDA build and a "
      "GPU");
}

#endif

}  // namespace

const ComputeTestSpec& attention_compute_test() {
  static const ComputeTestSpec spec = {
      "attention",
      "The training engine's causal attention kernels (Hopper wgmma/TMA where they apply, "
      "mma.sync) forward and backward at Llama shapes; TFLOP/s by FlashAttention's count",
      1,
      "bf16 q, k, v, dout (standard normal), fp32 accumulation, causal, grouped-query heads, "
      "optional sliding window; every kernel that applies at a shape is timed (the one the "
      "engine's automatic choice runs is marked engine_default); after warm-up, one CUDA event "
      "pair per call, time = median; the backward call includes clearing the fp32 dq accumulator "
      "and the row sums D = rowsum(dO * O) it needs, as in training; FLOP count as "
      "FlashAttention's benchmarks: forward 4 * B * H * T^2 * head_dim / 2 (with a window W < T, "
      "T^2 / 2 becomes W * T - W^2 / 2), backward 2.5 times the forward; before timing, each "
      "kernel runs forward and backward at (1, 8, 2 kv, 517, head_dim) without and with a window "
      "of 200 and is compared with a float64 CPU reference on the same bf16 inputs (relative "
      "error of out, dq, dk, dv; tolerance 2e-2)",
      run_attention};
  return spec;
}

}  // namespace sxb
