// `sxbench compute`: the per-GPU ceilings (GEMM rate, HBM bandwidth, GPU-to-GPU and host links)
// from the registry in bench/compute_tests.hpp, written to compute.json in the output directory
// with a short table on the terminal.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "bench/compute_tests.hpp"
#include "commands/compute_attention.hpp"
#include "bench/gemm_shapes.hpp"
#include "bench/link_topology.hpp"
#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "commands/compute_job.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "platform/gpu_probe.hpp"

#ifdef SXB_HAVE_CUDA
#include "bench/compute_device.hpp"
#endif

namespace sxb {

const std::vector<ComputeTestSpec>& all_compute_tests() {
  static const std::vector<ComputeTestSpec> tests = [] {
    std::vector<ComputeTestSpec> t = compute_tests();
    t.push_back(attention_compute_test());
    return t;
  }();
  return tests;
}

namespace {

void print_list() {
  std::printf("%-9s %-8s %s\n", "test", "min GPUs", "description");
  for (const auto& t : all_compute_tests()) {
    std::printf("%-9s %-8d %s\n", std::string(t.name).c_str(), t.min_gpus,
                std::string(t.description).c_str());
  }
}

// Square GEMMs up to 65536 (three bf16 matrices of 8 GiB); Llama GEMMs up to 4 Mi tokens (a
// token x 8192 bf16 activation of 64 GiB).
constexpr int64_t kMaxSquareGemm = 65536;
constexpr uint64_t kMaxGemmTokens = 1ull << 22;

uint64_t buffer_size(const std::string& text, const char* what) {
  const uint64_t b = parse_size_in(text, what, 16, kMaxBufferBytes);
  if (b < 16 || b % 16 != 0) {
    throw usage_error(std::string(what) + " must be a positive multiple of 16 bytes (got " + text +
                      ")");
  }
  return b;
}

ComputeOptions build_options(const ComputeCliOptions& c) {
  ComputeOptions o;
  o.dtypes = parse_gemm_dtype_list(c.dtypes);
  o.layout = parse_gemm_layout(c.layout);
  if (c.seq <= 0 || c.micro_batch <= 0)
    throw usage_error("--seq and --micro-batch must be positive");
  GemmShapeOptions so;
  so.square_min = c.square_min;
  so.square_max = c.square_max;
  // Checked before any shape is built: tokens x hidden elements must stay a sane allocation.
  so.tokens = int64_t(checked_product({uint64_t(c.seq), uint64_t(c.micro_batch)},
                                      "GEMM tokens (--seq x --micro-batch)", kMaxGemmTokens));
  so.backward = c.backward;
  o.shapes = parse_gemm_shapes(c.shapes, so);
  if (c.gemm_iters < 1 || c.bw_iters < 1) throw usage_error("iteration counts must be at least 1");
  if (c.gemm_warmup < 0 || c.bw_warmup < 0) throw usage_error("warm-up counts must be 0 or more");
  if (c.algos < 1) throw usage_error("--algos must be at least 1");
  if (c.rotate_l2 < 0) throw usage_error("--rotate-l2 must be 0 or more");
  o.gemm_iters = c.gemm_iters;
  o.gemm_warmup_iters = c.gemm_warmup;
  o.max_algos = c.algos;
  o.workspace_bytes = parse_size_in(c.workspace, "cuBLASLt workspace (--workspace)", 0, 4 * kGiB);
  o.rotate_l2_multiple = c.rotate_l2;
  o.fp8_fast_accum = c.fp8_fast_accum != 0;
  o.check = c.check != 0;
  o.bw_iters = c.bw_iters;
  o.bw_warmup_iters = c.bw_warmup;
  o.hbm_bytes = buffer_size(c.hbm_bytes, "HBM buffer size (--hbm-bytes)");
  o.host_bytes = buffer_size(c.host_bytes, "host copy size (--host-bytes)");
  o.p2p_bytes = buffer_size(c.p2p_bytes, "p2p copy size (--p2p-bytes)");
  o.attention_shapes = parse_attention_shapes(c.attention_shapes);
  if (c.attention_iters < 1) throw usage_error("--attention-iters must be at least 1");
  o.attention_iters = c.attention_iters;
  return o;
}

[[maybe_unused]] nlohmann::json params_json(const ComputeCliOptions& c, const ComputeOptions& o,
                           const std::vector<int>& devices) {
  std::vector<std::string> dtypes;
  for (GemmDtype t : o.dtypes) dtypes.push_back(gemm_dtype_name(t));
  return {{"devices", devices},
          {"dtypes", dtypes},
          {"layout", gemm_layout_name(o.layout)},
          {"shapes", c.shapes},
          {"square_min", c.square_min},
          {"square_max", c.square_max},
          {"tokens", c.seq * c.micro_batch},
          {"seq", c.seq},
          {"micro_batch", c.micro_batch},
          {"backward", c.backward},
          {"gemm_warmup_iters", o.gemm_warmup_iters},
          {"gemm_iters", o.gemm_iters},
          {"max_algos", o.max_algos},
          {"workspace_bytes", o.workspace_bytes},
          {"rotate_l2_multiple", o.rotate_l2_multiple},
          {"fp8_fast_accum", o.fp8_fast_accum},
          {"check", o.check},
          {"check_shape", {o.check_m, o.check_n, o.check_k}},
          {"bw_warmup_iters", o.bw_warmup_iters},
          {"bw_iters", o.bw_iters},
          {"hbm_bytes", o.hbm_bytes},
          {"host_bytes", o.host_bytes},
          {"p2p_bytes", o.p2p_bytes},
          {"chase_bytes", o.chase_bytes},
          {"chase_loads", o.chase_loads},
          {"attention_shapes", o.attention_shapes},
          {"attention_warmup_iters", o.attention_warmup_iters},
          {"attention_iters", o.attention_iters}};
}

std::string fraction_text(const SpecComparison& s) {
  return s.fraction ? fmt::format("{:.1f}%", *s.fraction * 100) : std::string("-");
}

std::string spec_text(const SpecComparison& s) {
  return s.value ? fmt::format("{:.1f}", *s.value) : std::string("-");
}

// The short table: per GPU, the best product of each type (and 8192³ where measured), each HBM
// variant, host links; per p2p variant, the lowest and highest pair.
[[maybe_unused]] void print_summary(const ComputeReport& r) {
  std::printf("\n%-5s %-5s %-34s %14s %10s %8s\n", "gpu", "test", "figure", "measured", "spec",
              "of spec");
  const auto row = [](const std::string& gpu, const std::string& test, const std::string& what,
                      const std::string& measured, const SpecComparison& s) {
    std::printf("%-5s %-5s %-34s %14s %10s %8s\n", gpu.c_str(), test.c_str(), what.c_str(),
                measured.c_str(), spec_text(s).c_str(), fraction_text(s).c_str());
  };
  std::map<std::pair<int, std::string>, const GemmResult*> best;
  for (const auto& g : r.gemm) {
    auto& b = best[{g.device, g.dtype}];
    if (!b || g.tflop_per_s > b->tflop_per_s) b = &g;
  }
  for (const auto& g : r.gemm) {
    if (g.group == "square" && g.name == "8192") {
      row(std::to_string(g.device), "gemm", fmt::format("{} {} 8192^3", g.dtype, g.layout),
          fmt::format("{:.1f} TFLOP/s", g.tflop_per_s), g.spec);
    }
  }
  for (const auto& [key, g] : best) {
    row(std::to_string(g->device), "gemm",
        fmt::format("{} best: {} {} {}", g->dtype, g->group, g->name,
                    g->phase == "-" ? "" : g->phase),
        fmt::format("{:.1f} TFLOP/s", g->tflop_per_s), g->spec);
  }
  for (const auto& c : r.gemm_checks) {
    if (!c.passed) {
      row(std::to_string(c.device), "gemm", fmt::format("{} check FAILED", c.dtype),
          fmt::format("err {:.2e}", c.relative_error), SpecComparison{});
    }
  }
  std::map<std::string, std::pair<const BandwidthResult*, const BandwidthResult*>> p2p_range;
  for (const auto& b : r.bandwidth) {
    if (b.test == "p2p") {
      auto& [lo, hi] = p2p_range[b.variant];
      if (!lo || b.gb_per_s < lo->gb_per_s) lo = &b;
      if (!hi || b.gb_per_s > hi->gb_per_s) hi = &b;
      continue;
    }
    const int gpu = b.src_device >= 0 ? b.src_device : b.dst_device;
    row(std::to_string(gpu), b.test, b.variant, fmt::format("{:.1f} GB/s", b.gb_per_s), b.spec);
  }
  for (const auto& l : r.latency) {
    if (l.test == "hbm") {
      row(std::to_string(l.src_device), "hbm", "latency (pointer chase)",
          fmt::format("{:.3f} us", l.latency_us), SpecComparison{});
    }
  }
  for (const auto& a : r.attention) {
    if (a.engine_default) {
      row(std::to_string(a.device), "attn",
          fmt::format("{} {} {}x{}x{}x{}x{}{}", a.direction == "forward" ? "fwd" : "bwd", a.kernel,
                      a.shape.batch, a.shape.heads, a.shape.kv_heads, a.shape.seq,
                      a.shape.head_dim,
                      a.shape.window > 0 && a.shape.window < a.shape.seq
                          ? fmt::format(" w{}", a.shape.window)
                          : std::string()),
          fmt::format("{:.1f} TFLOP/s", a.tflop_per_s), SpecComparison{});
    }
  }
  for (const auto& c : r.attention_checks) {
    if (!c.passed) {
      row(std::to_string(c.device), "attn", fmt::format("{} check FAILED", c.kernel),
          fmt::format("err {:.2e}", c.relative_error), SpecComparison{});
    }
  }
  for (const auto& [variant, range] : p2p_range) {
    const auto* lo = range.first;
    const auto* hi = range.second;
    row("all", "p2p", fmt::format("{} min ({}->{})", variant, lo->src_device, lo->dst_device),
        fmt::format("{:.1f} GB/s", lo->gb_per_s), lo->spec);
    row("all", "p2p", fmt::format("{} max ({}->{})", variant, hi->src_device, hi->dst_device),
        fmt::format("{:.1f} GB/s", hi->gb_per_s), hi->spec);
  }
  if (r.topology) {
    for (const auto& p : r.topology->pairs) {
      if (p.a < p.b) {
        std::printf("link  gpu%d-gpu%d: %s (%s)\n", p.a, p.b, p.link.c_str(), p.evidence.c_str());
      }
    }
  }
  for (const auto& s : r.skipped) std::printf("skipped %s: %s\n", s.test.c_str(), s.reason.c_str());
}

}  // namespace

int run_compute_job(const ComputeCliOptions& c, const std::vector<std::string>& argv,
                    const std::function<std::filesystem::path()>& out_dir_for) {
  // Everything the user typed is validated before any GPU work.
  const auto tests = parse_compute_test_list(all_compute_tests(), c.tests);
  const ComputeOptions options = build_options(c);
  if (!built_with_cuda()) {
    throw environment_error(
        "this sxbench binary was built without CUDA: `sxbench compute` needs "
        "a CUDA build and a GPU");
  }
  const int visible = visible_cuda_devices();
  if (visible == 0) {
    const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES");
    throw environment_error(std::string("no CUDA GPU is visible") +
                            (cvd ? std::string(" (CUDA_VISIBLE_DEVICES=") + cvd + ")" : "") +
                            ": `sxbench compute` measures GPUs");
  }
  const std::vector<int> devices = parse_device_list(c.devices, visible);
  std::vector<const ComputeTestSpec*> to_run;
  std::vector<SkippedTest> skipped;
  for (const ComputeTestSpec* t : tests) {
    if (static_cast<int>(devices.size()) >= t->min_gpus) {
      to_run.push_back(t);
      continue;
    }
    const std::string why =
        fmt::format("needs at least {} GPUs, {} chosen", t->min_gpus, devices.size());
    if (c.tests != "all") throw environment_error(std::string(t->name) + " " + why);
    skipped.push_back({std::string(t->name), why});
  }

#ifdef SXB_HAVE_CUDA
  ComputeReport report;
  report.tool_version = SXB_VERSION;
  report.status = "partial";
  report.started_utc = utc_iso8601_now();
  report.argv = argv;
  report.cuda_runtime_version = cuda_runtime_version_string();
  report.cuda_driver_version = cuda_driver_version_string();
  report.cublaslt_version = cublaslt_version_string();
  report.skipped = skipped;
  report.params = params_json(c, options, devices);
  report.methods = nlohmann::json::object();
  for (const ComputeTestSpec* t : to_run) {
    report.tests.emplace_back(t->name);
    report.methods[std::string(t->name)] = std::string(t->method);
  }

  std::vector<HardwareSpec> specs;
  try {
    const auto dir = find_config_dir();
    specs = load_hardware_specs(dir / "hardware");
    report.spec_source = (dir / "hardware").string();
  } catch (const Error& e) {
    if (std::string(e.what()).find("cannot find the configs/") == std::string::npos) throw;
    report.spec_source = std::string("none: ") + e.what();
  }
  ComputeRun run{options, devices, query_compute_devices(), {}, {}, report, nullptr, nullptr};
  for (auto& d : run.all_devices) {
    auto spec = find_gpu_spec(specs, d.name);
    if (spec) d.spec_id = spec->id;
    run.specs.push_back(std::move(spec));
  }
  for (int d : devices) report.devices.push_back(run.all_devices[d]);

  // Topology of the chosen GPUs: NVML for NVLink and PCIe state, CUDA for peer access.
  {
    std::vector<std::string> bus_ids;
    for (int d : devices) bus_ids.push_back(run.all_devices[d].pci_bus_id);
    std::vector<NvlinkState> states;
    ComputeTopology topo;
    topo.nvml = probe_nvlinks(bus_ids, states);
    for (size_t i = 0; i < devices.size(); ++i) {
      states[i].info.device = devices[i];
      topo.gpus.push_back(states[i].info);
    }
    for (size_t i = 0; i < devices.size(); ++i) {
      for (size_t j = 0; j < devices.size(); ++j) {
        if (i == j) continue;
        const PeerAttributes pa = peer_attributes(devices[i], devices[j]);
        const auto addr = parse_pci_address(bus_ids[j]);
        topo.pairs.push_back(classify_gpu_pair(
            devices[i], devices[j], {pa.access, pa.performance_rank, pa.native_atomics},
            topo.nvml == "ok", states[i], states[j], addr.value_or(PciAddress{})));
      }
    }
    run.links = topo.pairs;
    report.topology = topo;
  }

  const std::filesystem::path out_dir = out_dir_for();
  std::filesystem::create_directories(out_dir);
  const auto json_path = out_dir / "compute.json";
  run.print = [](const std::string& line) {
    std::fputs((line + "\n").c_str(), stdout);
    std::fflush(stdout);
  };
  run.checkpoint = [&] { write_json_atomic(json_path, report); };

  for (const auto& d : report.devices) {
    std::printf("# gpu%d %s (%s), %d SMs, L2 %s, memory %s, spec %s\n", d.index, d.name.c_str(),
                d.pci_bus_id.c_str(), d.sm_count, format_bytes(d.l2_bytes).c_str(),
                format_bytes(d.memory_bytes).c_str(),
                d.spec_id.empty() ? "none" : d.spec_id.c_str());
  }
  std::printf("# CUDA runtime %s, driver %s, cuBLASLt %s\n", report.cuda_runtime_version.c_str(),
              report.cuda_driver_version.c_str(), report.cublaslt_version.c_str());
  try {
    for (const ComputeTestSpec* t : to_run) {
      std::printf("# %s: %s\n", std::string(t->name).c_str(), std::string(t->description).c_str());
      std::fflush(stdout);
      t->run(run);
      run.checkpoint();
    }
  } catch (const Error& e) {
    report.status = "failed";
    report.finished_utc = utc_iso8601_now();
    report.skipped.push_back({"error", e.what()});
    write_json_atomic(json_path, report);
    throw;
  }
  report.status = run.errors.empty() ? "complete" : "partial";
  report.finished_utc = utc_iso8601_now();
  write_json_atomic(json_path, report);
  print_summary(report);
  std::fprintf(stderr, "sxbench: wrote %s\n", json_path.c_str());
  if (!run.errors.empty()) {
    throw runtime_error(run.errors.front() +
                        (run.errors.size() > 1
                             ? fmt::format(" (and {} more failures)", run.errors.size() - 1)
                             : std::string()));
  }
  int failed_checks = 0;
  for (const auto& chk : report.gemm_checks) failed_checks += chk.passed ? 0 : 1;
  if (failed_checks > 0) {
    throw Error(fmt::format("GEMM check failed for {} type/device combination(s); see {}",
                            failed_checks, json_path.string()),
                ExitCode::failure);
  }
  for (const auto& chk : report.attention_checks) failed_checks += chk.passed ? 0 : 1;
  if (failed_checks > 0) {
    throw Error(fmt::format("attention check failed for {} kernel/shape/device combination(s); "
                            "see {}",
                            failed_checks, json_path.string()),
                ExitCode::failure);
  }
  return 0;
#else
  (void)argv;
  (void)out_dir_for;
  (void)to_run;
  throw environment_error(
      "this sxbench binary was built without CUDA: `sxbench compute` needs a "
      "CUDA build and a GPU");
#endif
}

namespace {

int run_compute(const ComputeCliOptions& c, const CommandContext& ctx) {
  if (c.list) {
    print_list();
    return 0;
  }
  return run_compute_job(c, ctx.argv, [&] {
    return c.out_dir.empty()
               ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                         ("compute_" + utc_compact_now()))
               : std::filesystem::path(c.out_dir);
  });
}

}  // namespace

