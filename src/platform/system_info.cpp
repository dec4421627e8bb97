#include "platform/system_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "platform/gpu_probe.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace sxb {

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string cuda_version_text(int v) { return v > 0 ? fmt::format("{}.{}", v / 1000, (v % 1000) / 10) : ""; }

void collect_gpus(HostInfo& h) {
#ifdef SXB_HAVE_CUDA
  int n = visible_cuda_devices();
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) h.cuda_runtime_version = cuda_version_text(v);
  if (cudaDriverGetVersion(&v) == cudaSuccess) h.cuda_driver_api = cuda_version_text(v);
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    h.nccl_version = fmt::format("{}.{}.{}", nccl / 10000, (nccl / 100) % 100, nccl % 100);
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    GpuInfo g;
    g.index = i;
    g.name = p.name;
    g.pci_bus_id = fmt::format("{:04x}:{:02x}:{:02x}.0", p.pciDomainID, p.pciBusID, p.pciDeviceID);
    g.memory_bytes = p.totalGlobalMem;
    g.multiprocessors = p.multiProcessorCount;
    g.compute_capability = fmt::format("{}.{}", p.major, p.minor);
    for (int j = 0; j < n; ++j) {
      int ok = 0;
      if (j != i && cudaDeviceCanAccessPeer(&ok, i, j) == cudaSuccess && ok) g.peer_access.push_back(j);
    }
    h.gpus.push_back(g);
  }
#else
  (void)h;
#endif
}

void collect_nics(HostInfo& h) {
  std::error_code ec;
  for (const auto& dev : fs::directory_iterator("/sys/class/infiniband", ec)) {
    for (const auto& port : fs::directory_iterator(dev.path() / "ports", ec)) {
      NicInfo n;
      n.name = fmt::format("{}/{}", dev.path().filename().string(), port.path().filename().string());
      n.kind = "rdma";
      n.link_layer = trim(slurp(port.path() / "link_layer"));
      n.rate_gbit_per_s = parse_ib_rate_gbit(slurp(port.path() / "rate"));
      n.state = trim(slurp(port.path() / "state"));
      h.nics.push_back(n);
    }
  }
  for (const auto& dev : fs::directory_iterator("/sys/class/net", ec)) {
    const std::string name = dev.path().filename().string();
    if (name == "lo" || !fs::exists(dev.path() / "device", ec)) continue;  // physical ports only
    NicInfo n;
    n.name = name;
    n.kind = "ethernet";
    const std::string speed = trim(slurp(dev.path() / "speed"));  // Mb/s, -1 when down
    try {
      const double mbit = speed.empty() ? 0 : std::stod(speed);
      n.rate_gbit_per_s = mbit > 0 ? mbit / 1000.0 : 0;
    } catch (...) {
      n.rate_gbit_per_s = 0;
    }
    n.state = trim(slurp(dev.path() / "operstate"));
    h.nics.push_back(n);
  }
}

}  // namespace

int cuda_runtime_version_number() {
#ifdef SXB_HAVE_CUDA
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) return v;
#endif
  return 0;
}

double parse_ib_rate_gbit(const std::string& text) {
  std::smatch m;
  static const std::regex re(R"(^\s*([0-9]+(\.[0-9]+)?)\s*Gb/sec)");
  if (std::regex_search(text, m, re)) return std::stod(m[1].str());
  return 0;
}

std::string parse_nvidia_driver_version(const std::string& text) {
  std::smatch m;
  static const std::regex re(R"(Kernel Module\s+(?:for\s+\S+\s+)?([0-9]+\.[0-9]+(\.[0-9]+)?))");
  if (std::regex_search(text, m, re)) return m[1].str();
  return "";
}

std::string parse_os_release_pretty_name(const std::string& text) {
  std::smatch m;
  static const std::regex re("PRETTY_NAME=\"?([^\"\\n]*)\"?");
  if (std::regex_search(text, m, re)) return m[1].str();
  return "";
}

HostInfo collect_host_info() {
  HostInfo h;
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  h.hostname = name;
  h.os = parse_os_release_pretty_name(slurp("/etc/os-release"));
  struct utsname u {};
  if (::uname(&u) == 0) h.kernel = fmt::format("{} {}", u.sysname, u.release);
  std::istringstream cpu(slurp("/proc/cpuinfo"));
  for (std::string line; std::getline(cpu, line);) {
    if (line.rfind("model name", 0) == 0) {
      h.cpu_model = trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  h.cpu_count = static_cast<int>(std::thread::hardware_concurrency());
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) h.memory_bytes = static_cast<uint64_t>(pages) * page;
  h.nvidia_driver_version = parse_nvidia_driver_version(slurp("/proc/driver/nvidia/version"));
  h.built_with_cuda = built_with_cuda();
  collect_gpus(h);
  collect_nics(h);
  return h;
}

void to_json(nlohmann::json& j, const GpuInfo& g) {
  j = {{"index", g.index},
       {"name", g.name},
       {"pci_bus_id", g.pci_bus_id},
       {"memory_bytes", g.memory_bytes},
       {"multiprocessors", g.multiprocessors},
       {"compute_capability", g.compute_capability},
       {"peer_access", g.peer_access}};
}

void to_json(nlohmann::json& j, const NicInfo& n) {
  j = {{"name", n.name},
       {"kind", n.kind},
       {"link_layer", n.link_layer},
       {"rate_gbit_per_s", n.rate_gbit_per_s},
       {"state", n.state}};
}

void to_json(nlohmann::json& j, const HostInfo& h) {
  j = {{"hostname", h.hostname},
       {"os", h.os},
       {"kernel", h.kernel},
       {"cpu_model", h.cpu_model},
       {"cpu_count", h.cpu_count},
       {"memory_bytes", h.memory_bytes},
       {"nvidia_driver_version", h.nvidia_driver_version},
       {"cuda_driver_api", h.cuda_driver_api},
       {"cuda_runtime_version", h.cuda_runtime_version},
       {"nccl_version", h.nccl_version},
       {"mpi_library_version", h.mpi_library_version},
       {"built_with_cuda", h.built_with_cuda},
       {"gpus", h.gpus},
       {"nics", h.nics}};
}

}  // namespace sxb
