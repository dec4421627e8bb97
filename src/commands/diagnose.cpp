// `sxbench diagnose`: per-component measurements of every rank and of every pair of ranks or
// nodes, and the components that stand out, each verdict with its numbers, its threshold and the
// noise it allowed for (validate/outliers.hpp: medians of repeated samples, a stated noise band,
// "inconclusive" where the spread is too wide to decide). Rank 0 prints the table and writes
// diagnose.json. Exit 1 when a component is named slow.
//
//   per rank, on its GPU (nccl backend): bf16 GEMM TFLOP/s (cuBLASLt), HBM copy GB/s, host-to-
//     device and device-to-host GB/s (pinned, cudaMemcpyAsync); all GPUs at once, as in training.
//   per rank without a GPU (mpi backend): an fp32 matrix product on one core (GFLOP/s) and a host
//     memory copy (GB/s); ranks of a host share its cores and memory, so they take turns, one
//     sample each in rotation, and a passing load spreads over all of them.
//   per pair, in rounds of disjoint pairs (every pair once): a bidirectional exchange of
//     --pair-bytes through the communicator (NVLink/PCIe or the network for nccl, shared memory or
//     the network for mpi); units are ranks (one node) or nodes (several: local rank l of one node
//     with local rank l of the other, all at once, so every NIC carries traffic). A pair's sample
//     is the slower endpoint's time of the fastest of three back-to-back exchanges. The pairs of a
//     round exchange at once on GPUs and one after another without them.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/collective_sweep.hpp"
#include "bench/host_probe.hpp"
#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "commands/nccl_suite.hpp"
#include "comm/job_abort.hpp"
#include "comm/communicator.hpp"
#include "comm/group_communicator.hpp"
#include "comm/mpi_context.hpp"
#include "comm/watchdog.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"
#include "validate/outliers.hpp"
#ifdef SXB_HAVE_CUDA
#include "bench/compute_device.hpp"
#endif

