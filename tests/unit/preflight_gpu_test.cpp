// `sxbench preflight`'s GPU checks through the scripted NVML stand-in (tests/fake_nvml), GPU-NIC
// affinity and GPUDirect RDMA on fixture trees, NCCL_NET_PLUGIN against plugin libraries the tests
// build, and .env settings replacing the profile's expectations: a pass and each fault.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"
#include "platform/node_gpus.hpp"
#include "platform/node_sysfs.hpp"
#include "preflight_fixture.hpp"
#include "validate/preflight.hpp"

namespace {

using namespace sxb;
using sxb::test::FixturePort;
using sxb::test::SysfsFixture;

// The shipped profile, named as the command names it.
NodeProfile profile() {
  return node_profile_from_json(read_json_file(std::filesystem::path(SXB_TEST_SOURCE_DIR) /
                                               "configs/cluster/h200_spectrumx.json"),
                                "configs/cluster/h200_spectrumx.json");
}

// Eight H200s at idle, every value as the profile wants it; `extra` changes some.
const std::string kGoodGpus = "gpus=8;all.name=NVIDIA H200;all.clock_reasons=1;all.pcie_width=16;";

std::vector<CheckRow> run(const SysfsFixture& f, const std::string& script,
                          const NodeProfile& p = profile(), const NcclEnv& env = {},
                          const std::string& library = SXB_FAKE_NVML) {
  ::setenv("SXB_FAKE_NVML_SCRIPT", script.c_str(), 1);
  const auto in = read_preflight_inputs(f.root(), p, library, env);
  ::unsetenv("SXB_FAKE_NVML_SCRIPT");
  return preflight_checks(in, p);
}

std::vector<CheckRow> rows_of(const std::vector<CheckRow>& rows, const std::string& id) {
  std::vector<CheckRow> out;
  for (const auto& r : rows)
    if (r.id == id) out.push_back(r);
  return out;
}

const CheckRow& row(const std::vector<CheckRow>& rows, const std::string& id,
                    const std::string& subject_prefix = "") {
  for (const auto& r : rows)
    if (r.id == id && r.subject.rfind(subject_prefix, 0) == 0) return r;
  static CheckRow none;
  ADD_FAILURE() << "no row " << id << " " << subject_prefix;
  return none;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class PreflightGpu : public ::testing::Test {
 protected:
  PreflightGpu() : f("gpu") {
    f.add_h200_node();
    f.add_module("nvidia_peermem");
  }
  SysfsFixture f;
};

TEST(PreflightGpuParse, BusIdsCudaVersionsAndPciRelations) {
  EXPECT_EQ(sysfs_bus_id("00000000:1B:00.0"), "0000:1b:00.0");
  EXPECT_EQ(sysfs_bus_id("0000:9d:00.1"), "0000:9d:00.1");
  EXPECT_EQ(sysfs_bus_id("1b:00.0"), "0000:1b:00.0");
  EXPECT_EQ(sysfs_bus_id("GPU-123"), "");
  EXPECT_EQ(sysfs_bus_id("0000:1b:40.0"), "");  // device numbers end at 0x1f
  EXPECT_EQ(parse_cuda_version("12.5"), 12050);
  EXPECT_EQ(parse_cuda_version("13.0"), 13000);
  EXPECT_EQ(parse_cuda_version("12"), std::nullopt);
  EXPECT_EQ(parse_cuda_version("12.x"), std::nullopt);
  EXPECT_EQ(cuda_version_name(12080), "12.8");
  PciLocation gpu{
      "0000:1b:00.0", {"pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:1b:00.0"}, 0, ""};
  PciLocation nic{
      "0000:0c:00.0", {"pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:0c:00.0"}, 0, ""};
  std::string common;
  EXPECT_EQ(pci_relation(gpu, nic, &common), PciRelation::same_switch);
  EXPECT_EQ(common, "0000:01:00.0");
  nic.path = {"pci0000:00", "0000:00:05.0", "0000:0c:00.0"};
  EXPECT_EQ(pci_relation(gpu, nic), PciRelation::same_host_bridge);
  nic.path = {"pci0000:20", "0000:20:05.0", "0000:2c:00.0"};
  EXPECT_EQ(pci_relation(gpu, nic), PciRelation::same_numa);
  nic.numa_node = 1;
  EXPECT_EQ(pci_relation(gpu, nic), PciRelation::other_numa);
  nic.numa_node.reset();
  EXPECT_EQ(pci_relation(gpu, nic), PciRelation::unknown);
}

TEST_F(PreflightGpu, WithoutNvmlEachGpuCheckIsOneRowThatSaysWhy) {
  const auto rows = run(f, kGoodGpus, profile(), {}, "libsxb-no-such-nvml.so.1");
  int gpu_rows = 0;
  for (const auto& r : rows) {
    if (r.id.rfind("gpu.", 0) != 0 && r.id != "affinity.gpu_nic") continue;
    if (r.id == "gpu.cuda_runtime" || r.id == "gpu.gpudirect_rdma") continue;  // not NVML's
    ++gpu_rows;
    EXPECT_EQ(r.verdict, Verdict::unknown) << r.id;
    EXPECT_EQ(r.found, "not run") << r.id;
    EXPECT_TRUE(contains(r.note, "NVML unavailable (libsxb-no-such-nvml.so.1")) << r.note;
  }
  EXPECT_EQ(gpu_rows, 16);
  EXPECT_EQ(rows_of(rows, "gpu.model").size(), 1u);
  // The NICs' places are sysfs's, so they are still read.
  EXPECT_EQ(row(rows, "affinity.nic", "mlx5_0").verdict, Verdict::pass);
  // A library that loads but whose nvmlInit fails (a driver that is not running).
  const auto init = run(f, "init=9");
  const auto& count = row(init, "gpu.count");
  EXPECT_EQ(count.verdict, Verdict::unknown);
  EXPECT_EQ(count.note,
            "not run: NVML unavailable (nvmlInit failed: NVML error 9 (Driver Not Loaded))");
  EXPECT_EQ(rows_of(init, "gpu.clocks").size(), 1u);
  EXPECT_EQ(rows_of(init, "gpu.app_clocks").size(), 1u);
}

TEST_F(PreflightGpu, GoodH200NodePasses) {
  const auto rows = run(f, kGoodGpus);
  for (const auto& r : rows) {
    if (r.id.rfind("gpu.", 0) != 0 && r.id.rfind("affinity.", 0) != 0) continue;
    if (r.id == "gpu.cuda_runtime" && r.verdict == Verdict::unknown) continue;  // a CPU-only build
    EXPECT_EQ(r.verdict, Verdict::pass)
        << r.id << " " << r.subject << ": " << r.found << " " << r.note;
  }
  EXPECT_EQ(row(rows, "gpu.count").found, "8");
  EXPECT_EQ(row(rows, "gpu.count").source, "configs/cluster/h200_spectrumx.json:gpus_per_node");
  EXPECT_EQ(row(rows, "gpu.cuda_driver").found, "CUDA 12.8");
  EXPECT_EQ(rows_of(rows, "gpu.model").size(), 8u);
  EXPECT_EQ(rows_of(rows, "gpu.clocks").size(), 8u);
  EXPECT_EQ(row(rows, "gpu.model", "GPU4 0000:9d:00.0").found, "NVIDIA H200");
  EXPECT_EQ(row(rows, "gpu.nvlink", "GPU0").found, "18 active");
  EXPECT_EQ(row(rows, "gpu.gpudirect_rdma").found, "nvidia_peermem loaded");
  EXPECT_FALSE(any_failed(rows));
}

TEST_F(PreflightGpu, CountModelAndCudaAgainstTheProfile) {
  auto rows = run(f, kGoodGpus + "gpus=7;3.name=NVIDIA H100 80GB HBM3;cuda=12040");
  EXPECT_EQ(row(rows, "gpu.count").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.count").note, "7 GPUs, the profile says 8");
  EXPECT_EQ(row(rows, "gpu.model", "GPU3").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.model", "GPU3").note, "'NVIDIA H100 80GB HBM3' is not a H200");
  EXPECT_EQ(row(rows, "gpu.model", "GPU2").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.cuda_driver").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.cuda_driver").note,
            "the driver supports CUDA up to 12.4, older than 12.5");
  rows = run(f, kGoodGpus + "cuda=ns");
  EXPECT_EQ(row(rows, "gpu.cuda_driver").verdict, Verdict::unknown);
  EXPECT_TRUE(contains(row(rows, "gpu.cuda_driver").note, "Not Supported"))
      << row(rows, "gpu.cuda_driver").note;
}

TEST_F(PreflightGpu, PersistenceAndEccMode) {
  auto rows = run(f, kGoodGpus + "1.persistence=0;2.ecc=0;2.ecc_pending=0;5.ecc_pending=0");
  EXPECT_EQ(row(rows, "gpu.persistence", "GPU1").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.persistence", "GPU1").found, "off");
  EXPECT_EQ(row(rows, "gpu.persistence", "GPU0").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.ecc_mode", "GPU2").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.ecc_mode", "GPU5").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.ecc_mode", "GPU5").note, "ECC turns off at the next GPU reset");
  rows = run(f, kGoodGpus + "all.persistence=ns");
  EXPECT_EQ(row(rows, "gpu.persistence", "GPU0").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.persistence", "GPU0").found, "cannot read");
}

TEST_F(PreflightGpu, UncorrectableEccErrorsAndRowRemapping) {
  auto rows = run(f, kGoodGpus +
                         "0.ecc_unc_volatile=2;0.ecc_unc_aggregate=2;1.ecc_unc_aggregate=3;"
                         "2.remap_pending=1;3.remap_failure=1");
  EXPECT_EQ(row(rows, "gpu.ecc_errors", "GPU0").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.ecc_errors", "GPU0").found, "volatile 2, aggregate 2");
  EXPECT_EQ(row(rows, "gpu.ecc_errors", "GPU1").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.ecc_errors", "GPU4").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU2").verdict, Verdict::fail);
  EXPECT_TRUE(contains(row(rows, "gpu.remapped_rows", "GPU2").note, "waits for a GPU reset"));
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU3").verdict, Verdict::fail);
  EXPECT_TRUE(contains(row(rows, "gpu.remapped_rows", "GPU3").note, "no spare row"));
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU4").verdict, Verdict::pass);
  // A GPU without row remapping: page retirement instead, and neither: cannot read.
  rows =
      run(f, kGoodGpus +
                 "all.remap_pending=ns;0.retired_pending=1;1.retired_dbe=2;2.retired_pending=ns");
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU0").verdict, Verdict::fail);
  EXPECT_TRUE(contains(row(rows, "gpu.remapped_rows", "GPU0").found, "retired pages"));
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU1").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU2").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.remapped_rows", "GPU3").verdict, Verdict::pass);
}

TEST_F(PreflightGpu, NvlinkLinksAndSpeed) {
  auto rows = run(f, kGoodGpus + "2.nvlinks=16;3.slow_link=5");
  EXPECT_EQ(row(rows, "gpu.nvlink", "GPU2").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.nvlink", "GPU2").note, "16 of 18 links active; not active: 16,17");
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU3").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU3").note, "link 5 at 12500 MB/s (others 25000 MB/s)");
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU2").verdict, Verdict::pass);
  rows = run(f, kGoodGpus + "0.nvlinks=ns;1.nvlink_speed=ns");
  EXPECT_EQ(row(rows, "gpu.nvlink", "GPU0").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU0").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU1").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.nvlink_speed", "GPU1").found, "cannot read");
}

TEST_F(PreflightGpu, PcieLinkAgainstItsMaximum) {
  const auto rows = run(f, kGoodGpus + "1.pcie_width=8;2.pcie_gen=1;3.pcie_width_max=ns");
  EXPECT_EQ(row(rows, "gpu.pcie_width", "GPU1").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.pcie_width", "GPU1").note, "the link trained at x8 of x16");
  EXPECT_EQ(row(rows, "gpu.pcie_gen", "GPU2").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.pcie_gen", "GPU2").found, "Gen1");
  EXPECT_EQ(row(rows, "gpu.pcie_width", "GPU3").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "gpu.pcie_width", "GPU0").verdict, Verdict::pass);
}

TEST_F(PreflightGpu, ClockEventReasonsThatHoldClocksDown) {
  // 0x40 hardware thermal slowdown, 0x88 hardware slowdown and power brake, 0x4 power cap, 0x0
  // none.
  const auto rows =
      run(f, kGoodGpus +
                 "0.clock_reasons=0x40;1.clock_reasons=0x88;2.clock_reasons=0x4;3.clock_reasons=0");
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU0").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU0").note, "clocks held down by hw_thermal_slowdown");
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU1").note,
            "clocks held down by hw_slowdown|hw_power_brake_slowdown");
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU2").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU3").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU3").found, "none");
  EXPECT_EQ(row(rows, "gpu.clocks", "GPU4").verdict, Verdict::pass);  // gpu_idle
}

