// A scripted libibverbs stand-in for preflight's active-MTU check: the devices and ports of
// SXB_FAKE_IBVERBS, "dev:port:mtu_bytes,..." (mtu_bytes 256..4096; "err" makes that port's query
// fail with EIO). Exports the entry points platform/rdma_verbs.cpp calls, by their names.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct FakePort {
  std::string device;
  int port;
  int mtu_enum;  // 0: the query fails
};
struct FakeDevice {
  std::string name;
};

// The script is read again by every ibv_get_device_list, so one process can change it between
// calls (the library may stay loaded after dlclose).
std::vector<FakePort> g_ports;
std::vector<FakeDevice> g_devices;

void read_script() {
  g_ports.clear();
  g_devices.clear();
  const char* s = std::getenv("SXB_FAKE_IBVERBS");
  const std::string text = s ? s : "";
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t a = item.find(':'), b = item.rfind(':');
    if (a != std::string::npos && b != a) {
      const std::string mtu = item.substr(b + 1);
      int e = 0;
      for (int v = 1, bytes = 256; v <= 5; ++v, bytes *= 2) {
        if (mtu == std::to_string(bytes)) e = v;
      }
      g_ports.push_back({item.substr(0, a), std::atoi(item.substr(a + 1, b - a - 1).c_str()), e});
    }
    start = end + 1;
  }
  g_devices.reserve(g_ports.size());
  for (const auto& p : g_ports) {
    bool seen = false;
    for (const auto& x : g_devices) seen = seen || x.name == p.device;
    if (!seen) g_devices.push_back({p.device});
  }
}

struct Context {
  FakeDevice* device;
};

}  // namespace

extern "C" {

void** ibv_get_device_list(int* n) {
  read_script();
  auto& d = g_devices;
  auto** list = static_cast<void**>(std::calloc(d.size() + 1, sizeof(void*)));
  for (size_t i = 0; i < d.size(); ++i) list[i] = &d[i];
  if (n) *n = static_cast<int>(d.size());
  return list;
}

void ibv_free_device_list(void** list) { std::free(list); }

const char* ibv_get_device_name(void* device) {
  return static_cast<FakeDevice*>(device)->name.c_str();
}

void* ibv_open_device(void* device) { return new Context{static_cast<FakeDevice*>(device)}; }

int ibv_close_device(void* context) {
  delete static_cast<Context*>(context);
  return 0;
}

int ibv_query_port(void* context, uint8_t port, void* attr) {
  const auto* ctx = static_cast<Context*>(context);
  for (const auto& p : g_ports) {
    if (p.device != ctx->device->name || p.port != port) continue;
    if (p.mtu_enum == 0) return EIO;
    uint32_t prefix[3] = {4 /* ACTIVE */, 5 /* 4096 */, uint32_t(p.mtu_enum)};
    std::memcpy(attr, prefix, sizeof prefix);
    return 0;
  }
  return EINVAL;
}

}  // extern "C"
