// `sxbench run`: the whole suite for one model and node count in one run directory:
//   results/h200_benchmark_<UTC time>_<model>_<N>n/
// Phases by mode; run.json is rewritten (atomically) at every phase boundary, so the directory
// always says what happened so far; any failure on any rank (an error, a rank that stops
// answering, a terminating signal) marks the run failed with its cause, the rank and host where
// it happened and the phase (comm/job_abort.hpp). Only rank 0 writes; the directory is locked
// against a second writer.
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "bench/collectives.hpp"
#include "bench/sweep_defaults.hpp"
#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "commands/preflight_job.hpp"
#include "commands/compute_job.hpp"
#include "commands/nccl_suite.hpp"
#include "commands/train_job.hpp"
#include "commands/run_report.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "core/utc_time.hpp"
#include "platform/gpu_probe.hpp"
#include "comm/job_abort.hpp"
#include "comm/mpi_context.hpp"
#include "platform/system_info.hpp"
#include "monitor/metrics_csv.hpp"
#include "monitor/sampler.hpp"
#include "monitor/windows.hpp"
#include "validate/findings.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string model;
  int nodes = 1;
  std::string mode = "quick";
  std::string out_dir;
  std::string backend;
  std::optional<double> timeout_s;  // absent: COMM_TIMEOUT
  std::string nccl_max_bytes;  // empty: by mode
  // sft phase
  std::string ds_config;
  std::optional<int64_t> steps;  // absent: by mode
  std::optional<int64_t> seq_len;
  std::optional<int64_t> micro_batch;
};

const std::vector<std::string> kModes = {"full", "sft", "nccl", "compute", "quick"};

// Phases each mode runs, in order.
std::vector<std::string> phases_for(const std::string& mode) {
  if (mode == "full" || mode == "quick") return {"preflight", "nccl", "compute", "sft"};
  return {mode};
}

// Outcome of one phase: ok, failed (error), skipped or not_run (reason): recorded, never hidden.
struct PhaseResult {
  std::string status = "ok";
  std::string reason;
  std::vector<std::string> files;
};

// How long the compute phase's measurements may take before the waiting ranks end the job.
constexpr double kComputePhaseLimit_s = 2 * 3600;

// The compute phase: each node's first rank measures that node's GPUs while the other ranks
// wait; rank 0 writes compute.json (its node) and compute_<host>.json for the other nodes.
PhaseResult compute_phase(const RunOptions& o, const MpiContext& mpi, Backend backend,
                          const fs::path& dir, const std::vector<std::string>& argv) {
  PhaseResult r;
  if (backend != Backend::nccl || visible_cuda_devices() == 0) {
    r.status = "skipped";
    r.reason = "no GPU visible: GPU ceilings (GEMM, HBM, links) need a GPU";
    return r;
  }
  ComputeCliOptions c;
  if (o.mode == "quick") {
    c.dtypes = "bf16,fp8";
    c.shapes = "square";
    c.square_min = 8192;
    c.square_max = 8192;
    c.gemm_iters = 20;
    c.hbm_bytes = "1G";
    c.attention_shapes = "1x32x32x4096x128,1x32x8x8192x128";  // the published comparison pair
  }
  std::string error, json;
  // Each node's first rank measures alone while the others wait in the gathers below: the wait
  // is bounded by the measurement's length, not by the collective timeout.
  const TimeoutScope measuring(mpi, std::max(mpi.timeout(), kComputePhaseLimit_s));
  if (mpi.local_rank() == 0) {
    const fs::path where = mpi.rank() == 0 ? dir : fs::temp_directory_path() /
                                                       fmt::format("sxb_compute_{}", ::getpid());
    try {
      run_compute_job(c, argv, [&] { return where; });
    } catch (const Error& e) {
      error = fmt::format("{}: {}", mpi.host(), e.what());
    }
    if (mpi.rank() != 0 && fs::exists(where / "compute.json")) {
      json = read_file(where / "compute.json");
      fs::remove_all(where);
    }
  }
  const auto errors = mpi.all_gather(error);
  const auto reports = mpi.all_gather(json);
  r.files.push_back("compute.json");
  for (int rank = 0; rank < mpi.world_size(); ++rank) {
    if (!reports[rank].empty() && mpi.rank() == 0) {
      const std::string name = fmt::format("compute_{}.json", mpi.hosts()[rank]);
      write_file_atomic(dir / name, reports[rank]);
      r.files.push_back(name);
    }
    if (!errors[rank].empty()) {
      r.status = "failed";
      r.reason += (r.reason.empty() ? "" : "; ") + errors[rank];
    }
  }
  return r;
}

