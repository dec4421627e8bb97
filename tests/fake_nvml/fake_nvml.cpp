// A stand-in for libnvidia-ml.so.1 with scripted GPUs, so CI (no driver) exercises the NVML
// paths of the monitor and of `preflight`: symbol binding, struct layouts as sxbench declares
// them (platform/nvml_api.hpp, after NVML's public header), counters turned into rates, GPM
// metrics, XID events and "not supported" answers. Each call to
// nvmlDeviceGetTotalEnergyConsumption advances GPU 0's counter by 1000 mJ.
//
// Without a script there are two GPUs as the monitor's tests expect them. SXB_FAKE_NVML_SCRIPT
// (read at nvmlInit) changes that: settings separated by ';' or newlines, applied in order.
//   gpus=N            number of GPUs (new ones start from the defaults below)
//   driver=TEXT       nvmlSystemGetDriverVersion
//   cuda=N            nvmlSystemGetCudaDriverVersion_v2 (12050 for 12.5); ns: not supported
//   init=N            what nvmlInit_v2 returns (0 success)
//   all.FIELD=V       FIELD of every GPU;  I.FIELD=V  FIELD of GPU I
// FIELDs: name, uuid, bus_id ("00000000:1B:00.0"), persistence, ecc, ecc_pending (0/1),
// ecc_unc_volatile, ecc_unc_aggregate, remap_pending, remap_failure, retired_sbe, retired_dbe,
// retired_pending, nvlinks (active links, from link 0), nvlink_speed (MB/s of each link),
// slow_link (index of a link at half speed, -1 none), pcie_gen, pcie_gen_max, pcie_width,
// pcie_width_max, clock_reasons (a mask), app_sm, app_mem (application clocks, MHz),
// default_app_sm, default_app_mem (the default application clocks, MHz), vbios (text). V = ns makes the call that
// reads FIELD answer NVML_ERROR_NOT_SUPPORTED.
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct Gpu {
  std::map<std::string, std::string> f;
};

std::map<std::string, std::string> default_fields(int i) {
  const char* bus[] = {"00000000:1B:00.0", "00000000:43:00.0", "00000000:52:00.0",
                       "00000000:61:00.0", "00000000:9D:00.0", "00000000:C3:00.0",
                       "00000000:D1:00.0", "00000000:DF:00.0"};
  return {{"name", i == 0 ? "Fake H200" : i == 1 ? "Fake, Old GPU" : "Fake H200"},
          {"uuid", "GPU-fake-" + std::to_string(i)},
          {"bus_id", i < 8 ? bus[i] : "00000000:F0:00.0"},
          {"persistence", "1"},
          {"ecc", "1"},
          {"ecc_pending", "1"},
          {"ecc_corrected", "2"},
          {"ecc_unc_volatile", "0"},
          {"ecc_unc_aggregate", "0"},
          {"remap_corrected", "1"},
          {"remap_pending", "0"},
          {"remap_failure", "0"},
          {"retired_sbe", "0"},
          {"retired_dbe", "0"},
          {"retired_pending", "0"},
          {"nvlinks", "18"},
          {"nvlink_speed", "25000"},
          {"slow_link", "-1"},
          {"pcie_gen", "5"},
          {"pcie_gen_max", "5"},
          {"pcie_width", i == 1 ? "8" : "16"},
          {"pcie_width_max", "16"},
          {"clock_reasons", i == 0 ? "4" : "1"},
          {"vbios", "96.00.AF.00.01"},
          {"app_sm", "1980"},
          {"app_mem", "3201"},
          {"default_app_sm", "1980"},
          {"default_app_mem", "3201"}};
}

std::vector<Gpu> g_gpus;
std::string g_driver = "999.1-fake";
std::string g_cuda = "12080";
int g_init_result = 0;

void reset() {
  g_gpus.assign(2, Gpu{});
  for (int i = 0; i < 2; ++i) g_gpus[i].f = default_fields(i);
  g_driver = "999.1-fake";
  g_cuda = "12080";
  g_init_result = 0;
}

