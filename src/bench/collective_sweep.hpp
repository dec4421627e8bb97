#pragma once
// The measurement harness shared by every collective (the role of nccl-tests' common.cu): for
// each size it fills inputs with the check pattern, runs warm-up iterations, times `iters`
// back-to-back operations between a barrier and the completion of the last one (host clock, as
// nccl-tests), takes the mean per operation and the max over ranks, then (with check on) runs
// once more on fresh inputs and counts wrong output elements on every rank.
#include <functional>
#include <string>
#include <vector>

#include "bench/collectives.hpp"
#include "core/collective_results.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi_context.hpp"
#include "comm/watchdog.hpp"

namespace sxb {

struct SweepConfig {
  std::vector<uint64_t> sizes;  // nominal sizes in bytes (per-op rounding applies)
  double step_factor = 2;       // how `sizes` was made, for the record
  uint64_t step_bytes = 0;
  DataType dtype = DataType::f32;
  int root = 0;
  int warmup_iters = 5;
  int iters = 20;
  bool check = true;
  double timeout_s = 300;
};

// Runs one collective over all sizes. on_row is called on every rank after each size, with the
// same (reduced) row everywhere.
std::vector<CollectiveRow> run_collective_sweep(
    Communicator& comm, const MpiContext& mpi, Watchdog& watchdog, const CollectiveSpec& op,
    const SweepConfig& cfg, const std::function<void(const CollectiveRow&)>& on_row);

CollectiveOpSummary summarize(const std::string& op, const std::vector<CollectiveRow>& rows);

// nccl-tests' text layout, so existing parsers read sxbench logs.
std::string nccl_log_preamble(const CollectiveReport& report, const std::string& op);
std::string nccl_log_table_header();
std::string nccl_log_row(const CollectiveRow& row);
std::string nccl_log_footer(const CollectiveOpSummary& summary);

// Fault injection for acceptance of the failure paths, through the environment:
//   SXB_FAULT_INJECT=hang:R     rank R stops answering at its first collective (timeout path);
//   SXB_FAULT_INJECT=corrupt:R  rank R overwrites one output element before each data check
//                               (the check must report #wrong > 0 and the run must fail);
//   SXB_FAULT_INJECT=slow:R[:F] rank R's timed diagnose work is stretched F times (default 3,
//                               2..1000): its products and copies run F times per sample and its
//                               pair exchanges wait F - 1 times their own length before the
//                               sample ends, so `sxbench diagnose` must name rank R;
//                               in `sxbench train --device cpu` its forward and backward take
//                               F times their CPU time (a straggler for `diagnose --from`).
void maybe_inject_fault(int rank);
// F for rank R under SXB_FAULT_INJECT=slow:R[:F], 1 for every other rank (and without a fault).
int fault_slow_factor(int rank);

}  // namespace sxb
