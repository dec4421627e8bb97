#include "report/plan/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <tuple>

#include "bench/collectives.hpp"
#include "bench/sweep_defaults.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"

namespace sxb::report {

namespace {

// The collective sweep `sxbench run --mode nccl` runs on GPUs (bench/sweep_defaults.hpp).
constexpr const RunSweepDefaults& kSweep = kFullRunSweep;

uint64_t sweep_max_bytes() {
  return parse_size_bytes(kSweep.max_bytes_gpu, "sweep size");
}
std::vector<uint64_t> sweep_sizes() {
  return size_sweep(kSweep.min_bytes, sweep_max_bytes(), kSweep.size_factor, 0);
}
// Node counts searched for the smallest one at which a configuration fits.
constexpr int kMaxNodesSearched = 1024;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool on_planned_gpu(const std::string& device_kind, const std::string& device,
                    const std::string& gpu_match) {
  return device_kind != "cpu" && !gpu_match.empty() &&
         lower(device).find(lower(gpu_match)) != std::string::npos;
}

void add_unique(std::vector<Assumption>& list, const Assumption& a) {
  for (const auto& x : list) {
    if (x.name == a.name && x.value == a.value && x.source == a.source) return;
  }
  list.push_back(a);
}

void add_unique(std::vector<MeasuredFigure>& list, const MeasuredFigure& m) {
  for (const auto& x : list) {
    if (x.name == m.name && x.run_dir == m.run_dir && x.value == m.value) return;
  }
  list.push_back(m);
}

std::string device_caveat(bool planned, const std::string& what, const std::string& gpu_name) {
  if (planned) return "";
  return fmt::format("; measured on {}, not on an {}: the prediction carries that device's rate",
                     what, gpu_name);
}

// A figure for the busbw a measurement gives at the gradient bucket size.
MeasuredFigure busbw_figure(const AllReduceMeasurement& m, uint64_t bucket_bytes, bool inter,
                            const PlanHardware& hw) {
  const auto [size, busbw] = busbw_near(m, bucket_bytes);
  const bool planned = m.backend == "nccl" && on_planned_gpu("gpu", m.device, hw.gpu_match);
  const std::string what = m.backend == "mpi"
                               ? "host memory over MPI (mpi backend)"
                               : (m.device.empty() ? std::string("an unnamed device") : m.device);
  MeasuredFigure f;
  f.name =
      inter ? fmt::format("inter_node_allreduce_busbw_{}n", m.nodes) : "intra_node_allreduce_busbw";
  f.value = busbw;
  f.unit = "GB/s";
  f.run_dir = m.run_dir;
  f.source = fmt::format(
      "measured: all_reduce out-of-place busbw at {} (the size closest to the {:g} GB gradient "
      "bucket) in {}/nccl.json, {} ranks on {} node(s), {} backend{}",
      format_bytes(size), static_cast<double>(bucket_bytes) / 1e9, m.run_dir, m.world, m.nodes,
      m.backend, device_caveat(planned, what, hw.gpu_name));
  return f;
}

// What would make a configuration that does not fit fit: ZeRO-3, more nodes, micro-batch 1.
std::vector<FitAlternative> fit_alternatives(const ModelShape& m, const TrainSetup& t,
                                             const Cluster& c) {
  std::vector<FitAlternative> ways;
  if (t.zero_stage < 3) {
    TrainSetup z3 = t;
    z3.zero_stage = 3;
    if (auto r = choose_recompute(m, z3, c)) {
      ways.push_back({FitAlternative::Kind::zero3, c.nodes, t.grad_accum, *r});
    }
  }
  for (int n = c.nodes + 1; n <= kMaxNodesSearched; ++n) {
    Cluster bigger = c;
    bigger.nodes = n;
    if (auto r = choose_recompute(m, t, bigger)) {
      ways.push_back({FitAlternative::Kind::more_nodes, n, t.grad_accum, *r});
      break;
    }
  }
  if (t.micro_batch > 1) {
    TrainSetup one = t;
    one.micro_batch = 1;
    one.grad_accum = t.grad_accum * t.micro_batch;
    if (auto r = choose_recompute(m, one, c)) {
      ways.push_back({FitAlternative::Kind::micro_batch_one, c.nodes, one.grad_accum, *r});
    }
  }
  return ways;
}

}  // namespace

std::string model_base_name(const std::string& id) {
  const auto slash = id.find_last_of('/');
  return lower(slash == std::string::npos ? id : id.substr(slash + 1));
}

std::string why_not_text(const MemoryPlan& memory,
                         const std::vector<FitAlternative>& alternatives) {
  std::string out = memory.verdict + " even with full recomputation";
  if (alternatives.empty()) {
    return out + fmt::format("; no ZeRO stage, node count up to {} or micro-batch makes it fit",
                             kMaxNodesSearched);
  }
  for (size_t i = 0; i < alternatives.size(); ++i) {
    const FitAlternative& a = alternatives[i];
    out += i == 0 ? "; fits with " : ", or ";
    switch (a.kind) {
      case FitAlternative::Kind::zero3:
        out += fmt::format("ZeRO-3 ({} recomputation)", recompute_name(a.recompute));
        break;
      case FitAlternative::Kind::more_nodes:
        out += fmt::format("{} nodes with this ds_config ({} recomputation)", a.nodes,
                           recompute_name(a.recompute));
        break;
      case FitAlternative::Kind::micro_batch_one:
        out += fmt::format(
            "micro-batch 1 and gradient accumulation {} (same global batch, {} "
            "recomputation)",
            a.grad_accum, recompute_name(a.recompute));
        break;
    }
  }
  return out;
}

std::string phase_kind_name(PhaseKind k) {
  switch (k) {
    case PhaseKind::info:
      return "info";
    case PhaseKind::nccl:
      return "nccl";
    case PhaseKind::compute:
      return "compute";
    case PhaseKind::training:
      return "training";
  }
  return "?";
}

std::optional<TrainingMeasurement> closest_training_run(
    const std::vector<TrainingMeasurement>& runs, const ModelShape& model, const TrainSetup& setup,
    int nodes, const std::string& gpu_match) {
  using Key = std::tuple<int, int, double, int, int, int>;
  std::optional<TrainingMeasurement> best;
  Key best_key{};
  for (const auto& r : runs) {
    if (!(r.model_tflops_per_device > 0)) continue;
    if (r.device_kind == "cpu") continue;  // a CPU's rate never stands in for a GPU's
    const double ratio =
        r.params > 0 && model.params > 0
            ? std::abs(std::log(static_cast<double>(r.params) / static_cast<double>(model.params)))
            : 1e9;
    const Key key{on_planned_gpu(r.device_kind, r.device_name, gpu_match) ? 0 : 1,
                  model_base_name(r.model) == model_base_name(model.name) ? 0 : 1,
                  ratio,
                  r.zero_stage == setup.zero_stage ? 0 : 1,
                  r.seq_len == setup.seq_len ? 0 : 1,
                  r.nodes == nodes ? 0 : 1};
    // Later run directories (their names start with the UTC time) win ties.
    if (!best || key < best_key || (key == best_key && r.run_dir > best->run_dir)) {
      best = r;
      best_key = key;
    }
  }
  return best;
}

double compute_rate_from_run(const TrainingMeasurement& run) {
  // Full recomputation repeats the forward pass: a third of the model FLOPs on top (as
  // perf_model's predict_step counts it).
  const double executed_over_model = run.recompute ? 4.0 / 3.0 : 1.0;
  const double share = std::clamp(run.exposed_comm_share, 0.0, 0.95);
  return run.model_tflops_per_device * executed_over_model / (1.0 - share);
}

std::optional<AllReduceMeasurement> choose_all_reduce(const std::vector<AllReduceMeasurement>& runs,
                                                      bool inter_node, int nodes,
                                                      const std::string& gpu_match) {
  using Key = std::tuple<int, int, int>;
  std::optional<AllReduceMeasurement> best;
  Key best_key{};
  for (const auto& r : runs) {
    if (inter_node ? r.nodes < 2 : (r.nodes != 1 || r.world < 2)) continue;
    const bool usable = std::any_of(r.busbw_by_size.begin(), r.busbw_by_size.end(),
                                    [](const auto& p) { return p.second > 0; });
    if (!usable) continue;
    const bool planned = r.backend == "nccl" && on_planned_gpu("gpu", r.device, gpu_match);
    const Key key{planned ? 0 : 1, inter_node ? std::abs(r.nodes - nodes) : 0, -r.world};
    if (!best || key < best_key || (key == best_key && r.run_dir > best->run_dir)) {
      best = r;
      best_key = key;
    }
  }
  return best;
}

std::optional<CeilingsMeasurement> choose_ceilings(const std::vector<CeilingsMeasurement>& runs,
                                                   const std::string& gpu_match) {
  std::optional<CeilingsMeasurement> best;
  long best_shapes = -1;
  for (const auto& r : runs) {
    if (!on_planned_gpu("gpu", r.device, gpu_match)) continue;
    const long shapes = std::count_if(r.ceilings.gemm.begin(), r.ceilings.gemm.end(),
                                      [](const NodeCeilings::Gemm& g) { return g.phase != "-"; });
    if (!best || shapes > best_shapes || (shapes == best_shapes && r.run_dir > best->run_dir)) {
      best = r;
      best_shapes = shapes;
    }
  }
  return best;
}

// The measured figures a plan shows for the ceilings it runs the uncalibrated step at.
std::vector<MeasuredFigure> ceiling_figures(const CeilingsMeasurement& m) {
  std::vector<MeasuredFigure> out;
  std::vector<double> model, square;
  for (const auto& g : m.ceilings.gemm) (g.phase == "-" ? square : model).push_back(g.tflop_per_s);
  const std::string file = m.run_dir + "/compute.json";
  if (!model.empty()) {
    out.push_back({"gemm_model_shapes_bf16", median_of(model), "TFLOP/s (median)",
                   fmt::format("measured: {} bf16 products at model shapes in {} ({}); each "
                               "product of an uncalibrated step runs at its own shape's rate "
                               "where measured",
                               model.size(), file, m.device),
                   m.run_dir});
  } else if (!square.empty()) {
    out.push_back({"gemm_square_bf16", median_of(square), "TFLOP/s (median)",
                   fmt::format("measured: {} square bf16 products in {} ({}); no model shape "
                               "measured, so the products of an uncalibrated step run at it",
                               square.size(), file, m.device),
                   m.run_dir});
  }
  if (m.ceilings.hbm_copy_gb_per_s) {
    out.push_back({"hbm_copy_bandwidth", *m.ceilings.hbm_copy_gb_per_s, "GB/s",
                   fmt::format("measured: HBM copy kernel in {} ({}): the elementwise and "
                               "optimizer passes of an uncalibrated step",
                               file, m.device),
                   m.run_dir});
  }
  return out;
}

std::pair<uint64_t, double> busbw_near(const AllReduceMeasurement& m, uint64_t bytes) {
  std::pair<uint64_t, double> best{0, 0};
  double best_distance = 1e300;
  for (const auto& [size, busbw] : m.busbw_by_size) {
    if (size == 0 || !(busbw > 0)) continue;
    const double d = std::abs(std::log(static_cast<double>(size) / static_cast<double>(bytes)));
    if (d < best_distance - 1e-12 || (std::abs(d - best_distance) <= 1e-12 && size > best.first)) {
      best = {size, busbw};
      best_distance = d;
    }
  }
  return best;
}

double predict_sweep_seconds(int world, double busbw_gb_per_s, double latency_us) {
  const auto sizes = sweep_sizes();
  double total = 0;
  for (const CollectiveSpec* op : parse_collective_list(kSweep.collectives)) {
    const double factor = op->bus_factor(world);
    const int placements = op->in_place ? 2 : 1;
    for (uint64_t size : sizes) {
      // busbw = algbw x factor and algbw = size / time (nccl-tests), so time = size x factor /
      // busbw; a factor of 0 (one rank) leaves the latency.
      const double transfer =
          busbw_gb_per_s > 0 ? static_cast<double>(size) * factor / (busbw_gb_per_s * 1e9) : 0;
      total += (kSweep.warmup_iters + kSweep.iters) * placements * (latency_us * 1e-6 + transfer);
    }
  }
  return total;
}

ExecutionPlan build_plan(const PlanRequest& req, const Measurements& measured) {
  if (req.models.empty()) throw usage_error("plan: no models given");
  if (req.nodes.empty()) throw usage_error("plan: no node counts given");
  for (size_t i = 0; i < req.nodes.size(); ++i) {
    if (req.nodes[i] < 1)
      throw usage_error(fmt::format("plan: node count {} is not positive", req.nodes[i]));
    if (i > 0 && req.nodes[i] <= req.nodes[i - 1]) {
      throw usage_error("plan: node counts must be ascending and distinct");
    }
  }
  if (req.gpus_per_node < 1) throw usage_error("plan: GPUs per node must be at least 1");
  if (req.steps < 1 || req.warmup_steps < 0 || req.warmup_steps >= req.steps) {
    throw usage_error(
        fmt::format("plan: {} steps with {} warm-up step(s): need more steps than "
                    "warm-up steps",
                    req.steps, req.warmup_steps));
  }

  ExecutionPlan plan;
  plan.request = req;
  const PlanHardware& hw = req.hardware;
  for (const auto* a : {&hw.gpu_memory_gb, &hw.peak_bf16_tflops, &hw.hbm_gb_per_s,
                        &hw.nvlink_gb_per_s, &hw.nic_gb_per_s_per_port, &hw.nic_ports_per_node}) {
    add_unique(plan.assumptions, *a);
  }
  const CampaignAssumptions& ca = req.campaign;

  Cluster base;
  base.gpus_per_node = req.gpus_per_node;
  base.gpu_memory_bytes = hw.gpu_memory_gb.value * 1e9;
  base.peak_bf16_tflops = hw.peak_bf16_tflops.value;
  base.hbm_gb_per_s = hw.hbm_gb_per_s.value;

  // The GPU ceilings of the planned GPU, for entries no training run calibrates.
  const auto ceilings = choose_ceilings(measured.ceilings, hw.gpu_match);
  if (ceilings) {
    base.ceilings = ceilings->ceilings;
    base.ceilings.source = ceilings->run_dir + "/compute.json";
  }
  bool uncalibrated = false;

  // Communication figures: measured where a run exists, datasheet-based otherwise.
  std::optional<MeasuredFigure> intra_measured;
  Assumption intra_assumed = default_intra_node_busbw(hw.nvlink_gb_per_s.value);
  if (auto m = choose_all_reduce(measured.all_reduce, false, 1, hw.gpu_match)) {
    intra_measured = busbw_figure(*m, req.bucket_bytes, false, hw);
    base.intra_node_busbw_gb_per_s = intra_measured->value;
  } else {
    base.intra_node_busbw_gb_per_s = intra_assumed.value;
    plan.calibration_notes.push_back(
        "intra-node all_reduce busbw: no nccl.json of a single-node run with at least 2 ranks "
        "under the results directory, so the datasheet-based assumption applies");
  }
  const Assumption inter_assumed =
      default_inter_node_busbw(hw.nic_gb_per_s_per_port.value, hw.nic_ports_per_node.value);
  bool inter_note = false;
  auto cluster_for = [&](int nodes, std::vector<MeasuredFigure>& used) {
    Cluster c = base;
    c.nodes = nodes;
    c.inter_node_busbw_gb_per_s = inter_assumed.value;
    if (nodes > 1) {
      if (auto m = choose_all_reduce(measured.all_reduce, true, nodes, hw.gpu_match)) {
        const MeasuredFigure f = busbw_figure(*m, req.bucket_bytes, true, hw);
        c.inter_node_busbw_gb_per_s = f.value;
        used.push_back(f);
      } else {
        add_unique(plan.assumptions, inter_assumed);
        if (!inter_note) {
          plan.calibration_notes.push_back(
              "inter-node all_reduce busbw: no nccl.json of a run on 2 or more nodes under the "
              "results directory, so the NIC-line-rate assumption applies");
          inter_note = true;
        }
      }
    } else if (c.world() > 1) {
      if (intra_measured) {
        used.push_back(*intra_measured);
      } else {
        add_unique(plan.assumptions, intra_assumed);
      }
    }
    return c;
  };

  bool training_note = false;
  for (const auto& t : measured.training) {
    if (t.device_kind != "cpu") continue;
    plan.calibration_notes.push_back(fmt::format(
        "{}/sft_metrics.json: measured on CPU ({} engine), not used: a CPU's rate never "
        "calibrates a GPU's prediction",
        t.run_dir, t.engine));
  }
  for (const auto& pm : req.models) {
    std::vector<size_t> rows;
    for (int nodes : req.nodes) {
      PlanEntry e;
      e.model = pm.shape.name;
      e.params = pm.shape.params;
      e.nodes = nodes;
      e.gpus = nodes * req.gpus_per_node;
      e.ds_path = pm.ds_path;
      const Cluster c = cluster_for(nodes, e.calibration);
      const BatchPlan batch = resolve_batch(pm.ds, e.gpus);
      e.setup.zero_stage = pm.ds.zero_stage;
      e.setup.micro_batch = batch.micro_batch_per_gpu;
      e.setup.grad_accum = batch.gradient_accumulation_steps;
      e.setup.seq_len = req.seq_len;
      e.global_batch_sequences = batch.train_batch_size;
      e.global_batch_tokens = static_cast<double>(batch.train_batch_size) * req.seq_len;
      e.ds_requests_recompute = pm.ds.activation_checkpointing;
      if (auto r = choose_recompute(pm.shape, e.setup, c)) {
        e.setup.recompute = *r;
        e.fits = true;
        e.memory = plan_memory(pm.shape, e.setup, c);
      } else {
        e.setup.recompute = Recompute::full;
        e.memory = plan_memory(pm.shape, e.setup, c);
        e.alternatives = fit_alternatives(pm.shape, e.setup, c);
        e.why_not = why_not_text(e.memory, e.alternatives);
      }
      Calibration cal = req.defaults;
      if (auto run =
              closest_training_run(measured.training, pm.shape, e.setup, nodes, hw.gpu_match)) {
        cal.achieved_tflops_per_gpu = compute_rate_from_run(*run);
        const bool planned = on_planned_gpu(run->device_kind, run->device_name, hw.gpu_match);
        MeasuredFigure f;
        f.name = "achieved_tflops_per_gpu";
        f.value = *cal.achieved_tflops_per_gpu;
        f.unit = "TFLOP/s executed per device";
        f.run_dir = run->run_dir;
        f.source = fmt::format(
            "measured: {:.4g} model TFLOP/s per device (PaLM) in {}/sft_metrics.json ({}, {} "
            "device(s) on {} node(s), ZeRO-{}, seq {}, recomputation {}, {:.1f}% exposed "
            "communication), as executed compute rate{}",
            run->model_tflops_per_device, run->run_dir, run->model, run->world, run->nodes,
            run->zero_stage, run->seq_len, run->recompute ? "full" : "none",
            100 * run->exposed_comm_share,
            device_caveat(planned, fmt::format("{} ({} engine)", run->device_name, run->engine),
                          hw.gpu_name));
        cal.achieved_source = f.source;
        e.calibration.push_back(f);
      } else {
        uncalibrated = true;
        if (ceilings) {
          for (const auto& f : ceiling_figures(*ceilings)) e.calibration.push_back(f);
        }
        if (!training_note) {
          plan.calibration_notes.push_back(
              "achieved TFLOP/s: no GPU training run (sft_metrics.json) under the results "
              "directory, so the step is predicted uncalibrated, category by category, from the "
              "GPU ceilings");
          training_note = true;
        }
      }
      if (e.fits) {
        e.prediction = predict_step(pm.shape, e.setup, c, cal);
        for (const auto& a : e.prediction->assumptions) add_unique(plan.assumptions, a);
        double step = e.prediction->step_s;
        if (e.ds_requests_recompute && e.setup.recompute != Recompute::full) {
          TrainSetup configured = e.setup;
          configured.recompute = Recompute::full;
          e.as_configured = predict_step(pm.shape, configured, c, cal);
          step = e.as_configured->step_s;
        }
        e.run_duration_s =
            ca.job_startup_s.value +
            static_cast<double>(req.warmup_steps) * ca.warmup_step_factor.value * step +
            static_cast<double>(req.steps - req.warmup_steps) * step;
      }
      for (const auto& f : e.calibration) add_unique(plan.measured, f);
      e.command = fmt::format(
          "scripts/run_h200_benchmark.sh {} {} sft --ds-config {} --seq-len {} --steps {}",
          pm.shape.name, nodes, pm.ds_path, req.seq_len, req.steps);
      rows.push_back(plan.entries.size());
      plan.entries.push_back(std::move(e));
    }
    // Scaling efficiency against the smallest planned node count at which the model fits.
    const PlanEntry* ref = nullptr;
    for (size_t i : rows) {
      if (plan.entries[i].prediction) {
        ref = &plan.entries[i];
        break;
      }
    }
    if (ref) {
      const double ref_rate = ref->prediction->tokens_per_s_per_gpu;
      const int ref_nodes = ref->nodes;
      for (size_t i : rows) {
        PlanEntry& e = plan.entries[i];
        if (!e.prediction) continue;
        e.scaling_efficiency = e.prediction->tokens_per_s_per_gpu / ref_rate;
        e.scaling_reference_nodes = ref_nodes;
      }
    }
  }

  // The schedule: bring-up, collective sweeps per node count, GPU ceilings, training runs.
  const int max_nodes = req.nodes.back();
  double total = 0;
  auto add_phase = [&](PhaseKind kind, std::string name, int nodes, std::string command,
                       double seconds, std::string basis_text, DurationBasis basis) {
    SchedulePhase p;
    p.index = static_cast<int>(plan.schedule.size()) + 1;
    p.kind = kind;
    p.name = std::move(name);
    p.nodes = nodes;
    p.command = std::move(command);
    p.duration_s = seconds;
    p.duration_basis = std::move(basis_text);
    p.basis = std::move(basis);
    total += seconds;
    p.cumulative_s = total;
    plan.schedule.push_back(std::move(p));
  };

  add_unique(plan.assumptions, ca.info_s);
  add_phase(PhaseKind::info, "inventory", max_nodes,
            fmt::format("srun -N {0} --ntasks-per-node=1 build/sxbench info --json "
                        "results/info_{0}n.json",
                        max_nodes),
            ca.info_s.value, "assumption info_duration",
            DurationBasis{.kind = DurationBasis::Kind::assumed, .figure = ca.info_s.name});

  add_unique(plan.assumptions, ca.job_startup_s);
  for (int nodes : req.nodes) {
    const int world = nodes * req.gpus_per_node;
    std::string cmd =
        fmt::format("scripts/run_h200_benchmark.sh {} {} nccl", req.launcher_model, nodes);
    std::optional<AllReduceMeasurement> timed;
    for (const auto& m : measured.all_reduce) {
      if (m.full_sweep && m.duration_s && m.nodes == nodes && m.world == world &&
          (!timed || m.run_dir > timed->run_dir)) {
        timed = m;
      }
    }
    if (timed) {
      MeasuredFigure f{fmt::format("nccl_sweep_duration_{}n", nodes), *timed->duration_s, "s",
                       fmt::format("measured: wall time of the same `run --mode nccl` job in "
                                   "{}/run.json (started_utc to finished_utc)",
                                   timed->run_dir),
                       timed->run_dir};
      add_unique(plan.measured, f);
      add_phase(PhaseKind::nccl, fmt::format("collective sweep, {} node(s)", nodes), nodes,
                std::move(cmd), f.value, f.source,
                DurationBasis{.kind = DurationBasis::Kind::measured, .figure = timed->run_dir});
      continue;
    }
    std::vector<MeasuredFigure> used;
    const Cluster c = cluster_for(nodes, used);
    for (const auto& f : used) add_unique(plan.measured, f);
    const double busbw = nodes > 1 ? c.inter_node_busbw_gb_per_s : c.intra_node_busbw_gb_per_s;
    const Assumption& latency = nodes > 1 ? ca.inter_node_latency_us : ca.intra_node_latency_us;
    add_unique(plan.assumptions, latency);
    const double sweep = predict_sweep_seconds(world, busbw, latency.value);
    add_phase(PhaseKind::nccl, fmt::format("collective sweep, {} node(s)", nodes), nodes,
              std::move(cmd), ca.job_startup_s.value + sweep,
              fmt::format("predicted: job start-up + {} collectives x {} sizes ({} to {}) x {} "
                          "iterations at {:.1f} GB/s busbw and {:g} us latency ({:.0f} s); buffer "
                          "set-up and data checks not counted",
                          parse_collective_list(kSweep.collectives).size(), sweep_sizes().size(),
                          format_bytes(kSweep.min_bytes), format_bytes(sweep_max_bytes()),
                          kSweep.warmup_iters + kSweep.iters, busbw, latency.value, sweep),
              DurationBasis{.kind = DurationBasis::Kind::predicted_sweep,
                            .startup_s = ca.job_startup_s.value,
                            .busbw_gb_per_s = busbw,
                            .latency_us = latency.value,
                            .sweep_s = sweep});
  }

  {
    std::optional<ComputeMeasurement> timed;
    for (const auto& m : measured.compute) {
      if (m.gpus_per_node == req.gpus_per_node && on_planned_gpu("gpu", m.device, hw.gpu_match) &&
          (!timed || m.run_dir > timed->run_dir)) {
        timed = m;
      }
    }
    std::string cmd =
        fmt::format("scripts/run_h200_benchmark.sh {} {} compute", req.launcher_model, max_nodes);
    if (timed) {
      MeasuredFigure f{"compute_phase_duration", timed->duration_s, "s",
                       fmt::format("measured: wall time of a `run --mode compute` job in "
                                   "{}/run.json ({} GPUs per node; nodes run in parallel)",
                                   timed->run_dir, timed->gpus_per_node),
                       timed->run_dir};
      add_unique(plan.measured, f);
      add_phase(PhaseKind::compute, "GPU ceilings on every node", max_nodes, std::move(cmd),
                f.value, f.source,
                DurationBasis{.kind = DurationBasis::Kind::measured, .figure = timed->run_dir});
    } else {
      add_unique(plan.assumptions, ca.compute_s_per_gpu);
      const double s = ca.job_startup_s.value + ca.compute_s_per_gpu.value * req.gpus_per_node;
      add_phase(PhaseKind::compute, "GPU ceilings on every node", max_nodes, std::move(cmd), s,
                fmt::format("predicted: job start-up + {} GPUs x {:g} s per GPU", req.gpus_per_node,
                            ca.compute_s_per_gpu.value),
                DurationBasis{.kind = DurationBasis::Kind::predicted_compute,
                              .startup_s = ca.job_startup_s.value,
                              .gpus = req.gpus_per_node,
                              .per_gpu_s = ca.compute_s_per_gpu.value});
    }
  }

  add_unique(plan.assumptions, ca.warmup_step_factor);
  for (const auto& e : plan.entries) {
    if (!e.prediction) {
      plan.not_scheduled.push_back(
          fmt::format("{} on {} node(s): {}", e.model, e.nodes, e.why_not));
      continue;
    }
    add_phase(
        PhaseKind::training, fmt::format("{} on {} node(s)", e.model, e.nodes), e.nodes, e.command,
        e.run_duration_s,
        fmt::format("predicted: job start-up + {} warm-up step(s) x {:g} + {} steps x {:.3g} "
                    "s per step{}",
                    req.warmup_steps, ca.warmup_step_factor.value, req.steps - req.warmup_steps,
                    (e.as_configured ? e.as_configured : e.prediction)->step_s,
                    e.as_configured ? " (full recomputation, as the ds_config runs)" : ""),
        DurationBasis{.kind = DurationBasis::Kind::predicted_training,
                      .startup_s = ca.job_startup_s.value,
                      .warmup_steps = req.warmup_steps,
                      .steady_steps = req.steps - req.warmup_steps,
                      .warmup_factor = ca.warmup_step_factor.value,
                      .step_s = (e.as_configured ? e.as_configured : e.prediction)->step_s,
                      .as_configured = e.as_configured.has_value()});
  }
  plan.total_s = total;
  if (uncalibrated && !ceilings) {
    plan.calibration_notes.push_back(
        "GPU ceilings: no compute.json of a run on the planned GPU under the results directory, so "
        "uncalibrated steps run at datasheet figures and the efficiencies the model states");
  }
  return plan;
}

}  // namespace sxb::report