void set_value(const std::string& key, const std::string& value) {
  if (key == "gpus") {
    const int n = std::atoi(value.c_str());
    const size_t old = g_gpus.size();
    g_gpus.resize(static_cast<size_t>(n < 0 ? 0 : n > 64 ? 64 : n));
    for (size_t i = old; i < g_gpus.size(); ++i) g_gpus[i].f = default_fields(static_cast<int>(i));
  } else if (key == "driver") {
    g_driver = value;
  } else if (key == "cuda") {
    g_cuda = value;
  } else if (key == "init") {
    g_init_result = std::atoi(value.c_str());
  } else if (key.rfind("all.", 0) == 0) {
    for (auto& g : g_gpus) g.f[key.substr(4)] = value;
  } else {
    const size_t dot = key.find('.');
    if (dot == std::string::npos) return;
    const size_t i = static_cast<size_t>(std::atoi(key.substr(0, dot).c_str()));
    if (i < g_gpus.size()) g_gpus[i].f[key.substr(dot + 1)] = value;
  }
}

void load_script() {
  reset();
  const char* script = std::getenv("SXB_FAKE_NVML_SCRIPT");
  if (script == nullptr) return;
  std::string s = script;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of(";\n", start);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq != std::string::npos) set_value(item.substr(0, eq), item.substr(eq + 1));
    start = end + 1;
  }
}

}  // namespace

