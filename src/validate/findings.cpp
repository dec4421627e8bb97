#include "validate/findings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bench/collectives.hpp"
#include "core/units.hpp"

namespace sxb {

std::string verdict_name(Verdict v) {
  switch (v) {
    case Verdict::ok: return "ok";
    case Verdict::warning: return "warning";
    case Verdict::failed: return "failed";
    case Verdict::impossible: return "impossible";
  }
  return "?";
}

int ValidationReport::count(Verdict v) const {
  return static_cast<int>(
      std::count_if(findings.begin(), findings.end(), [v](const Finding& f) { return f.verdict == v; }));
}

int ValidationReport::implausible() const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(),
                                        [](const Finding& f) { return f.implausible; }));
}

void ValidationReport::add(std::vector<Finding> more) {
  findings.insert(findings.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
}

void to_json(nlohmann::json& j, const Finding& f) {
  j = {{"check", f.check},
       {"subject", f.subject},
       {"verdict", verdict_name(f.verdict)},
       {"measured", f.measured ? nlohmann::json(*f.measured) : nlohmann::json()},
       {"limit", f.limit ? nlohmann::json(*f.limit) : nlohmann::json()},
       {"unit", f.unit},
       {"arithmetic", f.arithmetic},
       {"record", f.record.empty() ? nlohmann::json() : nlohmann::json(f.record)},
       {"implausible", f.implausible}};
}

void to_json(nlohmann::json& j, const ValidationReport& r) {
  j = {{"schema", "sxbench.validation/1"},
       {"passed", r.passed()},
       {"counts",
        {{"ok", r.count(Verdict::ok)},
         {"warning", r.count(Verdict::warning)},
         {"failed", r.count(Verdict::failed)},
         {"impossible", r.count(Verdict::impossible)},
         {"implausible", r.implausible()}}},
       {"findings", r.findings}};
}

JobLimits job_limits(const std::vector<HardwareSpec>& specs, const std::string& gpu_name,
                     int node_count, int gpus_per_node, std::vector<Record> records) {
  JobLimits l;
  l.records = std::move(records);
  l.gpu = find_gpu_spec(specs, gpu_name);
  for (const auto& s : specs) {
    if (s.kind == "nic") {
      l.nic = s;
      break;
    }
  }
  l.node_count = node_count;
  l.gpus_per_node = gpus_per_node;
  return l;
}

void compare_with_record(Finding& f, double measured, double peak, const Record* record,
                         bool note_missing, std::string_view scope) {
  if (f.verdict == Verdict::impossible) return;
  if (!record) {
    if (note_missing) {
      f.arithmetic += fmt::format("; no published record of this kind{} in configs/records",
                                  scope.empty() ? std::string() : fmt::format(" ({})", scope));
    }
    return;
  }
  f.record = record->id;
  const double bound = record->fraction() * peak;
  const std::string scaled =
      record->peak ? fmt::format("{:.4g} {} here ({:.1f}% of {:g} {})", bound, f.unit,
                                 100 * record->fraction(), peak, f.unit)
                   : fmt::format("{:.4g} {} here ({:g}% of {:g} {})", bound, f.unit,
                                 record->value, peak, f.unit);
  // One part in 10^9 of slack: a figure at the record, computed in another order, is not above it.
  if (measured > bound * (1 + 1e-9)) {
    f.implausible = true;
    if (f.verdict == Verdict::ok) f.verdict = Verdict::warning;
    f.arithmetic += fmt::format(
        "; implausible: {:.4g} {} is {:.1f}% above the best published record, {} — {}; a record "
        "broken must be double-checked",
        measured, f.unit, 100 * (measured / bound - 1), scaled, record->cite());
  } else {
    f.arithmetic += fmt::format("; within the best published record, {} — {}", scaled,
                                record->cite());
  }
}

void compare_inter_node_record(Finding& f, double busbw, double node_nic_rate, int nodes,
                               const std::vector<Record>& records, const std::string& op) {
  const Record* record = best_record(records, "collective_busbw_inter_node", {}, op);
  if (record && nodes < 3) {
    f.arithmetic += fmt::format(
        "; the inter-node record {} (ring, or NCCL's choice from 3 nodes) is not compared on {} "
        "nodes: there NCCL's tree algorithms can carry more than the NICs' rate "
        "(NVIDIA/nccl-tests#196), so a ring run (NCCL_ALGO=Ring) or 3 nodes test the network",
        record->id, nodes);
    return;
  }
  compare_with_record(f, busbw, node_nic_rate, record, true,
                      record_scope("collective_busbw_inter_node", {}, op));
}

double busbw_ceiling_factor(const std::string& op, int ranks) {
  if (op == "all_reduce" && ranks >= 2) return 2.0 * (ranks - 1) / ranks;
  return 1.0;
}

std::vector<Finding> validate_collectives(const CollectiveReport& report, const JobLimits& limits) {
  std::vector<Finding> out;
  for (const auto& s : report.summary) {
    Finding f;
    f.check = "nccl.data_check";
    f.subject = s.op;
    f.unit = "elements";
    if (!s.checked) {
      f.verdict = Verdict::warning;
      f.arithmetic = "data check was disabled (-c 0): results unverified";
    } else {
      f.measured = static_cast<double>(s.wrong);
      f.limit = 0;
      f.verdict = s.wrong == 0 ? Verdict::ok : Verdict::failed;
      f.arithmetic = fmt::format("{} wrong output elements summed over {} ranks (must be 0)",
                                 s.wrong, report.world_size);
    }
    out.push_back(f);
  }
  // The file's own arithmetic: algbw = size / time and busbw = algbw x the operation's bus
  // factor on every row, and each summary's peak one of its rows. A figure edited by hand or a
  // corrupted file fails here whatever hardware the limits know of.
  for (const auto& s : report.summary) {
    Finding f;
    f.check = "nccl.figures_consistent";
    f.subject = s.op;
    f.unit = "rows";
    const CollectiveSpec* spec = nullptr;
    for (const auto& c : collectives()) {
      if (c.name == s.op) spec = &c;
    }
    if (!spec || report.world_size < 1) continue;  // an operation this version does not know
    const double factor = spec->bus_factor(report.world_size);
    std::string first_bad;
    int rows = 0, bad = 0;
    double peak = 0;
    auto close = [](double a, double b) {
      return std::isfinite(a) && std::isfinite(b) && std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b)) + 1e-12;
    };
    auto check = [&](const CollectiveRow& r, const CollectiveMeasurement& m, const char* placement) {
      ++rows;
      peak = std::max(peak, m.busbw_gb_per_s);
      const double algbw = m.time_us > 0 ? static_cast<double>(r.size_bytes) / (m.time_us * 1e3) : 0;
      if (!(m.time_us > 0) || !close(m.algbw_gb_per_s, algbw) ||
          !close(m.busbw_gb_per_s, m.algbw_gb_per_s * factor)) {
        ++bad;
        if (first_bad.empty()) {
          first_bad = fmt::format(
              "{} {}: time {:g} us, algbw {:g} GB/s (size / time = {:g}), busbw {:g} GB/s "
              "(algbw x {:g} = {:g})",
              format_bytes(r.size_bytes), placement, m.time_us, m.algbw_gb_per_s, algbw,
              m.busbw_gb_per_s, factor, m.algbw_gb_per_s * factor);
        }
      }
    };
    for (const auto& r : report.rows) {
      if (r.op != s.op) continue;
      check(r, r.out_of_place, "out-of-place");
      if (r.in_place) check(r, *r.in_place, "in-place");
    }
    f.measured = bad;
    f.limit = 0;
    if (bad > 0) {
      f.verdict = Verdict::impossible;
      f.arithmetic = fmt::format("{} of {} rows do not follow from their own size and time; first: {}",
                                 bad, rows, first_bad);
    } else if (!close(s.max_busbw_gb_per_s, peak)) {
      f.verdict = Verdict::impossible;
      f.arithmetic = fmt::format("summary peak busbw {:g} GB/s is not the rows' peak {:g} GB/s",
                                 s.max_busbw_gb_per_s, peak);
    } else {
      f.verdict = Verdict::ok;
      f.arithmetic = fmt::format(
          "{} rows: algbw = size / time and busbw = algbw x {:g} (bus factor, {} ranks) hold; "
          "the summary's peak is the rows' peak",
          rows, factor, report.world_size);
    }
    out.push_back(f);
  }
  if (report.world_size < 2 || report.params.backend != "nccl") return out;
  for (const auto& s : report.summary) {
    Finding f;
    f.subject = fmt::format("{}, peak busbw at {}", s.op, format_bytes(s.max_busbw_size_bytes));
    f.measured = s.max_busbw_gb_per_s;
    f.unit = "GB/s";
    if (report.node_count <= 1) {
      if (!limits.gpu) continue;
      const auto nvlink = limits.gpu->value("nvlink_bandwidth_per_direction_gb_per_s");
      if (!nvlink) continue;
      const double ceiling = busbw_ceiling_factor(s.op, report.world_size);
      const double limit = *nvlink * ceiling;
      f.check = "nccl.busbw_vs_nvlink";
      f.limit = limit;
      f.verdict = s.max_busbw_gb_per_s <= limit ? Verdict::ok : Verdict::impossible;
      f.arithmetic = fmt::format(
          "busbw {:.2f} GB/s {} NVLink {:.0f} GB/s per direction per GPU{} ({}: {})",
          s.max_busbw_gb_per_s, s.max_busbw_gb_per_s <= limit ? "<=" : ">", *nvlink,
          ceiling == 1.0 ? std::string()
                         : fmt::format(" x {:.4g} (2(n-1)/n, n = {}: in-switch reduction) = {:.1f} "
                                       "GB/s", ceiling, report.world_size, limit),
          limits.gpu->id, limits.gpu->figure("nvlink_bandwidth_per_direction_gb_per_s").source);
      compare_with_record(f, s.max_busbw_gb_per_s, *nvlink,
                          best_record(limits.records, "collective_busbw_intra_node", {}, s.op));
    } else {
      if (!limits.nic) continue;
      const auto per_port = limits.nic->value("bandwidth_per_direction_gb_per_s");
      const auto ports = limits.nic->value("ports_per_node");
      if (!per_port || !ports) continue;
      const double ceiling = busbw_ceiling_factor(s.op, report.world_size);
      const double node_limit = *per_port * *ports * ceiling;
      f.check = "nccl.busbw_vs_node_nic_rate";
      f.limit = node_limit;
      f.verdict = s.max_busbw_gb_per_s <= node_limit ? Verdict::ok : Verdict::warning;
      f.arithmetic = fmt::format(
          "busbw {:.2f} GB/s vs the node's NIC rate {:.0f} ports x {:.0f} GB/s{} = {:.0f} GB/s per "
          "direction ({}); above it means more NICs per node than configured, or a measurement error",
          s.max_busbw_gb_per_s, *ports, *per_port,
          ceiling == 1.0 ? std::string()
                         : fmt::format(" x {:.4g} (2(n-1)/n, n = {}: reduction tree)", ceiling,
                                       report.world_size),
          node_limit, limits.nic->id);
      compare_inter_node_record(f, s.max_busbw_gb_per_s, *per_port * *ports, report.node_count,
                                limits.records, s.op);
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace sxb
