// A stand-in for libnvidia-ml.so.1 with two scripted GPUs, so CI (no driver) exercises the NVML
// path of the monitor: symbol binding, struct layouts as the monitor declares them, counters
// turned into rates, GPM metrics, XID events and "not supported" answers. Each call to
// nvmlDeviceGetTotalEnergyConsumption advances GPU 0's counter by 1000 mJ.
#include <cstring>

extern "C" {

struct FakeDevice {
  int index;
};
static FakeDevice g_devices[2] = {{0}, {1}};
static unsigned long long g_energy_mj[2] = {5000000, 7000000};
static unsigned long long g_pcie_tx[2] = {0, 0};
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

int nvmlInit_v2() {
  g_initialised = 1;
  return 0;
}
int nvmlShutdown() {
  return 0;
}
const char* nvmlErrorString(int r) {
  return r == 3 ? "Not Supported" : "Fake Error";
}
int nvmlSystemGetDriverVersion(char* buf, unsigned int n) {
  std::strncpy(buf, "999.1-fake", n);
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned int* n) {
  *n = 2;
  return g_initialised ? 0 : 1;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** d) {
  if (i > 1) return 2;
  *d = &g_devices[i];
  return 0;
}
int nvmlDeviceGetName(void* d, char* buf, unsigned int n) {
  std::strncpy(buf, dev_index(d) == 0 ? "Fake H200" : "Fake, Old GPU", n);
  return 0;
}
int nvmlDeviceGetUUID(void* d, char* buf, unsigned int n) {
  std::strncpy(buf, dev_index(d) == 0 ? "GPU-fake-0" : "GPU-fake-1", n);
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
int nvmlDeviceGetCurrentClocksEventReasons(void* d, unsigned long long* r) {
  *r = dev_index(d) == 0 ? 0x4 : 0x1;
  return 0;
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
      default:
        f[k].status = 3;  // NVLink counters: not supported, like a one-GPU VM
    }
  }
  return 0;
}
int nvmlDeviceGetTotalEccErrors(void*, int type, int, unsigned long long* c) {
  *c = type == 0 ? 2 : 0;
  return 0;
}
int nvmlDeviceGetCurrPcieLinkGeneration(void*, unsigned int* v) {
  *v = 5;
  return 0;
}
int nvmlDeviceGetMaxPcieLinkGeneration(void*, unsigned int* v) {
  *v = 5;
  return 0;
}
int nvmlDeviceGetCurrPcieLinkWidth(void* d, unsigned int* v) {
  *v = dev_index(d) == 0 ? 16 : 8;
  return 0;
}
int nvmlDeviceGetMaxPcieLinkWidth(void*, unsigned int* v) {
  *v = 16;
  return 0;
}
int nvmlDeviceGetRemappedRows(void*, unsigned int* c, unsigned int* u, unsigned int* p,
                              unsigned int* f) {
  *c = 1;
  *u = 0;
  *p = 0;
  *f = 0;
  return 0;
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
