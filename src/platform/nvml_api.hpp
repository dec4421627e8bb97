#pragma once
// The part of NVML's C ABI that sxbench uses (the GPU monitor's samplers, the compute
// benchmark's NVLink/PCIe topology probe and the GPU checks of `preflight`), declared here because the build machines have no
// nvml.h, and loaded at run time with dlopen("libnvidia-ml.so.1") so that one binary runs with or
// without an NVIDIA driver. The one NVML loader: both users go through load(), whose library name
// tests point at a scripted stand-in (tests/fake_nvml). Layouts and constants follow NVML's public
// header (driver 525+). Every entry point except the five needed to enumerate devices is
// optional: a null pointer means this driver does not export it, and what it feeds stays empty.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace sxb::nvml {

using Return = int;  // nvmlReturn_t
inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorInsufficientSize = 7;
inline constexpr Return kErrorTimeout = 10;

using Device = struct DeviceOpaque*;        // nvmlDevice_t
using EventSet = struct EventSetOpaque*;    // nvmlEventSet_t
using GpmSample = struct GpmSampleOpaque*;  // nvmlGpmSample_t

struct Utilization {  // nvmlUtilization_t
  unsigned int gpu_pct;
  unsigned int memory_pct;
};

struct Memory {  // nvmlMemory_t (v1)
  unsigned long long total_bytes;
  unsigned long long free_bytes;
  unsigned long long used_bytes;
};

union Value {  // nvmlValue_t
  double d;
  unsigned int ui;
  unsigned long ul;
  unsigned long long ull;
  long long sll;
};

struct FieldValue {  // nvmlFieldValue_t
  unsigned int field_id;
  unsigned int scope_id;
  long long timestamp_us;
  long long latency_us;
  int value_type;  // nvmlValueType_t: 0 double, 1 uint, 2 ulong, 3 ulonglong, 4 slonglong
  Return status;
  Value value;
};
inline constexpr unsigned int kFieldPowerInstant = 186;  // NVML_FI_DEV_POWER_INSTANT, mW
inline constexpr unsigned int kFieldPcieTxBytes = 197;   // NVML_FI_DEV_PCIE_COUNT_TX_BYTES, wraps
inline constexpr unsigned int kFieldPcieRxBytes = 198;   // NVML_FI_DEV_PCIE_COUNT_RX_BYTES, wraps
// NVML_FI_DEV_NVLINK_*_ERROR_COUNT_TOTAL: summed over links, since driver load.
inline constexpr unsigned int kFieldNvlinkCrcFlitTotal = 38;
inline constexpr unsigned int kFieldNvlinkCrcDataTotal = 45;
inline constexpr unsigned int kFieldNvlinkReplayTotal = 52;
inline constexpr unsigned int kFieldNvlinkRecoveryTotal = 59;
// NVML_FI_DEV_NVLINK_GET_SPEED: one link's speed in MB/s, the link index in scope_id.
inline constexpr unsigned int kFieldNvlinkSpeed = 164;

struct PciInfo {  // nvmlPciInfo_t (the _v2/_v3 layout)
  char bus_id_legacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pci_device_id;
  unsigned int pci_subsystem_id;
  char bus_id[32];
};
inline constexpr unsigned int kNvlinkMaxLinks = 18;  // NVML_NVLINK_MAX_LINKS
inline constexpr int kNvlinkRemoteGpu = 0x00;        // NVML_NVLINK_DEVICE_TYPE_GPU
inline constexpr int kNvlinkRemoteSwitch = 0x02;     // NVML_NVLINK_DEVICE_TYPE_SWITCH

struct EventData {  // nvmlEventData_t (with the MIG instance ids of driver 450+)
  Device device;
  unsigned long long event_type;
  unsigned long long event_data;  // the XID number for XID events
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};
inline constexpr unsigned long long kEventTypeXidCriticalError = 0x8;

struct GpmSupport {      // nvmlGpmSupport_t
  unsigned int version;  // NVML_GPM_SUPPORT_VERSION = 1
  unsigned int is_supported_device;
};

struct GpmMetric {  // nvmlGpmMetric_t
  unsigned int metric_id;
  Return status;
  double value;
  struct {
    char* short_name;
    char* long_name;
    char* unit;
  } info;
};

// nvmlGpmMetricsGet_t. The header's array length (NVML_GPM_METRIC_MAX) grew across drivers (98,
// 210, 333); the library reads only `num_metrics` entries, and a longer array than any driver's
// keeps a newer library that touches its whole struct inside this one.
inline constexpr unsigned int kGpmMetricSlots = 512;
struct GpmMetricsGet {
  unsigned int version;  // NVML_GPM_METRICS_GET_VERSION = 1
  unsigned int num_metrics;
  GpmSample sample1;
  GpmSample sample2;
  GpmMetric metrics[kGpmMetricSlots];
};

// nvmlGpmMetricId_t values the monitor records.
enum GpmMetricId : unsigned int {
  kGpmSmUtil = 2,                // % of SMs busy
  kGpmSmOccupancy = 3,           // % of warps resident vs maximum
  kGpmAnyTensorUtil = 5,         // % of time any tensor pipe was active
  kGpmDramBwUtil = 10,           // % of peak DRAM bandwidth
  kGpmPcieTxPerSec = 20,         // MiB/s
  kGpmPcieRxPerSec = 21,         // MiB/s
  kGpmNvlinkTotalRxPerSec = 60,  // MiB/s
  kGpmNvlinkTotalTxPerSec = 61,  // MiB/s
};