// The preflight phase: every host (its first rank) against the node profile, with the .env
// overrides; rank 0 writes preflight.json. Failed checks are the phase's finding, not its
// failure: the benchmark goes on, and the reason counts them.
PhaseResult preflight_phase(const MpiContext& mpi, const fs::path& dir, const EnvConfig& env) {
  PhaseResult r;
  const auto documents = gather_host_preflights(
      mpi, [&] { return check_this_host("/", "", env); });
  if (mpi.rank() != 0) return r;
  const nlohmann::json file = preflight_file(documents);
  write_json_atomic(dir / "preflight.json", file);
  int counts[4] = {0, 0, 0, 0};
  for (const auto& d : documents) {
    const auto& n = d["counts"];
    counts[0] += n["pass"].get<int>();
    counts[1] += n["warn"].get<int>();
    counts[2] += n["fail"].get<int>();
    counts[3] += n["unknown"].get<int>();
  }
  r.reason = fmt::format("{} host(s): {} pass, {} warn, {} fail, {} unknown{}", documents.size(),
                         counts[0], counts[1], counts[2], counts[3],
                         file.contains("differences") && !file["differences"].empty()
                             ? fmt::format("; {} check(s) differ between hosts",
                                           file["differences"].size())
                             : std::string());
  r.files = {"preflight.json"};
  return r;
}

// The sft phase: sxbench's training engine on every rank.
PhaseResult sft_phase(const RunOptions& o, const std::string& model, const MpiContext& mpi,
                      Backend backend, const fs::path& dir, const EnvConfig& env,
                      nlohmann::json& metrics) {
  PhaseResult r;
  TrainJobRequest req;
  req.device = backend == Backend::nccl ? "cuda" : "cpu";
  req.model = model;
  req.ds_config = o.ds_config;
  req.quick_defaults = o.mode == "quick";
  req.steps = o.steps.value_or(o.mode == "quick" ? 30 : 20);
  req.warmup_steps = 1;
  req.seq_len = o.seq_len;
  req.micro_batch = o.micro_batch;
  // Preparation reads files every rank must see alike (model, ds_config, data); what one rank
  // cannot read fails the phase on every rank, naming the rank, before any training collective.
  std::optional<TrainJob> job;
  std::string prepare_error;
  try {
    job = prepare_train_job(req, env);
  } catch (...) {
    prepare_error = describe_exception(std::current_exception()).first;
  }
  const auto prepare_errors = mpi.all_gather(prepare_error);
  for (int rank = 0; rank < mpi.world_size(); ++rank) {
    if (prepare_errors[rank].empty()) continue;
    r.status = "failed";
    r.reason = rank == 0 ? prepare_errors[0]
                         : fmt::format("rank {} on host {}: {}", rank, mpi.hosts()[rank],
                                       prepare_errors[rank]);
    return r;
  }
  try {
    metrics = run_train_job(*job, mpi, dir);
    r.files.push_back("sft_metrics.json");
  } catch (const Error& e) {
    r.status = "failed";
    r.reason = e.code() == ExitCode::ok ? "refused (rank 0 records why)" : e.what();
  }
  // A refusal every rank shares comes from rank 0: everyone records rank 0's reason.
  const auto reasons = mpi.all_gather(r.reason);
  if (r.status == "failed" || !reasons[0].empty()) {
    r.status = "failed";
    r.reason = reasons[0].empty() ? r.reason : reasons[0];
  }
  return r;
}

std::string model_slug(const std::string& model) {
  std::string base = model.substr(model.find_last_of('/') == std::string::npos ? 0 : model.find_last_of('/') + 1);
  std::string out;
  for (char c : base) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out.empty() ? "model" : out;
}

