// `sxbench run`: the whole suite for one model and node count in one run directory:
//   results/h200_benchmark_<UTC time>_<model>_<N>n/
// Phases by mode; run.json is rewritten (atomically) at every phase boundary, so the directory
// always says what happened so far; a terminating signal marks the run failed, naming the ranks
// on this host that are gone. Only rank 0 writes.
#include <signal.h>
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
#include <thread>

#include "bench/collectives.hpp"
#include "commands/command.hpp"
#include "commands/nccl_suite.hpp"
#include "commands/run_report.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "dist/gpu_probe.hpp"
#include "dist/mpi_context.hpp"
#include "dist/system_info.hpp"
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
  double timeout_s = 0;
  std::string nccl_max_bytes;  // empty: by mode
};

const std::vector<std::string> kModes = {"full", "sft", "nccl", "compute", "quick"};

// Phases each mode runs, in order.
std::vector<std::string> phases_for(const std::string& mode) {
  if (mode == "full" || mode == "quick") return {"nccl"};
  return {mode};
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

// Ranks on this host whose process is gone (or a zombie): named in the failure record.
std::vector<std::string> dead_local_ranks(const std::vector<std::string>& hosts,
                                          const std::vector<std::string>& pids,
                                          const std::string& my_host) {
  std::vector<std::string> dead;
  for (size_t r = 0; r < hosts.size(); ++r) {
    if (hosts[r] != my_host) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pids[r]));
    bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
    if (!gone) {
      std::ifstream stat(fmt::format("/proc/{}/stat", pid));
      std::string a, b, state;
      stat >> a >> b >> state;
      gone = state == "Z";
    }
    if (gone) dead.push_back(fmt::format("rank {} on host {} (pid {})", r, hosts[r], pid));
  }
  return dead;
}

// Waits for SIGTERM/SIGINT/SIGHUP (blocked in every thread) and records the failure.
void start_signal_thread(RunRecord* record, std::vector<std::string> hosts,
                         std::vector<std::string> pids, std::string my_host,
                         std::shared_ptr<std::string> current_phase,
                         std::shared_ptr<std::mutex> phase_mu) {
  std::thread([=] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    std::string phase;
    {
      std::lock_guard<std::mutex> lock(*phase_mu);
      phase = *current_phase;
    }
    const auto dead = dead_local_ranks(hosts, pids, my_host);
    std::string error = fmt::format("terminated by signal {} ({}) during phase {}", sig,
                                    strsignal(sig), phase.empty() ? "start-up" : phase);
    if (!dead.empty()) {
      std::string names;
      for (const auto& d : dead) names += (names.empty() ? "" : ", ") + d;
      error += "; stopped: " + names;
    } else {
      error += "; another rank or the launcher ended the job (the launcher's output names it)";
    }
    if (record) {
      try {
        record->update([&](nlohmann::json& j) {
          j["status"] = "failed";
          j["error"] = error;
          j["finished_utc"] = utc_iso8601_now();
        });
      } catch (...) {
      }
    }
    std::fprintf(stderr, "sxbench: error: %s\n", error.c_str());
    std::fflush(stderr);
    std::_Exit(128 + sig);
  }).detach();
}

