#include "monitor/nvml_sampler.hpp"

#include <fmt/format.h>

#include <array>

namespace sxb {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;


// The fields read in one nvmlDeviceGetFieldValues call per device per sample.
constexpr std::array<unsigned int, 7> kFields = {
    nvml::kFieldPowerInstant,      nvml::kFieldPcieTxBytes,         nvml::kFieldPcieRxBytes,
    nvml::kFieldNvlinkReplayTotal, nvml::kFieldNvlinkRecoveryTotal, nvml::kFieldNvlinkCrcFlitTotal,
    nvml::kFieldNvlinkCrcDataTotal};

constexpr std::array<unsigned int, 8> kGpmMetrics = {nvml::kGpmSmUtil,
                                                     nvml::kGpmSmOccupancy,
                                                     nvml::kGpmAnyTensorUtil,
                                                     nvml::kGpmDramBwUtil,
                                                     nvml::kGpmPcieTxPerSec,
                                                     nvml::kGpmPcieRxPerSec,
                                                     nvml::kGpmNvlinkTotalTxPerSec,
                                                     nvml::kGpmNvlinkTotalRxPerSec};

}  // namespace

std::unique_ptr<NvmlSampler> NvmlSampler::open(const std::string& library, std::string& why) {
  nvml::ApiHandle api = nvml::load(library, why);
  if (!api) return nullptr;
  unsigned int count = 0;
  const nvml::Return r = api->device_get_count(&count);
  if (r != nvml::kSuccess) {
    why = fmt::format("nvmlDeviceGetCount failed: {}", api->describe(r));
    return nullptr;
  }
  if (count == 0) {
    why = "NVML reports no GPU";
    return nullptr;
  }
  std::unique_ptr<NvmlSampler> s(new NvmlSampler(std::move(api)));
  const nvml::Api& a = *s->api_;
  if (a.system_get_driver_version != nullptr) {
    char buf[96] = {};
    if (a.system_get_driver_version(buf, sizeof buf) == nvml::kSuccess) s->driver_version_ = buf;
  }
  if (a.event_set_create != nullptr && a.device_register_events != nullptr &&
      a.event_set_wait != nullptr) {
    if (a.event_set_create(&s->events_) != nvml::kSuccess) s->events_ = nullptr;
  }
  for (unsigned int i = 0; i < count; ++i) {
    DeviceState d;
    d.index = i;
    const nvml::Return hr = a.device_get_handle_by_index(i, &d.handle);
    if (hr != nvml::kSuccess) {
      // A GPU NVML cannot open (lost, no permission) is a finding, not a reason to stop.
      d.handle = nullptr;
      d.name = fmt::format("unavailable: {}", a.describe(hr));
      s->devices_.push_back(std::move(d));
      continue;
    }
    char buf[256] = {};
    if (a.device_get_name != nullptr && a.device_get_name(d.handle, buf, sizeof buf) == 0) {
      d.name = buf;
    }
    std::fill(std::begin(buf), std::end(buf), '\0');
    if (a.device_get_uuid != nullptr && a.device_get_uuid(d.handle, buf, sizeof buf) == 0) {
      d.uuid = buf;
    }
    if (a.gpm_query_device_support != nullptr && a.gpm_sample_alloc != nullptr &&
        a.gpm_sample_get != nullptr && a.gpm_metrics_get != nullptr &&
        a.gpm_sample_free != nullptr) {
      nvml::GpmSupport support{1, 0};
      if (a.gpm_query_device_support(d.handle, &support) == nvml::kSuccess &&
          support.is_supported_device != 0 &&
          a.gpm_sample_alloc(&d.gpm_previous) == nvml::kSuccess &&
          a.gpm_sample_alloc(&d.gpm_current) == nvml::kSuccess) {
        d.gpm_supported = true;
      }
    }
    if (s->events_ != nullptr &&
        a.device_register_events(d.handle, nvml::kEventTypeXidCriticalError, s->events_) ==
            nvml::kSuccess) {
      d.xid_registered = true;
    }
    s->devices_.push_back(std::move(d));
  }
  return s;
}

NvmlSampler::NvmlSampler(nvml::ApiHandle api) : api_(std::move(api)) {}

NvmlSampler::~NvmlSampler() {
  const nvml::Api& a = *api_;
  for (auto& d : devices_) {
    if (d.gpm_previous != nullptr) a.gpm_sample_free(d.gpm_previous);
    if (d.gpm_current != nullptr) a.gpm_sample_free(d.gpm_current);
  }
  if (events_ != nullptr && a.event_set_free != nullptr) a.event_set_free(events_);
}