Command add_compute_command(CLI::App& root) {
  auto o = std::make_shared<ComputeCliOptions>();
  CLI::App* app =
      root.add_subcommand("compute",
                          "GPU ceilings: GEMM rate (cuBLASLt bf16/fp16/tf32/fp8), HBM bandwidth, "
                          "GPU-to-GPU bandwidth and latency with topology, host-link bandwidth, "
                          "the training engine's attention kernels");
  app->add_option("--tests", o->tests, "Tests: 'all' or a comma-separated list (see --list)")
      ->capture_default_str();
  app->add_flag("--list", o->list, "List the tests and exit");
  app->add_option("--devices", o->devices, "GPUs: 'all' or comma-separated CUDA indices")
      ->capture_default_str();
  app->add_option("--dtypes", o->dtypes, "GEMM types: all or a list of bf16, fp16, tf32, fp8")
      ->capture_default_str();
  app->add_option("--shapes", o->shapes,
                  "GEMM shape groups: all, square, llama2, llama2-7b, llama2-13b, llama2-70b, "
                  "or a model (built-in name, Hugging Face id or directory)")
      ->capture_default_str();
  app->add_option("--square-min", o->square_min, "Smallest square GEMM size (16 to 65536)")
      ->check(int_in(16, kMaxSquareGemm))
      ->capture_default_str();
  app->add_option("--square-max", o->square_max, "Largest square GEMM size (16 to 65536)")
      ->check(int_in(16, kMaxSquareGemm))
      ->capture_default_str();
  app->add_option("--seq", o->seq, "Sequence length of the Llama shapes")
      ->check(int_in(1, 1 << 20))
      ->capture_default_str();
  app->add_option("--micro-batch", o->micro_batch,
                  "Micro-batch of the Llama shapes (tokens = "
                  "seq x micro-batch, at most 4194304)")
      ->check(int_in(1, 1000000))
      ->capture_default_str();
  app->add_flag("--backward", o->backward, "Add the backward (dgrad, wgrad) Llama shapes");
  app->add_option("--layout", o->layout,
                  "tn (A·Bᵀ, a linear layer) or nn (A·B, torch's A @ B); fp8 always runs tn")
      ->capture_default_str();
  app->add_option("--iters", o->gemm_iters, "Timed GEMM runs per shape")
      ->check(int_in(1, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--warmup", o->gemm_warmup, "Warm-up GEMM runs per shape")
      ->check(int_in(0, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--algos", o->algos, "cuBLASLt heuristic candidates timed per shape")
      ->check(int_in(1, 1024))
      ->capture_default_str();
  app->add_option("--workspace", o->workspace, "cuBLASLt workspace size (0 to 4G; 0: algorithms without workspace)")
      ->check(size_in(0, 4 * kGiB))
      ->capture_default_str();
  app->add_option("--rotate-l2", o->rotate_l2,
                  "GEMM input sets together exceed this many L2 sizes (0 to 1024; 0: no L2 target, "
                  "the minimum of two input sets)")
      ->check(number_in(0, 1024))
      ->capture_default_str();
  app->add_option("--fp8-fast-accum", o->fp8_fast_accum,
                  "fp8 products accumulate in the fast (reduced-precision) mode (1) or not (0)")
      ->check(zero_or_one())
      ->capture_default_str();
  app->add_option("--check", o->check,
                  "Check a small product per GEMM type and each attention kernel against a "
                  "float64 reference (1) or not (0)")
      ->check(zero_or_one())
      ->capture_default_str();
  app->add_option("--bw-iters", o->bw_iters, "Timed runs per bandwidth figure")
      ->check(int_in(1, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--bw-warmup", o->bw_warmup, "Warm-up runs per bandwidth figure")
      ->check(int_in(0, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--hbm-bytes", o->hbm_bytes, "HBM buffer size (16 to 64G)")
      ->check(size_in(16, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("--host-bytes", o->host_bytes, "Host copy size (16 to 64G)")
      ->check(size_in(16, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("--p2p-bytes", o->p2p_bytes, "GPU-to-GPU copy size (16 to 64G)")
      ->check(size_in(16, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("--attention-shapes", o->attention_shapes,
                  "Attention shapes, comma-separated: default (published comparisons and the "
                  "built-in models) and BxHxKVxTxD[xW] (batch, heads, kv heads, sequence, "
                  "head_dim, window)")
      ->capture_default_str();
  app->add_option("--attention-iters", o->attention_iters, "Timed attention calls per shape")
      ->check(int_in(1, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--out", o->out_dir,
                  "Output directory (default: $RESULTS_DIR/compute_<UTC time>)");
  return {app, [o](const CommandContext& ctx) { return run_compute(*o, ctx); }};
}

}  // namespace sxb