namespace sxb {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxPairBytes = uint64_t(4) << 30;

struct DiagnoseOptions {
  std::string backend;
  int samples = 7;
  double threshold_percent = 5;
  std::string pairs = "auto";
  std::string pair_bytes = "64M";
  std::string node_bytes;  // default: 256M on a GPU, 8M on a host
  std::string copy_bytes;  // default: 1G on a GPU, 64M on a host
  int gemm_size = 0;       // default: 8192 on a GPU, 256 on a host
  std::string baseline;
  std::string from;  // a run directory whose training results are judged instead of measuring
  std::string out_dir;
  std::optional<double> timeout_s;
};

struct Metric {
  std::string id, unit, what;
};

// One rank's samples of every metric it measures, in a fixed order.
struct RankSamples {
  int rank = 0;
  std::string host, device;
  std::vector<std::vector<double>> values;  // per metric
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<Metric> host_metrics(int n, uint64_t bytes) {
  return {{"host_gemm_gflops", "GFLOP/s",
           fmt::format("fp32 {}^3 matrix product on one CPU core", n)},
          {"host_memcpy_gb_per_s", "GB/s",
           fmt::format("host memory copy of {} (bytes read + written)", format_bytes(bytes))}};
}

#ifdef SXB_HAVE_CUDA
// Sums of consecutive groups of `f` times: one sample of work done f times.
std::vector<double> group_sums(const std::vector<double>& t, int f) {
  std::vector<double> out;
  for (size_t i = 0; i + size_t(f) <= t.size(); i += size_t(f)) {
    double s = 0;
    for (int j = 0; j < f; ++j) s += t[i + size_t(j)];
    out.push_back(s);
  }
  return out;
}

std::vector<Metric> gpu_metrics(int n, uint64_t bytes) {
  return {{"gemm_bf16_tflops", "TFLOP/s", fmt::format("bf16 {}^3 GEMM (cuBLASLt)", n)},
          {"hbm_copy_gb_per_s", "GB/s",
           fmt::format("HBM copy kernel over {} (bytes read + written)", format_bytes(bytes))},
          {"host_to_device_gb_per_s", "GB/s", "pinned host to device, 256 MiB copies"},
          {"device_to_host_gb_per_s", "GB/s", "device to pinned host, 256 MiB copies"}};
}

std::vector<std::vector<double>> measure_gpu(int device, int samples, int f, int n,
                                             uint64_t bytes) {
  std::vector<std::vector<double>> out;
  GemmRunConfig g;
  g.dtype = GemmDtype::bf16;
  g.m = g.n = g.k = n;
  g.warmup_iters = 5;
  g.iters = samples * f;
  const double flops = 2.0 * double(n) * double(n) * double(n);
  std::vector<double> gemm;
  for (double t : group_sums(time_gemm(device, g).times_us, f)) gemm.push_back(flops / t / 1e6);
  out.push_back(gemm);
  std::vector<double> hbm;
  for (double t : group_sums(time_hbm(device, HbmKernel::copy, bytes, 3, samples * f).times_us, f)) {
    hbm.push_back(2.0 * double(bytes) / t / 1e3);
  }
  out.push_back(hbm);
  const uint64_t host_bytes = uint64_t(256) << 20;
  for (bool h2d : {true, false}) {
    std::vector<double> v;
    for (double t : group_sums(time_host_copy(device, h2d, host_bytes, 2, samples * f), f)) {
      v.push_back(double(host_bytes) / t / 1e3);
    }
    out.push_back(v);
  }
  return out;
}
#endif

// Host metrics of this rank, one sample per turn: the ranks take turns (a barrier after each
// turn, whose waiting ranks sleep), so ranks sharing a host's cores and memory are measured one
// at a time.
std::vector<std::vector<double>> measure_host_in_turns(const MpiContext& mpi, int samples, int f,
                                                       int n, uint64_t bytes) {
  std::vector<std::vector<double>> out(2);
  const double flops = 2.0 * double(n) * double(n) * double(n);
  for (int s = 0; s < samples; ++s) {
    for (int r = 0; r < mpi.world_size(); ++r) {
      if (r == mpi.rank()) {
        const int warm = s == 0 ? 1 : 0;
        out[0].push_back(flops / time_host_gemm_us(n, warm, 1, f)[0] / 1e3);
        out[1].push_back(2.0 * double(bytes) / time_host_memcpy_us(bytes, warm, 1, f)[0] / 1e3);
      }
      mpi.quiet_barrier();
    }
  }
  return out;
}

// Busy wait (a sleep could return early or late by more than a short exchange lasts).
void stretch(double seconds) {
  const double end = now_s() + seconds;
  while (now_s() < end) {
  }
}

struct PairPlan {
  std::string mode;                // "ranks" or "nodes"
  std::vector<std::string> names;  // per unit
  std::vector<std::vector<int>> members;  // per unit: its ranks, ordered by local rank
};

PairPlan plan_pairs(const std::string& requested, const MpiContext& mpi) {
  PairPlan p;
  p.mode = requested == "auto" ? (mpi.node_count() > 1 ? "nodes" : "ranks") : requested;
  if (p.mode == "none") return p;
  if (p.mode == "ranks") {
    for (int r = 0; r < mpi.world_size(); ++r) {
      p.names.push_back(fmt::format("rank {} ({})", r, mpi.hosts()[size_t(r)]));
      p.members.push_back({r});
    }
    return p;
  }
  // nodes: hosts in order of first rank; every host must run the same number of ranks.
  std::map<std::string, int> index;
  for (int r = 0; r < mpi.world_size(); ++r) {
    const std::string& h = mpi.hosts()[size_t(r)];
    if (!index.count(h)) {
      index[h] = static_cast<int>(p.names.size());
      p.names.push_back(h);
      p.members.emplace_back();
    }
    p.members[size_t(index[h])].push_back(r);
  }
  for (const auto& m : p.members) {
    if (m.size() != p.members[0].size()) {
      throw usage_error(fmt::format(
          "diagnose --pairs nodes needs the same number of ranks on every node ({} has {}, {} has "
          "{})",
          p.names[0], p.members[0].size(), p.names[size_t(&m - p.members.data())], m.size()));
    }
  }
  return p;
}

// This rank's times (s) per round and sample for its exchanges; empty rounds where it sits out.
// partner[round] = the rank it exchanged with, or -1.
struct PairTimes {
  std::vector<int> partner;
  std::vector<std::vector<double>> seconds;
};

constexpr int kTries = 3;  // exchanges per pair sample; the fastest is the sample

// take_turns: the round's pairs exchange one after another instead of all at once (ranks without
// a GPU share their host's cores, so concurrent pairs would measure who got a core).
PairTimes exchange_rounds(Communicator& comm, const MpiContext& mpi, const PairPlan& plan,
                          const std::vector<std::vector<std::pair<int, int>>>& rounds,
                          uint64_t bytes, int samples, int slow_factor, bool take_turns) {
  const size_t count = bytes / 4;
  CommBuffer send(comm, count * 4), recv(comm, count * 4);
  {
    std::vector<float> ones(count, 1.0f);
    comm.copy_from_host(send.data(), ones.data(), count * 4);
  }
  PairTimes out;
  std::vector<int> my_pair(rounds.size(), -1);
  for (size_t ri = 0; ri < rounds.size(); ++ri) {
    int partner = -1;
    for (size_t pi = 0; pi < rounds[ri].size(); ++pi) {
      const auto& ma = plan.members[size_t(rounds[ri][pi].first)];
      const auto& mb = plan.members[size_t(rounds[ri][pi].second)];
      for (size_t l = 0; l < ma.size(); ++l) {
        if (ma[l] == mpi.rank()) partner = mb[l];
        if (mb[l] == mpi.rank()) partner = ma[l];
        if (ma[l] == mpi.rank() || mb[l] == mpi.rank()) my_pair[ri] = static_cast<int>(pi);
      }
    }
    out.partner.push_back(partner);
  }
  out.seconds.assign(rounds.size(), {});
  // Samples outermost: every round's pairs are sampled once before any is sampled again, so a
  // load that comes and goes spreads over all pairs instead of slowing one round.
  for (int s = -1; s < samples; ++s) {  // sample -1: warm-up (connection set-up)
    for (size_t ri = 0; ri < rounds.size(); ++ri) {
      const int partner = out.partner[ri];
      const int turns = take_turns ? static_cast<int>(rounds[ri].size()) : 1;
      for (int turn = 0; turn < turns; ++turn) {
        if (take_turns) {
          mpi.quiet_barrier();
        } else {
          mpi.barrier();
        }
        if (partner < 0 || (take_turns && turn != my_pair[ri])) continue;
        // The sample: the fastest of kTries back-to-back exchanges, the least disturbed by
        // whatever else shares the host.
        double best = 0;
        for (int k = 0; k < kTries; ++k) {
          const double t0 = now_s();
          comm.send_recv(send.data(), partner, recv.data(), partner, count, DataType::f32);
          comm.synchronize();
          const double t = now_s() - t0;
          if (slow_factor > 1) stretch((slow_factor - 1) * t);
          const double total = now_s() - t0;
          best = k == 0 ? total : std::min(best, total);
        }
        if (s >= 0) out.seconds[ri].push_back(best);
      }
    }
  }
  mpi.barrier();
  return out;
}

// The job's hosts in order of their first rank, each with its ranks.
struct NodeGroups {
  std::vector<std::string> names;
  std::vector<std::vector<int>> members;
  int mine = -1;  // this rank's host
};

NodeGroups node_groups(const MpiContext& mpi) {
  NodeGroups g;
  std::map<std::string, int> index;
  for (int r = 0; r < mpi.world_size(); ++r) {
    const std::string& h = mpi.hosts()[size_t(r)];
    if (!index.count(h)) {
      index[h] = static_cast<int>(g.names.size());
      g.names.push_back(h);
      g.members.emplace_back();
    }
    g.members[size_t(index[h])].push_back(r);
  }
  g.mine = index[mpi.host()];
  return g;
}

// Every host's ranks all-reduce `bytes` (f32, out of place) on their own communicator, all hosts
// at once after a job-wide barrier; a sample is the fastest of kTries back-to-back operations.
// take_turns: one host after another instead (ranks without a GPU share their machine's cores,
// so hosts measured at once would measure who got a core). This rank's seconds per sample; empty
// when its host runs one rank (nothing intra-node).
std::vector<double> node_all_reduce(Communicator& node, const MpiContext& mpi, const NodeGroups& g,
                                    uint64_t bytes, int samples, int slow_factor, bool take_turns) {
  const size_t count = bytes / 4;
  CommBuffer send(node, count * 4), recv(node, count * 4);
  {
    std::vector<float> ones(count, 1.0f);
    node.copy_from_host(send.data(), ones.data(), count * 4);
  }
  std::vector<double> out;
  const int turns = take_turns ? static_cast<int>(g.names.size()) : 1;
  for (int s = -1; s < samples; ++s) {  // sample -1: warm-up
    for (int turn = 0; turn < turns; ++turn) {
      if (take_turns) {
        mpi.quiet_barrier();
      } else {
        mpi.barrier();
      }
      if (node.size() < 2 || (take_turns && turn != g.mine)) continue;
      double best = 0;
      for (int k = 0; k < kTries; ++k) {
        const double t0 = now_s();
        node.all_reduce(send.data(), recv.data(), count, DataType::f32);
        node.synchronize();
        const double t = now_s() - t0;
        if (slow_factor > 1) stretch((slow_factor - 1) * t);
        const double total = now_s() - t0;
        best = k == 0 ? total : std::min(best, total);
      }
      if (s >= 0) out.push_back(best);
    }
  }
  mpi.barrier();
  return out;
}

std::string unit_label(int rank, const std::string& host, const std::string& device) {
  return fmt::format("rank {} ({}, {})", rank, host, device);
}

json verdict_json(const UnitVerdict& v) {
  return {{"unit", v.unit},
          {"median", v.median},
          {"noise_fraction", v.noise},
          {"uncertainty_fraction", v.uncertainty},
          {"reference", v.reference},
          {"deviation_fraction", v.deviation},
          {"allowed_fraction", v.allowed},
          {"standing", standing_name(v.standing)},
          {"reason", v.reason}};
}

// Job medians per metric of a previous diagnose.json: the baseline.
std::map<std::string, double> read_baseline(const fs::path& file) {
  const json j = read_json_file(file);
  if (j.value("schema", "") != "sxbench.diagnose/1") {
    throw usage_error(fmt::format("--baseline {}: not a diagnose.json (schema sxbench.diagnose/1)",
                                  file.string()));
  }
  std::map<std::string, double> out;
  if (!j.contains("components") || !j["components"].is_array()) {
    throw usage_error(fmt::format("--baseline {}: key \"components\": expected an array",
                                  file.string()));
  }
  for (const auto& c : j["components"]) {
    if (!c.contains("metric") || !c["metric"].is_string() || !c.contains("job_median") ||
        !c["job_median"].is_number() || !(c["job_median"].get<double>() > 0)) {
      throw usage_error(fmt::format(
          "--baseline {}: every component needs a metric and a positive job_median", file.string()));
    }
    out[c["metric"].get<std::string>()] = c["job_median"].get<double>();
  }
  return out;
}

void print_verdicts(const std::string& title, const std::vector<UnitVerdict>& vs,
                    const std::string& unit) {
  fmt::print("{}\n", title);
  size_t w = 4;
  for (const auto& v : vs) w = std::max(w, v.unit.size());
  const std::string median_head = fmt::format("median {}", unit);
  const size_t mw = std::max<size_t>(median_head.size(), 10);
  fmt::print("  {:<{}}  {:>{}}  {:>8}  {:>7}  {:>8}  {}\n", "unit", w, median_head, mw, "vs ref",
             "noise", "allowed", "verdict");
  for (const auto& v : vs) {
    fmt::print("  {:<{}}  {:>{}.4g}  {:>+7.1f}%  {:>6.1f}%  {:>7.1f}%  {}\n", v.unit, w, v.median,
               mw, 100 * v.deviation, 100 * v.noise, 100 * v.allowed, standing_name(v.standing));
  }
  // Why a unit could not be judged, once per distinct reason (one rank: no job median to stand
  // out from; a baseline is the way to judge it).
  std::vector<std::string> said;
  for (const auto& v : vs) {
    if (v.standing != Standing::inconclusive ||
        std::find(said.begin(), said.end(), v.reason) != said.end()) {
      continue;
    }
    said.push_back(v.reason);
    fmt::print("  {}\n", v.reason);
  }
}

// The verdict, the named components, diagnose.json (atomically) and the exit status.
int finish_diagnose(json& out, int slow, int inconclusive, const fs::path& out_dir) {
  out["slow"] = slow;
  out["inconclusive"] = inconclusive;
  out["verdict"] = slow > 0 ? "slow components named" : (inconclusive > 0 ? "inconclusive" : "clean");
  write_json_atomic(out_dir / "diagnose.json", out);
  for (const auto& nmd : out["named"]) {
    fmt::print("named: {} ({}): {}\n", nmd["unit"].get<std::string>(),
               nmd["what"].get<std::string>(), nmd["reason"].get<std::string>());
  }
  fmt::print("diagnose: {}; {} named, {} inconclusive; wrote {}\n", out["verdict"].get<std::string>(),
             slow, inconclusive, (out_dir / "diagnose.json").string());
  return slow > 0 ? static_cast<int>(ExitCode::failure) : 0;
}

// Stragglers from training: every rank's busy time per step (sft_metrics.json per_rank: its own
// work, outside the time it waited for the other ranks) against the job median, lower being better. No
// measurement and no MPI: rank 0 of the training gathered the figures.
int run_diagnose_from(const DiagnoseOptions& o, const std::map<std::string, double>& baseline) {
  const fs::path dir(o.from);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw usage_error(fmt::format("--from {}: no such directory", o.from));
  }
  const fs::path file = dir / "sft_metrics.json";
  if (!fs::is_regular_file(file, ec)) {
    throw usage_error(fmt::format("--from {}: no sft_metrics.json (a directory of sxbench train "
                                  "or run)",
                                  o.from));
  }
  const json sft = read_json_file(file);
  if (sft.value("schema", "") != "sxbench.sft_metrics/1") {
    throw usage_error(fmt::format("--from {}: sft_metrics.json is not sxbench.sft_metrics/1", o.from));
  }
  if (sft.value("status", "") != "complete") {
    throw usage_error(fmt::format("--from {}: sft_metrics.json: the training did not complete "
                                  "(status '{}')",
                                  o.from, sft.value("status", "")));
  }
  if (!sft.contains("per_rank") || !sft["per_rank"].is_array() || sft["per_rank"].empty()) {
    throw usage_error(fmt::format(
        "--from {}: sft_metrics.json has no per_rank step times (written by a version of sxbench "
        "that did not record them)",
        o.from));
  }
  OutlierRule rule;
  rule.threshold = o.threshold_percent / 100;
  rule.lower_is_better = true;
  std::vector<UnitSamples> us;
  std::vector<int> ranks;
  std::vector<std::string> hosts;
  size_t fewest = SIZE_MAX;
  // Where the busy time comes from: the CUDA engine's GPU or the CPU reference's thread.
  const bool gpu = sft.contains("device") && sft["device"].is_object() &&
                   sft["device"].value("kind", "") == "gpu";
  for (const auto& r : sft["per_rank"]) {
    const bool ok = r.is_object() && r.contains("rank") && r["rank"].is_number_integer() &&
                    r.contains("host") && r["host"].is_string() && r.contains("busy_time_s") &&
                    r["busy_time_s"].is_array();
    if (!ok) {
      throw usage_error(fmt::format("--from {}: sft_metrics.json: per_rank: every entry needs "
                                    "rank, host and busy_time_s",
                                    o.from));
    }
    std::vector<double> v;
    for (const auto& x : r["busy_time_s"]) {
      if (!x.is_number() || !(x.get<double>() > 0) || !std::isfinite(x.get<double>())) {
        throw usage_error(fmt::format("--from {}: sft_metrics.json: per_rank: rank {}: busy_time_s "
                                      "holds a value that is not a positive number",
                                      o.from, r["rank"].get<int>()));
      }
      v.push_back(x.get<double>());
    }
    fewest = std::min(fewest, v.size());
    ranks.push_back(r["rank"].get<int>());
    hosts.push_back(r["host"].get<std::string>());
    us.push_back({fmt::format("rank {} ({}, {})", ranks.back(), hosts.back(), gpu ? "GPU" : "CPU"), v});
  }
  if (fewest < 3) {
    throw usage_error(fmt::format("--from {}: {} measured step(s) per rank; diagnose needs at "
                                  "least 3 (train with more --steps)",
                                  o.from, fewest));
  }
  const fs::path out_dir = o.out_dir.empty() ? dir : fs::path(o.out_dir);
  fs::create_directories(out_dir);
  DirectoryLock lock(out_dir, "diagnose");