std::vector<std::pair<std::string, bool>> NvmlSampler::capabilities() const {
  bool gpm = !devices_.empty(), xid = !devices_.empty();
  for (const auto& d : devices_) {
    gpm = gpm && d.gpm_supported;
    xid = xid && d.xid_registered;
  }
  return {{"gpm", gpm}, {"xid_events", xid}};
}

void NvmlSampler::drain_xid_events() {
  if (events_ == nullptr) return;
  // A zero timeout polls; the bound keeps a storm of events from stalling sampling.
  for (int i = 0; i < 1024; ++i) {
    nvml::EventData e{};
    if (api_->event_set_wait(events_, &e, 0) != nvml::kSuccess) return;
    if ((e.event_type & nvml::kEventTypeXidCriticalError) == 0) continue;
    for (auto& d : devices_) {
      if (d.handle == e.device) {
        ++d.xid_count;
        d.xid_last = e.event_data;
      }
    }
  }
}

void NvmlSampler::read_gpm(DeviceState& d, GpuSample& s) {
  if (!d.gpm_supported) return;
  const nvml::Api& a = *api_;
  if (a.gpm_sample_get(d.handle, d.gpm_current) != nvml::kSuccess) {
    d.gpm_has_previous = false;
    return;
  }
  if (d.gpm_has_previous) {
    // 8 metrics, but the struct is large: keep it off the stack of the sampling thread.
    auto get = std::make_unique<nvml::GpmMetricsGet>();
    get->version = 1;
    get->num_metrics = kGpmMetrics.size();
    get->sample1 = d.gpm_previous;
    get->sample2 = d.gpm_current;
    for (size_t i = 0; i < kGpmMetrics.size(); ++i) get->metrics[i].metric_id = kGpmMetrics[i];
    if (a.gpm_metrics_get(get.get()) == nvml::kSuccess) {
      std::optional<double>* out[] = {&s.gpm_sm_activity_pct,     &s.gpm_sm_occupancy_pct,
                                      &s.gpm_tensor_activity_pct, &s.gpm_dram_bw_util_pct,
                                      &s.gpm_pcie_tx_mib_per_s,   &s.gpm_pcie_rx_mib_per_s,
                                      &s.gpm_nvlink_tx_mib_per_s, &s.gpm_nvlink_rx_mib_per_s};
      for (size_t i = 0; i < kGpmMetrics.size(); ++i) {
        if (get->metrics[i].status == nvml::kSuccess) *out[i] = get->metrics[i].value;
      }
    }
  }
  std::swap(d.gpm_previous, d.gpm_current);
  d.gpm_has_previous = true;
}

void NvmlSampler::read_health(DeviceState& d, GpuSample& s) {
  const nvml::Api& a = *api_;
  unsigned long long count = 0;
  if (a.device_get_total_ecc_errors != nullptr) {
    // (0, 0): corrected, volatile; (1, 0): uncorrected, volatile.
    if (a.device_get_total_ecc_errors(d.handle, 0, 0, &count) == nvml::kSuccess) {
      s.ecc_corrected = count;
    }
    if (a.device_get_total_ecc_errors(d.handle, 1, 0, &count) == nvml::kSuccess) {
      s.ecc_uncorrected = count;
    }
  }
  unsigned int v = 0;
  if (a.device_get_curr_pcie_link_generation != nullptr &&
      a.device_get_curr_pcie_link_generation(d.handle, &v) == nvml::kSuccess) {
    s.pcie_link_gen = v;
  }
  if (a.device_get_max_pcie_link_generation != nullptr &&
      a.device_get_max_pcie_link_generation(d.handle, &v) == nvml::kSuccess) {
    s.pcie_link_gen_max = v;
  }
  if (a.device_get_curr_pcie_link_width != nullptr &&
      a.device_get_curr_pcie_link_width(d.handle, &v) == nvml::kSuccess) {
    s.pcie_link_width = v;
  }
  if (a.device_get_max_pcie_link_width != nullptr &&
      a.device_get_max_pcie_link_width(d.handle, &v) == nvml::kSuccess) {
    s.pcie_link_width_max = v;
  }
  if (a.device_get_remapped_rows != nullptr) {
    unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
    if (a.device_get_remapped_rows(d.handle, &corr, &unc, &pending, &failure) == nvml::kSuccess) {
      s.remapped_rows_correctable = corr;
      s.remapped_rows_uncorrectable = unc;
      s.remap_pending = pending;
      s.remap_failure = failure;
    }
  }
  if (d.xid_registered) {
    s.xid_count = d.xid_count;
    s.xid_last = d.xid_last;
  }
}

