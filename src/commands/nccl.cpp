// `sxbench nccl`: the collective sweep, nccl-tests' flags and output, written to nccl.json and
// nccl_<op>.log (nccl_allreduce.log for all_reduce) in the output directory.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <optional>

#include "bench/collective_sweep.hpp"
#include "commands/nccl_suite.hpp"
#include "bench/collectives.hpp"
#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "comm/communicator.hpp"
#include "platform/gpu_probe.hpp"
#include "comm/job_abort.hpp"
#include "comm/mpi_context.hpp"
#include "comm/watchdog.hpp"

namespace sxb {

namespace {

struct NcclOptions {
  std::string ops = "all";
  std::string min_bytes = "8";
  std::string max_bytes = "128M";
  double step_factor = 2;
  std::string step_bytes = "0";
  int warmup_iters = 5;
  int iters = 20;
  int check = 1;
  std::string dtype = "float";
  int root = 0;
  std::string backend;  // empty: COMM_BACKEND
  std::optional<double> timeout_s;  // absent: COMM_TIMEOUT
  std::string out_dir;
  bool list = false;
};

void print_list() {
  std::printf("%-16s %-6s %-6s %-8s %s\n", "collective", "redop", "root", "in-place",
              "bus factor (n ranks)");
  const char* factors[] = {"2(n-1)/n", "(n-1)/n", "(n-1)/n", "1", "1", "(n-1)/n", "1"};
  size_t i = 0;
  for (const auto& c : collectives()) {
    std::printf("%-16s %-6s %-6s %-8s %s\n", std::string(c.name).c_str(), c.reduces ? "sum" : "-",
                c.rooted ? "yes" : "-", c.in_place ? "yes" : "-", i < 7 ? factors[i] : "?");
    ++i;
  }
}

int run_nccl(const NcclOptions& o, const CommandContext& ctx) {
  if (o.list) {
    print_list();
    return 0;
  }
  // Validate everything before MPI starts, so bad input fails fast on every rank.
  const auto ops = parse_collective_list(o.ops);
  const uint64_t min_b = parse_size_in(o.min_bytes, "minimum size (-b)", 1, kMaxBufferBytes);
  const uint64_t max_b = parse_size_in(o.max_bytes, "maximum size (-e)", 1, kMaxBufferBytes);
  const uint64_t step_b = parse_size_in(o.step_bytes, "step size (-i)", 0, kMaxBufferBytes);
  SweepConfig cfg;
  cfg.step_factor = step_b > 0 ? 1.0 : o.step_factor;
  cfg.step_bytes = step_b;
  cfg.sizes = size_sweep(min_b, max_b, cfg.step_factor, step_b);
  cfg.dtype = parse_dtype(o.dtype);
  cfg.root = o.root;
  cfg.warmup_iters = o.warmup_iters;
  cfg.iters = o.iters;
  cfg.check = o.check != 0;
  cfg.timeout_s = o.timeout_s ? *o.timeout_s : *ctx.env.get_number("COMM_TIMEOUT");
  const std::string requested = o.backend.empty() ? ctx.env.get_string("COMM_BACKEND") : o.backend;
  if (requested != "auto") parse_backend(requested);
  ctx.env.export_passthrough();

  MpiContext mpi(nullptr, nullptr);
  mpi.set_timeout(cfg.timeout_s);
  return run_as_job(mpi, [&]() -> int {
    Watchdog& watchdog = mpi.watchdog();
    // The output directory is rank 0's alone: created and locked (one writer) before any
    // collective work; what fails here every rank learns, and rank 0 reports.
    std::filesystem::path out_dir;
    DirectoryLock out_lock;
    on_root_then_agree(mpi, [&] {
      out_dir = o.out_dir.empty()
                    ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                              ("nccl_" + utc_compact_now()))
                    : std::filesystem::path(o.out_dir);
      std::filesystem::create_directories(out_dir);
      out_lock = DirectoryLock(out_dir, "nccl");
    });
    std::unique_ptr<Communicator> comm =
        start_communicator(choose_backend(requested), mpi, watchdog, cfg.timeout_s);
    const CollectiveReport report = run_collective_suite(*comm, mpi, watchdog, ops, cfg, out_dir,
                                                         /*echo_tables=*/true);
    if (mpi.rank() == 0) std::fprintf(stderr, "sxbench: wrote %s\n", (out_dir / "nccl.json").c_str());
    int64_t total_wrong = 0;
    std::vector<std::string> failed_ops;
    for (const auto& s : report.summary) {
      total_wrong += s.wrong;
      if (s.wrong > 0) failed_ops.push_back(s.op);
    }
    comm.reset();
    if (total_wrong > 0) {
      throw Error(fmt::format("data check failed: {} wrong elements in {}", total_wrong,
                              fmt::join(failed_ops, ", ")),
                  ExitCode::failure);
    }
    return 0;
  });
}

}  // namespace

Command add_nccl_command(CLI::App& root) {
  auto opts = std::make_shared<NcclOptions>();
  std::vector<std::string_view> names;
  for (const auto& c : collectives()) names.push_back(c.name);
  CLI::App* app = root.add_subcommand(
      "nccl", fmt::format("Collective benchmark (nccl-tests conventions): {}",
                          fmt::join(names, ", ")));
  // A later flag overrides an earlier one (scripts pass defaults, users append their own).
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--ops", opts->ops, "Collectives: 'all' or a comma-separated list")
      ->capture_default_str();
  app->add_option("-b,--minbytes", opts->min_bytes,
                  "Minimum size (bytes; K/M/G suffixes; 1 to 64G)")
      ->check(size_in(1, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("-e,--maxbytes", opts->max_bytes, "Maximum size (1 to 64G)")
      ->check(size_in(1, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("-f,--stepfactor", opts->step_factor,
                  "Multiply the size by this each step (1 to 1024; 1 needs -i)")
      ->check(number_in(1, 1024))
      ->capture_default_str();
  app->add_option("-i,--stepbytes", opts->step_bytes,
                  "Add this many bytes each step instead (0: multiply by -f)")
      ->check(size_in(0, kMaxBufferBytes))
      ->capture_default_str();
  app->add_option("-w,--warmup_iters", opts->warmup_iters, "Warm-up iterations per size")
      ->check(int_in(0, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("-n,--iters", opts->iters, "Timed iterations per size")
      ->check(int_in(1, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("-c,--check", opts->check, "Check results (1) or not (0)")
      ->check(zero_or_one())
      ->capture_default_str();
  app->add_option("-d,--datatype", opts->dtype, "float, half or bfloat16")->capture_default_str();
  app->add_option("-r,--root", opts->root, "Root rank of broadcast and reduce")
      ->check(int_in(0, 65535))
      ->capture_default_str();
  app->add_option("--backend", opts->backend, "nccl (GPU), mpi (host memory) or auto [COMM_BACKEND]");
  app->add_option("--timeout", opts->timeout_s,
                  "Seconds one size may take before the run stops with an error, 0.1 to 86400 "
                  "[COMM_TIMEOUT]")
      ->check(number_in(0.1, 86400));
  app->add_option("--out", opts->out_dir,
                  "Output directory (default: $RESULTS_DIR/nccl_<UTC time>)");
  app->add_flag("--list", opts->list, "List the collectives and exit");
  return {app, [opts](const CommandContext& ctx) { return run_nccl(*opts, ctx); }};
}

}  // namespace sxb