SweepConfig nccl_config_for(const RunOptions& o, Backend backend, double timeout_s) {
  SweepConfig cfg;
  const bool gpu = backend == Backend::nccl;
  const bool quick = o.mode == "quick";
  std::string max = o.nccl_max_bytes;
  if (max.empty()) max = gpu ? (quick ? "256M" : "8G") : (quick ? "1M" : "16M");
  cfg.step_factor = 2;
  cfg.sizes = size_sweep(8, parse_size_bytes(max, "--nccl-max-bytes"), 2, 0);
  cfg.warmup_iters = 5;
  cfg.iters = quick ? 10 : 20;
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
  const double timeout_s = o.timeout_s > 0 ? o.timeout_s : *ctx.env.get_number("COMM_TIMEOUT");
  if (!o.nccl_max_bytes.empty()) parse_size_bytes(o.nccl_max_bytes, "--nccl-max-bytes");
  ctx.env.export_passthrough();

  // Block termination signals in every thread; one thread handles them (start_signal_thread).
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);

  MpiContext mpi(nullptr, nullptr);
  const bool root = mpi.rank() == 0;
  std::unique_ptr<RunRecord> record;
  auto phase = std::make_shared<std::string>();
  auto phase_mu = std::make_shared<std::mutex>();
  try {
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

    fs::path dir;
    if (root) {
      dir = o.out_dir.empty()
                ? create_unique_directory(fs::path(ctx.env.get_string("RESULTS_DIR")) /
                                          fmt::format("h200_benchmark_{}_{}_{}n", utc_compact_now(),
                                                      model_slug(model), o.nodes))
                : fs::path(o.out_dir);
      fs::create_directories(dir);
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
      std::fprintf(stderr, "sxbench run: %s, %d node(s), %d rank(s), mode %s -> %s\n",
                   model.c_str(), o.nodes, mpi.world_size(), o.mode.c_str(), dir.c_str());
    }
    start_signal_thread(record.get(), mpi.hosts(), pids, mpi.host(), phase, phase_mu);

    Watchdog watchdog(mpi.rank(), mpi.host());
    const Backend backend = choose_backend(requested);
    std::unique_ptr<Communicator> comm = start_communicator(backend, mpi, watchdog, timeout_s);
    const auto specs = load_hardware_specs(find_config_dir() / "hardware");
    const JobLimits limits = job_limits(specs, comm->device_name(), mpi.node_count(),
                                        mpi.local_size());
    ValidationReport validation;
    RunArtifacts artifacts;

    const auto phases = phases_for(o.mode);
    for (size_t i = 0; i < phases.size(); ++i) {
      const std::string& name = phases[i];
      {
        std::lock_guard<std::mutex> lock(*phase_mu);
        *phase = name;
      }
      const std::string started = utc_iso8601_now();
      if (root) {
        std::fprintf(stderr, "sxbench run: [%zu/%zu] %s\n", i + 1, phases.size(), name.c_str());
        record->update([&](nlohmann::json& j) {
          j["phases"].push_back({{"name", name}, {"status", "running"}, {"started_utc", started}});
        });
      }
      nlohmann::json outcome = {{"name", name}, {"started_utc", started}};
      if (name == "nccl") {
        const SweepConfig cfg = nccl_config_for(o, backend, timeout_s);
        const auto ops = parse_collective_list("all");
        artifacts.nccl = run_collective_suite(*comm, mpi, watchdog, ops, cfg, dir, /*echo=*/false);
        validation.add(validate_collectives(*artifacts.nccl, limits));
        outcome["files"] = {"nccl.json", "nccl_allreduce.log"};
        outcome["status"] = "ok";
      }
      outcome["finished_utc"] = utc_iso8601_now();
      if (root) {
        record->update([&](nlohmann::json& j) { j["phases"].back() = outcome; });
      }
    }
    {
      std::lock_guard<std::mutex> lock(*phase_mu);
      *phase = "report";
    }
    comm.reset();
    if (root) {
      write_json_atomic(dir / "validation.json", validation);
      record->update([&](nlohmann::json& j) {
        j["status"] = validation.passed() ? "complete" : "failed";
        if (!validation.passed()) {
          j["error"] = fmt::format("validation failed: {} failed, {} impossible (validation.json)",
                                   validation.count(Verdict::failed),
                                   validation.count(Verdict::impossible));
        }
        j["finished_utc"] = utc_iso8601_now();
      });
      write_file_atomic(dir / "summary_report.md",
                        render_run_summary(record->snapshot(), artifacts, validation));
      std::fprintf(stderr, "sxbench run: %s; wrote %s\n",
                   validation.passed() ? "complete" : "validation FAILED", dir.c_str());
    }
    if (!validation.passed()) {
      throw Error("validation failed (see validation.json in the run directory)", ExitCode::failure);
    }
    return 0;
  } catch (const Error& e) {
    if (record && e.code() != ExitCode::failure) {
      record->update([&](nlohmann::json& j) {
        j["status"] = "failed";
        j["error"] = e.what();
        j["finished_utc"] = utc_iso8601_now();
      });
    }
    if (mpi.world_size() > 1 && e.code() != ExitCode::failure) {
      std::fprintf(stderr, "sxbench: error: %s\n", e.what());
      std::fflush(stderr);
      mpi.abort(static_cast<int>(e.code()));
    }
    throw;
  }
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
      ->capture_default_str();
  app->add_option("--mode", opts->mode, "full, sft, nccl, compute or quick")->capture_default_str();
  app->add_option("--out", opts->out_dir,
                  "Run directory (default: $RESULTS_DIR/h200_benchmark_<UTC>_<model>_<N>n)");
  app->add_option("--backend", opts->backend, "Collective backend: nccl, mpi or auto [COMM_BACKEND]");
  app->add_option("--timeout", opts->timeout_s, "Seconds one collective size may take [COMM_TIMEOUT]");
  app->add_option("--nccl-max-bytes", opts->nccl_max_bytes,
                  "Largest collective size (default: 8G full / 256M quick on GPUs, 16M / 1M on CPUs)");
  return {app, [opts](const CommandContext& ctx) { return run_run(*opts, ctx); }};
}

}  // namespace sxb