std::vector<GpuSample> NvmlSampler::sample() {
  const nvml::Api& a = *api_;
  drain_xid_events();
  std::vector<GpuSample> out;
  out.reserve(devices_.size());
  for (auto& d : devices_) {
    GpuSample s;
    s.index = d.index;
    s.uuid = d.uuid;
    s.name = d.name;
    if (d.handle == nullptr) {
      out.push_back(std::move(s));
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    nvml::Utilization u{};
    if (a.device_get_utilization_rates != nullptr &&
        a.device_get_utilization_rates(d.handle, &u) == nvml::kSuccess) {
      s.gpu_util_pct = u.gpu_pct;
      s.mem_util_pct = u.memory_pct;
    }
    nvml::Memory m{};
    if (a.device_get_memory_info != nullptr &&
        a.device_get_memory_info(d.handle, &m) == nvml::kSuccess) {
      s.mem_used_mib = static_cast<double>(m.used_bytes) / kMiB;
      s.mem_total_mib = static_cast<double>(m.total_bytes) / kMiB;
    }
    unsigned int mw = 0;
    if (a.device_get_power_usage != nullptr &&
        a.device_get_power_usage(d.handle, &mw) == nvml::kSuccess) {
      s.power_w = mw / 1000.0;
    }
    unsigned long long mj = 0;
    if (a.device_get_total_energy_consumption != nullptr &&
        a.device_get_total_energy_consumption(d.handle, &mj) == nvml::kSuccess) {
      s.energy_j = static_cast<double>(mj) / 1000.0;
    }
    unsigned int v = 0;
    if (a.device_get_temperature != nullptr &&
        a.device_get_temperature(d.handle, 0 /* NVML_TEMPERATURE_GPU */, &v) == nvml::kSuccess) {
      s.temperature_c = v;
    }
    if (a.device_get_clock_info != nullptr) {
      if (a.device_get_clock_info(d.handle, 1 /* NVML_CLOCK_SM */, &v) == nvml::kSuccess) {
        s.sm_clock_mhz = v;
      }
      if (a.device_get_clock_info(d.handle, 2 /* NVML_CLOCK_MEM */, &v) == nvml::kSuccess) {
        s.mem_clock_mhz = v;
      }
    }
    unsigned long long reasons = 0;
    if (a.device_get_clock_reasons != nullptr &&
        a.device_get_clock_reasons(d.handle, &reasons) == nvml::kSuccess) {
      s.throttle_mask = reasons;
    }
    if (a.device_get_field_values != nullptr) {
      std::array<nvml::FieldValue, kFields.size()> f{};
      for (size_t i = 0; i < kFields.size(); ++i) f[i].field_id = kFields[i];
      if (a.device_get_field_values(d.handle, static_cast<int>(f.size()), f.data()) ==
          nvml::kSuccess) {
        if (const auto p = nvml::field_u64(f[0])) s.power_instant_w = static_cast<double>(*p) / 1000.0;
        const auto tx = nvml::field_u64(f[1]), rx = nvml::field_u64(f[2]);
        if (tx && rx) {
          if (d.pcie_has_previous && *tx >= d.pcie_tx_bytes_previous &&
              *rx >= d.pcie_rx_bytes_previous) {
            const double dt = std::chrono::duration<double>(now - d.pcie_previous_time).count();
            if (dt > 0) {
              s.pcie_tx_mib_per_s = static_cast<double>(*tx - d.pcie_tx_bytes_previous) / kMiB / dt;
              s.pcie_rx_mib_per_s = static_cast<double>(*rx - d.pcie_rx_bytes_previous) / kMiB / dt;
            }
          }
          d.pcie_tx_bytes_previous = *tx;
          d.pcie_rx_bytes_previous = *rx;
          d.pcie_previous_time = now;
          d.pcie_has_previous = true;
        }
        s.nvlink_replay_errors = nvml::field_u64(f[3]);
        s.nvlink_recovery_errors = nvml::field_u64(f[4]);
        const auto flit = nvml::field_u64(f[5]), data = nvml::field_u64(f[6]);
        if (flit && data) s.nvlink_crc_errors = *flit + *data;
      }
    }
    read_health(d, s);
    read_gpm(d, s);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sxb