extern "C" {

struct FakeDevice {
  int index;
};
static FakeDevice g_devices[64];
static unsigned long long g_energy_mj[64];
static unsigned long long g_pcie_tx[64];
static int g_xid_pending = 1;
static int g_initialised = 0;

struct Utilization {
  unsigned int gpu, memory;
};
struct Memory {
  unsigned long long total, free, used;
};
union Value {
  double d;
  unsigned int ui;
  unsigned long ul;
  unsigned long long ull;
  long long sll;
};
struct PciInfo {
  char bus_id_legacy[16];
  unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
struct FieldValue {
  unsigned int field_id, scope_id;
  long long timestamp, latency;
  int value_type;
  int status;
  Value value;
};
struct EventData {
  void* device;
  unsigned long long type, data;
  unsigned int gi, ci;
};
struct GpmSupport {
  unsigned int version, supported;
};
struct GpmMetric {
  unsigned int id;
  int status;
  double value;
  char* names[3];
};
struct GpmGet {
  unsigned int version, num;
  void* s1;
  void* s2;
  GpmMetric m[512];  // the caller's array; only `num` entries are touched
};

static int dev_index(void* d) {
  return static_cast<FakeDevice*>(d)->index;
}
static const std::string& field(void* d, const char* name) {
  return g_gpus[static_cast<size_t>(dev_index(d))].f[name];
}
// The field as a number, or false (the call answers NOT_SUPPORTED) when scripted as "ns".
extern "C++" {
template <typename T>
static bool number(void* d, const char* name, T* out) {
  const std::string& v = field(d, name);
  if (v == "ns") return false;
  *out = static_cast<T>(std::strtoll(v.c_str(), nullptr, 0));
  return true;
}
}

int nvmlInit_v2() {
  load_script();
  for (int i = 0; i < 64; ++i) {
    g_devices[i].index = i;
    g_energy_mj[i] = 5000000ull + 2000000ull * static_cast<unsigned long long>(i);
    g_pcie_tx[i] = 0;
  }
  g_initialised = g_init_result == 0;
  return g_init_result;
}
int nvmlShutdown() {
  return 0;
}
const char* nvmlErrorString(int r) {
  return r == 3 ? "Not Supported" : r == 9 ? "Driver Not Loaded" : "Fake Error";
}
int nvmlSystemGetDriverVersion(char* buf, unsigned int n) {
  std::strncpy(buf, g_driver.c_str(), n);
  return 0;
}
int nvmlSystemGetCudaDriverVersion_v2(int* v) {
  if (g_cuda == "ns") return 3;
  *v = std::atoi(g_cuda.c_str());
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned int* n) {
  *n = static_cast<unsigned int>(g_gpus.size());
  return g_initialised ? 0 : 1;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** d) {
  if (i >= g_gpus.size()) return 2;
  *d = &g_devices[i];
  return 0;
}
int nvmlDeviceGetName(void* d, char* buf, unsigned int n) {
  if (field(d, "name") == "ns") return 3;
  std::strncpy(buf, field(d, "name").c_str(), n);
  return 0;
}
int nvmlDeviceGetUUID(void* d, char* buf, unsigned int n) {
  std::strncpy(buf, field(d, "uuid").c_str(), n);
  return 0;
}
int nvmlDeviceGetPciInfo_v3(void* d, PciInfo* p) {
  const std::string& id = field(d, "bus_id");
  if (id == "ns") return 3;
  std::memset(p, 0, sizeof *p);
  std::strncpy(p->bus_id, id.c_str(), sizeof p->bus_id - 1);
  std::strncpy(p->bus_id_legacy, id.size() > 4 ? id.c_str() + 4 : id.c_str(), sizeof p->bus_id_legacy - 1);
  return 0;
}
int nvmlDeviceGetPersistenceMode(void* d, int* mode) {
  return number(d, "persistence", mode) ? 0 : 3;
}
int nvmlDeviceGetEccMode(void* d, int* current, int* pending) {
  return number(d, "ecc", current) && number(d, "ecc_pending", pending) ? 0 : 3;
}
int nvmlDeviceGetRetiredPages(void* d, int cause, unsigned int* count, unsigned long long*) {
  unsigned int n = 0;
  if (!number(d, cause == 0 ? "retired_sbe" : "retired_dbe", &n)) return 3;
  const bool fits = *count >= n;
  *count = n;
  return fits ? 0 : 7;  // NVML_ERROR_INSUFFICIENT_SIZE
}
int nvmlDeviceGetRetiredPagesPendingStatus(void* d, int* pending) {
  return number(d, "retired_pending", pending) ? 0 : 3;
}
int nvmlDeviceGetNvLinkState(void* d, unsigned int link, int* active) {
  int n = 0;
  if (!number(d, "nvlinks", &n)) return 3;
  if (link >= 18) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *active = static_cast<int>(link) < n ? 1 : 0;
  return 0;
}
int nvmlDeviceGetUtilizationRates(void* d, Utilization* u) {
  u->gpu = dev_index(d) == 0 ? 97 : 0;
  u->memory = 40;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void*, Memory* m) {
  m->total = 1024ull << 20;
  m->used = 256ull << 20;
  m->free = m->total - m->used;
  return 0;
}
int nvmlDeviceGetPowerUsage(void* d, unsigned int* mw) {
  *mw = dev_index(d) == 0 ? 500000 : 60000;
  return 0;
}
int nvmlDeviceGetTotalEnergyConsumption(void* d, unsigned long long* mj) {
  const int i = dev_index(d);
  if (i == 0) g_energy_mj[0] += 1000;
  *mj = g_energy_mj[i];
  return 0;
}
int nvmlDeviceGetTemperature(void*, int, unsigned int* t) {
  *t = 55;
  return 0;
}
int nvmlDeviceGetClockInfo(void*, int type, unsigned int* mhz) {
  *mhz = type == 1 ? 1980 : 3201;
  return 0;
}
int nvmlDeviceGetVbiosVersion(void* d, char* out, unsigned int len) {
  const std::string& v = field(d, "vbios");
  if (v == "ns") return 3;
  if (v.size() + 1 > len) return 7;  // NVML_ERROR_INSUFFICIENT_SIZE
  std::memcpy(out, v.c_str(), v.size() + 1);
  return 0;
}
// type: NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2; other types are not scripted.
int nvmlDeviceGetApplicationsClock(void* d, int type, unsigned int* mhz) {
  if (type != 1 && type != 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  return number(d, type == 1 ? "app_sm" : "app_mem", mhz) ? 0 : 3;
}
int nvmlDeviceGetDefaultApplicationsClock(void* d, int type, unsigned int* mhz) {
  if (type != 1 && type != 2) return 2;
  return number(d, type == 1 ? "default_app_sm" : "default_app_mem", mhz) ? 0 : 3;
}
int nvmlDeviceGetCurrentClocksEventReasons(void* d, unsigned long long* r) {
  return number(d, "clock_reasons", r) ? 0 : 3;
}
int nvmlDeviceGetFieldValues(void* d, int n, FieldValue* f) {
  const int i = dev_index(d);
  for (int k = 0; k < n; ++k) {
    f[k].status = 0;
    f[k].value_type = 3;
    switch (f[k].field_id) {
      case 186:
        f[k].value.ull = i == 0 ? 510000 : 61000;
        break;
      case 197:
        g_pcie_tx[i] += 1 << 20;
        f[k].value.ull = g_pcie_tx[i];
        break;
      case 198:
        f[k].value.ull = 0;
        break;
      case 164: {  // NVML_FI_DEV_NVLINK_GET_SPEED, link in scope_id
        unsigned int speed = 0;
        int slow = -1;
        if (!number(d, "nvlink_speed", &speed)) {
          f[k].status = 3;
          break;
        }
        number(d, "slow_link", &slow);
        f[k].value_type = 1;
        f[k].value.ui = static_cast<int>(f[k].scope_id) == slow ? speed / 2 : speed;
        break;
      }
      default:
        f[k].status = 3;  // NVLink counters: not supported, like a one-GPU VM
    }
  }
  return 0;
}
int nvmlDeviceGetTotalEccErrors(void* d, int type, int counter, unsigned long long* c) {
  const char* name = type == 0 ? "ecc_corrected" : counter == 0 ? "ecc_unc_volatile" : "ecc_unc_aggregate";
  return number(d, name, c) ? 0 : 3;
}
int nvmlDeviceGetCurrPcieLinkGeneration(void* d, unsigned int* v) {
  return number(d, "pcie_gen", v) ? 0 : 3;
}
int nvmlDeviceGetMaxPcieLinkGeneration(void* d, unsigned int* v) {
  return number(d, "pcie_gen_max", v) ? 0 : 3;
}
int nvmlDeviceGetCurrPcieLinkWidth(void* d, unsigned int* v) {
  return number(d, "pcie_width", v) ? 0 : 3;
}
int nvmlDeviceGetMaxPcieLinkWidth(void* d, unsigned int* v) {
  return number(d, "pcie_width_max", v) ? 0 : 3;
}
int nvmlDeviceGetRemappedRows(void* d, unsigned int* c, unsigned int* u, unsigned int* p,
                              unsigned int* f) {
  *u = 0;
  return number(d, "remap_corrected", c) && number(d, "remap_pending", p) &&
                 number(d, "remap_failure", f)
             ? 0
             : 3;
}
int nvmlEventSetCreate(void** set) {
  static int token;
  *set = &token;
  return 0;
}
int nvmlDeviceRegisterEvents(void* d, unsigned long long, void*) {
  return dev_index(d) == 0 ? 0 : 3;
}
int nvmlEventSetWait_v2(void*, EventData* e, unsigned int) {
  if (g_xid_pending == 0) return 10;  // NVML_ERROR_TIMEOUT
  g_xid_pending = 0;
  e->device = &g_devices[0];
  e->type = 0x8;
  e->data = 79;
  return 0;
}
int nvmlEventSetFree(void*) {
  return 0;
}
int nvmlGpmQueryDeviceSupport(void* d, GpmSupport* s) {
  if (s->version != 1) return 1;
  s->supported = dev_index(d) == 0 ? 1 : 0;
  return 0;
}
int nvmlGpmSampleAlloc(void** s) {
  static int samples[8];
  static int next = 0;
  *s = &samples[next++ % 8];
  return 0;
}
int nvmlGpmSampleFree(void*) {
  return 0;
}
int nvmlGpmSampleGet(void*, void*) {
  return 0;
}
int nvmlGpmMetricsGet(GpmGet* g) {
  if (g->version != 1) return 1;
  for (unsigned int k = 0; k < g->num; ++k) {
    g->m[k].status = 0;
    g->m[k].value = 10.0 * g->m[k].id;  // sm_util (2) -> 20, any_tensor (5) -> 50, ...
  }
  return 0;
}

}  // extern "C"