// run.json as it grows; rank 0 only. Guarded because the signal thread writes it too.
class RunRecord {
 public:
  RunRecord(fs::path dir, nlohmann::json initial) : dir_(std::move(dir)), j_(std::move(initial)) {}
  void update(const std::function<void(nlohmann::json&)>& f) {
    std::lock_guard<std::mutex> lock(mu_);
    f(j_);
    write_json_atomic(dir_ / "run.json", j_);
  }
  nlohmann::json snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return j_;
  }
  const fs::path& dir() const { return dir_; }

 private:
  std::mutex mu_;
  fs::path dir_;
  nlohmann::json j_;
};

SweepConfig nccl_config_for(const RunOptions& o, Backend backend, double timeout_s) {
  SweepConfig cfg;
  const RunSweepDefaults& d = run_sweep_defaults(o.mode);
  std::string max = o.nccl_max_bytes;
  if (max.empty()) max = backend == Backend::nccl ? d.max_bytes_gpu : d.max_bytes_cpu;
  cfg.step_factor = d.size_factor;
  const uint64_t max_bytes = parse_size_in(max, "--nccl-max-bytes", d.min_bytes, kMaxBufferBytes);
  cfg.sizes = size_sweep(d.min_bytes, max_bytes, d.size_factor, 0);
  cfg.warmup_iters = d.warmup_iters;
  cfg.iters = d.iters;
  cfg.timeout_s = timeout_s;
  return cfg;
}

