// `sxbench preflight` as a user runs it, on fixture trees under --root: exit code, one row per
// check, the summary line and preflight.json; one-line errors for bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../unit/preflight_fixture.hpp"
#include "e2e_util.hpp"

namespace {

using namespace sxb::e2e;
using sxb::test::FixturePort;
using sxb::test::SysfsFixture;

// The process environment may name NCCL settings of the machine running the tests.
const std::string kNoNccl = "env -u NCCL_IB_HCA -u NCCL_IB_GID_INDEX -u NCCL_SOCKET_IFNAME ";

TEST(PreflightE2E, GoodNodePassesAndWritesJson) {
  SysfsFixture f("e2e_good");
  f.add_good_node();
  const auto dir = scratch_dir("preflight_good");
  const auto out = dir / "preflight.json";
  const auto r = run_command(kNoNccl + sxbench("preflight --root " + f.root().string() +
                                               " --json " + out.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A header, 1 ports row, 8 rows per RoCE port, 3 NCCL rows, the summary.
  EXPECT_EQ(count_lines(r.output), 1 + 1 + 2 * 8 + 3 + 1) << r.output;
  EXPECT_NE(r.output.find("pass     rdma.roce_ports"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("configs/cluster/h200_spectrumx.json:mtu_bytes"), std::string::npos);
  EXPECT_NE(r.output.find("preflight: 18 pass, 0 warn, 0 fail, 2 unknown: passed"),
            std::string::npos)
      << r.output;
  std::ifstream in(out);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["schema"], "sxbench.preflight/1");
  EXPECT_EQ(j["passed"], true);
  EXPECT_EQ(j["profile"], "configs/cluster/h200_spectrumx.json");
  EXPECT_EQ(j["checks"].size(), 20u);
  EXPECT_EQ(j["counts"]["unknown"], 2);  // PFC on each port: not in sysfs
  const auto& first = j["checks"][0];
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

  // No RDMA at all.
  SysfsFixture empty("e2e_empty");
  const auto n = run_command(kNoNccl + sxbench("preflight --root " + empty.root().string()));
  EXPECT_EQ(n.exit_code, 1) << n.output;
  EXPECT_NE(n.output.find("no RDMA device: /sys/class/infiniband does not exist"), std::string::npos)
      << n.output;
  std::filesystem::remove_all(dir);
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
                          ": key \"expectations.roce_ports_per_node\": missing (an object with "
                          "\"value\" and \"source\")\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