TEST_F(PreflightGpu, ApplicationClocksPinnedBelowTheDefaults) {
  // GPU0 SM pinned low, GPU1 memory pinned low, GPU2 both, GPU3 above the defaults, GPU4 a driver
  // that does not answer for application clocks, GPU5 one without default clocks.
  const auto rows = run(f, kGoodGpus +
                               "0.app_sm=1410;1.app_mem=2619;2.app_sm=990;2.app_mem=1593;"
                               "3.app_sm=1995;4.app_sm=ns;5.default_app_mem=ns");
  const auto& sm = row(rows, "gpu.app_clocks", "GPU0");
  EXPECT_EQ(sm.verdict, Verdict::warn);
  EXPECT_EQ(sm.found, "SM 1410 MHz, memory 3201 MHz");
  EXPECT_EQ(sm.expected, ">= defaults SM 1980 MHz, memory 3201 MHz");
  EXPECT_EQ(sm.note,
            "application clocks set below the defaults: SM 1410 of 1980 MHz (`nvidia-smi -rac` "
            "restores them)");
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU1").verdict, Verdict::warn);
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU1").note,
            "application clocks set below the defaults: memory 2619 of 3201 MHz (`nvidia-smi "
            "-rac` restores them)");
  EXPECT_TRUE(contains(row(rows, "gpu.app_clocks", "GPU2").note,
                       "SM 990 of 1980 MHz, memory 1593 of 3201 MHz"))
      << row(rows, "gpu.app_clocks", "GPU2").note;
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU3").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU3").found, "SM 1995 MHz, memory 3201 MHz");
  const auto& ns = row(rows, "gpu.app_clocks", "GPU4");
  EXPECT_EQ(ns.verdict, Verdict::unknown);
  EXPECT_EQ(ns.found, "not run");
  EXPECT_EQ(ns.note, "not run: nvmlDeviceGetApplicationsClock(SM): NVML error 3 (Not Supported)");
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU5").note,
            "not run: nvmlDeviceGetDefaultApplicationsClock(MEM): NVML error 3 (Not Supported)");
  EXPECT_EQ(row(rows, "gpu.app_clocks", "GPU6").verdict, Verdict::pass);
  EXPECT_EQ(rows_of(rows, "gpu.app_clocks").size(), 8u);
}

