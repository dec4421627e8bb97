// The collective suite shared by `sxbench nccl` and `sxbench run`: runs the sweep of each
// collective, prints nccl-tests tables (rank 0), and after every collective rewrites
// nccl_<op>.log and nccl.json in out_dir, so a later failure leaves complete files behind.
#include "commands/nccl_suite.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/units.hpp"
#include "platform/gpu_probe.hpp"

namespace sxb {

Backend choose_backend(const std::string& requested) {
  if (requested == "auto") return visible_cuda_devices() > 0 ? Backend::nccl : Backend::mpi;
  return parse_backend(requested);
}

std::unique_ptr<Communicator> start_communicator(Backend backend, const MpiContext& mpi,
                                                 Watchdog& watchdog, double timeout_s) {
  WatchdogScope guard(watchdog, timeout_s, "communicator start-up");
  return make_communicator(backend, mpi);
}

CollectiveReport run_collective_suite(Communicator& comm, const MpiContext& mpi, Watchdog& watchdog,
                                      const std::vector<const CollectiveSpec*>& ops,
                                      const SweepConfig& cfg, const std::filesystem::path& out_dir,
                                      bool echo_tables) {
  const bool root_rank = mpi.rank() == 0;
  CollectiveReport report;
  report.tool_version = SXB_VERSION;
  report.status = "partial";
  report.started_utc = utc_iso8601_now();
  report.library_version = comm.library_version();
  report.mpi_library_version = mpi.library_version();
  report.launcher = mpi.launcher();
  report.world_size = mpi.world_size();
  report.node_count = mpi.node_count();
  report.method =
      "host clock around `iters` back-to-back operations after a barrier, completion awaited on "
      "the stream; time = mean per operation, max over ranks; algbw = size/time; busbw = algbw x "
      "nccl-tests bus factor; #wrong = output elements differing from the expected pattern, "
      "summed over ranks";
  const auto devices = mpi.all_gather(comm.device_description());
  const auto pids = mpi.all_gather(std::to_string(::getpid()));
  for (int r = 0; r < mpi.world_size(); ++r) {
    report.ranks.push_back({r, mpi.hosts()[r], std::stoi(pids[r]), devices[r]});
  }
  const uint64_t min_b = cfg.sizes.empty() ? 0 : cfg.sizes.front();
  const uint64_t max_b = cfg.sizes.empty() ? 0 : cfg.sizes.back();
  report.params = {backend_name(comm.backend()), dtype_name(cfg.dtype), min_b, max_b,
                   cfg.step_factor, cfg.step_bytes, cfg.warmup_iters, cfg.iters, cfg.check,
                   cfg.root, cfg.timeout_s};
  auto echo = [&](const std::string& text) {
    if (root_rank && echo_tables) {
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    }
  };
  for (const CollectiveSpec* op : ops) {
    std::string log = nccl_log_preamble(report, std::string(op->name)) + nccl_log_table_header();
    echo(log);
    auto rows = run_collective_sweep(comm, mpi, watchdog, *op, cfg, [&](const CollectiveRow& r) {
      const std::string line = nccl_log_row(r);
      log += line;
      echo(line);
    });
    const CollectiveOpSummary summary = summarize(std::string(op->name), rows);
    report.rows.insert(report.rows.end(), rows.begin(), rows.end());
    report.summary.push_back(summary);
    const std::string footer = nccl_log_footer(summary);
    log += footer;
    echo(footer);
    if (root_rank) {
      write_file_atomic(out_dir / fmt::format("nccl_{}.log", op->log_name), log);
      write_json_atomic(out_dir / "nccl.json", report);
    }
  }
  report.status = "complete";
  report.finished_utc = utc_iso8601_now();
  if (root_rank) write_json_atomic(out_dir / "nccl.json", report);
  return report;
}

}  // namespace sxb