  const Metric metric{"train_busy_time_s", "s",
                      fmt::format("each rank's own work per training step: {}, from {}",
                                  gpu ? "its compute stream's time less the exchanges exposed in it"
                                      : "its thread's CPU time outside communication",
                                  file.string())};
  const auto vs = judge_against_median(us, rule, metric.unit);
  std::vector<double> medians;
  for (const auto& v : vs) medians.push_back(v.median);
  std::set<std::string> distinct(hosts.begin(), hosts.end());
  json out = {{"schema", "sxbench.diagnose/1"},
              {"tool_version", SXB_VERSION},
              {"created_utc", utc_iso8601_now()},
              {"from", dir.string()},
              {"world_size", static_cast<int>(us.size())},
              {"nodes", static_cast<int>(distinct.size())},
              {"hosts", hosts},
              {"device", sft.contains("device") && sft["device"].is_object()
                             ? sft["device"].value("kind", "cpu")
                             : "cpu"},
              {"settings",
               {{"samples", static_cast<int>(fewest)},
                {"threshold_fraction", rule.threshold},
                {"noise_multiple", rule.noise_k},
                {"min_units", rule.min_units},
                {"pairs", "none"},
                {"pair_bytes", nullptr},
                {"baseline", o.baseline.empty() ? json(nullptr) : json(o.baseline)}}},
              {"components", json::array()},
              {"named", json::array()}};
  int slow = 0, inconclusive = 0;
  auto count = [&](const std::vector<UnitVerdict>& list, const std::string& what) {
    for (const auto& v : list) {
      if (v.standing == Standing::slow) {
        ++slow;
        out["named"].push_back({{"unit", v.unit}, {"what", what}, {"reason", v.reason}});
      } else if (v.standing == Standing::inconclusive) {
        ++inconclusive;
      }
    }
  };
  fmt::print("diagnose: stragglers of the training in {}: {} rank(s) on {} node(s), {} measured "
             "steps each, threshold {:g}%\n",
             dir.string(), us.size(), distinct.size(), fewest, o.threshold_percent);
  json c = {{"metric", metric.id},
            {"unit", metric.unit},
            {"what", metric.what},
            {"better", "lower"},
            {"job_median", median_of(medians, IfEmpty::error)},
            {"ranks", json::array()}};
  for (size_t i = 0; i < vs.size(); ++i) {
    json rj = verdict_json(vs[i]);
    rj["rank"] = ranks[i];
    rj["samples"] = us[i].values;
    c["ranks"].push_back(rj);
  }
  print_verdicts(fmt::format("{} ({}): against the job median (lower is better)", metric.id,
                             metric.what),
                 vs, metric.unit);
  count(vs, metric.id);
  if (baseline.count(metric.id)) {
    const auto bs = judge_against_baseline(us, baseline.at(metric.id), rule, metric.unit);
    c["against_baseline"] = json::array();
    for (const auto& v : bs) c["against_baseline"].push_back(verdict_json(v));
    print_verdicts(fmt::format("{}: against the baseline {:.4g} {}", metric.id,
                               baseline.at(metric.id), metric.unit),
                   bs, metric.unit);
    count(bs, metric.id + " (baseline)");
  }
  out["components"].push_back(c);
  out["pairs"] = {{"mode", "none"}, {"note", "not measured (--from reads training results)"}};
  return finish_diagnose(out, slow, inconclusive, out_dir);
}

int run_diagnose(const DiagnoseOptions& o, const CommandContext& ctx) {
  // Everything checked before MPI starts, so bad input fails fast on every rank.
  if (o.pairs != "auto" && o.pairs != "ranks" && o.pairs != "nodes" && o.pairs != "none") {
    throw usage_error(fmt::format("--pairs must be auto, ranks, nodes or none, got '{}'", o.pairs));
  }
  const uint64_t pair_bytes = parse_size_in(o.pair_bytes, "--pair-bytes", 4096, kMaxPairBytes);
  if (pair_bytes % 4 != 0) throw usage_error("--pair-bytes must be a multiple of 4 bytes");
  std::map<std::string, double> baseline;
  if (!o.baseline.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(o.baseline, ec)) {
      throw usage_error(fmt::format("--baseline {}: no such file", o.baseline));
    }
    baseline = read_baseline(o.baseline);
  }
  if (!o.from.empty()) return run_diagnose_from(o, baseline);
  OutlierRule rule;
  rule.threshold = o.threshold_percent / 100;
  const double timeout_s = o.timeout_s ? *o.timeout_s : *ctx.env.get_number("COMM_TIMEOUT");
  const std::string requested = o.backend.empty() ? ctx.env.get_string("COMM_BACKEND") : o.backend;
  if (requested != "auto") parse_backend(requested);
  const int slow_factor_check = fault_slow_factor(-2);  // parses SXB_FAULT_INJECT before MPI
  (void)slow_factor_check;
  ctx.env.export_passthrough();