int run_run(const RunOptions& o, const CommandContext& ctx) {
  // Validate before MPI starts.
  if (std::find(kModes.begin(), kModes.end(), o.mode) == kModes.end()) {
    throw usage_error(fmt::format("unknown mode '{}' (known: full, sft, nccl, compute, quick)", o.mode));
  }
  if (o.nodes < 1) throw usage_error(fmt::format("--nodes must be at least 1, got {}", o.nodes));
  const std::string model = o.model.empty() ? ctx.env.get_string("MODEL_NAME") : o.model;
  const std::string requested = o.backend.empty() ? ctx.env.get_string("COMM_BACKEND") : o.backend;
  if (requested != "auto") parse_backend(requested);
  const double timeout_s = o.timeout_s ? *o.timeout_s : *ctx.env.get_number("COMM_TIMEOUT");
  const auto planned = phases_for(o.mode);
  if (std::find(planned.begin(), planned.end(), "preflight") != planned.end()) {
    check_preflight_inputs("/", "", ctx.env);  // the profile and PREFLIGHT_* settings
  }
  ctx.env.export_passthrough();

  // MpiContext handles SIGTERM/SIGINT/SIGHUP and every rank's failure (comm/job_abort.hpp);
  // this command's failure hook records the cause and the phase in run.json.
  MpiContext mpi(nullptr, nullptr);
  mpi.set_timeout(timeout_s);
  const bool root = mpi.rank() == 0;
  std::unique_ptr<RunRecord> record;
  std::optional<FailureHook> record_failure;
  auto phase = std::make_shared<std::string>();
  auto phase_mu = std::make_shared<std::mutex>();
  // Any exception on any rank: rank 0's hook below records it in run.json, every rank ends.
  return run_as_job(mpi, [&]() -> int {
    if (o.nodes != mpi.node_count()) {
      throw usage_error(fmt::format(
          "wrong node count: --nodes {} but this job's {} rank(s) run on {} host(s)", o.nodes,
          mpi.world_size(), mpi.node_count()));
    }
    const auto pids = mpi.all_gather(std::to_string(::getpid()));
    // Inventory: one per host, gathered to rank 0.
    std::string host_json;
    if (mpi.local_rank() == 0) {
      HostInfo h = collect_host_info();
      h.mpi_library_version = mpi.library_version();
      host_json = nlohmann::json(h).dump();
    }
    const auto host_infos = mpi.all_gather(host_json);

    // The run directory is rank 0's alone: created and locked (one writer) before anything is
    // written; what fails here every rank learns, and rank 0 reports.
    fs::path dir;
    DirectoryLock dir_lock;
    on_root_then_agree(mpi, [&] {
      dir = o.out_dir.empty()
                ? create_unique_directory(fs::path(ctx.env.get_string("RESULTS_DIR")) /
                                          fmt::format("h200_benchmark_{}_{}_{}n", utc_compact_now(),
                                                      model_slug(model), o.nodes))
                : fs::path(o.out_dir);
      fs::create_directories(dir);
      dir_lock = DirectoryLock(dir, "run");
    });
    if (root) {
      nlohmann::json j = {{"schema", "sxbench.run/1"},
                          {"tool_version", SXB_VERSION},
                          {"status", "running"},
                          {"error", nullptr},
                          {"command_line", ctx.argv},
                          {"model", model},
                          {"mode", o.mode},
                          {"nodes", o.nodes},
                          {"world_size", mpi.world_size()},
                          {"launcher", mpi.launcher()},
                          {"started_utc", utc_iso8601_now()},
                          {"finished_utc", nullptr},
                          {"settings", ctx.env.resolved_redacted()},
                          {"hosts", nlohmann::json::array()},
                          {"ranks", nlohmann::json::array()},
                          {"phases", nlohmann::json::array()}};
      for (const auto& h : host_infos) {
        if (!h.empty()) j["hosts"].push_back(nlohmann::json::parse(h));
      }
      for (int r = 0; r < mpi.world_size(); ++r) {
        j["ranks"].push_back({{"rank", r}, {"host", mpi.hosts()[r]}, {"pid", std::stol(pids[r])}});
      }
      record = std::make_unique<RunRecord>(dir, j);
      record->update([](nlohmann::json&) {});
      record_failure.emplace([&record, phase, phase_mu](const std::string& line) {
        std::string during;
        {
          std::lock_guard<std::mutex> lock(*phase_mu);
          during = phase->empty() ? "start-up" : *phase;
        }
        record->update([&](nlohmann::json& j) {
          j["status"] = "failed";
          // The phase is rank 0's: a failure on another rank names rank 0's phase as such.
          j["error"] = line.rfind("rank 0 ", 0) == 0
                           ? fmt::format("{} (phase {})", line, during)
                           : fmt::format("{} (rank 0 in phase {})", line, during);
          j["finished_utc"] = utc_iso8601_now();
          if (!j["phases"].empty() && j["phases"].back().value("status", "") == "running") {
            j["phases"].back()["status"] = "failed";
            j["phases"].back()["reason"] = line;
          }
        });
      });
      std::fprintf(stderr, "sxbench run: %s, %d node(s), %d rank(s), mode %s -> %s\n",
                   model.c_str(), o.nodes, mpi.world_size(), o.mode.c_str(), dir.c_str());
    }
    Watchdog& watchdog = mpi.watchdog();
    const Backend backend = choose_backend(requested);
    std::unique_ptr<Communicator> comm = start_communicator(backend, mpi, watchdog, timeout_s);
    const auto specs = load_hardware_specs(find_config_dir() / "hardware");
    const JobLimits limits = job_limits(specs, comm->device_name(), mpi.node_count(),
                                        mpi.local_size(), load_records(find_config_dir() / "records"));
    ValidationReport validation;
    RunArtifacts artifacts;
    // GPU metrics throughout: each node's first rank samples every GPU of its node; rank 0's
    // rows stream into gpu_metrics.csv, other nodes' rows are appended at the end.
    std::unique_ptr<MetricsSampler> sampler;
    const fs::path metrics_csv =
        root ? dir / "gpu_metrics.csv"
             : fs::temp_directory_path() / fmt::format("sxb_gpu_metrics_{}.csv", ::getpid());
    if (mpi.local_rank() == 0) {
      sampler = std::make_unique<MetricsSampler>(
          SamplerOptions{.interval_s = metrics_interval_s(ctx.env), .csv_path = metrics_csv});
      if (root && !sampler->has_gpu()) {
        std::fprintf(stderr, "sxbench run: GPU metrics: %s (host columns only)\n",
                     sampler->gpu_note().c_str());
      }
      sampler->start();
    }

    const auto phases = phases_for(o.mode);
    for (size_t i = 0; i < phases.size(); ++i) {
      const std::string& name = phases[i];
      {
        std::lock_guard<std::mutex> lock(*phase_mu);
        *phase = name;
      }
      const std::string started = utc_iso8601_ms_now();
      if (root) {
        std::fprintf(stderr, "sxbench run: [%zu/%zu] %s\n", i + 1, phases.size(), name.c_str());
        record->update([&](nlohmann::json& j) {
          j["phases"].push_back({{"name", name}, {"status", "running"}, {"started_utc", started}});
        });
      }
      nlohmann::json outcome = {{"name", name}, {"started_utc", started}};
      PhaseResult result;
      if (name == "preflight") {
        result = preflight_phase(mpi, dir, ctx.env);
      } else if (name == "nccl") {
        const SweepConfig cfg = nccl_config_for(o, backend, timeout_s);
        const auto ops = parse_collective_list(run_sweep_defaults(o.mode).collectives);
        artifacts.nccl = run_collective_suite(*comm, mpi, watchdog, ops, cfg, dir, /*echo=*/false);
        validation.add(validate_collectives(*artifacts.nccl, limits));
        result.files = {"nccl.json", "nccl_allreduce.log"};
      } else if (name == "compute") {
        result = compute_phase(o, mpi, backend, dir, ctx.argv);
        if (root && fs::exists(dir / "compute.json")) {
          artifacts.compute = read_json_file(dir / "compute.json");
          validation.add(validate_compute(*artifacts.compute, limits.records));
        }
      } else if (name == "sft") {
        nlohmann::json metrics;
        result = sft_phase(o, model, mpi, backend, dir, ctx.env, metrics);
        if (result.status == "ok") {
          validation.add(validate_training(metrics, limits));
          artifacts.sft = metrics;
        }
      }
      mpi.barrier();
      outcome["status"] = result.status;
      if (!result.reason.empty()) outcome["reason"] = result.reason;
      outcome["files"] = result.files;
      outcome["finished_utc"] = utc_iso8601_ms_now();
      if (root) {
        std::fprintf(stderr, "sxbench run:       %s%s%s\n", result.status.c_str(),
                     result.reason.empty() ? "" : ": ", result.reason.c_str());
      }
      if (root) {
        record->update([&](nlohmann::json& j) { j["phases"].back() = outcome; });
      }
    }
    {
      std::lock_guard<std::mutex> lock(*phase_mu);
      *phase = "report";
    }
    comm.reset();
    std::string summary_json, foreign_rows;
    if (sampler) {
      const MetricsSummary summary = sampler->stop();
      summary_json = summary.to_json().dump();
      if (!root) {
        std::ifstream in(metrics_csv);
        std::string line;
        std::getline(in, line);  // header
        for (; std::getline(in, line);) foreign_rows += line + "\n";
        fs::remove(metrics_csv);
      }
    }
    const auto summaries = mpi.all_gather(summary_json);
    const auto rows = mpi.all_gather(foreign_rows);
    if (root) {
      nlohmann::json by_host = nlohmann::json::object();
      for (int r = 0; r < mpi.world_size(); ++r) {
        if (!rows[r].empty()) append_csv_rows(metrics_csv, rows[r]);
        if (!summaries[r].empty()) by_host[mpi.hosts()[r]] = nlohmann::json::parse(summaries[r]);
      }
      nlohmann::json metrics_summary = by_host[mpi.host()];
      if (mpi.node_count() > 1) metrics_summary["hosts"] = by_host;
      // Each phase and the training engine's timed steps, from every host's rows of the CSV.
      try {
        metrics_summary["phase_windows"] = summarize_windows(
            metrics_csv,
            run_windows(record->snapshot(), artifacts.sft.value_or(nlohmann::json())),
            metrics_summary.value("interval_s", metrics_interval_s(ctx.env)));
      } catch (const Error& e) {
        metrics_summary["phase_windows"] = {{"error", e.what()}};
        std::fprintf(stderr, "sxbench run: GPU metrics per phase: %s\n", e.what());
      }
      write_json_atomic(dir / "gpu_metrics_summary.json", metrics_summary);
      artifacts.gpu_metrics_summary = metrics_summary;
      validation.add(validate_gpu_power(metrics_summary, limits));
    }
    bool any_failed = false, any_missing = false, any_ok = false;
    std::string phase_errors;
    if (root) {
      const nlohmann::json so_far = record->snapshot();
      for (const auto& p : so_far["phases"]) {
        const std::string st = p.value("status", "");
        any_ok = any_ok || st == "ok";
        if (st == "failed") {
          any_failed = true;
          phase_errors += fmt::format("{}{}: {}", phase_errors.empty() ? "" : "; ",
                                      p["name"].get<std::string>(), p.value("reason", ""));
        }
        if (st == "not_run" || st == "skipped") any_missing = true;
      }
      if (!any_ok && !any_failed) {  // every phase skipped: nothing was measured
        any_failed = true;
        for (const auto& p : so_far["phases"]) {
          phase_errors += fmt::format("{}{}: {}", phase_errors.empty() ? "" : "; ",
                                      p["name"].get<std::string>(), p.value("reason", ""));
        }
        phase_errors = "nothing measured (" + phase_errors + ")";
      }
      write_json_atomic(dir / "validation.json", validation);
      record->update([&](nlohmann::json& j) {
        const bool ok = validation.passed() && !any_failed;
        j["status"] = !ok ? "failed" : (any_missing ? "partial" : "complete");
        if (!validation.passed()) {
          j["error"] = fmt::format("validation failed: {} failed, {} impossible (validation.json)",
                                   validation.count(Verdict::failed),
                                   validation.count(Verdict::impossible));
        } else if (any_failed) {
          j["error"] = any_ok ? "phase failed: " + phase_errors : phase_errors;
        }
        j["finished_utc"] = utc_iso8601_now();
      });
      write_file_atomic(dir / "summary_report.md",
                        render_run_summary(record->snapshot(), artifacts, validation));
      std::fprintf(stderr, "sxbench run: %s; wrote %s\n",
                   record->snapshot()["status"].get<std::string>().c_str(), dir.c_str());
    }
    any_failed = mpi.max(any_failed ? 1.0 : 0.0) > 0;
    if (!validation.passed() || any_failed) {
      throw Error(fmt::format("run failed (see run.json and validation.json in {})", dir.string()),
                  ExitCode::failure);
    }
    return 0;
  });
}

}  // namespace

