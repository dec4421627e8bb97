#include "platform/nvml_api.hpp"

#include <cmath>

#include <dlfcn.h>
#include <fmt/format.h>

namespace sxb::nvml {

namespace {

template <typename Fn>
void bind(void* handle, Fn& fn, const char* name) {
  fn = reinterpret_cast<Fn>(::dlsym(handle, name));
}

template <typename Fn>
void bind_first(void* handle, Fn& fn, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    bind(handle, fn, n);
    if (fn != nullptr) return;
  }
}

}  // namespace

std::string Api::describe(Return r) const {
  const char* text = error_string != nullptr ? error_string(r) : nullptr;
  return text != nullptr ? fmt::format("NVML error {} ({})", r, text)
                         : fmt::format("NVML error {}", r);
}

void ApiDeleter::operator()(Api* api) const {
  if (api == nullptr) return;
  if (api->shutdown != nullptr) api->shutdown();
  if (api->handle != nullptr) ::dlclose(api->handle);
  delete api;
}

std::optional<uint64_t> field_u64(const FieldValue& f) {
  if (f.status != kSuccess) return std::nullopt;
  switch (f.value_type) {
    case 0:
      return std::isfinite(f.value.d) && f.value.d >= 0
                 ? std::optional<uint64_t>(static_cast<uint64_t>(f.value.d))
                 : std::nullopt;
    case 1:
      return f.value.ui;
    case 2:
      return f.value.ul;
    case 3:
      return f.value.ull;
    case 4:
      return f.value.sll < 0 ? std::nullopt : std::optional<uint64_t>(f.value.sll);
    default:
      return std::nullopt;
  }
}

ApiHandle load(const std::string& library, std::string& why) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    why = err != nullptr ? std::string(err) : fmt::format("cannot load {}", library);
    return nullptr;
  }
  ApiHandle api(new Api);
  api->handle = handle;
  Api& a = *api;
  bind_first(handle, a.init, {"nvmlInit_v2", "nvmlInit"});
  bind(handle, a.shutdown, "nvmlShutdown");
  bind(handle, a.error_string, "nvmlErrorString");
  bind(handle, a.system_get_driver_version, "nvmlSystemGetDriverVersion");
  bind_first(handle, a.device_get_count, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  bind_first(handle, a.device_get_handle_by_index,
             {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  bind(handle, a.device_get_name, "nvmlDeviceGetName");
  bind(handle, a.device_get_uuid, "nvmlDeviceGetUUID");
  bind(handle, a.device_get_utilization_rates, "nvmlDeviceGetUtilizationRates");
  bind(handle, a.device_get_memory_info, "nvmlDeviceGetMemoryInfo");
  bind(handle, a.device_get_power_usage, "nvmlDeviceGetPowerUsage");
  bind(handle, a.device_get_total_energy_consumption, "nvmlDeviceGetTotalEnergyConsumption");
  bind(handle, a.device_get_temperature, "nvmlDeviceGetTemperature");
  bind(handle, a.device_get_clock_info, "nvmlDeviceGetClockInfo");
  bind_first(
      handle, a.device_get_clock_reasons,
      {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"});
  bind(handle, a.device_get_vbios_version, "nvmlDeviceGetVbiosVersion");
  bind(handle, a.device_get_applications_clock, "nvmlDeviceGetApplicationsClock");
  bind(handle, a.device_get_default_applications_clock, "nvmlDeviceGetDefaultApplicationsClock");
  bind(handle, a.device_get_field_values, "nvmlDeviceGetFieldValues");
  bind(handle, a.device_get_total_ecc_errors, "nvmlDeviceGetTotalEccErrors");
  bind(handle, a.device_get_curr_pcie_link_generation, "nvmlDeviceGetCurrPcieLinkGeneration");
  bind(handle, a.device_get_max_pcie_link_generation, "nvmlDeviceGetMaxPcieLinkGeneration");
  bind(handle, a.device_get_curr_pcie_link_width, "nvmlDeviceGetCurrPcieLinkWidth");
  bind(handle, a.device_get_max_pcie_link_width, "nvmlDeviceGetMaxPcieLinkWidth");
  bind(handle, a.device_get_remapped_rows, "nvmlDeviceGetRemappedRows");
  bind_first(handle, a.system_get_cuda_driver_version,
             {"nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"});
  bind_first(handle, a.device_get_pci_info, {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2"});
  bind(handle, a.device_get_persistence_mode, "nvmlDeviceGetPersistenceMode");
  bind(handle, a.device_get_ecc_mode, "nvmlDeviceGetEccMode");
  bind(handle, a.device_get_retired_pages, "nvmlDeviceGetRetiredPages");
  bind(handle, a.device_get_retired_pages_pending_status, "nvmlDeviceGetRetiredPagesPendingStatus");
  bind(handle, a.device_get_handle_by_pci_bus_id, "nvmlDeviceGetHandleByPciBusId_v2");
  bind(handle, a.device_get_nvlink_state, "nvmlDeviceGetNvLinkState");
  bind(handle, a.device_get_nvlink_remote_pci_info, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
  bind(handle, a.device_get_nvlink_remote_device_type, "nvmlDeviceGetNvLinkRemoteDeviceType");
  bind(handle, a.event_set_create, "nvmlEventSetCreate");
  bind(handle, a.device_register_events, "nvmlDeviceRegisterEvents");
  bind_first(handle, a.event_set_wait, {"nvmlEventSetWait_v2", "nvmlEventSetWait"});
  bind(handle, a.event_set_free, "nvmlEventSetFree");
  bind(handle, a.gpm_query_device_support, "nvmlGpmQueryDeviceSupport");
  bind(handle, a.gpm_sample_alloc, "nvmlGpmSampleAlloc");
  bind(handle, a.gpm_sample_free, "nvmlGpmSampleFree");
  bind(handle, a.gpm_sample_get, "nvmlGpmSampleGet");
  bind(handle, a.gpm_metrics_get, "nvmlGpmMetricsGet");

  if (a.init == nullptr || a.shutdown == nullptr || a.device_get_count == nullptr ||
      a.device_get_handle_by_index == nullptr) {
    why = fmt::format("{} lacks nvmlInit/nvmlDeviceGetCount", library);
    return nullptr;
  }
  const Return r = a.init();
  if (r != kSuccess) {
    why = fmt::format("nvmlInit failed: {}", a.describe(r));
    a.shutdown = nullptr;  // nothing to shut down
    return nullptr;
  }
  return api;
}

}  // namespace sxb::nvml
