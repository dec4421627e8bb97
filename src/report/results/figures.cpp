#include "report/results/figures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/stats.hpp"
#include "core/units.hpp"

namespace sxb::report {

namespace {

using nlohmann::json;

std::string format_figure_plain(double v) {
  return fmt::format("{:.1f}", v);
}

std::optional<double> median_opt(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  return median_of(v);
}

std::string config_text(const TrainingMetrics& t) {
  std::string zero = fmt::format("ZeRO {}", t.zero_stage_requested);
  if (t.zero_stage_applied != t.zero_stage_requested) {
    zero += fmt::format(" (applied {})", t.zero_stage_applied);
  }
  std::string rc = t.recompute_mode == Recompute::none
                       ? std::string("recomputation off")
                       : "recomputation " + recompute_name(t.recompute_mode);
  if (t.recompute_requested != recompute_name(t.recompute_mode)) {
    rc += " (requested " + t.recompute_requested + ")";
  }
  std::string precision = t.precision_computed.empty() ? "" : ", " + t.precision_computed;
  return fmt::format("micro-batch {} x accumulation {}, {}, {}{}", t.micro_batch, t.grad_accum,
                     zero, rc, precision);
}

// The configuration that decides a run's throughput besides model, length and devices, as
// applied (ThroughputRow::setup).
std::string setup_text(const TrainingMetrics& t) {
  return fmt::format("micro-batch {} x accumulation {}, ZeRO {}, recomputation {}", t.micro_batch,
                     t.grad_accum, t.zero_stage_applied,
                     t.recompute_mode == Recompute::none ? std::string("off")
                                                         : recompute_name(t.recompute_mode));
}

// Row identity: one model, sequence length, node count, device count, device kind and setup.
using ThroughputKey = std::tuple<std::string, int64_t, int, int, std::string, std::string>;

struct RowBuild {
  ThroughputRow row;
  const TrainingMetrics* first = nullptr;
  std::optional<double> device_used_peak_bytes;  // median over the runs that recorded it
};

std::vector<RowBuild> throughput_rows(const Aggregate& a) {
  std::map<ThroughputKey, std::vector<const RunRecord*>> groups;
  for (const RunRecord* r : a.usable()) {
    if (!r->training) continue;
    const auto& t = *r->training;
    groups[{t.model_name, t.seq_len, r->nodes, t.world_size, t.device_kind, setup_text(t)}]
        .push_back(r);
  }
  std::vector<RowBuild> out;
  for (const auto& [key, runs] : groups) {
    RowBuild b;
    ThroughputRow& row = b.row;
    std::tie(row.model, row.seq_len, row.nodes, row.world_size, row.device_kind, row.setup) = key;
    b.first = &*runs.front()->training;
    row.device_name = b.first->device_name;
    std::vector<double> tps, tpsd, sps, mfu, tflops, comm, med, p10, p90, peak;
    std::set<std::string> configs;
    for (const RunRecord* r : runs) {
      const auto& t = *r->training;
      row.runs.push_back(r->name);
      tps.push_back(t.tokens_per_s);
      tpsd.push_back(t.tokens_per_s_per_device);
      sps.push_back(t.samples_per_s);
      if (t.mfu) mfu.push_back(*t.mfu);
      if (t.model_tflops_per_device) tflops.push_back(*t.model_tflops_per_device);
      if (t.exposed_communication_share) comm.push_back(*t.exposed_communication_share);
      if (t.device_used_peak_bytes) peak.push_back(*t.device_used_peak_bytes);
      med.push_back(t.step_time_s.median);
      p10.push_back(t.step_time_s.p10);
      p90.push_back(t.step_time_s.p90);
      const std::string c = config_text(t);
      if (configs.insert(c).second) row.configs.push_back(c);
    }
    row.tokens_per_s = median_of(tps);
    row.tokens_per_s_per_device = median_of(tpsd);
    row.samples_per_s = median_of(sps);
    row.mfu = median_opt(mfu);
    row.model_tflops_per_device = median_opt(tflops);
    row.exposed_communication_share = median_opt(comm);
    b.device_used_peak_bytes = median_opt(peak);
    row.step_median_s = median_of(med);
    row.step_p10_s = median_of(p10);
    row.step_p90_s = median_of(p90);
    row.tokens_per_s_per_device_min = *std::min_element(tpsd.begin(), tpsd.end());
    row.tokens_per_s_per_device_max = *std::max_element(tpsd.begin(), tpsd.end());
    if (runs.size() >= 2 && row.tokens_per_s_per_device > 0) {
      row.spread_fraction = (row.tokens_per_s_per_device_max - row.tokens_per_s_per_device_min) /
                            row.tokens_per_s_per_device;
    }
    out.push_back(std::move(b));
  }
  return out;
}

int devices_per_node(const ThroughputRow& r) {
  return std::max(1, r.world_size / std::max(1, r.nodes));
}

std::vector<ScalingRow> scaling_rows(const std::vector<RowBuild>& rows) {
  std::vector<ScalingRow> out;
  for (const auto& b : rows) {
    const ThroughputRow& r = b.row;
    ScalingRow s;
    s.model = r.model;
    s.seq_len = r.seq_len;
    s.setup = r.setup;
    s.nodes = r.nodes;
    s.devices_per_node = devices_per_node(r);
    s.tokens_per_s_per_device = r.tokens_per_s_per_device;
    s.runs = r.runs;
    // The baseline: the same model, sequence length, setup, device kind and devices per node on
    // 1 node.
    for (const auto& base : rows) {
      const ThroughputRow& o = base.row;
      if (o.model == r.model && o.seq_len == r.seq_len && o.setup == r.setup &&
          o.device_kind == r.device_kind &&
          o.nodes == s.baseline_nodes && devices_per_node(o) == devices_per_node(r)) {
        s.baseline_tokens_per_s_per_device = o.tokens_per_s_per_device;
        s.baseline_runs = o.runs;
        if (o.tokens_per_s_per_device > 0) {
          s.efficiency = r.tokens_per_s_per_device / o.tokens_per_s_per_device;
        }
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<BusbwCurve> busbw_curves(const Aggregate& a, std::vector<std::string>& single_rank) {
  using Key = std::tuple<std::string, int, int, std::string>;
  std::map<Key, std::vector<std::pair<const RunRecord*, const CollectiveOp*>>> groups;
  for (const RunRecord* r : a.usable()) {
    if (!r->collectives) continue;
    if (r->collectives->world_size < 2) {
      single_rank.push_back(r->name);
      continue;
    }
    for (const auto& op : r->collectives->ops) {
      groups[{op.op, r->collectives->node_count, r->collectives->world_size,
              r->collectives->backend}]
          .push_back({r, &op});
    }
  }
  std::vector<BusbwCurve> out;
  for (const auto& [key, members] : groups) {
    BusbwCurve c;
    std::tie(c.op, c.nodes, c.world_size, c.backend) = key;
    std::map<uint64_t, std::vector<double>> by_size;
    for (const auto& [run, op] : members) {
      c.runs.push_back(run->name);
      for (const auto& s : op->sizes)
        by_size[s.size_bytes].push_back(s.out_of_place.busbw_gb_per_s);
    }
    for (const auto& [size, values] : by_size) {
      c.sizes.push_back(size);
      c.busbw_gb_per_s.push_back(median_of(values));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<GpuRunRow> gpu_rows(const Aggregate& a) {
  std::vector<GpuRunRow> out;
  for (const RunRecord* r : a.usable()) {
    if (!r->gpu_metrics) continue;
    const GpuMetrics& g = *r->gpu_metrics;
    GpuRunRow row;
    row.run = r->name;
    row.model = r->model;
    row.nodes = r->nodes;
    row.training = r->training.has_value();
    row.gpu_metrics = g.gpu_metrics && !g.gpus.empty();
    row.note = g.note;
    row.gpus = static_cast<int>(g.gpus.size());
    row.duration_s = g.duration_s.value_or(0);
    const GpuTotals t = totals_over(g.gpus);
    row.util_mean_pct = t.util_mean_pct;
    row.util_max_pct = t.util_max_pct;
    row.sm_activity_mean_pct = t.sm_activity_mean_pct;
    row.power_mean_w = t.power_mean_w;
    row.power_max_w = t.power_max_w;
    row.energy_j = t.energy_j;
    if (const GpuWindow* w = g.training_window()) {
      row.window = w->name;
      row.window_source = g.windows_source + " (" + w->source + ")";
      row.window_note = w->note;
      row.window_samples = w->samples;
      row.window_util_mean_pct = w->util_mean_pct;
      row.window_sm_activity_pct = w->sm_activity_mean_pct;
      row.window_power_mean_w = w->power_mean_w;
    } else {
      row.window_note = g.windows_note;
    }
    out.push_back(std::move(row));
  }
  return out;
}

// The measured all_reduce busbw at the largest size for a job shape, as a performance-model
// input with its source; nullopt when no such run exists.
std::optional<Assumption> measured_busbw(const std::vector<BusbwCurve>& curves, int nodes,
                                         int devices_per_node, const char* name) {
  std::vector<double> values;
  std::vector<std::string> runs;
  uint64_t size = 0;
  for (const auto& c : curves) {
    if (c.op != "all_reduce" || c.backend != "nccl" || c.nodes != nodes || c.busbw_gb_per_s.empty())
      continue;
    if (nodes == 1 && c.world_size != devices_per_node) continue;
    values.push_back(c.largest_size_busbw_gb_per_s());
    size = std::max(size, c.sizes.back());
    runs.insert(runs.end(), c.runs.begin(), c.runs.end());
  }
  if (values.empty()) return std::nullopt;
  return Assumption{
      name, median_of(values), "GB/s",
      fmt::format("measured: all_reduce busbw at the largest size ({}) on {} node(s), "
                  "runs {}",
                  format_bytes(size), nodes, fmt::join(runs, ", "))};
}

std::optional<HardwareSpec> nic_spec(const std::vector<HardwareSpec>& specs) {
  for (const auto& s : specs) {
    if (s.kind == "nic") return s;
  }
  return std::nullopt;
}

struct ModelInputs {
  Cluster cluster;
  std::vector<Assumption> assumptions;
};

// A compute.json's ceilings and the run directory that measured them.
struct CeilingRun {
  std::string run;
  std::vector<std::string> devices;
  NodeCeilings ceilings;
};

// The ceilings for a training row: a compute phase in the row's own run directories before one on a
// GPU of the same name elsewhere; then the one that measured more products at model shapes (a
// full run's compute phase measures them, a quick one only a square product); then the latest.
const CeilingRun* ceilings_for(const ThroughputRow& row, const std::vector<CeilingRun>& runs) {
  using Key = std::tuple<int, long, std::string>;  // smaller is better
  const CeilingRun* best = nullptr;
  Key best_key;
  for (const auto& c : runs) {
    if (c.ceilings.gemm.empty() && !c.ceilings.hbm_copy_gb_per_s) continue;
    const bool own = std::find(row.runs.begin(), row.runs.end(), c.run) != row.runs.end();
    const bool same_device =
        std::find(c.devices.begin(), c.devices.end(), row.device_name) != c.devices.end();
    if (!own && !same_device) continue;
    const long model_shapes = std::count_if(c.ceilings.gemm.begin(), c.ceilings.gemm.end(),
                                            [](const NodeCeilings::Gemm& g) { return g.phase != "-"; });
    // The latest run directory (names start with the UTC time) wins the remaining ties: inverted
    // so that the smaller key is the later name.
    std::string inverted = c.run;
    for (char& ch : inverted) ch = static_cast<char>(255 - static_cast<unsigned char>(ch));
    const Key key{own ? 0 : 1, -model_shapes, inverted};
    if (!best || key < best_key) {
      best = &c;
      best_key = key;
    }
  }
  return best;
}

ModelInputs model_inputs(const HardwareSpec& gpu, const std::optional<HardwareSpec>& nic,
                         const std::vector<BusbwCurve>& curves, int nodes, int gpus_per_node,
                         const CeilingRun* ceilings = nullptr) {
  ModelInputs in;
  Cluster& c = in.cluster;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  if (ceilings) {
    c.ceilings = ceilings->ceilings;
    c.ceilings.source = ceilings->run + "/compute.json";
    std::vector<double> rates;
    for (const auto& g : c.ceilings.gemm) {
      if (g.phase != "-") rates.push_back(g.tflop_per_s);
    }
    if (!rates.empty()) {
      in.assumptions.push_back(
          {"gemm_model_shapes_bf16", median_of(rates), "TFLOP/s (median)",
           fmt::format("measured: {} bf16 products at model shapes in {}; each product of the "
                       "step runs at the rate of its own shape where measured",
                       rates.size(), c.ceilings.source)});
    } else if (!c.ceilings.gemm.empty()) {
      std::vector<double> square;
      for (const auto& g : c.ceilings.gemm) square.push_back(g.tflop_per_s);
      in.assumptions.push_back(
          {"gemm_square_bf16", median_of(square), "TFLOP/s (median)",
           fmt::format("measured: {} square bf16 products in {} (no model shape measured): the "
                       "products of the step run at their median",
                       square.size(), c.ceilings.source)});
    }
    if (c.ceilings.hbm_copy_gb_per_s) {
      in.assumptions.push_back(
          {"hbm_copy_bandwidth", *c.ceilings.hbm_copy_gb_per_s, "GB/s",
           fmt::format("measured: HBM copy kernel in {} (elementwise and optimizer passes)",
                       c.ceilings.source)});
    }
  }
  auto datasheet = [&](const char* key, const char* name, double scale, const char* unit) {
    const HardwareFigure& f = gpu.figure(key);
    in.assumptions.push_back({name, f.value * scale, unit,
                              fmt::format("datasheet ({}: {}): {}", gpu.id, key, f.source)});
    return f.value * scale;
  };
  c.peak_bf16_tflops = datasheet("dense_bf16_tflops", "peak_bf16_tflops_per_gpu", 1, "TFLOP/s");
  c.gpu_memory_bytes = datasheet("hbm_capacity_gb", "gpu_memory_bytes", 1e9, "bytes");
  c.hbm_gb_per_s = datasheet("hbm_bandwidth_gb_per_s", "hbm_bandwidth", 1, "GB/s");
  if (gpus_per_node > 1) {
    auto intra = measured_busbw(curves, 1, gpus_per_node, "intra_node_allreduce_busbw");
    if (!intra)
      intra = default_intra_node_busbw(gpu.figure("nvlink_bandwidth_per_direction_gb_per_s").value);
    c.intra_node_busbw_gb_per_s = intra->value;
    in.assumptions.push_back(*intra);
  }
  if (nodes > 1) {
    auto inter = measured_busbw(curves, nodes, gpus_per_node, "inter_node_allreduce_busbw");
    if (!inter && nic) {
      inter = default_inter_node_busbw(nic->figure("bandwidth_per_direction_gb_per_s").value,
                                       nic->figure("ports_per_node").value);
    }
    if (inter) {
      c.inter_node_busbw_gb_per_s = inter->value;
      in.assumptions.push_back(*inter);
    }
  }
  return in;
}

TrainSetup setup_of(const TrainingMetrics& t) {
  TrainSetup s;
  s.zero_stage = t.zero_stage_applied;
  s.micro_batch = t.micro_batch;
  s.grad_accum = t.grad_accum;
  s.seq_len = t.seq_len;
  s.recompute = t.recompute_mode;
  return s;
}

PredictionRow prediction(const ThroughputRow& row, const TrainingMetrics& t,
                         const HardwareSpec& gpu, const std::optional<HardwareSpec>& nic,
                         const std::vector<BusbwCurve>& curves, int nodes, const Calibration& cal,
                         std::vector<Assumption> extra, const CeilingRun* ceilings) {
  PredictionRow p;
  p.model = row.model;
  p.seq_len = row.seq_len;
  p.nodes = nodes;
  p.gpus_per_node = devices_per_node(row);
  p.recompute = t.recompute_mode;
  ModelInputs in = model_inputs(gpu, nic, curves, nodes, p.gpus_per_node, ceilings);
  const StepPrediction s = predict_step(t.shape, setup_of(t), in.cluster, cal);
  p.categories = s.categories;
  p.predicted_memory_bytes = s.memory.total_bytes;
  p.predicted_tokens_per_s_per_gpu = s.tokens_per_s_per_gpu;
  p.predicted_tokens_per_s = s.tokens_per_s;
  p.predicted_step_s = s.step_s;
  p.predicted_mfu = s.mfu;
  p.predicted_exposed_comm_s = s.exposed_comm_s;
  p.memory_verdict = s.memory.verdict;
  p.assumptions = std::move(in.assumptions);
  p.assumptions.insert(p.assumptions.end(), extra.begin(), extra.end());
  p.assumptions.insert(p.assumptions.end(), s.assumptions.begin(), s.assumptions.end());
  return p;
}

void predictions(const std::vector<RowBuild>& rows, const std::vector<BusbwCurve>& curves,
                 const std::vector<HardwareSpec>& specs, const FigureOptions& options,
                 const std::vector<CeilingRun>& ceiling_runs, Figures& f) {
  const auto nic = nic_spec(specs);
  std::set<std::tuple<std::string, int64_t, std::string>> gaps;
  // Measured configurations: the model, uncalibrated, from the node's measured ceilings (a
  // compute.json) or the datasheet.
  for (const auto& b : rows) {
    const ThroughputRow& row = b.row;
    const auto gpu = find_gpu_spec(specs, row.device_name);
    if (!gpu) {
      if (gaps.insert({row.model, row.seq_len, row.device_name}).second) {
        f.prediction_gaps.push_back({row.model, row.seq_len, row.device_name, "no_gpu_spec"});
      }
      continue;
    }
    const CeilingRun* ceilings = ceilings_for(row, ceiling_runs);
    PredictionRow p =
        prediction(row, *b.first, *gpu, nic, curves, row.nodes, Calibration{}, {}, ceilings);
    p.basis = ceilings ? "measured_ceilings" : "datasheet";
    p.measured_tokens_per_s_per_gpu = row.tokens_per_s_per_device;
    p.runs = row.runs;
    if (p.predicted_tokens_per_s_per_gpu > 0) {
      p.ratio = row.tokens_per_s_per_device / p.predicted_tokens_per_s_per_gpu;
      p.error = (p.predicted_tokens_per_s_per_gpu - row.tokens_per_s_per_device) /
                row.tokens_per_s_per_device;
    }
    if (b.device_used_peak_bytes && *b.device_used_peak_bytes > 0) {
      p.measured_memory_bytes = b.device_used_peak_bytes;
      p.memory_error =
          (p.predicted_memory_bytes - *b.device_used_peak_bytes) / *b.device_used_peak_bytes;
    }
    f.predictions.push_back(std::move(p));
  }
  // Projections: node counts not measured for a model x sequence length x devices per node x
  // setup, calibrated on the measurement with the fewest nodes.
  std::map<std::tuple<std::string, int64_t, int, std::string>, std::vector<const RowBuild*>>
      families;
  for (const auto& b : rows) {
    if (!find_gpu_spec(specs, b.row.device_name)) continue;
    families[{b.row.model, b.row.seq_len, devices_per_node(b.row), b.row.setup}].push_back(&b);
  }
  for (const auto& [key, members] : families) {
    const RowBuild* base = members.front();  // rows are ordered by node count within a family
    const ThroughputRow& row = base->row;
    const TrainingMetrics& t = *base->first;
    const auto gpu = find_gpu_spec(specs, row.device_name);
    // The achieved compute rate that makes the model reproduce the measured run at its own node
    // count (bisection: the predicted rate rises with the compute rate). Projections then
    // differ from the measurement only by what the model changes with the node count.
    const ModelInputs at_base = model_inputs(*gpu, nic, curves, row.nodes, devices_per_node(row));
    const TrainSetup setup = setup_of(t);
    auto predicted_at = [&](double tflops) {
      Calibration c;
      c.achieved_tflops_per_gpu = tflops;
      return predict_step(t.shape, setup, at_base.cluster, c).tokens_per_s_per_gpu;
    };
    double lo = 1e-9, hi = 100 * at_base.cluster.peak_bf16_tflops;
    const bool reachable = predicted_at(hi) >= row.tokens_per_s_per_device;
    for (int i = 0; i < 200 && reachable; ++i) {
      const double mid = std::sqrt(lo * hi);
      (predicted_at(mid) < row.tokens_per_s_per_device ? lo : hi) = mid;
    }
    Calibration cal;
    cal.achieved_tflops_per_gpu = hi;
    cal.achieved_source = fmt::format(
        "calibrated: the compute rate at which the model reproduces the measured {} tokens/s per "
        "GPU at {} node(s) (runs {}){}",
        format_figure_plain(row.tokens_per_s_per_device), row.nodes, fmt::join(row.runs, ", "),
        reachable ? "" : "; not reached even at 100x the datasheet peak, so capped there");
    const Assumption calibration{"achieved_compute_tflops_per_gpu", *cal.achieved_tflops_per_gpu,
                                 "TFLOP/s", cal.achieved_source};
    for (int nodes : options.projection_nodes) {
      const bool measured = std::any_of(members.begin(), members.end(),
                                        [&](const RowBuild* m) { return m->row.nodes == nodes; });
      if (measured || nodes < 1) continue;
      PredictionRow p = prediction(row, t, *gpu, nic, curves, nodes, cal, {calibration},
                                   ceilings_for(row, ceiling_runs));
      p.projection = true;
      p.basis = "calibrated";
      p.runs = row.runs;
      f.predictions.push_back(std::move(p));
    }
  }
  std::stable_sort(f.predictions.begin(), f.predictions.end(),
                   [](const PredictionRow& a, const PredictionRow& b) {
                     return std::tie(a.model, a.seq_len, a.gpus_per_node, a.nodes) <
                            std::tie(b.model, b.seq_len, b.gpus_per_node, b.nodes);
                   });
}

}  // namespace

Figures compute_figures(const Aggregate& a, const std::vector<HardwareSpec>& specs,
                        const FigureOptions& options) {
  Figures f;
  const auto rows = throughput_rows(a);
  for (const auto& b : rows) f.throughput.push_back(b.row);
  f.scaling = scaling_rows(rows);
  f.busbw = busbw_curves(a, f.single_rank_collective_runs);
  f.gpu = gpu_rows(a);
  std::vector<CeilingRun> ceilings;
  for (const RunRecord* r : a.usable()) {
    if (!r->compute) continue;
    for (const auto& h : r->compute->headlines) f.compute.push_back({r->name, h});
    ceilings.push_back({r->name, r->compute->devices, r->compute->ceilings});
  }
  predictions(rows, f.busbw, specs, options, ceilings, f);
  return f;
}

namespace {

json opt(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json to_json(const Figures& f) {
  json j;
  j["throughput"] = json::array();
  for (const auto& r : f.throughput) {
    j["throughput"].push_back(
        {{"model", r.model},
         {"seq_len", r.seq_len},
         {"nodes", r.nodes},
         {"devices", r.world_size},
         {"device_kind", r.device_kind},
         {"device_name", r.device_name},
         {"runs", r.runs},
         {"tokens_per_s", r.tokens_per_s},
         {"tokens_per_s_per_device", r.tokens_per_s_per_device},
         {"samples_per_s", r.samples_per_s},
         {"mfu", opt(r.mfu)},
         {"model_tflops_per_s_per_device", opt(r.model_tflops_per_device)},
         {"exposed_communication_share", opt(r.exposed_communication_share)},
         {"step_time_s",
          {{"median", r.step_median_s}, {"p10", r.step_p10_s}, {"p90", r.step_p90_s}}},
         {"tokens_per_s_per_device_min", r.tokens_per_s_per_device_min},
         {"tokens_per_s_per_device_max", r.tokens_per_s_per_device_max},
         {"spread_fraction", opt(r.spread_fraction)},
         {"configs", r.configs},
         {"setup", r.setup},
         {"provenance", "measured: sft_metrics.json of the runs; median over runs"}});
  }
  j["scaling"] = json::array();
  for (const auto& s : f.scaling) {
    j["scaling"].push_back(
        {{"model", s.model},
         {"seq_len", s.seq_len},
         {"setup", s.setup},
         {"nodes", s.nodes},
         {"devices_per_node", s.devices_per_node},
         {"tokens_per_s_per_device", s.tokens_per_s_per_device},
         {"runs", s.runs},
         {"baseline_nodes", s.baseline_nodes},
         {"baseline_tokens_per_s_per_device", opt(s.baseline_tokens_per_s_per_device)},
         {"baseline_runs", s.baseline_runs},
         {"efficiency", opt(s.efficiency)},
         {"note", s.efficiency ? "" : "no 1-node baseline"}});
  }
  j["busbw"] = json::array();
  for (const auto& c : f.busbw) {
    json pts = json::array();
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      pts.push_back({{"size_bytes", c.sizes[i]}, {"busbw_gb_per_s", c.busbw_gb_per_s[i]}});
    }
    j["busbw"].push_back(
        {{"op", c.op},
         {"nodes", c.nodes},
         {"world_size", c.world_size},
         {"backend", c.backend},
         {"runs", c.runs},
         {"points", pts},
         {"provenance",
          "measured: nccl.json out_of_place.busbw_gb_per_s; median over runs per size"}});
  }
  j["single_rank_collective_runs"] = f.single_rank_collective_runs;
  j["gpu"] = json::array();
  for (const auto& g : f.gpu) {
    j["gpu"].push_back({{"run", g.run},
                        {"model", g.model},
                        {"nodes", g.nodes},
                        {"training", g.training},
                        {"gpu_metrics", g.gpu_metrics},
                        {"note", g.note},
                        {"gpus", g.gpus},
                        {"util_mean_pct", opt(g.util_mean_pct)},
                        {"util_max_pct", opt(g.util_max_pct)},
                        {"power_mean_w", opt(g.power_mean_w)},
                        {"power_max_w", opt(g.power_max_w)},
                        {"energy_j", opt(g.energy_j)},
                        {"sm_activity_mean_pct", opt(g.sm_activity_mean_pct)},
                        {"duration_s", g.duration_s},
                        {"training_window",
                         g.window.empty()
                             ? json(nullptr)
                             : json{{"name", g.window},
                                    {"source", g.window_source},
                                    {"samples", g.window_samples},
                                    {"note", g.window_note},
                                    {"util_mean_pct", opt(g.window_util_mean_pct)},
                                    {"sm_activity_mean_pct", opt(g.window_sm_activity_pct)},
                                    {"power_mean_w", opt(g.window_power_mean_w)}}}});
  }
  j["compute"] = json::array();
  for (const auto& c : f.compute) {
    j["compute"].push_back({{"run", c.run},
                            {"test", c.figure.test},
                            {"what", c.figure.what},
                            {"device", c.figure.device},
                            {"value", c.figure.value},
                            {"unit", c.figure.unit},
                            {"spec_key", c.figure.spec_key},
                            {"spec_value", opt(c.figure.spec_value)},
                            {"spec_fraction", opt(c.figure.spec_fraction)}});
  }
  j["predictions"] = json::array();
  for (const auto& p : f.predictions) {
    json categories = json::array();
    for (const auto& c : p.categories) {
      categories.push_back({{"name", c.name}, {"seconds", c.seconds}, {"basis", c.basis}});
    }
    json as = json::array();
    for (const auto& a : p.assumptions) {
      as.push_back({{"name", a.name}, {"value", a.value}, {"unit", a.unit}, {"source", a.source}});
    }
    j["predictions"].push_back(
        {{"model", p.model},
         {"seq_len", p.seq_len},
         {"nodes", p.nodes},
         {"gpus_per_node", p.gpus_per_node},
         {"kind", p.projection ? "projection" : "prediction"},
         {"basis", p.basis},
         {"measured_tokens_per_s_per_gpu", opt(p.measured_tokens_per_s_per_gpu)},
         {"runs", p.runs},
         {"predicted_tokens_per_s_per_gpu", p.predicted_tokens_per_s_per_gpu},
         {"predicted_tokens_per_s", p.predicted_tokens_per_s},
         {"predicted_step_s", p.predicted_step_s},
         {"predicted_mfu", p.predicted_mfu},
         {"predicted_exposed_comm_s", p.predicted_exposed_comm_s},
         {"measured_over_predicted", opt(p.ratio)},
         {"error_fraction", opt(p.error)},
         {"step_categories", categories},
         {"memory", p.memory_verdict},
         {"predicted_memory_bytes", p.predicted_memory_bytes},
         {"measured_memory_peak_bytes", opt(p.measured_memory_bytes)},
         {"memory_error_fraction", opt(p.memory_error)},
         {"assumptions", as}});
  }
  j["prediction_gaps"] = json::array();
  for (const auto& g : f.prediction_gaps) {
    j["prediction_gaps"].push_back({{"model", g.model},
                                    {"seq_len", g.seq_len},
                                    {"device_name", g.device_name},
                                    {"reason", g.reason}});
  }
  return j;
}

}  // namespace sxb::report
