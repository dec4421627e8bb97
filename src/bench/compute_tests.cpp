#include "bench/compute_tests.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"

#ifdef SXB_HAVE_CUDA
#include "bench/compute_device.hpp"
#endif

namespace sxb {

std::optional<double> ComputeRun::spec_value(int device, const std::string& key) const {
  if (device < 0 || static_cast<size_t>(device) >= specs.size() || !specs[device]) {
    return std::nullopt;
  }
  return specs[device]->value(key);
}

const GpuPairLink* ComputeRun::link(int a, int b) const {
  for (const auto& l : links) {
    if (l.a == a && l.b == b) return &l;
  }
  return nullptr;
}

namespace {

#ifdef SXB_HAVE_CUDA

BandwidthResult bandwidth_result(const ComputeRun& run, std::string test, std::string variant,
                                 int src, int dst, uint64_t buffer_bytes, uint64_t bytes_counted,
                                 const std::vector<double>& times_us, int spec_device,
                                 const std::string& spec_key, double spec_multiplier) {
  BandwidthResult r;
  r.test = std::move(test);
  r.variant = std::move(variant);
  r.src_device = src;
  r.dst_device = dst;
  r.buffer_bytes = buffer_bytes;
  r.bytes_counted = bytes_counted;
  r.time_us_median = median_of(times_us, IfEmpty::error);
  r.gb_per_s = static_cast<double>(bytes_counted) / (r.time_us_median * 1e-6) / 1e9;
  r.iters = static_cast<int>(times_us.size());
  std::optional<double> spec;
  if (!spec_key.empty()) {
    spec = run.spec_value(spec_device, spec_key);
    if (spec) *spec *= spec_multiplier;
  }
  r.spec = compare_with_spec(r.gb_per_s, spec_key, spec);
  return r;
}

std::string percent(const SpecComparison& s) {
  return s.fraction ? fmt::format("{:6.1f}%", *s.fraction * 100) : std::string("      -");
}

void print_bandwidth(const ComputeRun& run, const BandwidthResult& r) {
  const auto where = [](int d) { return d < 0 ? std::string("host") : "gpu" + std::to_string(d); };
  run.print(fmt::format("  {:<4} {:<10} {:>5} -> {:<5} {:>12} {:>12.1f} us {:>10.1f} GB/s {}",
                        r.test, r.variant, where(r.src_device), where(r.dst_device),
                        fmt::format("{} MiB", r.buffer_bytes >> 20), r.time_us_median, r.gb_per_s,
                        percent(r.spec)));
}

void time_gemm_shapes(ComputeRun& run, int dev, GemmDtype t, GemmLayout layout);

void run_gemm(ComputeRun& run) {
  const ComputeOptions& o = run.options;
  for (int dev : run.devices) {
    const ComputeDevice& info = run.all_devices[dev];
    std::vector<GemmDtype> dtypes;
    for (GemmDtype t : o.dtypes) {
      const int cc = info.compute_capability_major * 10 + info.compute_capability_minor;
      if (t == GemmDtype::fp8_e4m3 && cc < 89) {
        run.report.skipped.push_back(
            {"gemm",
             fmt::format("fp8_e4m3 on GPU {}: needs compute capability 8.9 or newer, has "
                         "{}.{}",
                         dev, info.compute_capability_major, info.compute_capability_minor)});
        continue;
      }
      dtypes.push_back(t);
    }
    const auto layout_for = [&](GemmDtype t) {
      return t == GemmDtype::fp8_e4m3 ? GemmLayout::tn : o.layout;
    };
    run.print(
        fmt::format("  {:<4} {:<8} {:<2} {:<11} {:<12} {:<5} {:>6} {:>6} {:>6} {:>10} "
                    "{:>9} {:>7}",
                    "gpu", "dtype", "ly", "group", "name", "phase", "M", "N", "K", "time us",
                    "TFLOP/s", "spec"));
    // A type that cuBLASLt cannot run is recorded and the other types go on; the command then
    // exits with the error.
    for (GemmDtype t : dtypes) {
      try {
        if (o.check) {
          GemmCheck c = check_gemm(dev, t, layout_for(t), o.check_m, o.check_n, o.check_k,
                                   o.max_algos, o.workspace_bytes, o.fp8_fast_accum);
          run.print(
              fmt::format("  gemm check gpu{} {:<8} {} {}x{}x{}: relative error {:.2e} "
                          "(tolerance {:.0e}) {}",
                          dev, c.dtype, c.layout, c.m, c.n, c.k, c.relative_error, c.tolerance,
                          c.passed ? "ok" : "FAILED"));
          run.report.gemm_checks.push_back(c);
        }
        time_gemm_shapes(run, dev, t, layout_for(t));
      } catch (const Error& e) {
        if (e.code() != ExitCode::runtime) throw;
        const std::string what =
            fmt::format("gemm {} on GPU {}: {}", gemm_dtype_name(t), dev, e.what());
        run.print("  " + what);
        run.errors.push_back(what);
        run.report.skipped.push_back({"gemm", what});
      }
      run.checkpoint();
    }
  }
}

void time_gemm_shapes(ComputeRun& run, int dev, GemmDtype t, GemmLayout layout) {
  const ComputeOptions& o = run.options;
  const ComputeDevice& info = run.all_devices[dev];
  for (const GemmShape& s : o.shapes) {
    GemmRunConfig cfg;
    cfg.dtype = t;
    cfg.layout = layout;
    cfg.m = s.m;
    cfg.n = s.n;
    cfg.k = s.k;
    cfg.warmup_iters = o.gemm_warmup_iters;
    cfg.iters = o.gemm_iters;
    cfg.max_algos = o.max_algos;
    cfg.workspace_bytes = o.workspace_bytes;
    cfg.rotate_min_bytes = static_cast<uint64_t>(o.rotate_l2_multiple * info.l2_bytes);
    cfg.fp8_fast_accum = o.fp8_fast_accum;
    const GemmTiming timing = time_gemm(dev, cfg);
    GemmResult r;
    r.device = dev;
    r.dtype = gemm_dtype_name(t);
    r.layout = gemm_layout_name(cfg.layout);
    r.group = s.group;
    r.name = s.name;
    r.phase = s.phase;
    r.m = s.m;
    r.n = s.n;
    r.k = s.k;
    r.flop = gemm_flop(s.m, s.n, s.k);
    r.time_us_median = median_of(timing.times_us, IfEmpty::error);
    r.time_us_p10 = quantile(timing.times_us, 0.10, IfEmpty::error);
    r.time_us_p90 = quantile(timing.times_us, 0.90, IfEmpty::error);
    r.tflop_per_s = r.flop / (r.time_us_median * 1e-6) / 1e12;
    r.iters = static_cast<int>(timing.times_us.size());
    r.algos_tried = timing.algos_tried;
    r.algo_rank = timing.algo_rank;
    r.input_sets = timing.input_sets;
    r.input_bytes_per_set = timing.input_bytes_per_set;
    r.scale_pointers = timing.scale_pointers;
    r.spec =
        compare_with_spec(r.tflop_per_s, gemm_spec_key(t), run.spec_value(dev, gemm_spec_key(t)));
    run.print(
        fmt::format("  gpu{} {:<8} {:<2} {:<11} {:<12} {:<5} {:>6} {:>6} {:>6} {:>10.1f} "
                    "{:>9.1f} {}",
                    dev, r.dtype, r.layout, r.group, r.name, r.phase, r.m, r.n, r.k,
                    r.time_us_median, r.tflop_per_s, percent(r.spec)));
    run.report.gemm.push_back(r);
  }
}

void run_hbm(ComputeRun& run) {
  const ComputeOptions& o = run.options;
  const std::string key = "hbm_bandwidth_gb_per_s";
  for (int dev : run.devices) {
    struct Variant {
      HbmKernel kernel;
      const char* name;
      int passes;  // bytes moved per buffer byte: 2 for a copy (read + write)
    };
    for (const Variant& v :
         {Variant{HbmKernel::copy, "copy", 2}, Variant{HbmKernel::read, "read", 1},
          Variant{HbmKernel::write, "write", 1}, Variant{HbmKernel::memcpy, "memcpy", 2}}) {
      const HbmTiming t = time_hbm(dev, v.kernel, o.hbm_bytes, o.bw_warmup_iters, o.bw_iters);
      BandwidthResult r = bandwidth_result(run, "hbm", v.name, dev, dev, o.hbm_bytes,
                                           o.hbm_bytes * v.passes, t.times_us, dev, key, 1.0);
      r.kernel = t.kernel;
      print_bandwidth(run, r);
      run.report.bandwidth.push_back(r);
    }
    LatencyResult l;
    l.test = "hbm";
    l.variant = "sm_pointer_chase";
    l.src_device = l.dst_device = dev;
    l.bytes = o.chase_bytes;
    l.iters = o.chase_loads;
    l.latency_us = pointer_chase_latency_us(dev, dev, o.chase_bytes, o.chase_loads);
    run.print(fmt::format("  hbm  latency    gpu{} pointer chase over {} MiB: {:.3f} us per load",
                          dev, o.chase_bytes >> 20, l.latency_us));
    run.report.latency.push_back(l);
    run.checkpoint();
  }
}

void run_host_link(ComputeRun& run, bool host_to_device) {
  const ComputeOptions& o = run.options;
  for (int dev : run.devices) {
    const auto times =
        time_host_copy(dev, host_to_device, o.host_bytes, o.bw_warmup_iters, o.bw_iters);
    BandwidthResult r =
        bandwidth_result(run, host_to_device ? "h2d" : "d2h", "memcpy", host_to_device ? -1 : dev,
                         host_to_device ? dev : -1, o.host_bytes, o.host_bytes, times, dev,
                         "pcie_bandwidth_per_direction_gb_per_s", 1.0);
    r.kernel = "cudaMemcpyAsync, pinned host memory";
    print_bandwidth(run, r);
    run.report.bandwidth.push_back(r);
  }
  run.checkpoint();
}

void run_h2d(ComputeRun& run) {
  run_host_link(run, true);
}
void run_d2h(ComputeRun& run) {
  run_host_link(run, false);
}

void run_p2p(ComputeRun& run) {
  const ComputeOptions& o = run.options;
  for (int src : run.devices) {
    for (int dst : run.devices) {
      if (src == dst) continue;
      const GpuPairLink* link = run.link(src, dst);
      const bool access = link && link->p2p_access;
      std::string key;
      if (link && link->link == "nvlink") key = "nvlink_bandwidth_per_direction_gb_per_s";
      if (link && link->link == "pcie") key = "pcie_bandwidth_per_direction_gb_per_s";
      struct Variant {
        P2PEngine engine;
        bool bidirectional;
        const char* name;
      };
      for (const Variant& v :
           {Variant{P2PEngine::copy_engine, false, "ce_unidir"},
            Variant{P2PEngine::copy_engine, true, "ce_bidir"},
            Variant{P2PEngine::sm, false, "sm_unidir"}, Variant{P2PEngine::sm, true, "sm_bidir"}}) {
        if (v.engine == P2PEngine::sm && !access) {
          run.report.skipped.push_back(
              {"p2p", fmt::format("{} gpu{} -> gpu{}: no peer access, an SM kernel cannot reach "
                                  "the other GPU's memory",
                                  v.name, src, dst)});
          continue;
        }
        const auto times = time_p2p(src, dst, v.engine, v.bidirectional, o.p2p_bytes,
                                    o.bw_warmup_iters, o.bw_iters);
        const uint64_t counted = o.p2p_bytes * (v.bidirectional ? 2 : 1);
        BandwidthResult r = bandwidth_result(run, "p2p", v.name, src, dst, o.p2p_bytes, counted,
                                             times, src, key, v.bidirectional ? 2.0 : 1.0);
        r.kernel = v.engine == P2PEngine::copy_engine
                       ? "cudaMemcpyPeerAsync"
                       : "copy kernel, 256 threads x 8 16-byte vectors, writing to the peer";
        print_bandwidth(run, r);
        run.report.bandwidth.push_back(r);
      }
      LatencyResult ce;
      ce.test = "p2p";
      ce.variant = "ce_small_copy";
      ce.src_device = src;
      ce.dst_device = dst;
      ce.bytes = 4;
      const auto ce_times = time_small_peer_copy(src, dst, o.bw_warmup_iters, o.bw_iters * 5);
      ce.latency_us = median_of(ce_times, IfEmpty::error);
      ce.iters = static_cast<int>(ce_times.size());
      run.print(fmt::format("  p2p  latency    gpu{} -> gpu{} 4-byte copy-engine copy: {:.2f} us",
                            src, dst, ce.latency_us));
      run.report.latency.push_back(ce);
      if (access) {
        LatencyResult sm;
        sm.test = "p2p";
        sm.variant = "sm_pointer_chase";
        sm.src_device = src;
        sm.dst_device = dst;
        sm.bytes = o.chase_bytes;
        sm.iters = o.chase_loads;
        sm.latency_us = pointer_chase_latency_us(src, dst, o.chase_bytes, o.chase_loads);
        run.print(fmt::format("  p2p  latency    gpu{} reads gpu{} (pointer chase): {:.3f} us", src,
                              dst, sm.latency_us));
        run.report.latency.push_back(sm);
      }
      run.checkpoint();
    }
  }
}

#else

[[noreturn]] void no_cuda(ComputeRun&) {
  throw environment_error(
      "this sxbench binary was built without CUDA: `sxbench compute` needs a "
      "CUDA build and a GPU");
}
void run_gemm(ComputeRun& r) {
  no_cuda(r);
}
void run_hbm(ComputeRun& r) {
  no_cuda(r);
}
void run_p2p(ComputeRun& r) {
  no_cuda(r);
}
void run_h2d(ComputeRun& r) {
  no_cuda(r);
}
void run_d2h(ComputeRun& r) {
  no_cuda(r);
}

#endif

}  // namespace

const std::vector<ComputeTestSpec>& compute_tests() {
  static const std::vector<ComputeTestSpec> tests = {
      {"gemm",
       "Matrix products through cuBLASLt (bf16, fp16, tf32, fp8 e4m3): square sweep and Llama-2 "
       "training shapes; TFLOP/s and fraction of the datasheet dense rate",
       1,
       "cuBLASLt matmul with a workspace; the top heuristic candidates are each timed and the "
       "fastest kept; random non-zero inputs (|x| in [1/8,1]); enough input sets rotated that "
       "they exceed several L2 sizes; after warm-up, one CUDA event pair per product; time = "
       "median; TFLOP/s = 2*M*N*K / time / 1e12; fp8: per-tensor scale pointers, bf16 output, "
       "tn layout; a small product per type is checked against a float64 CPU reference",
       run_gemm},
      {"hbm",
       "Device memory bandwidth: copy, read-only and write-only kernels with 16-byte accesses, "
       "cudaMemcpy device-to-device; pointer-chase latency",
       1,
       "kernels over 16-byte vectors, each thread issuing 4 or 8 coalesced loads before its "
       "stores; "
       "the launch shape (threads, vectors per thread, grid) is the fastest of four candidates, "
       "each timed over 3 passes; one CUDA event pair per pass; GB/s = (bytes read + bytes "
       "written) / median time / 1e9; latency = time of a single-thread chain of dependent 8-byte "
       "loads (ld.global.cg) "
       "through a random cycle of 4 KiB-spaced slots / number of loads",
       run_hbm},
      {"p2p",
       "GPU-to-GPU bandwidth for every ordered pair, one- and both-way, by copy engine "
       "(cudaMemcpyPeerAsync) and by SM copy kernel; latency; NVLink/PCIe topology",
       2,
       "copy engine: cudaMemcpyPeerAsync of the buffer; SM: the hbm copy kernel on the source GPU "
       "writing into the peer's memory (peer access enabled); bidirectional: both directions "
       "started together on each GPU's stream, bytes counted both ways; one CUDA event pair per "
       "run, median; latency: median event time of a 4-byte cudaMemcpyPeerAsync, and a "
       "single-thread pointer chase from the source GPU through the peer's memory",
       run_p2p},
      {"h2d", "Host-to-device bandwidth from pinned memory, per GPU", 1,
       "cudaMemcpyAsync from page-locked (cudaHostAlloc) memory; one CUDA event pair per copy; "
       "GB/s = bytes / median time / 1e9",
       run_h2d},
      {"d2h", "Device-to-host bandwidth into pinned memory, per GPU", 1,
       "cudaMemcpyAsync into page-locked (cudaHostAlloc) memory; one CUDA event pair per copy; "
       "GB/s = bytes / median time / 1e9",
       run_d2h},
  };
  return tests;
}

const ComputeTestSpec& find_compute_test(const std::vector<ComputeTestSpec>& registry,
                                         std::string_view name) {
  for (const auto& t : registry) {
    if (t.name == name) return t;
  }
  std::string known;
  for (const auto& t : registry) known += (known.empty() ? "" : ", ") + std::string(t.name);
  throw usage_error("unknown compute test '" + std::string(name) + "' (known: " + known + ")");
}

std::vector<const ComputeTestSpec*> parse_compute_test_list(
    const std::vector<ComputeTestSpec>& registry, std::string_view list) {
  std::vector<const ComputeTestSpec*> out;
  if (list == "all") {
    for (const auto& t : registry) out.push_back(&t);
    return out;
  }
  for (std::string_view item : split_comma_list(list)) {
    if (item.empty()) continue;
    const ComputeTestSpec* t = &find_compute_test(registry, item);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.empty()) throw usage_error("no compute test given (--tests)");
  return out;
}

std::vector<int> parse_device_list(std::string_view list, int visible) {
  std::vector<int> out;
  if (list == "all") {
    for (int d = 0; d < visible; ++d) out.push_back(d);
    return out;
  }
  for (std::string_view item : split_comma_list(list)) {
    if (item.empty()) continue;
    const int d = static_cast<int>(parse_int_in(item, "GPU index in --devices", 0, 1023));
    if (d >= visible) {
      throw environment_error("GPU " + std::to_string(d) + " asked for, but only " +
                              std::to_string(visible) + " visible");
    }
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  if (out.empty()) throw usage_error("no GPU given (--devices)");
  return out;
}

}  // namespace sxb