// The loaded library. Function pointers are null when the symbol is absent.
struct Api {
  void* handle = nullptr;
  Return (*init)() = nullptr;      // nvmlInit_v2
  Return (*shutdown)() = nullptr;  // nvmlShutdown
  const char* (*error_string)(Return) = nullptr;
  Return (*system_get_driver_version)(char*, unsigned int) = nullptr;
  Return (*device_get_count)(unsigned int*) = nullptr;                    // _v2
  Return (*device_get_handle_by_index)(unsigned int, Device*) = nullptr;  // _v2
  Return (*device_get_name)(Device, char*, unsigned int) = nullptr;
  Return (*device_get_uuid)(Device, char*, unsigned int) = nullptr;
  Return (*device_get_utilization_rates)(Device, Utilization*) = nullptr;
  Return (*device_get_memory_info)(Device, Memory*) = nullptr;
  Return (*device_get_power_usage)(Device, unsigned int*) = nullptr;                     // mW
  Return (*device_get_total_energy_consumption)(Device, unsigned long long*) = nullptr;  // mJ
  Return (*device_get_temperature)(Device, int, unsigned int*) = nullptr;
  Return (*device_get_clock_info)(Device, int, unsigned int*) = nullptr;
  // nvmlDeviceGetCurrentClocksEventReasons (driver 535+), else ...ThrottleReasons.
  Return (*device_get_clock_reasons)(Device, unsigned long long*) = nullptr;
  // nvmlDeviceGetApplicationsClock / nvmlDeviceGetDefaultApplicationsClock(device,
  // nvmlClockType_t, MHz): the clocks the GPU runs work at, as set (nvidia-smi -ac) and as
  // shipped.
  Return (*device_get_vbios_version)(Device, char*, unsigned int) = nullptr;
  Return (*device_get_applications_clock)(Device, int, unsigned int*) = nullptr;
  Return (*device_get_default_applications_clock)(Device, int, unsigned int*) = nullptr;
  Return (*device_get_field_values)(Device, int, FieldValue*) = nullptr;
  Return (*device_get_total_ecc_errors)(Device, int, int, unsigned long long*) = nullptr;
  Return (*device_get_curr_pcie_link_generation)(Device, unsigned int*) = nullptr;
  Return (*device_get_max_pcie_link_generation)(Device, unsigned int*) = nullptr;
  Return (*device_get_curr_pcie_link_width)(Device, unsigned int*) = nullptr;
  Return (*device_get_max_pcie_link_width)(Device, unsigned int*) = nullptr;
  Return (*device_get_remapped_rows)(Device, unsigned int*, unsigned int*, unsigned int*,
                                     unsigned int*) = nullptr;
  // nvmlSystemGetCudaDriverVersion_v2: the CUDA version the driver supports, 12050 for 12.5.
  Return (*system_get_cuda_driver_version)(int*) = nullptr;
  Return (*device_get_pci_info)(Device, PciInfo*) = nullptr;  // _v3, else _v2
  // nvmlEnableState_t: 0 disabled, 1 enabled.
  Return (*device_get_persistence_mode)(Device, int*) = nullptr;
  Return (*device_get_ecc_mode)(Device, int* current, int* pending) = nullptr;
  // nvmlDeviceGetRetiredPages(device, cause, count in/out, addresses): cause 0 multiple
  // single-bit ECC errors, 1 a double-bit ECC error; a zero count asks for the number only.
  Return (*device_get_retired_pages)(Device, int, unsigned int*, unsigned long long*) = nullptr;
  Return (*device_get_retired_pages_pending_status)(Device, int*) = nullptr;
  Return (*device_get_handle_by_pci_bus_id)(const char*, Device*) = nullptr;  // _v2
  Return (*device_get_nvlink_state)(Device, unsigned int, int*) = nullptr;    // 1 = active
  Return (*device_get_nvlink_remote_pci_info)(Device, unsigned int, PciInfo*) = nullptr;  // _v2
  Return (*device_get_nvlink_remote_device_type)(Device, unsigned int, int*) = nullptr;
  Return (*event_set_create)(EventSet*) = nullptr;
  Return (*device_register_events)(Device, unsigned long long, EventSet) = nullptr;
  Return (*event_set_wait)(EventSet, EventData*, unsigned int) = nullptr;  // _v2
  Return (*event_set_free)(EventSet) = nullptr;
  Return (*gpm_query_device_support)(Device, GpmSupport*) = nullptr;
  Return (*gpm_sample_alloc)(GpmSample*) = nullptr;
  Return (*gpm_sample_free)(GpmSample) = nullptr;
  Return (*gpm_sample_get)(Device, GpmSample) = nullptr;
  Return (*gpm_metrics_get)(GpmMetricsGet*) = nullptr;

  std::string describe(Return r) const;  // "NVML error 3 (Not Supported)"
};

struct ApiDeleter {
  void operator()(Api* api) const;  // nvmlShutdown + dlclose
};
using ApiHandle = std::unique_ptr<Api, ApiDeleter>;

inline constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";
// Loads `library` and initialises NVML. Returns null and sets `why` (one line) when the library
// is missing or nvmlInit fails; the caller decides whether that is an error.
ApiHandle load(const std::string& library, std::string& why);

// A field value (nvmlDeviceGetFieldValues) as an unsigned count, whichever value type the driver
// answered in (drivers differ: NVLink speeds come as integers or doubles); nullopt when the
// field's status is not success or the value is negative or not finite. A double is truncated.
std::optional<uint64_t> field_u64(const FieldValue& f);

}  // namespace sxb::nvml
