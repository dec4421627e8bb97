#pragma once
// Synthetic run directories for the report tests, written with the same structs and writers the
// commands use (CollectiveReport, MetricsSummary, metrics_csv_rows, ModelConfig::to_json,
// ValidationReport), so their schema is the real one; only the figures are chosen by the test.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "bench/collective_sweep.hpp"
#include "core/atomic_file.hpp"
#include "core/collective_results.hpp"
#include "core/utc_time.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/summary.hpp"
#include "monitor/windows.hpp"
#include "model/model_config.hpp"
#include "validate/findings.hpp"

namespace sxb::report::testing {

namespace fs = std::filesystem;

// Directories made by fresh_dir, removed when the test process exits.
struct ScratchDirs {
  std::vector<fs::path> dirs;
  ~ScratchDirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};
inline ScratchDirs scratch_dirs;

// A fresh, empty directory under the temp dir, unique to this process and name.
inline fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("sxb_report_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  scratch_dirs.dirs.push_back(d);
  return d;
}

struct SyntheticRun {
  std::string model = "meta-llama/Llama-2-7b-hf";
  int nodes = 1;
  int gpus_per_node = 8;
  std::string gpu_name = "NVIDIA H200";
  std::string status = "complete";
  std::string started_utc = "2026-11-30T10:00:00Z";
  // Training (sft_metrics.json); tokens_per_s_per_gpu <= 0 leaves the file out.
  double tokens_per_s_per_gpu = 3000;
  int64_t seq_len = 4096;
  int64_t micro_batch = 1;
  int zero_stage = 1;
  bool recompute = false;
  double step_spread = 0.02;  // p10 / p90 at median x (1 -/+ spread)
  // Collectives (nccl.json): all_reduce and all_gather; peak busbw <= 0 leaves the file out.
  double allreduce_peak_busbw_gb_per_s = 80;
  uint64_t nccl_max_bytes = 1ull << 30;
  // GPU metrics: util_pct < 0 leaves gpu_metrics files out.
  double util_pct = 95;
  double power_w = 600;
  int samples = 5;
  // gpu_metrics_summary.json carries phase_windows (false: a summary from before they were
  // recorded, which the report cuts from the CSV itself).
  bool phase_windows = true;
  bool validation = true;
};

inline nlohmann::json synthetic_sft_metrics(const SyntheticRun& s) {
  const ModelConfig model = resolve_model(s.model);
  const int world = s.nodes * s.gpus_per_node;
  const int64_t tokens_per_step = int64_t(world) * s.micro_batch * s.seq_len;
  const double tokens_per_s = s.tokens_per_s_per_gpu * world;
  const double median = double(tokens_per_step) / tokens_per_s;
  const double flops = palm_flops_per_token(model_shape(model), s.seq_len);
  const double tflops = flops * s.tokens_per_s_per_gpu / 1e12;
  nlohmann::json steps = nlohmann::json::array();
  for (int i = 1; i <= 4; ++i) {
    steps.push_back({{"step", i},
                     {"loss", 10.0 - i},
                     {"grad_norm", 1.0},
                     {"lr", 1e-5},
                     {"target_tokens", tokens_per_step},
                     {"step_time_s", median},
                     {"comm_time_s", 0.1 * median}});
  }
  return {{"schema", "sxbench.sft_metrics/1"},
          {"tool_version", "0.1.0"},
          {"status", "complete"},
          {"started_utc", s.started_utc},
          {"finished_utc", s.started_utc},
          {"engine", "cuda-bf16"},
          {"device", {{"kind", "gpu"}, {"name", s.gpu_name}, {"unit", "GPU"}, {"note", ""}}},
          {"world_size", world},
          {"node_count", s.nodes},
          {"launcher", "srun"},
          {"communication", {{"backend", "nccl"}, {"library", "NCCL 2.28.3"}}},
          {"model", model.to_json()},
          {"precision", {{"requested", "bf16"}, {"computed", "bf16"}, {"note", ""}}},
          {"zero_stage", {{"requested", s.zero_stage}, {"applied", s.zero_stage}, {"note", ""}}},
          {"activation_recomputation",
           {{"requested", s.recompute ? "full" : "none"},
            {"applied", s.recompute},
            {"mode", s.recompute ? "full" : "none"},
            {"method", "full"}}},
          {"batch",
           {{"train_micro_batch_size_per_gpu", s.micro_batch},
            {"gradient_accumulation_steps", 1},
            {"train_batch_size", world * s.micro_batch},
            {"world_size", world}}},
          {"seq_len", s.seq_len},
          {"steps", 5},
          {"warmup_steps_excluded", 1},
          {"measured_steps", 4},
          {"step_time_s",
           {{"median", median},
            {"p10", median * (1 - s.step_spread)},
            {"p90", median * (1 + s.step_spread)},
            {"mean", median},
            {"min", median * (1 - s.step_spread)},
            {"max", median * (1 + s.step_spread)},
            {"count", 4}}},
          {"tokens_per_step", tokens_per_step},
          {"tokens_per_s", tokens_per_s},
          {"tokens_per_s_per_device", s.tokens_per_s_per_gpu},
          {"samples_per_s", tokens_per_s / double(s.seq_len)},
          {"sample_definition", fmt::format("one packed sequence of {} tokens", s.seq_len)},
          {"model_flops_per_token", flops},
          {"model_tflops_per_s_per_device", tflops},
          {"recomputation_counted", false},
          {"mfu", tflops / 989.4},
          {"peak_flops_per_s_per_device", 989.4e12},
          {"mfu_note", ""},
          {"exposed_communication_share", 0.1},
          {"timing_method", "synthetic test figures"},
          {"replicas_identical", true},
          {"initial_loss", 9.0},
          {"final_loss", 6.0},
          {"loss_curve", steps},
          {"warnings", nlohmann::json::array()}};
}

inline CollectiveReport synthetic_nccl(const SyntheticRun& s) {
  CollectiveReport r;
  r.tool_version = "0.1.0";
  r.status = "complete";
  r.started_utc = r.finished_utc = s.started_utc;
  r.library_version = "NCCL 2.28.3";
  r.mpi_library_version = "Open MPI v4.1.4";
  r.launcher = "srun";
  r.world_size = s.nodes * s.gpus_per_node;
  r.node_count = s.nodes;
  for (int i = 0; i < r.world_size; ++i) {
    r.ranks.push_back({i, fmt::format("node{}", i / s.gpus_per_node), 1000 + i,
                       fmt::format("GPU {} {} [0000:1b:00.0]", i % s.gpus_per_node, s.gpu_name)});
  }
  r.params = {"nccl", "float", 8, s.nccl_max_bytes, 4, 0, 5, 20, true, 0, 300};
  r.method = "synthetic test figures";
  const double n = r.world_size;
  for (const std::string op : {"all_reduce", "all_gather"}) {
    std::vector<CollectiveRow> rows;
    const double factor = op == "all_reduce" ? 2 * (n - 1) / n : (n - 1) / n;
    for (uint64_t size = 8; size <= s.nccl_max_bytes; size *= 4) {
      CollectiveRow row;
      row.op = op;
      row.dtype = "float";
      row.redop = op == "all_reduce" ? "sum" : "none";
      row.size_bytes = size;
      row.count = size / 4;
      // Saturating curve: half the peak at 4 MiB.
      const double busbw =
          s.allreduce_peak_busbw_gb_per_s * double(size) / (double(size) + 4194304.0);
      row.out_of_place.busbw_gb_per_s = busbw;
      row.out_of_place.algbw_gb_per_s = busbw / factor;
      row.out_of_place.time_us = double(size) / (row.out_of_place.algbw_gb_per_s * 1e9) * 1e6;
      row.out_of_place.wrong = 0;
      row.in_place = row.out_of_place;
      rows.push_back(row);
    }
    r.summary.push_back(summarize(op, rows));
    r.rows.insert(r.rows.end(), rows.begin(), rows.end());
  }
  return r;
}

inline nlohmann::json synthetic_host(const SyntheticRun& s, int node) {
  nlohmann::json gpus = nlohmann::json::array();
  for (int g = 0; g < s.gpus_per_node; ++g) {
    gpus.push_back({{"index", g},
                    {"name", s.gpu_name},
                    {"pci_bus_id", "0000:1b:00.0"},
                    {"memory_bytes", 150754820096ull},
                    {"multiprocessors", 132},
                    {"compute_capability", "9.0"},
                    {"peer_access", nlohmann::json::array()}});
  }
  return {{"hostname", fmt::format("node{}", node)},
          {"os", "Ubuntu 24.04.1 LTS"},
          {"kernel", "Linux 6.8.0"},
          {"cpu_model", "Intel Xeon Platinum 8480+"},
          {"cpu_count", 224},
          {"memory_bytes", 2164000000000ull},
          {"nvidia_driver_version", "570.124.06"},
          {"cuda_driver_api", "12.8"},
          {"cuda_runtime_version", "12.8"},
          {"nccl_version", "2.28.3"},
          {"mpi_library_version", "Open MPI v4.1.6"},
          {"built_with_cuda", true},
          {"gpus", gpus},
          {"nics",
           {{{"name", "mlx5_0"},
             {"kind", "rdma"},
             {"link_layer", "Ethernet"},
             {"rate_gbit_per_s", 400.0},
             {"state", "up"}}}}};
}

// `utc` (whole seconds) plus `seconds`, to the millisecond.
inline std::string utc_plus(const std::string& utc, double seconds) {
  const double t = parse_utc_iso8601(utc).value().epoch_s + seconds;
  return utc_iso8601_ms(std::chrono::system_clock::time_point(
      std::chrono::milliseconds(static_cast<int64_t>(std::llround(t * 1000)))));
}

// Writes gpu_metrics.csv and gpu_metrics_summary.json with the monitor's own writers: every
// GPU of every node at util_pct and power_w, `samples` samples one second apart from the run's
// start (the first before the sft phase starts).
inline void write_synthetic_gpu_metrics(const fs::path& dir, const SyntheticRun& s) {
  std::string csv = metrics_csv_header();
  nlohmann::json by_host = nlohmann::json::object();
  for (int node = 0; node < s.nodes; ++node) {
    MetricsSummary summary;
    summary.host = fmt::format("node{}", node);
    summary.started_utc = summary.finished_utc = s.started_utc;
    summary.interval_s = 1;
    summary.gpu_metrics = true;
    for (int i = 0; i < s.samples; ++i) {
      Tick t;
      t.timestamp_utc = utc_plus(s.started_utc, i);
      t.elapsed_s = i;
      t.host = summary.host;
      for (int g = 0; g < s.gpus_per_node; ++g) {
        GpuSample gs;
        gs.index = unsigned(g);
        gs.uuid = fmt::format("GPU-{}-{}", node, g);
        gs.name = s.gpu_name;
        gs.gpu_util_pct = i == 0 ? 0.0 : s.util_pct;  // the first sample before work starts
        gs.power_w = i == 0 ? 100.0 : s.power_w;
        gs.energy_j = 1000.0 * i;
        t.gpus.push_back(gs);
      }
      summary.add(t);
      csv += metrics_csv_rows(t);
    }
    by_host[summary.host] = summary.to_json();
  }
  nlohmann::json top = by_host["node0"];
  if (s.nodes > 1) top["hosts"] = by_host;
  write_json_atomic(dir / "gpu_metrics_summary.json", top);
  write_file_atomic(dir / "gpu_metrics.csv", csv);
}

inline fs::path write_synthetic_run(const fs::path& results, const std::string& name,
                                    const SyntheticRun& s) {
  const fs::path dir = results / name;
  fs::create_directories(dir);
  nlohmann::json phases = nlohmann::json::array();
  ValidationReport validation;
  if (s.allreduce_peak_busbw_gb_per_s > 0) {
    const CollectiveReport r = synthetic_nccl(s);
    write_json_atomic(dir / "nccl.json", r);
    write_file_atomic(dir / "nccl_allreduce.log", "# synthetic\n");
    phases.push_back(
        {{"name", "nccl"}, {"status", "ok"}, {"files", {"nccl.json", "nccl_allreduce.log"}}});
    validation.add(validate_collectives(r, {}));
  }
  if (s.tokens_per_s_per_gpu > 0) {
    write_json_atomic(dir / "sft_metrics.json", synthetic_sft_metrics(s));
    // The sft phase spans the samples after the first: [start, start + samples - 1 s].
    phases.push_back({{"name", "sft"},
                      {"status", "ok"},
                      {"files", {"sft_metrics.json"}},
                      {"started_utc", utc_plus(s.started_utc, 0)},
                      {"finished_utc", utc_plus(s.started_utc, s.samples - 1)}});
  }
  if (s.util_pct >= 0) write_synthetic_gpu_metrics(dir, s);
  nlohmann::json hosts = nlohmann::json::array();
  for (int n = 0; n < s.nodes; ++n) hosts.push_back(synthetic_host(s, n));
  const nlohmann::json run = {
      {"schema", "sxbench.run/1"},
      {"tool_version", "0.1.0"},
      {"status", s.status},
      {"error",
       s.status == "failed" ? nlohmann::json("phase failed: sft: boom") : nlohmann::json(nullptr)},
      {"command_line", {"sxbench", "run"}},
      {"model", s.model},
      {"mode", "full"},
      {"nodes", s.nodes},
      {"world_size", s.nodes * s.gpus_per_node},
      {"launcher", "srun"},
      {"started_utc", s.started_utc},
      {"finished_utc", s.started_utc},
      {"settings", nlohmann::json::object()},
      {"hosts", hosts},
      {"ranks", nlohmann::json::array()},
      {"phases", phases}};
  write_json_atomic(dir / "run.json", run);
  if (s.util_pct >= 0 && s.phase_windows) {
    // As `run` does at its end: each phase's samples summarised from the CSV.
    auto summary = read_json_file(dir / "gpu_metrics_summary.json");
    summary["phase_windows"] =
        summarize_windows(dir / "gpu_metrics.csv", run_windows(run, nullptr), 1.0);
    write_json_atomic(dir / "gpu_metrics_summary.json", summary);
  }
  if (s.validation) write_json_atomic(dir / "validation.json", validation);
  return dir;
}

}  // namespace sxb::report::testing