TEST_F(PreflightGpu, VbiosAndNicFirmwareAreRecordedForHostComparison) {
  const auto rows = run(f, kGoodGpus + "3.vbios=96.00.74.00.1C;5.vbios=ns");
  EXPECT_EQ(rows_of(rows, "gpu.vbios").size(), 8u);
  EXPECT_EQ(row(rows, "gpu.vbios", "GPU0").found, "96.00.AF.00.01");
  EXPECT_EQ(row(rows, "gpu.vbios", "GPU0").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.vbios", "GPU3").found, "96.00.74.00.1C");
  const auto& ns = row(rows, "gpu.vbios", "GPU5");
  EXPECT_EQ(ns.verdict, Verdict::unknown);
  EXPECT_EQ(ns.note, "nvmlDeviceGetVbiosVersion: NVML error 3 (Not Supported)");
  EXPECT_EQ(row(rows, "rdma.firmware", "mlx5_0").found, "28.39.1002");
  EXPECT_EQ(row(rows, "rdma.firmware", "mlx5_0").verdict, Verdict::pass);
  EXPECT_EQ(rows_of(rows, "rdma.firmware").size(), 2u);
}

TEST_F(PreflightGpu, GpuNicAffinityFromThePciTree) {
  const auto rows = run(f, kGoodGpus);
  EXPECT_EQ(row(rows, "affinity.nic", "mlx5_0").found,
            "NUMA 0 0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:0c:00.0");
  EXPECT_EQ(row(rows, "affinity.nic", "mlx5_1").found,
            "NUMA 1 0000:80:01.0/0000:81:00.0/0000:82:01.0/0000:8c:00.0");
  EXPECT_EQ(row(rows, "affinity.gpu_nic", "GPU0").found,
            "NUMA 0; mlx5_0: same PCIe switch 0000:01:00.0; mlx5_1: other NUMA node");
  EXPECT_EQ(row(rows, "affinity.gpu_nic", "GPU1").found,
            "NUMA 0; mlx5_0: same host bridge; mlx5_1: other NUMA node");
  EXPECT_EQ(row(rows, "affinity.gpu_nic", "GPU2").found,
            "NUMA 0; mlx5_0: same NUMA node; mlx5_1: other NUMA node");
  EXPECT_EQ(row(rows, "affinity.gpu_nic", "GPU4").found,
            "NUMA 1; mlx5_0: other NUMA node; mlx5_1: same PCIe switch 0000:81:00.0");
  for (const auto& r : rows_of(rows, "affinity.gpu_nic"))
    EXPECT_EQ(r.verdict, Verdict::pass) << r.subject;
}

TEST(PreflightAffinity, GpuWithoutANicOnItsNumaNodeWarnsAndUnreadableIsUnknown) {
  SysfsFixture g("affinity_one_node");
  g.add_h200_node(true);  // both NICs on NUMA node 0
  std::filesystem::remove(g.root() / "sys/bus/pci/devices/0000:df:00.0");
  const auto rows = run(g, kGoodGpus);
  EXPECT_EQ(row(rows, "affinity.gpu_nic", "GPU0").verdict, Verdict::pass);
  const auto& far = row(rows, "affinity.gpu_nic", "GPU4");
  EXPECT_EQ(far.verdict, Verdict::warn);
  EXPECT_TRUE(contains(far.note, "no NIC on NUMA node 1")) << far.note;
  const auto& gone = row(rows, "affinity.gpu_nic", "GPU7");
  EXPECT_EQ(gone.verdict, Verdict::unknown);
  EXPECT_EQ(gone.note, "cannot resolve /sys/bus/pci/devices/0000:df:00.0");
  EXPECT_FALSE(any_failed(rows_of(rows, "affinity.gpu_nic")));
}

TEST(PreflightGpuDirect, PeermemOrDmaBufSaysWhatItRead) {
  auto verdict_of = [](const std::function<void(SysfsFixture&)>& setup) {
    SysfsFixture g("gpudirect");
    g.add_good_node();
    setup(g);
    const auto rows = run(g, kGoodGpus);
    return row(rows, "gpu.gpudirect_rdma");
  };
  auto r = verdict_of([](SysfsFixture& g) { g.add_module("nvidia_peermem"); });
  EXPECT_EQ(r.verdict, Verdict::pass);
  r = verdict_of([](SysfsFixture& g) { g.set_nvidia_driver(true, "6.8.0-45-generic"); });
  EXPECT_EQ(r.verdict, Verdict::pass);
  EXPECT_EQ(r.found, "dma-buf: open kernel module, kernel 6.8.0-45-generic");
  r = verdict_of([](SysfsFixture& g) { g.set_nvidia_driver(true, "5.4.0-150-generic"); });
  EXPECT_EQ(r.verdict, Verdict::fail);
  r = verdict_of([](SysfsFixture& g) { g.set_nvidia_driver(false, "6.8.0"); });
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(contains(r.note, "modprobe nvidia_peermem")) << r.note;
  r = verdict_of([](SysfsFixture&) {});
  EXPECT_EQ(r.verdict, Verdict::unknown);
  EXPECT_EQ(r.found, "cannot read");
}

TEST(PreflightNetPlugin, LoadsTheNamedPluginOrFails) {
  SysfsFixture g("plugin");
  g.add_good_node();
  const NodeProfile p = profile();
  const NodeSysfs node = read_node_sysfs(g.root(), p.roce_priority);
  auto plugin_row = [&](const std::string& value) {
    return row(preflight_checks(node, p, NcclEnv{{"NCCL_NET_PLUGIN", value}}), "nccl.net_plugin");
  };
  auto r = plugin_row(SXB_TEST_NET_PLUGIN);
  EXPECT_EQ(r.verdict, Verdict::pass) << r.note;
  EXPECT_TRUE(contains(r.note, "exports ncclNetPlugin_v8")) << r.note;
  r = plugin_row("sxbmissing");
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(contains(r.note, "cannot load libnccl-net-sxbmissing.so")) << r.note;
  r = plugin_row(SXB_TEST_NET_PLUGIN_EMPTY);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(contains(r.note, "exports no ncclNetPlugin_v5 to _v10")) << r.note;
  EXPECT_EQ(plugin_row("none").verdict, Verdict::pass);
  EXPECT_EQ(row(preflight_checks(node, p, NcclEnv{}), "nccl.net_plugin").found, "unset");
}

TEST(PreflightSettings, DotEnvReplacesAnExpectationAndIsNamedAsTheSource) {
  SysfsFixture g("settings");
  FixturePort a;
  a.mtu = 1500;
  g.add(a);
  NodeProfile p = profile();
  apply_profile_settings(
      p, EnvConfig::from_string(
             "PREFLIGHT_MTU=1500\nPREFLIGHT_NIC_PORTS=1\nPREFLIGHT_GPUS_PER_NODE=2\n"
             "PREFLIGHT_CUDA_MIN_VERSION=13.0\n",
             ".env"));
  EXPECT_EQ(p.mtu_bytes, 1500);
  EXPECT_EQ(p.cuda_min, 13000);
  const auto rows = run(g, "gpus=2;all.name=NVIDIA H200;all.clock_reasons=1;all.pcie_width=16", p);
  const auto& mtu = row(rows, "net.mtu");
  EXPECT_EQ(mtu.verdict, Verdict::pass);
  EXPECT_EQ(mtu.source, ".env PREFLIGHT_MTU");
  EXPECT_EQ(
      mtu.citation,
      "PREFLIGHT_MTU set in .env:1, in place of configs/cluster/h200_spectrumx.json:mtu_bytes");
  EXPECT_EQ(row(rows, "rdma.roce_ports").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.count").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "gpu.count").source, ".env PREFLIGHT_GPUS_PER_NODE");
  EXPECT_EQ(row(rows, "gpu.cuda_driver").verdict, Verdict::fail);  // 12.8 < 13.0
  EXPECT_EQ(row(rows, "gpu.cuda_driver").expected, ">= CUDA 13.0");
  // Unset settings leave the profile's source.
  EXPECT_EQ(row(rows, "rdma.port_rate").source,
            "configs/cluster/h200_spectrumx.json:port_rate_gbit_per_s");
}

TEST(PreflightSettings, EverySettingIsRegisteredAndReplacesItsKey) {
  NodeProfile p = profile();
  std::string text;
  for (const auto& ps : profile_settings()) {
    const EnvKey* k = find_env_key(ps.setting);
    ASSERT_NE(k, nullptr) << ps.setting;
    EXPECT_FALSE(k->environment_only) << ps.setting;
    EXPECT_TRUE(p.sources.count(ps.key)) << ps.key << " is no profile key";
    const std::string v = k->kind == EnvKind::boolean                 ? "0"
                          : k->kind == EnvKind::choice                ? k->choices.back()
                          : std::string(ps.key) == "cuda_min_version" ? "13.1"
                          : std::string(ps.key) == "mtu_bytes"        ? "1500"
                          : k->kind == EnvKind::string                ? "B200"
                                                                      : "7";
    text += std::string(ps.setting) + "=" + v + "\n";
  }
  apply_profile_settings(p, EnvConfig::from_string(text, "site.env"));
  EXPECT_EQ(p.overrides.size(), profile_settings().size());
  EXPECT_EQ(p.gpus_per_node, 7);
  EXPECT_EQ(p.gpu_model, "B200");
  EXPECT_EQ(p.cuda_min, 13010);
  EXPECT_EQ(p.nvlinks_per_gpu, 7);
  EXPECT_FALSE(p.persistence_mode);
  EXPECT_FALSE(p.ecc_enabled);
  EXPECT_EQ(p.roce_ports_per_node, 7);
  EXPECT_EQ(p.port_rate_gbit_per_s, 7);
  EXPECT_EQ(p.link_layer, "InfiniBand");
  EXPECT_EQ(p.gid_type, "IB/RoCE v1");
  EXPECT_EQ(p.mtu_bytes, 1500);
  EXPECT_FALSE(p.pfc_enabled);
  EXPECT_FALSE(p.ecn_enabled);
  EXPECT_EQ(p.roce_priority, 7);
  EXPECT_EQ(p.overrides.at("mtu_bytes").where, "site.env:11");
}

TEST(PreflightSettings, BadValuesNameTheSetting) {
  NodeProfile p = profile();
  try {
    apply_profile_settings(p,
                           EnvConfig::from_string("PREFLIGHT_CUDA_MIN_VERSION=twelve\n", ".env"));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(
        e.what(),
        "PREFLIGHT_CUDA_MIN_VERSION (.env:1): expected MAJOR.MINOR such as 12.5, got 'twelve'");
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
  // Kinds and ranges are the settings registry's: refused when the file is read.
  EXPECT_THROW(EnvConfig::from_string("PREFLIGHT_MTU=0\n", ".env"), Error);
  EXPECT_THROW(EnvConfig::from_string("PREFLIGHT_LINK_LAYER=ethernet\n", ".env"), Error);
}

TEST(PreflightProfileGpu, GpuKeysAreReadStrictly) {
  std::ifstream in(std::filesystem::path(SXB_TEST_SOURCE_DIR) /
                   "configs/cluster/h200_spectrumx.json");
  const nlohmann::json shipped = nlohmann::json::parse(in);
  const NodeProfile p = node_profile_from_json(shipped, "p.json");
  EXPECT_EQ(p.gpu_model, "H200");
  EXPECT_EQ(p.cuda_min, 12050);
  EXPECT_EQ(p.nvlinks_per_gpu, 18);
  EXPECT_TRUE(p.persistence_mode);
  EXPECT_TRUE(p.ecc_enabled);
  auto j = shipped;
  j["expectations"]["cuda_min_version"]["value"] = "12";
  try {
    node_profile_from_json(j, "p.json");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "p.json: key \"expectations.cuda_min_version.value\": expected MAJOR.MINOR such "
                 "as \"12.5\", got \"12\"");
  }
  j = shipped;
  j["expectations"].erase("nvlinks_per_gpu");
  EXPECT_THROW(node_profile_from_json(j, "p.json"), Error);
  j = shipped;
  j["expectations"]["nvlinks_per_gpu"]["value"] = 19;
  EXPECT_THROW(node_profile_from_json(j, "p.json"), Error);
}

}  // namespace