Command add_run_command(CLI::App& root) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* app = root.add_subcommand(
      "run", "The whole suite in one run directory: collectives, GPU ceilings, fine-tuning "
             "throughput, GPU metrics, validation and a summary report");
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--model", opts->model, "Model id or local directory [MODEL_NAME]");
  app->add_option("--nodes", opts->nodes, "Nodes in this job (must match the launch)")
      ->check(int_in(1, 1024))
      ->capture_default_str();
  app->add_option("--mode", opts->mode, "full, sft, nccl, compute or quick")->capture_default_str();
  app->add_option("--out", opts->out_dir,
                  "Run directory (default: $RESULTS_DIR/h200_benchmark_<UTC>_<model>_<N>n)");
  app->add_option("--backend", opts->backend, "Collective backend: nccl, mpi or auto [COMM_BACKEND]");
  app->add_option("--timeout", opts->timeout_s,
                  "Seconds one collective size may take, 0.1 to 86400 [COMM_TIMEOUT]")
      ->check(number_in(0.1, 86400));
  app->add_option("--ds-config", opts->ds_config, "DeepSpeed config for the sft phase");
  app->add_option("--steps", opts->steps,
                  "Training steps of the sft phase, 1 of them warm-up (default: 30 quick, 20 "
                  "otherwise)")
      ->check(int_in(2, kMaxRepetitions));
  app->add_option("--seq-len", opts->seq_len, "Sequence length of the sft phase [SEQ_LEN]")
      ->check(int_in(2, 1 << 20));
  app->add_option("--micro-batch", opts->micro_batch,
                  "Micro-batch of the sft phase [BATCH_SIZE_PER_GPU]")
      ->check(int_in(1, 1000000));
  app->add_option("--nccl-max-bytes", opts->nccl_max_bytes,
                  fmt::format("Largest collective size (default: {} full / {} quick on GPUs, {} / "
                              "{} on CPUs)",
                              kFullRunSweep.max_bytes_gpu, kQuickRunSweep.max_bytes_gpu,
                              kFullRunSweep.max_bytes_cpu, kQuickRunSweep.max_bytes_cpu))
      ->check(size_in(kFullRunSweep.min_bytes, kMaxBufferBytes));
  return {app, [opts](const CommandContext& ctx) { return run_run(*opts, ctx); }};
}

}  // namespace sxb
