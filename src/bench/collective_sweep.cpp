#include "bench/collective_sweep.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "bench/pattern.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/units.hpp"

namespace sxb {

namespace {

// SXB_FAULT_INJECT=hang:R, corrupt:R or slow:R[:F] (see the header).
struct FaultInjection {
  int hang_rank = -1;
  int corrupt_rank = -1;
  int slow_rank = -1;
  int slow_factor = 1;
};

const FaultInjection& fault_injection() {
  static const FaultInjection f = [] {
    FaultInjection out;
    const auto spec = environment_knob("SXB_FAULT_INJECT");
    if (!spec) return out;
    const std::string& s = *spec;
    const size_t colon = s.find(':');
    const std::string kind = s.substr(0, colon);
    const size_t colon2 = colon == std::string::npos ? colon : s.find(':', colon + 1);
    const bool slow = kind == "slow";
    if (colon2 != std::string::npos && !slow) {
      throw usage_error("SXB_FAULT_INJECT must be hang:RANK, corrupt:RANK or slow:RANK[:FACTOR], "
                        "got '" + s + "'");
    }
    const int rank =
        colon == std::string::npos
            ? -1
            : static_cast<int>(parse_int(s.substr(colon + 1, colon2 == std::string::npos
                                                                ? std::string::npos
                                                                : colon2 - colon - 1),
                                         "SXB_FAULT_INJECT rank"));
    if (kind == "hang" && rank >= 0) {
      out.hang_rank = rank;
    } else if (kind == "corrupt" && rank >= 0) {
      out.corrupt_rank = rank;
    } else if (slow && rank >= 0) {
      out.slow_rank = rank;
      out.slow_factor = colon2 == std::string::npos
                            ? 3
                            : static_cast<int>(parse_int(s.substr(colon2 + 1),
                                                         "SXB_FAULT_INJECT slow factor"));
      if (out.slow_factor < 2 || out.slow_factor > 1000) {
        throw usage_error("SXB_FAULT_INJECT slow factor must lie in 2..1000, got '" + s + "'");
      }
    } else {
      throw usage_error("SXB_FAULT_INJECT must be hang:RANK, corrupt:RANK or slow:RANK[:FACTOR], "
                        "got '" + s + "'");
    }
    return out;
  }();
  return f;
}

}  // namespace

int fault_slow_factor(int rank) {
  return fault_injection().slow_rank == rank ? fault_injection().slow_factor : 1;
}

void maybe_inject_fault(int rank) {
  if (fault_injection().hang_rank == rank) {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

namespace {

struct Placement {
  const void* send;
  void* recv;
};

CollectiveMeasurement measure(Communicator& comm, const MpiContext& mpi, const CollectiveSpec& op,
                              const CollectiveCounts& k, const SweepConfig& cfg, Placement p,
                              void* poison_base, size_t poison_bytes, void* fill_at) {
  const MemorySpace space = comm.memory_space();
  const int rank = comm.rank(), n = comm.size();
  auto prepare = [&] {
    poison(space, poison_base, poison_bytes);
    fill_pattern(space, fill_at, k.send_count, cfg.dtype, rank, 0);
  };
  auto run_once = [&] { op.run(comm, p.send, p.recv, k, cfg.dtype, cfg.root); };

  prepare();
  maybe_inject_fault(rank);
  for (int i = 0; i < cfg.warmup_iters; ++i) run_once();
  comm.synchronize();
  mpi.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < cfg.iters; ++i) run_once();
  comm.synchronize();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / cfg.iters;

  CollectiveMeasurement m;
  const double worst = mpi.max(seconds);
  m.time_us = worst * 1e6;
  m.algbw_gb_per_s = worst > 0 ? static_cast<double>(k.size_bytes) / worst / 1e9 : 0.0;
  m.busbw_gb_per_s = m.algbw_gb_per_s * op.bus_factor(n);
  if (cfg.check) {
    prepare();
    run_once();
    comm.synchronize();
    const auto segments = op.expected(k, rank, n, cfg.root);
    if (fault_injection().corrupt_rank == rank && !segments.empty()) {
      std::vector<char> bad(dtype_size(cfg.dtype));
      store_from_float(bad.data(), 0, cfg.dtype, 1000.0f);  // outside the pattern's range
      char* at = static_cast<char*>(p.recv) + segments[0].out_offset * dtype_size(cfg.dtype);
      comm.copy_from_host(at, bad.data(), bad.size());
    }
    int64_t wrong = 0;
    for (const auto& seg : segments) {
      const char* at = static_cast<const char*>(p.recv) + seg.out_offset * dtype_size(cfg.dtype);
      wrong += static_cast<int64_t>(
          count_mismatches(space, at, seg.count, cfg.dtype, seg.src_rank, n, seg.src_offset));
    }
    m.wrong = mpi.sum(wrong);
  }
  return m;
}

}  // namespace

std::vector<CollectiveRow> run_collective_sweep(
    Communicator& comm, const MpiContext& mpi, Watchdog& watchdog, const CollectiveSpec& op,
    const SweepConfig& cfg, const std::function<void(const CollectiveRow&)>& on_row) {
  const int n = comm.size();
  const size_t ts = dtype_size(cfg.dtype);
  if (op.rooted && (cfg.root < 0 || cfg.root >= n)) {
    throw usage_error(fmt::format("root {} is not a rank (0..{})", cfg.root, n - 1));
  }
  size_t max_send = 0, max_recv = 0;
  for (uint64_t s : cfg.sizes) {
    const CollectiveCounts k = op.counts(s, ts, n);
    max_send = std::max(max_send, k.send_count);
    max_recv = std::max(max_recv, k.recv_count);
  }
  std::vector<CollectiveRow> rows;
  if (max_send == 0 && max_recv == 0) return rows;
  // One buffer large enough for the in-place form doubles as the out-of-place send buffer.
  // Checked before allocating: a size list from outside (run, nccl) cannot wrap the byte count.
  CommBuffer shared(comm, checked_product({std::max(max_send, max_recv), ts},
                                          "collective buffer bytes", 2 * kMaxBufferBytes));
  CommBuffer recv(comm, checked_product({max_recv, ts}, "collective buffer bytes",
                                        2 * kMaxBufferBytes));

  for (uint64_t nominal : cfg.sizes) {
    const CollectiveCounts k = op.counts(nominal, ts, n);
    if (k.count == 0) continue;  // below one element per rank
    CollectiveRow row;
    row.op = std::string(op.name);
    row.dtype = dtype_name(cfg.dtype);
    row.redop = op.reduces ? "sum" : "none";
    row.root = op.rooted ? cfg.root : -1;
    row.size_bytes = k.size_bytes;
    row.count = k.count;
    {
      WatchdogScope guard(watchdog, cfg.timeout_s,
                          fmt::format("{} of {} bytes (out-of-place)", op.name, k.size_bytes));
      row.out_of_place = measure(comm, mpi, op, k, cfg, {shared.data(), recv.data()}, recv.data(),
                                 k.recv_count * ts, shared.data());
    }
    if (op.in_place) {
      WatchdogScope guard(watchdog, cfg.timeout_s,
                          fmt::format("{} of {} bytes (in-place)", op.name, k.size_bytes));
      char* base = static_cast<char*>(shared.data());
      char* send_at = base + op.in_place_send_offset(k, comm.rank()) * ts;
      char* recv_at = base + op.in_place_recv_offset(k, comm.rank()) * ts;
      row.in_place = measure(comm, mpi, op, k, cfg, {send_at, recv_at}, base,
                             std::max(k.send_count, k.recv_count) * ts, send_at);
    }
    rows.push_back(row);
    if (on_row) on_row(row);
  }
  return rows;
}

CollectiveOpSummary summarize(const std::string& op, const std::vector<CollectiveRow>& rows) {
  CollectiveOpSummary s;
  s.op = op;
  double total = 0;
  int samples = 0;
  auto add = [&](const CollectiveMeasurement& m, uint64_t size) {
    total += m.busbw_gb_per_s;
    ++samples;
    if (m.busbw_gb_per_s > s.max_busbw_gb_per_s) {
      s.max_busbw_gb_per_s = m.busbw_gb_per_s;
      s.max_busbw_size_bytes = size;
    }
    if (m.wrong) {
      s.checked = true;
      s.wrong += *m.wrong;
    }
  };
  for (const auto& r : rows) {
    add(r.out_of_place, r.size_bytes);
    if (r.in_place) add(*r.in_place, r.size_bytes);
  }
  s.avg_busbw_gb_per_s = samples ? total / samples : 0.0;
  return s;
}

std::string nccl_log_preamble(const CollectiveReport& r, const std::string& op) {
  const auto& p = r.params;
  std::string out = fmt::format("# sxbench {} collective benchmark: {} (backend {}, {})\n",
                                r.tool_version, op, p.backend, r.library_version);
  const bool by_factor = p.step_bytes == 0;
  out += fmt::format(
      "# nThread 1 nGpus 1 minBytes {} maxBytes {} step: {}({}) warmup iters: {} iters: {} agg "
      "iters: 1 validation: {} graph: 0\n",
      p.min_bytes, p.max_bytes, by_factor ? fmt::format("{:g}", p.step_factor)
                                          : fmt::format("{}", p.step_bytes),
      by_factor ? "factor" : "bytes", p.warmup_iters, p.iters, p.check ? 1 : 0);
  out += "#\n# Using devices\n";
  for (const auto& rk : r.ranks) {
    out += fmt::format("#  Rank {:2} Group  0 Pid {:6} on {:>10} device {}\n", rk.rank, rk.pid,
                       rk.host, rk.device);
  }
  out += "#\n";
  return out;
}

std::string nccl_log_table_header() {
  // Column layout of nccl-tests' output, which log parsers in the field expect.
  return "#                                                              out-of-place                "
         "       in-place          \n"
         "#       size         count      type   redop    root     time   algbw   busbw #wrong     "
         "time   algbw   busbw #wrong\n"
         "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            "
         "(us)  (GB/s)  (GB/s)       \n";
}

namespace {
std::string time_text(double us) {
  if (us >= 10000.0) return fmt::format("{:7.0f}", us);
  if (us >= 100.0) return fmt::format("{:7.1f}", us);
  return fmt::format("{:7.2f}", us);
}
std::string measurement_text(const std::optional<CollectiveMeasurement>& m) {
  if (!m) return fmt::format("  {:>7}  {:>6}  {:>6}  {:>5}", "N/A", "N/A", "N/A", "N/A");
  return fmt::format("  {}  {:6.2f}  {:6.2f}  {:>5}", time_text(m->time_us), m->algbw_gb_per_s,
                     m->busbw_gb_per_s, m->wrong ? fmt::format("{}", *m->wrong) : "N/A");
}
}  // namespace

std::string nccl_log_row(const CollectiveRow& row) {
  return fmt::format("{:>12}  {:>12}  {:>8}  {:>6}  {:>6}", row.size_bytes, row.count, row.dtype,
                     row.redop, row.root) +
         measurement_text(row.out_of_place) + measurement_text(row.in_place) + "\n";
}

std::string nccl_log_footer(const CollectiveOpSummary& s) {
  std::string out;
  if (s.checked) {
    out += fmt::format("# Out of bounds values : {} {}\n", s.wrong, s.wrong == 0 ? "OK" : "FAILED");
  } else {
    out += "# Out of bounds values : N/A (data check disabled)\n";
  }
  out += fmt::format("# Avg bus bandwidth    : {:.4f} \n#\n", s.avg_busbw_gb_per_s);
  return out;
}

}  // namespace sxb
