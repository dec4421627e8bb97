#include "monitor/summary.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "monitor/throttle.hpp"

namespace sxb {

namespace {

using json = nlohmann::json;

json opt(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}
template <typename T>
json opt_whole(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
std::optional<double> to_double(const std::optional<uint64_t>& v) {
  return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}
std::optional<double> to_double(const std::optional<unsigned int>& v) {
  return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}

}  // namespace

void Stat::add(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return;
  ++count;
  sum += *v;
  min = std::min(min, *v);
  max = std::max(max, *v);
}

std::optional<double> Stat::mean() const {
  return count > 0 ? std::optional<double>(sum / static_cast<double>(count)) : std::nullopt;
}

json Stat::to_json() const {
  if (count == 0) return {{"mean", nullptr}, {"min", nullptr}, {"max", nullptr}, {"samples", 0}};
  return {{"mean", *mean()}, {"min", min}, {"max", max}, {"samples", count}};
}

void CounterSpan::add(const std::optional<double>& v) {
  if (!v) return;
  if (!first) first = v;
  last = v;
}

std::optional<double> CounterSpan::delta() const {
  if (!first || !last) return std::nullopt;
  return *last - *first;
}

void GpuSummary::add(double elapsed_s, const GpuSample& s) {
  ++samples;
  gpu_util_pct.add(s.gpu_util_pct);
  mem_util_pct.add(s.mem_util_pct);
  mem_used_mib.add(s.mem_used_mib);
  power_w.add(s.power_w);
  power_instant_w.add(s.power_instant_w);
  temperature_c.add(s.temperature_c);
  sm_clock_mhz.add(s.sm_clock_mhz);
  mem_clock_mhz.add(s.mem_clock_mhz);
  pcie_tx_mib_per_s.add(s.pcie_tx_mib_per_s);
  pcie_rx_mib_per_s.add(s.pcie_rx_mib_per_s);
  gpm_sm_activity_pct.add(s.gpm_sm_activity_pct);
  gpm_sm_occupancy_pct.add(s.gpm_sm_occupancy_pct);
  gpm_tensor_activity_pct.add(s.gpm_tensor_activity_pct);
  gpm_dram_bw_util_pct.add(s.gpm_dram_bw_util_pct);
  gpm_pcie_tx_mib_per_s.add(s.gpm_pcie_tx_mib_per_s);
  gpm_pcie_rx_mib_per_s.add(s.gpm_pcie_rx_mib_per_s);
  gpm_nvlink_tx_mib_per_s.add(s.gpm_nvlink_tx_mib_per_s);
  gpm_nvlink_rx_mib_per_s.add(s.gpm_nvlink_rx_mib_per_s);
  if (s.energy_j) {
    energy_j.add(s.energy_j);
    energy_elapsed_s.add(elapsed_s);
  }
  if (s.power_w) {
    if (previous_power) {
      const double dt = elapsed_s - previous_power->first;
      if (dt > 0) power_integral_j += 0.5 * (previous_power->second + *s.power_w) * dt;
    } else {
      power_integral_first_s = elapsed_s;
    }
    previous_power = {elapsed_s, *s.power_w};
    power_integral_last_s = elapsed_s;
  } else {
    previous_power.reset();  // a gap: the integral skips it rather than bridging it
  }
  if (s.throttle_mask) {
    ++throttle_samples;
    if (is_throttled(*s.throttle_mask)) ++throttled_samples;
    for (const auto& name : decode_throttle_reasons(*s.throttle_mask)) ++reason_samples[name];
  }
  ecc_corrected.add(to_double(s.ecc_corrected));
  ecc_uncorrected.add(to_double(s.ecc_uncorrected));
  nvlink_replay_errors.add(to_double(s.nvlink_replay_errors));
  nvlink_recovery_errors.add(to_double(s.nvlink_recovery_errors));
  nvlink_crc_errors.add(to_double(s.nvlink_crc_errors));
  if (s.xid_count) xid_count = s.xid_count;
  if (s.xid_last) xids_seen.insert(*s.xid_last);
  pcie_link_gen.add(to_double(s.pcie_link_gen));
  pcie_link_width.add(to_double(s.pcie_link_width));
  if (s.pcie_link_gen_max) pcie_link_gen_max = s.pcie_link_gen_max;
  if (s.pcie_link_width_max) pcie_link_width_max = s.pcie_link_width_max;
  if (s.remapped_rows_correctable) remapped_rows_correctable = s.remapped_rows_correctable;
  if (s.remapped_rows_uncorrectable) remapped_rows_uncorrectable = s.remapped_rows_uncorrectable;
  if (s.remap_pending && *s.remap_pending != 0) remap_pending_seen = true;
  if (s.remap_failure && *s.remap_failure != 0) remap_failure_seen = true;
}

json GpuSummary::to_json() const {
  json j;
  j["index"] = index;
  j["uuid"] = uuid;
  j["name"] = name;
  j["samples"] = samples;
  j["utilization_gpu_pct"] = gpu_util_pct.to_json();
  j["utilization_memory_pct"] = mem_util_pct.to_json();
  j["memory_used_mib"] = mem_used_mib.to_json();
  j["power_w"] = power_w.to_json();
  j["power_instant_w"] = power_instant_w.to_json();
  j["temperature_c"] = temperature_c.to_json();
  j["sm_clock_mhz"] = sm_clock_mhz.to_json();
  j["memory_clock_mhz"] = mem_clock_mhz.to_json();

  json e;
  const auto counter_j = energy_j.delta();
  const auto span_s = energy_elapsed_s.delta();
  e["counter_j"] = opt(counter_j);
  e["counter_span_s"] = opt(span_s);
  e["mean_power_from_counter_w"] =
      counter_j && span_s && *span_s > 0 ? json(*counter_j / *span_s) : json(nullptr);
  const bool have_integral = power_integral_first_s && power_integral_last_s &&
                             *power_integral_last_s > *power_integral_first_s;
  e["power_integral_j"] = have_integral ? json(power_integral_j) : json(nullptr);
  e["power_integral_span_s"] =
      have_integral ? json(*power_integral_last_s - *power_integral_first_s) : json(nullptr);
  e["integral_vs_counter_pct"] = have_integral && counter_j && *counter_j > 0
                                     ? json(100.0 * (power_integral_j - *counter_j) / *counter_j)
                                     : json(nullptr);
  j["energy"] = e;

  json t;
  t["samples_with_reasons"] = throttle_samples;
  t["throttled_share"] =
      throttle_samples > 0
          ? json(static_cast<double>(throttled_samples) / static_cast<double>(throttle_samples))
          : json(nullptr);
  json shares = json::object();
  for (const auto& [name, n] : reason_samples) {
    shares[name] = static_cast<double>(n) / static_cast<double>(throttle_samples);
  }
  t["reason_share"] = shares;
  j["throttle"] = t;

  json g;
  g["sm_activity_pct"] = gpm_sm_activity_pct.to_json();
  g["sm_occupancy_pct"] = gpm_sm_occupancy_pct.to_json();
  g["tensor_activity_pct"] = gpm_tensor_activity_pct.to_json();
  g["dram_bw_util_pct"] = gpm_dram_bw_util_pct.to_json();
  g["pcie_tx_mib_per_s"] = gpm_pcie_tx_mib_per_s.to_json();
  g["pcie_rx_mib_per_s"] = gpm_pcie_rx_mib_per_s.to_json();
  g["nvlink_tx_mib_per_s"] = gpm_nvlink_tx_mib_per_s.to_json();
  g["nvlink_rx_mib_per_s"] = gpm_nvlink_rx_mib_per_s.to_json();
  j["gpm"] = g;
  j["pcie_counters"] = {{"tx_mib_per_s", pcie_tx_mib_per_s.to_json()},
                        {"rx_mib_per_s", pcie_rx_mib_per_s.to_json()}};

  json h;
  h["xid_events"] = opt_whole(xid_count);
  h["xids_seen"] = xids_seen;
  h["ecc_corrected_during_run"] = opt(ecc_corrected.delta());
  h["ecc_uncorrected_during_run"] = opt(ecc_uncorrected.delta());
  h["ecc_corrected_since_driver_load"] = opt(ecc_corrected.last);
  h["ecc_uncorrected_since_driver_load"] = opt(ecc_uncorrected.last);
  h["nvlink_replay_errors_during_run"] = opt(nvlink_replay_errors.delta());
  h["nvlink_recovery_errors_during_run"] = opt(nvlink_recovery_errors.delta());
  h["nvlink_crc_errors_during_run"] = opt(nvlink_crc_errors.delta());
  h["pcie_link_gen_seen"] = {
      {"min", pcie_link_gen.count ? json(pcie_link_gen.min) : json(nullptr)},
      {"max", pcie_link_gen.count ? json(pcie_link_gen.max) : json(nullptr)}};
  h["pcie_link_gen_max"] = opt_whole(pcie_link_gen_max);
  h["pcie_link_width_seen"] = {
      {"min", pcie_link_width.count ? json(pcie_link_width.min) : json(nullptr)},
      {"max", pcie_link_width.count ? json(pcie_link_width.max) : json(nullptr)}};
  h["pcie_link_width_max"] = opt_whole(pcie_link_width_max);
  // The link generation drops when idle to save power, so only a width below the maximum, or a
  // generation that never reached the maximum, marks a down-trained link.
  h["pcie_width_downtrained"] = pcie_link_width.count && pcie_link_width_max
                                    ? json(pcie_link_width.min < *pcie_link_width_max)
                                    : json(nullptr);
  h["pcie_gen_never_at_max"] = pcie_link_gen.count && pcie_link_gen_max
                                   ? json(pcie_link_gen.max < *pcie_link_gen_max)
                                   : json(nullptr);
  h["remapped_rows_correctable"] = opt_whole(remapped_rows_correctable);
  h["remapped_rows_uncorrectable"] = opt_whole(remapped_rows_uncorrectable);
  h["remap_pending_seen"] = remapped_rows_correctable ? json(remap_pending_seen) : json(nullptr);
  h["remap_failure_seen"] = remapped_rows_correctable ? json(remap_failure_seen) : json(nullptr);
  j["health"] = h;
  return j;
}

void MetricsSummary::add(const Tick& tick) {
  ++samples;
  if (!first_elapsed_s) first_elapsed_s = tick.elapsed_s;
  last_elapsed_s = tick.elapsed_s;
  host_cpu_util_pct.add(tick.host_sample.cpu_util_pct);
  host_mem_used_mib.add(tick.host_sample.mem_used_mib);
  for (const auto& g : tick.gpus) {
    GpuSummary* target = nullptr;
    for (auto& s : gpus) {
      if (s.index == g.index) target = &s;
    }
    if (target == nullptr) {
      gpus.emplace_back();
      target = &gpus.back();
      target->index = g.index;
      target->uuid = g.uuid;
      target->name = g.name;
    }
    target->add(tick.elapsed_s, g);
  }
}

json MetricsSummary::to_json() const {
  json j;
  j["schema"] = "sxbench.gpu_metrics_summary/1";
  j["tool_version"] = tool_version;
  j["started_utc"] = started_utc;
  j["finished_utc"] = finished_utc;
  j["host"] = host;
  j["interval_s"] = interval_s;
  j["samples"] = samples;
  j["duration_s"] =
      first_elapsed_s && last_elapsed_s ? json(*last_elapsed_s - *first_elapsed_s) : json(nullptr);
  j["gpu_metrics"] = gpu_metrics;
  j["gpu_note"] = gpu_note;
  j["driver_version"] = driver_version;
  json caps = json::object();
  for (const auto& [name, on] : capabilities) caps[name] = on;
  j["capabilities"] = caps;
  j["host_metrics"] = {{"cpu_util_pct", host_cpu_util_pct.to_json()},
                       {"mem_used_mib", host_mem_used_mib.to_json()}};
  json g = json::array();
  for (const auto& s : gpus) g.push_back(s.to_json());
  j["gpus"] = g;
  j["method"] =
      "NVML sampled every interval_s by a background thread; utilisation = NVML "
      "utilization.gpu (share of time a kernel ran; one busy SM reads 100%), GPM metrics where "
      "the GPU supports them; means are over samples; energy.counter_j = difference of "
      "nvmlDeviceGetTotalEnergyConsumption between the first and last sample; "
      "energy.power_integral_j = trapezoid integral of power_w over the samples; throttled_share "
      "= share of samples with a clock-event reason other than gpu_idle";
  if (!extra.is_null()) j.update(extra);
  return j;
}

}  // namespace sxb
