#pragma once
// What NVML says about this host's GPUs, read once through the loaded library (platform/nvml_api)
// for `sxbench preflight`. Nothing is inferred: a value NVML does not give stays absent with the
// reason (the call missing from this driver, or NVML's answer), so the checks can say why.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sxb {

// A value read through NVML, or why there is none.
template <typename T>
struct Reading {
  std::optional<T> value;
  std::string why;  // set when value is absent
  explicit operator bool() const { return value.has_value(); }
  const T& operator*() const { return *value; }
  const T* operator->() const { return &*value; }
};

struct EccMode {
  bool current = false;
  bool pending = false;  // what the next reset applies
};

struct RemappedRows {  // nvmlDeviceGetRemappedRows
  unsigned int correctable = 0;
  unsigned int uncorrectable = 0;
  bool pending = false;  // a remap waits for a GPU reset
  bool failure = false;  // a remap failed: no spare row left
};

struct RetiredPages {  // nvmlDeviceGetRetiredPages, ...PendingStatus (before Ampere)
  unsigned int single_bit = 0;
  unsigned int double_bit = 0;
  bool pending = false;
};

struct NvlinkSpeed {
  int link = 0;
  unsigned int mbyte_per_s = 0;
};

struct GpuNvml {
  int index = 0;
  Reading<std::string> name;
  Reading<std::string> bus_id;  // sysfs form, "0000:1b:00.0"
  Reading<bool> persistence;
  Reading<EccMode> ecc;
  Reading<uint64_t> ecc_uncorrected_volatile;   // since the driver loaded
  Reading<uint64_t> ecc_uncorrected_aggregate;  // over the GPU's life
  Reading<RemappedRows> remapped_rows;
  Reading<RetiredPages> retired_pages;
  Reading<std::vector<int>> nvlinks_active;         // indices of active links
  Reading<std::vector<NvlinkSpeed>> nvlink_speeds;  // of the active links
  Reading<unsigned int> pcie_gen, pcie_gen_max, pcie_width, pcie_width_max;
  Reading<uint64_t> clock_reasons;  // nvmlClocksEventReasons mask
  // Application clocks in MHz (nvmlDeviceGetApplicationsClock) and the GPU's defaults
  // (nvmlDeviceGetDefaultApplicationsClock), SM and memory.
  Reading<std::string> vbios;  // nvmlDeviceGetVbiosVersion
  Reading<unsigned int> app_clock_sm, app_clock_mem, default_app_clock_sm, default_app_clock_mem;
};

struct NodeGpus {
  std::string library;  // the NVML library asked for
  bool nvml = false;    // loaded and initialised
  std::string why;      // why not, when !nvml
  Reading<std::string> driver_version;
  Reading<int> cuda_driver_version;  // 12050 for 12.5
  std::vector<GpuNvml> gpus;
  std::string enumerate_note;  // a GPU NVML counted but could not open
};

NodeGpus read_node_gpus(const std::string& nvml_library);

// NVML's bus id ("00000000:1B:00.0") in the form sysfs names devices ("0000:1b:00.0"); empty when
// the text is not a bus id.
std::string sysfs_bus_id(std::string_view nvml_bus_id);

// 12050 -> "12.5"
std::string cuda_version_name(int version);

// "12.5" -> 12050 (CUDA's encoding: 1000 * major + 10 * minor); nullopt for other text.
std::optional<int> parse_cuda_version(std::string_view text);

}  // namespace sxb