  MpiContext mpi(nullptr, nullptr);
  mpi.set_timeout(timeout_s);
  return run_as_job(mpi, [&]() -> int {
    Watchdog& watchdog = mpi.watchdog();
    fs::path out_dir;
    DirectoryLock out_lock;
    on_root_then_agree(mpi, [&] {
      out_dir = o.out_dir.empty()
                    ? create_unique_directory(fs::path(ctx.env.get_string("RESULTS_DIR")) /
                                              ("diagnose_" + utc_compact_now()))
                    : fs::path(o.out_dir);
      fs::create_directories(out_dir);
      out_lock = DirectoryLock(out_dir, "diagnose");
    });
    const PairPlan plan = plan_pairs(o.pairs, mpi);
    std::unique_ptr<Communicator> comm =
        start_communicator(choose_backend(requested), mpi, watchdog, timeout_s);
    const bool gpu = comm->device_index() >= 0;
    const int f = fault_slow_factor(mpi.rank());
    const int n = o.gemm_size > 0 ? o.gemm_size : (gpu ? 8192 : 256);
    const uint64_t copy_bytes =
        o.copy_bytes.empty() ? (gpu ? uint64_t(1) << 30 : uint64_t(64) << 20)
                             : parse_size_in(o.copy_bytes, "--copy-bytes", 4096, uint64_t(16) << 30);
    std::vector<Metric> metrics;
    RankSamples mine;
    mine.rank = mpi.rank();
    mine.host = mpi.host();
    mine.device = gpu ? fmt::format("GPU {}", comm->device_index()) : "CPU";
    if (gpu) {
#ifdef SXB_HAVE_CUDA
      metrics = gpu_metrics(n, copy_bytes);
      {
        // Several seconds of GEMMs and copies: ten times the per-step timeout.
        WatchdogScope scope(watchdog, timeout_s * 10, "diagnose: GPU measurements");
        mine.values = measure_gpu(comm->device_index(), o.samples, f, n, copy_bytes);
      }
      mpi.barrier();
#endif
    } else {
      metrics = host_metrics(n, copy_bytes);
      mine.values = measure_host_in_turns(mpi, o.samples, f, n, copy_bytes);
    }

    // Each node's intra-node all_reduce, every node at once on its own communicator.
    const uint64_t node_bytes =
        o.node_bytes.empty() ? (gpu ? uint64_t(256) << 20 : uint64_t(8) << 20)
                             : parse_size_in(o.node_bytes, "--node-bytes", 4096, kMaxPairBytes);
    const NodeGroups nodes = node_groups(mpi);
    std::vector<double> node_seconds;
    {
      std::unique_ptr<Communicator> node;
      {
        WatchdogScope scope(watchdog, timeout_s, "node communicator start-up");
        node = make_group_communicator(comm->backend(), mpi, nodes.mine);
      }
      node_seconds =
          node_all_reduce(*node, mpi, nodes, node_bytes - node_bytes % 4, o.samples, f, !gpu);
    }

    // Pairs.
    const int units = static_cast<int>(plan.names.size());
    const auto rounds = plan.mode == "none" ? std::vector<std::vector<std::pair<int, int>>>{}
                                            : round_robin_rounds(units);
    if (mpi.rank() == 0 && !rounds.empty()) {
      // Progress on stderr: the pair matrix is the long part on a large job.
      fmt::print(stderr, "diagnose: every rank measured; pair exchanges next: {} round(s) of "
                         "disjoint pairs of {} {}, {} sample(s) each\n",
                 rounds.size(), units, plan.mode, o.samples);
      std::fflush(stderr);
    }
    const PairTimes times =
        rounds.empty() ? PairTimes{}
                       : exchange_rounds(*comm, mpi, plan, rounds, pair_bytes, o.samples, f, !gpu);

    // Everything to rank 0 as JSON text.
    json mine_j = {{"rank", mine.rank}, {"host", mine.host}, {"device", mine.device},
                   {"values", mine.values}, {"partner", times.partner},
                   {"pair_seconds", times.seconds}, {"node_seconds", node_seconds}};
    const std::vector<std::string> all = mpi.all_gather(mine_j.dump());
    comm.reset();
    if (mpi.rank() != 0) return 0;

    std::vector<json> ranks;
    for (const auto& s : all) ranks.push_back(json::parse(s));
    json out = {{"schema", "sxbench.diagnose/1"},
                {"tool_version", SXB_VERSION},
                {"created_utc", utc_iso8601_now()},
                {"world_size", mpi.world_size()},
                {"nodes", mpi.node_count()},
                {"hosts", mpi.hosts()},
                {"device", gpu ? "gpu" : "cpu"},
                {"settings",
                 {{"samples", o.samples},
                  {"threshold_fraction", rule.threshold},
                  {"noise_multiple", rule.noise_k},
                  {"min_units", rule.min_units},
                  {"pairs", plan.mode},
                  {"pair_bytes", pair_bytes},
                  {"baseline", o.baseline.empty() ? json(nullptr) : json(o.baseline)}}},
                {"components", json::array()},
                {"named", json::array()}};
    int slow = 0, inconclusive = 0;
    auto count = [&](const std::vector<UnitVerdict>& vs, const std::string& what) {
      for (const auto& v : vs) {
        if (v.standing == Standing::slow) {
          ++slow;
          out["named"].push_back({{"unit", v.unit}, {"what", what}, {"reason", v.reason}});
        } else if (v.standing == Standing::inconclusive) {
          ++inconclusive;
        }
      }
    };
    fmt::print("diagnose: {} rank(s) on {} node(s), {}, {} samples each, threshold {:g}%\n",
               mpi.world_size(), mpi.node_count(), gpu ? "GPUs" : "CPUs (no GPU: mpi backend)",
               o.samples, o.threshold_percent);
    for (size_t m = 0; m < metrics.size(); ++m) {
      std::vector<UnitSamples> us;
      for (const auto& r : ranks) {
        us.push_back({unit_label(r["rank"].get<int>(), r["host"].get<std::string>(),
                                 r["device"].get<std::string>()),
                      r["values"][m].get<std::vector<double>>()});
      }
      const auto vs = judge_against_median(us, rule, metrics[m].unit);
      std::vector<double> medians;
      for (const auto& v : vs) medians.push_back(v.median);
      json c = {{"metric", metrics[m].id},
                {"unit", metrics[m].unit},
                {"what", metrics[m].what},
                {"better", "higher"},
                {"job_median", median_of(medians, IfEmpty::error)},
                {"ranks", json::array()}};
      for (size_t i = 0; i < vs.size(); ++i) {
        json rj = verdict_json(vs[i]);
        rj["rank"] = ranks[i]["rank"];
        rj["samples"] = us[i].values;
        c["ranks"].push_back(rj);
      }
      print_verdicts(fmt::format("{} ({}): against the job median", metrics[m].id, metrics[m].what),
                     vs, metrics[m].unit);
      count(vs, metrics[m].id);
      if (baseline.count(metrics[m].id)) {
        const auto bs = judge_against_baseline(us, baseline[metrics[m].id], rule, metrics[m].unit);
        c["against_baseline"] = json::array();
        for (const auto& v : bs) c["against_baseline"].push_back(verdict_json(v));
        print_verdicts(fmt::format("{}: against the baseline {:.4g} {}", metrics[m].id,
                                   baseline[metrics[m].id], metrics[m].unit),
                       bs, metrics[m].unit);
        count(bs, metrics[m].id + " (baseline)");
      }
      out["components"].push_back(c);
    }

    {
      // Nodes: busbw of the node's all_reduce (nccl-tests' bus factor 2 (n - 1) / n) from the
      // slowest of its ranks per sample, judged against the median of nodes.
      const uint64_t nb = node_bytes - node_bytes % 4;
      json nj = {{"what", fmt::format("all_reduce of {} (f32) among each node's ranks on its own "
                                      "communicator, {}; bus bandwidth GB/s (algbw x 2 (n - 1) / "
                                      "n, the slowest rank's time)",
                                      format_bytes(nb),
                                      gpu ? "every node at once"
                                          : "node after node (no GPU: ranks share cores)")},
                 {"bytes", nb},
                 {"units", json::array()}};
      std::vector<UnitSamples> us;
      std::vector<size_t> which;
      for (size_t h = 0; h < nodes.names.size(); ++h) {
        const auto& m = nodes.members[h];
        if (m.size() < 2) continue;
        const double n = double(m.size());
        std::vector<double> bw(size_t(o.samples), 0.0);
        for (int smp = 0; smp < o.samples; ++smp) {
          double t = 0;
          for (int r : m) {
            t = std::max(t, ranks[size_t(r)]["node_seconds"][size_t(smp)].get<double>());
          }
          bw[size_t(smp)] = 2 * (n - 1) / n * double(nb) / t / 1e9;
        }
        us.push_back({fmt::format("{} ({} ranks)", nodes.names[h], m.size()), bw});
        which.push_back(h);
      }
      if (us.empty()) {
        nj["note"] = "every node runs one rank: no intra-node all_reduce";
        fmt::print("node all_reduce: not measured: {}\n", nj["note"].get<std::string>());
      } else {
        const auto vs = judge_against_median(us, rule, "GB/s");
        std::vector<double> medians;
        for (const auto& v : vs) medians.push_back(v.median);
        nj["job_median"] = median_of(medians, IfEmpty::error);
        for (size_t i = 0; i < vs.size(); ++i) {
          json e = verdict_json(vs[i]);
          e["host"] = nodes.names[which[i]];
          e["ranks"] = nodes.members[which[i]];
          e["samples"] = us[i].values;
          nj["units"].push_back(e);
        }
        if (static_cast<int>(us.size()) < rule.min_units) {
          nj["note"] = fmt::format("{} node(s) with two or more ranks, {} needed to judge against "
                                   "the median of nodes: inconclusive",
                                   us.size(), rule.min_units);
        }
        print_verdicts(fmt::format("node all_reduce ({}): against the median of nodes",
                                   nj["what"].get<std::string>()),
                       vs, "GB/s");
        if (nj.contains("note")) fmt::print("  {}\n", nj["note"].get<std::string>());
        count(vs, "intra-node all_reduce");
      }
      out["node_all_reduce"] = nj;
    }

    if (!rounds.empty()) {
      // A pair's sample: per local rank, bytes over the slower endpoint's time, summed over the
      // local ranks of a node pair.
      std::vector<std::pair<int, int>> pairs;
      std::vector<UnitSamples> ps;
      for (size_t ri = 0; ri < rounds.size(); ++ri) {
        for (const auto& [a, b] : rounds[ri]) {
          std::vector<double> bw(size_t(o.samples), 0.0);
          const auto& ma = plan.members[size_t(a)];
          const auto& mb = plan.members[size_t(b)];
          for (size_t l = 0; l < ma.size(); ++l) {
            const auto ta = ranks[size_t(ma[l])]["pair_seconds"][ri].get<std::vector<double>>();
            const auto tb = ranks[size_t(mb[l])]["pair_seconds"][ri].get<std::vector<double>>();
            for (int s = 0; s < o.samples; ++s) {
              bw[size_t(s)] += double(pair_bytes) / std::max(ta[size_t(s)], tb[size_t(s)]) / 1e9;
            }
          }
          pairs.emplace_back(a, b);
          ps.push_back({fmt::format("{} - {}", plan.names[size_t(a)], plan.names[size_t(b)]), bw});
        }
      }
      const auto vs = judge_pairs(units, pairs, ps, rule, "GB/s");
      std::vector<std::pair<int, int>> slow_pairs;
      json matrix = json::array();
      for (int a = 0; a < units; ++a) matrix.push_back(std::vector<json>(size_t(units), nullptr));
      json pj = {{"mode", plan.mode},
                 {"units", plan.names},
                 {"bytes", pair_bytes},
                 {"what", fmt::format("bidirectional exchange of {} per {} (GB/s per direction, the "
                                      "slower endpoint's time{})",
                                      format_bytes(pair_bytes), plan.mode == "nodes" ? "local rank pair" : "rank pair",
                                      plan.mode == "nodes" ? ", summed over a node pair's ranks" : "")},
                 {"pairs", json::array()}};
      for (size_t i = 0; i < vs.size(); ++i) {
        const auto [a, b] = pairs[i];
        matrix[size_t(a)][size_t(b)] = vs[i].median;
        matrix[size_t(b)][size_t(a)] = vs[i].median;
        json e = verdict_json(vs[i]);
        e["a"] = a;
        e["b"] = b;
        e["samples"] = ps[i].values;
        pj["pairs"].push_back(e);
        if (vs[i].standing == Standing::slow) slow_pairs.emplace_back(a, b);
        if (vs[i].standing == Standing::inconclusive) ++inconclusive;
      }
      pj["matrix_gb_per_s"] = matrix;
      const PairBlame blame = blame_pairs(units, slow_pairs);
      pj["blamed_units"] = json::array();
      for (int u : blame.units) {
        int c = 0;
        for (const auto& [a, b] : slow_pairs) c += (a == u || b == u) ? 1 : 0;
        const std::string reason =
            fmt::format("{} of its {} pairs slow (threshold {:g}%, each below the units' "
                        "best-pair median by more than its allowance)",
                        c, units - 1, o.threshold_percent);
        pj["blamed_units"].push_back({{"unit", plan.names[size_t(u)]}, {"reason", reason}});
        out["named"].push_back(
            {{"unit", plan.names[size_t(u)]}, {"what", "pair exchanges"}, {"reason", reason}});
        ++slow;
      }
      pj["slow_links"] = json::array();
      for (const auto& [a, b] : blame.links) {
        const auto it = std::find(pairs.begin(), pairs.end(), std::make_pair(a, b));
        const auto& v = vs[size_t(it - pairs.begin())];
        pj["slow_links"].push_back({{"link", v.unit}, {"reason", v.reason}});
        out["named"].push_back({{"unit", v.unit}, {"what", "link"}, {"reason", v.reason}});
        ++slow;
      }
      print_verdicts(fmt::format("pairs ({}): {}", plan.mode, pj["what"].get<std::string>()), vs,
                     "GB/s");
      out["pairs"] = pj;
    } else {
      out["pairs"] = {{"mode", plan.mode},
                      {"note", plan.mode == "none" ? "not measured (--pairs none)"
                                                   : "one unit: no pair to measure"}};
      fmt::print("pairs: not measured: {}\n", plan.mode == "none"
                                                   ? "--pairs none"
                                                   : "one unit, no pair to measure (no second "
                                                     "GPU, host or node to exchange with)");
    }

    return finish_diagnose(out, slow, inconclusive, out_dir);
  });
}

}  // namespace

