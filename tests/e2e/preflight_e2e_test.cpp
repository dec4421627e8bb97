// `sxbench preflight` as a user runs it, on fixture trees under --root and the scripted NVML
// stand-in: exit code, one row per check, the summary line, preflight.json against its schema,
// .env settings in place of profile values, NCCL_NET_PLUGIN; one-line errors for bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../unit/preflight_fixture.hpp"
#include "e2e_util.hpp"

namespace {

using namespace sxb::e2e;
using sxb::test::FixturePort;
using sxb::test::SysfsFixture;

// The process environment may name NCCL settings of the machine running the tests, and the
// machine may have a driver: NVML is pointed at a library that does not exist (no GPU rows run)
// or at the stand-in with a script.
const std::string kNoNccl =
    "env -u NCCL_IB_HCA -u NCCL_IB_GID_INDEX -u NCCL_SOCKET_IFNAME -u NCCL_NET_PLUGIN "
    "-u SXB_FAKE_NVML_SCRIPT -u SXB_FAKE_DCB SXB_NVML_LIBRARY=libsxb-no-such-nvml.so.1 "
    "SXB_IBVERBS_LIBRARY=libsxb-no-such-ibverbs.so.1 ";
const std::string kGoodGpus = "gpus=8;all.name=NVIDIA H200;all.clock_reasons=1;all.pcie_width=16";
std::string fake_nvml(const std::string& script) {
  return kNoNccl + "SXB_NVML_LIBRARY=" SXB_FAKE_NVML " SXB_FAKE_NVML_SCRIPT='" + script + "' ";
}

// preflight.json against schemas/preflight.schema.json (python3-jsonschema, as the schema tests).
void expect_valid_json(const std::filesystem::path& file) {
  const std::string root = SXB_TEST_SOURCE_DIR;
  const auto v = run_command("python3 " + root + "/tests/schema/validate_results.py --schemas " + root +
                             "/schemas --require preflight.json " + file.string());
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

TEST(PreflightE2E, GoodNodePassesAndWritesJson) {
  SysfsFixture f("e2e_good");
  f.add_good_node();
  const auto dir = scratch_dir("preflight_good");
  const auto out = dir / "preflight.json";
  const auto r = run_command(kNoNccl + sxbench("preflight --root " + f.root().string() +
                                               " --json " + out.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A header; 16 GPU rows that could not run (no NVML), 2 NIC places and firmware versions, the
  // CUDA runtime,
  // GPUDirect; 1 ports row, 8 rows per RoCE port, 4 NCCL rows, the active MTU of each port (not
  // run: no libibverbs); the summary.
  EXPECT_EQ(count_lines(r.output), 1 + 16 + 2 * 2 + 1 + 1 + 1 + 2 * 8 + 4 + 2 + 1) << r.output;
  EXPECT_NE(r.output.find("libsxb-no-such-ibverbs.so.1 could not be loaded"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("pass     rdma.roce_ports"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("configs/cluster/h200_spectrumx.json:mtu_bytes"), std::string::npos);
  EXPECT_NE(r.output.find("not run: NVML unavailable (libsxb-no-such-nvml.so.1"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" 0 fail, "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(": passed\n"), std::string::npos) << r.output;
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["schema"], "sxbench.preflight/1");
  EXPECT_EQ(j["passed"], true);
  EXPECT_EQ(j["profile"], "configs/cluster/h200_spectrumx.json");
  EXPECT_TRUE(j["nvml"].is_null());
  EXPECT_EQ(j["checks"].size(), 45u);
  int unknown_gpu = 0;
  for (const auto& c : j["checks"]) {
    if (c["found"] == "not run") {
      ++unknown_gpu;
      EXPECT_EQ(c["verdict"], "unknown");
    }
  }
  EXPECT_EQ(unknown_gpu, 16 + 2);  // no NVML, and no libibverbs for the two ports' active MTU
  expect_valid_json(out);
  const auto& first = j["checks"][22];
  EXPECT_EQ(first["id"], "rdma.roce_ports");
  EXPECT_EQ(first["verdict"], "pass");
  EXPECT_NE(first["citation"].get<std::string>().find("docs/requirements.md"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(PreflightE2E, FailuresExitOneAndNameTheProblem) {
  SysfsFixture f("e2e_bad");
  FixturePort a;
  a.mtu = 1500;
  f.add(a);
  const auto dir = scratch_dir("preflight_bad");
  const auto out = dir / "preflight.json";
  const auto r = run_command(kNoNccl + "NCCL_IB_HCA=mlx5_9 " +
                             sxbench("preflight --root " + f.root().string() + " --json " +
                                     out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("eth0 MTU 1500 is below 9000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mlx5_9 names no RDMA device or port here"), std::string::npos);
  EXPECT_NE(r.output.find("1 ACTIVE Ethernet ports of 1 RDMA ports"), std::string::npos);
  EXPECT_NE(r.output.find(": FAILED"), std::string::npos);
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["counts"]["fail"], 3);
  expect_valid_json(out);

  // No RDMA at all.
  SysfsFixture empty("e2e_empty");
  const auto n = run_command(kNoNccl + sxbench("preflight --root " + empty.root().string()));
  EXPECT_EQ(n.exit_code, 1) << n.output;
  EXPECT_NE(n.output.find("no RDMA device: /sys/class/infiniband does not exist"), std::string::npos)
      << n.output;
  std::filesystem::remove_all(dir);
}

TEST(PreflightE2E, GpuNodeThroughNvmlPassesAndAGpuFaultFails) {
  SysfsFixture f("e2e_gpu");
  f.add_h200_node();
  f.add_module("nvidia_peermem");
  const auto dir = scratch_dir("preflight_gpu");
  const auto out = dir / "preflight.json";
  auto r = run_command(fake_nvml(kGoodGpus) + "SXB_FAKE_DCB=eth0:0x08,eth1:0x08 " +
                       sxbench("preflight --root " + f.root().string() + " --json " + out.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pass     gpu.count           node"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mlx5_0: same PCIe switch 0000:01:00.0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nvidia_peermem loaded"), std::string::npos) << r.output;
  auto j = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(j["nvml"], SXB_FAKE_NVML);
  int models = 0;
  for (const auto& c : j["checks"]) {
    if (c["id"] == "gpu.model") ++models;
    if (c["id"] != "gpu.cuda_runtime" && c["id"] != "rdma.active_mtu") {
      EXPECT_EQ(c["verdict"], "pass") << c.dump();
    }
  }
  EXPECT_EQ(models, 8);
  expect_valid_json(out);

  // GPU 3's link trained at x8, GPU 5 is held down by a hardware slowdown: exit 1, both named;
  // GPU 1's SM application clock pinned below its default: a warning, not a failure.
  r = run_command(fake_nvml(kGoodGpus + ";3.pcie_width=8;5.clock_reasons=0x8;1.app_sm=1410") +
                  sxbench("preflight --root " + f.root().string() + " --json " + out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("fail     gpu.pcie_width      GPU3 0000:61:00.0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the link trained at x8 of x16"), std::string::npos);
  EXPECT_NE(r.output.find("clocks held down by hw_slowdown"), std::string::npos);
  EXPECT_NE(r.output.find("warn     gpu.app_clocks      GPU1 0000:43:00.0   SM 1410 MHz, memory 3201 MHz"),
            std::string::npos)
      << r.output;
  j = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(j["counts"]["fail"], 2);
  EXPECT_EQ(j["counts"]["warn"], 1);
  expect_valid_json(out);
  std::filesystem::remove_all(dir);
}

// PFC through the DCB stand-in (SXB_FAKE_DCB, read as the kernel's netlink replies): on at the
// RoCE priority passes, off fails and exits 1, a driver without DCB is unknown with the reason;
// a fixture tree without the stand-in has no DCB state and is never answered from this host.
TEST(PreflightE2E, PfcThroughTheDcbStandIn) {
  SysfsFixture f("e2e_pfc");
  f.add_good_node();
  const auto dir = scratch_dir("preflight_pfc");
  const auto out = dir / "preflight.json";
  auto r = run_command(kNoNccl + "SXB_FAKE_DCB=eth0:0x08,eth1:0x00 " +
                       sxbench("preflight --root " + f.root().string() + " --json " + out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("pass     net.pfc             mlx5_0:1 eth0       on at priority 3, pfc_en "
                          "0x08 (priorities 3)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("fail     net.pfc             mlx5_1:1 eth1       off at priority 3, pfc_en "
                          "0x00 (no priority)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("mlnx_qos -i eth1 --pfc 0,0,0,1,0,0,0,0"), std::string::npos) << r.output;
  auto j = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["counts"]["fail"], 1);
  int pfc = 0;
  for (const auto& c : j["checks"]) {
    if (c["id"] != "net.pfc") continue;
    ++pfc;
    EXPECT_EQ(c["source"], "configs/cluster/h200_spectrumx.json:pfc_enabled");
    EXPECT_EQ(c["expected"], "on at priority 3");
  }
  EXPECT_EQ(pfc, 2);
  expect_valid_json(out);

  r = run_command(kNoNccl + "SXB_FAKE_DCB=eth0:0x08,eth1:err " +
                  sxbench("preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("unknown  net.pfc             mlx5_1:1 eth1       cannot read"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("the driver of eth1 has no DCB (RTM_GETDCB: "), std::string::npos)
      << r.output;

  r = run_command(kNoNccl + sxbench("preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("the --root tree has no DCB state"), std::string::npos) << r.output;
  // A malformed script is each row's reason, not an error of the command.
  r = run_command(kNoNccl + "SXB_FAKE_DCB=eth0 " + sxbench("preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SXB_FAKE_DCB: bad entry 'eth0'"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

TEST(PreflightE2E, DotEnvSettingsReplaceProfileValues) {
  SysfsFixture f("e2e_env");
  FixturePort a;
  a.mtu = 1500;
  f.add(a);
  const auto dir = scratch_dir("preflight_env");
  const auto env = dir / "site.env";
  std::ofstream(env) << "PREFLIGHT_MTU=1500\nPREFLIGHT_NIC_PORTS=1\n";
  auto r = run_command(kNoNccl + sxbench("--env " + env.string() + " preflight --root " + f.root().string()));
  EXPECT_NE(r.output.find("pass     net.mtu"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(".env PREFLIGHT_MTU"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(".env PREFLIGHT_NIC_PORTS"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("fail "), std::string::npos) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // NCCL settings in .env reach the check as they reach NCCL.
  std::ofstream(env) << "NCCL_NET_PLUGIN=sxbnope\n";
  r = run_command(kNoNccl + sxbench("--env " + env.string() + " preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot load libnccl-net-sxbnope.so"), std::string::npos) << r.output;
  // A bad value is one line naming the setting.
  std::ofstream(env) << "PREFLIGHT_MTU=jumbo\n";
  r = run_command(kNoNccl + sxbench("--env " + env.string() + " preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("PREFLIGHT_MTU"), std::string::npos) << r.output;
  std::ofstream(env) << "PREFLIGHT_CUDA_MIN_VERSION=12\n";
  r = run_command(kNoNccl + sxbench("--env " + env.string() + " preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.output, "sxbench: error: PREFLIGHT_CUDA_MIN_VERSION (" + env.string() +
                          ":1): expected MAJOR.MINOR such as 12.5, got '12'\n");
  std::filesystem::remove_all(dir);
}

TEST(PreflightE2E, NetPluginByNameThroughTheLibraryPath) {
  SysfsFixture f("e2e_plugin");
  f.add_good_node();
  const std::string lib_dir = std::filesystem::path(SXB_TEST_NET_PLUGIN).parent_path().string();
  auto r = run_command(kNoNccl + "LD_LIBRARY_PATH=" + lib_dir + " NCCL_NET_PLUGIN=sxbtest " +
                       sxbench("preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("libnccl-net-sxbtest.so loads and exports ncclNetPlugin_v8"), std::string::npos)
      << r.output;
  r = run_command(kNoNccl + "LD_LIBRARY_PATH=" + lib_dir + " NCCL_NET_PLUGIN=sxbnope " +
                  sxbench("preflight --root " + f.root().string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("fail     nccl.net_plugin"), std::string::npos) << r.output;
}

TEST(PreflightE2E, BadInputIsOneLine) {
  const auto dir = scratch_dir("preflight_input");
  auto r = run_command(sxbench("preflight --root " + (dir / "nope").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "sxbench: error: --root " + (dir / "nope").string() + ": no such directory\n");
  const auto profile = dir / "p.json";
  std::ofstream(profile) << R"({"expectations": {"gpus_per_node": {"value": 8, "source": "x"}}})";
  r = run_command(sxbench("preflight --root " + dir.string() + " --profile " + profile.string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "sxbench: error: " + profile.string() +
                          ": key \"expectations.gpu_model\": missing (an object with "
                          "\"value\" and \"source\")\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
