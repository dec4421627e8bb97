#include "platform/node_gpus.hpp"

#include <fmt/format.h>

#include <cctype>

#include "platform/nvml_api.hpp"

namespace sxb {

namespace {

constexpr const char* kMissing = "this NVML does not export the call";


template <typename T, typename Fn>
void read_into(const nvml::Api& api, Reading<T>& out, bool present, Fn&& call) {
  if (!present) {
    out.why = kMissing;
    return;
  }
  T v{};
  const nvml::Return r = call(v);
  if (r == nvml::kSuccess) {
    out.value = v;
  } else {
    out.why = api.describe(r);
  }
}

GpuNvml read_gpu(const nvml::Api& a, nvml::Device d, int index) {
  GpuNvml g;
  g.index = index;
  read_into(a, g.name, a.device_get_name != nullptr, [&](std::string& v) {
    char buf[96] = {};
    const auto r = a.device_get_name(d, buf, sizeof buf);
    v = buf;
    return r;
  });
  read_into(a, g.bus_id, a.device_get_pci_info != nullptr, [&](std::string& v) {
    nvml::PciInfo pci{};
    const auto r = a.device_get_pci_info(d, &pci);
    pci.bus_id[sizeof pci.bus_id - 1] = '\0';
    v = sysfs_bus_id(pci.bus_id);
    return r;
  });
  if (g.bus_id && g.bus_id->empty()) {
    g.bus_id.value.reset();
    g.bus_id.why = "NVML's bus id is not of the form domain:bus:device.function";
  }
  read_into(a, g.persistence, a.device_get_persistence_mode != nullptr, [&](bool& v) {
    int mode = 0;
    const auto r = a.device_get_persistence_mode(d, &mode);
    v = mode == 1;
    return r;
  });
  read_into(a, g.ecc, a.device_get_ecc_mode != nullptr, [&](EccMode& v) {
    int cur = 0, pend = 0;
    const auto r = a.device_get_ecc_mode(d, &cur, &pend);
    v = {cur == 1, pend == 1};
    return r;
  });
  // nvmlMemoryErrorType_t 1 = uncorrected; nvmlEccCounterType_t 0 = volatile, 1 = aggregate.
  const bool ecc_counts = a.device_get_total_ecc_errors != nullptr;
  read_into(a, g.ecc_uncorrected_volatile, ecc_counts, [&](uint64_t& v) {
    unsigned long long c = 0;
    const auto r = a.device_get_total_ecc_errors(d, 1, 0, &c);
    v = c;
    return r;
  });
  read_into(a, g.ecc_uncorrected_aggregate, ecc_counts, [&](uint64_t& v) {
    unsigned long long c = 0;
    const auto r = a.device_get_total_ecc_errors(d, 1, 1, &c);
    v = c;
    return r;
  });
  read_into(a, g.remapped_rows, a.device_get_remapped_rows != nullptr, [&](RemappedRows& v) {
    unsigned int c = 0, u = 0, p = 0, f = 0;
    const auto r = a.device_get_remapped_rows(d, &c, &u, &p, &f);
    v = {c, u, p != 0, f != 0};
    return r;
  });
  read_into(
      a, g.retired_pages,
      a.device_get_retired_pages != nullptr && a.device_get_retired_pages_pending_status != nullptr,
      [&](RetiredPages& v) {
        for (int cause : {0, 1}) {
          unsigned int count = 0;  // zero: the number only
          const auto r = a.device_get_retired_pages(d, cause, &count, nullptr);
          if (r != nvml::kSuccess && r != nvml::kErrorInsufficientSize) return r;
          (cause == 0 ? v.single_bit : v.double_bit) = count;
        }
        int pending = 0;
        const auto r = a.device_get_retired_pages_pending_status(d, &pending);
        v.pending = pending == 1;
        return r;
      });
  read_into(a, g.nvlinks_active, a.device_get_nvlink_state != nullptr, [&](std::vector<int>& v) {
    for (unsigned int link = 0; link < nvml::kNvlinkMaxLinks; ++link) {
      int active = 0;
      const auto r = a.device_get_nvlink_state(d, link, &active);
      // Links past the GPU's last answer "invalid argument" or "not supported".
      if (r != nvml::kSuccess) {
        if (link == 0 && r == nvml::kErrorNotSupported) return r;
        break;
      }
      if (active == 1) v.push_back(static_cast<int>(link));
    }
    return nvml::kSuccess;
  });
  if (g.nvlinks_active && !g.nvlinks_active->empty()) {
    read_into(a, g.nvlink_speeds, a.device_get_field_values != nullptr,
              [&](std::vector<NvlinkSpeed>& v) {
                std::vector<nvml::FieldValue> fv(g.nvlinks_active->size());
                for (size_t i = 0; i < fv.size(); ++i) {
                  fv[i] = {};
                  fv[i].field_id = nvml::kFieldNvlinkSpeed;
                  fv[i].scope_id = static_cast<unsigned int>((*g.nvlinks_active)[i]);
                }
                const auto r = a.device_get_field_values(d, static_cast<int>(fv.size()), fv.data());
                if (r != nvml::kSuccess) return r;
                for (size_t i = 0; i < fv.size(); ++i) {
                  if (fv[i].status != nvml::kSuccess) return fv[i].status;
                  const uint64_t s = nvml::field_u64(fv[i]).value_or(0);
                  v.push_back({(*g.nvlinks_active)[i], static_cast<unsigned int>(s)});
                }
                return nvml::kSuccess;
              });
  }
  auto uint_read = [&](Reading<unsigned int>& out,
                       nvml::Return (*fn)(nvml::Device, unsigned int*)) {
    read_into(a, out, fn != nullptr, [&](unsigned int& v) { return fn(d, &v); });
  };
  uint_read(g.pcie_gen, a.device_get_curr_pcie_link_generation);
  uint_read(g.pcie_gen_max, a.device_get_max_pcie_link_generation);
  uint_read(g.pcie_width, a.device_get_curr_pcie_link_width);
  uint_read(g.pcie_width_max, a.device_get_max_pcie_link_width);
  read_into(a, g.clock_reasons, a.device_get_clock_reasons != nullptr, [&](uint64_t& v) {
    unsigned long long m = 0;
    const auto r = a.device_get_clock_reasons(d, &m);
    v = m;
    return r;
  });
  read_into(a, g.vbios, a.device_get_vbios_version != nullptr, [&](std::string& v) {
    char buf[96] = {};  // NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE is 32
    const auto r = a.device_get_vbios_version(d, buf, sizeof buf);
    v = buf;
    return r;
  });
  // nvmlClockType_t: NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2.
  auto clock_read = [&](Reading<unsigned int>& out,
                        nvml::Return (*fn)(nvml::Device, int, unsigned int*), int type) {
    read_into(a, out, fn != nullptr, [&](unsigned int& v) { return fn(d, type, &v); });
  };
  clock_read(g.app_clock_sm, a.device_get_applications_clock, 1);
  clock_read(g.app_clock_mem, a.device_get_applications_clock, 2);
  clock_read(g.default_app_clock_sm, a.device_get_default_applications_clock, 1);
  clock_read(g.default_app_clock_mem, a.device_get_default_applications_clock, 2);
  return g;
}

}  // namespace

std::string sysfs_bus_id(std::string_view id) {
  // [domain:]bus:device.function, domain up to 8 hex digits.
  const size_t dot = id.rfind('.');
  const size_t c2 = id.rfind(':');
  if (dot == std::string_view::npos || c2 == std::string_view::npos || c2 > dot) return "";
  const size_t c1 = id.rfind(':', c2 == 0 ? 0 : c2 - 1);
  const std::string_view dom =
      c1 == std::string_view::npos ? std::string_view("0") : id.substr(0, c1);
  const std::string_view bus = id.substr(c1 == std::string_view::npos ? 0 : c1 + 1,
                                         c2 - (c1 == std::string_view::npos ? 0 : c1 + 1));
  const std::string_view dev = id.substr(c2 + 1, dot - c2 - 1);
  const std::string_view fn = id.substr(dot + 1);
  auto hex = [](std::string_view s, size_t max_digits, unsigned long& out) {
    if (s.empty() || s.size() > max_digits) return false;
    out = 0;
    for (char c : s) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
      out = out * 16 + static_cast<unsigned long>(
                           std::isdigit(static_cast<unsigned char>(c))
                               ? c - '0'
                               : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
    }
    return true;
  };
  unsigned long d = 0, b = 0, v = 0, f = 0;
  if (!hex(dom, 8, d) || !hex(bus, 2, b) || !hex(dev, 2, v) || !hex(fn, 1, f) || d > 0xffff ||
      v > 0x1f || f > 7) {
    return "";
  }
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", d, b, v, f);
}

std::string cuda_version_name(int v) {
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

std::optional<int> parse_cuda_version(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= text.size() || dot > 3 ||
      text.size() - dot - 1 > 2) {
    return std::nullopt;
  }
  int major = 0, minor = 0;
  for (char c : text.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    major = major * 10 + (c - '0');
  }
  for (char c : text.substr(dot + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    minor = minor * 10 + (c - '0');
  }
  if (major < 1 || minor > 99) return std::nullopt;
  return major * 1000 + minor * 10;
}

NodeGpus read_node_gpus(const std::string& nvml_library) {
  NodeGpus n;
  n.library = nvml_library;
  std::string why;
  const nvml::ApiHandle api = nvml::load(nvml_library, why);
  if (!api) {
    n.why = why;
    return n;
  }
  const nvml::Api& a = *api;
  n.nvml = true;
  read_into(a, n.driver_version, a.system_get_driver_version != nullptr, [&](std::string& v) {
    char buf[96] = {};
    const auto r = a.system_get_driver_version(buf, sizeof buf);
    v = buf;
    return r;
  });
  read_into(a, n.cuda_driver_version, a.system_get_cuda_driver_version != nullptr,
            [&](int& v) { return a.system_get_cuda_driver_version(&v); });
  unsigned int count = 0;
  const nvml::Return r = a.device_get_count(&count);
  if (r != nvml::kSuccess) {
    n.nvml = false;
    n.why = fmt::format("nvmlDeviceGetCount: {}", a.describe(r));
    return n;
  }
  for (unsigned int i = 0; i < count; ++i) {
    nvml::Device d = nullptr;
    const nvml::Return h = a.device_get_handle_by_index(i, &d);
    if (h != nvml::kSuccess) {
      n.enumerate_note +=
          fmt::format("{}GPU {}: {}", n.enumerate_note.empty() ? "" : "; ", i, a.describe(h));
      continue;
    }
    n.gpus.push_back(read_gpu(a, d, static_cast<int>(i)));
  }
  return n;
}

}  // namespace sxb