Command add_diagnose_command(CLI::App& root) {
  auto opts = std::make_shared<DiagnoseOptions>();
  CLI::App* app = root.add_subcommand(
      "diagnose",
      "Measure every rank's GPU (or CPU) and every pair of ranks or nodes, and name the ones that "
      "stand out, each with its numbers (exit 1 when one is named)");
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--backend", opts->backend, "nccl (GPU), mpi (host memory) or auto [COMM_BACKEND]");
  app->add_option("--samples", opts->samples, "Samples per measurement (3 to 1000)")
      ->check(int_in(3, 1000))
      ->capture_default_str();
  app->add_option("--threshold", opts->threshold_percent,
                  "Percent below the reference that counts as slow (0.1 to 90)")
      ->check(number_in(0.1, 90))
      ->capture_default_str();
  app->add_option("--pairs", opts->pairs,
                  "Pair matrix over ranks, nodes, none, or auto (nodes on several nodes, else ranks)")
      ->capture_default_str();
  app->add_option("--pair-bytes", opts->pair_bytes, "Bytes each way per pair exchange (4K to 4G)")
      ->check(size_in(4096, kMaxPairBytes))
      ->capture_default_str();
  app->add_option("--node-bytes", opts->node_bytes,
                  "Bytes of each node's intra-node all_reduce (4K to 4G; default 256M on GPUs, 8M "
                  "on CPUs)")
      ->check(size_in(4096, kMaxPairBytes));
  app->add_option("--copy-bytes", opts->copy_bytes,
                  "Bytes per HBM or host memory copy (default 1G on a GPU, 64M on a CPU)")
      ->check(size_in(4096, uint64_t(16) << 30));
  app->add_option("--gemm-size", opts->gemm_size,
                  "Matrix size of the GEMM (default 8192 on a GPU, 256 on a CPU)")
      ->check(int_in(16, 16384));
  app->add_option("--baseline", opts->baseline,
                  "A previous diagnose.json: every rank also against its job medians");
  app->add_option("--from", opts->from,
                  "A run directory of sxbench train or run: judge every rank's training step "
                  "(its busy time, sft_metrics.json per_rank) against the job median instead of "
                  "measuring; diagnose.json goes there unless --out says otherwise");
  app->add_option("--timeout", opts->timeout_s,
                  "Seconds a blocking step may take before every rank stops, 0.1 to 86400 "
                  "[COMM_TIMEOUT]")
      ->check(number_in(0.1, 86400));
  app->add_option("--out", opts->out_dir,
                  "Output directory (default: $RESULTS_DIR/diagnose_<UTC time>)");
  return {app, [opts](const CommandContext& ctx) { return run_diagnose(*opts, ctx); }};
}

}  // namespace sxb
