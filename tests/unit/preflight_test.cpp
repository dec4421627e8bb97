// `sxbench preflight`'s sysfs reading and checks on fixture trees: a RoCE node that passes, and
// one fault at a time (MTU 1500, no RoCE v2 GID, an InfiniBand port, no RDMA at all, ECN files
// absent or off, NCCL settings naming what is not there); the profile's strict reading.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "platform/node_sysfs.hpp"
#include "preflight_fixture.hpp"
#include "commands/preflight_job.hpp"
#include "validate/preflight.hpp"

namespace {

using namespace sxb;
using sxb::test::FixturePort;
using sxb::test::SysfsFixture;

NodeProfile profile() {
  return load_node_profile(std::filesystem::path(SXB_TEST_SOURCE_DIR) /
                           "configs/cluster/h200_spectrumx.json");
}

// PFC comes from the DCB stand-in's script (SXB_FAKE_DCB's syntax); none: not read.
std::vector<CheckRow> run(const SysfsFixture& f, const NcclEnv& env = {},
                          const std::optional<std::string>& dcb = std::nullopt,
                          const NodeProfile& p = profile()) {
  const NodeSysfs node = read_node_sysfs(f.root(), p.roce_priority);
  return preflight_checks(node, p, env, dcb ? read_ports_pfc(f.root(), node, dcb) : std::vector<DcbPfc>{});
}

const CheckRow& row(const std::vector<CheckRow>& rows, const std::string& id,
                    const std::string& subject_prefix = "") {
  for (const auto& r : rows)
    if (r.id == id && r.subject.rfind(subject_prefix, 0) == 0) return r;
  static CheckRow none;
  ADD_FAILURE() << "no row " << id << " " << subject_prefix;
  return none;
}

TEST(PreflightParse, PortStateName) {
  EXPECT_EQ(port_state_name("4: ACTIVE\n"), "ACTIVE");
  EXPECT_EQ(port_state_name("5: LinkUp"), "LinkUp");
  EXPECT_EQ(port_state_name("1: DOWN"), "DOWN");
  EXPECT_EQ(port_state_name("ACTIVE"), "ACTIVE");
}

TEST(PreflightParse, GidNonzero) {
  EXPECT_FALSE(gid_nonzero("0000:0000:0000:0000:0000:0000:0000:0000"));
  EXPECT_FALSE(gid_nonzero("::"));
  EXPECT_TRUE(gid_nonzero("fe80:0000:0000:0000:0e42:a1ff:fe00:0001"));
  EXPECT_TRUE(gid_nonzero("0000:0000:0000:0000:0000:ffff:0a00:0001"));
}

TEST(PreflightParse, NcclNameLists) {
  auto l = parse_nccl_name_list("mlx5_0:1,mlx5_1", true, "NCCL_IB_HCA");
  EXPECT_FALSE(l.exclude);
  EXPECT_FALSE(l.exact);
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_EQ(l.entries[0].name, "mlx5_0");
  EXPECT_EQ(l.entries[0].port, 1);
  EXPECT_EQ(l.entries[1].port, std::nullopt);
  EXPECT_TRUE(nccl_name_matches(l, l.entries[1], "mlx5_10"));  // prefix, as NCCL matches

  l = parse_nccl_name_list("^=mlx5_2", true, "NCCL_IB_HCA");
  EXPECT_TRUE(l.exclude);
  EXPECT_TRUE(l.exact);
  EXPECT_FALSE(nccl_name_matches(l, l.entries[0], "mlx5_20"));
  EXPECT_TRUE(nccl_name_matches(l, l.entries[0], "mlx5_2"));

  l = parse_nccl_name_list("=eth0,ens", false, "NCCL_SOCKET_IFNAME");
  EXPECT_TRUE(l.exact);
  EXPECT_EQ(l.entries[1].name, "ens");

  EXPECT_THROW(parse_nccl_name_list("mlx5_0:x", true, "NCCL_IB_HCA"), Error);
  EXPECT_THROW(parse_nccl_name_list("^", true, "NCCL_IB_HCA"), Error);
  EXPECT_THROW(parse_nccl_name_list(":1", true, "NCCL_IB_HCA"), Error);
}

TEST(PreflightSysfs, ReadsPortsGidsAndInterfaces) {
  SysfsFixture f("read");
  f.add_good_node();
  const NodeSysfs n = read_node_sysfs(f.root(), 3);
  EXPECT_TRUE(n.rdma_class_present);
  ASSERT_EQ(n.ports.size(), 2u);
  const auto& p = n.ports[0];
  EXPECT_EQ(p.device, "mlx5_0");
  EXPECT_EQ(p.port, 1);
  EXPECT_EQ(*p.link_layer, "Ethernet");
  EXPECT_EQ(*p.rate, "400 Gb/sec (4X NDR)");
  ASSERT_EQ(p.gids.size(), 4u);  // the zero entry is left out
  EXPECT_EQ(p.gids[1].type, "RoCE v2");
  ASSERT_TRUE(p.netdev.has_value());
  EXPECT_EQ(p.netdev->name, "eth0");
  EXPECT_EQ(*p.netdev->mtu, "9000");
  EXPECT_EQ(*p.netdev->ecn_np, "1");
  EXPECT_EQ(n.net_interfaces, (std::vector<std::string>{"eth0", "eth1", "lo"}));
}

TEST(Preflight, GoodRoceNodePasses) {
  SysfsFixture f("good");
  f.add_good_node();
  const auto rows = run(f, {}, "eth0:0x08,eth1:0x08");
  EXPECT_FALSE(any_failed(rows));
  const auto& ports = row(rows, "rdma.roce_ports");
  EXPECT_EQ(ports.verdict, Verdict::pass);
  EXPECT_EQ(ports.found, "2 (mlx5_0:1, mlx5_1:1)");
  EXPECT_EQ(ports.source, profile().file + ":roce_ports_per_node");
  EXPECT_NE(ports.citation.find("docs/requirements.md"), std::string::npos);
  for (const auto& r : rows) {
    SCOPED_TRACE(r.id + " " + r.subject);
    EXPECT_EQ(r.verdict, Verdict::pass) << r.note;
  }
  const auto& pfc = row(rows, "net.pfc", "mlx5_0:1");
  EXPECT_EQ(pfc.found, "on at priority 3, pfc_en 0x08 (priorities 3)");
  EXPECT_EQ(pfc.expected, "on at priority 3");
  EXPECT_EQ(pfc.source, profile().file + ":pfc_enabled");
  EXPECT_EQ(pfc.note, "");
  EXPECT_EQ(row(rows, "rdma.gid", "mlx5_0:1").found.rfind("index 1 (RoCE v2)", 0), 0u);
  EXPECT_EQ(row(rows, "rdma.gid", "mlx5_0:1").note, "lowest RoCE v2 GID index: 1; IPv4-mapped: 3");
  EXPECT_EQ(row(rows, "rdma.port_rate", "mlx5_1:1").found, "400 Gb/sec (4X NDR)");
}

// PFC from DCB netlink (here the stand-in, which builds the kernel's reply bytes): on at the RoCE
// priority passes, off fails, on at another priority only fails saying so, also on elsewhere
// passes with a note; what cannot be read (no DCB in the driver, no PFC in the reply, a fixture
// tree without a script) is unknown with the reason, never this host's answer.
TEST(Preflight, PfcThroughDcbNetlink) {
  SysfsFixture f("pfc");
  f.add_good_node();
  auto rows = run(f, {}, "eth0:0x18,eth1:0x00");
  const auto& both = row(rows, "net.pfc", "mlx5_0:1");
  EXPECT_EQ(both.verdict, Verdict::pass);
  EXPECT_EQ(both.found, "on at priority 3, pfc_en 0x18 (priorities 3,4)");
  EXPECT_EQ(both.note, "PFC is also on at priorities 4 of eth0, besides priority 3");
  const auto& off = row(rows, "net.pfc", "mlx5_1:1");
  EXPECT_EQ(off.verdict, Verdict::fail);
  EXPECT_EQ(off.subject, "mlx5_1:1 eth1");
  EXPECT_EQ(off.found, "off at priority 3, pfc_en 0x00 (no priority)");
  EXPECT_EQ(off.note, "PFC is off at priority 3 of eth1 (and every other priority): lossless RoCE "
                      "needs it (mlnx_qos -i eth1 --pfc 0,0,0,1,0,0,0,0)");
  EXPECT_TRUE(any_failed(rows));

  rows = run(f, {}, "eth0:0x10,eth1:err");
  const auto& other = row(rows, "net.pfc", "mlx5_0:1");
  EXPECT_EQ(other.verdict, Verdict::fail);
  EXPECT_EQ(other.found, "off at priority 3, pfc_en 0x10 (priorities 4)");
  EXPECT_EQ(other.note, "PFC is off at priority 3 of eth0 and on at priorities 4: does RoCE traffic "
                        "use another priority than the profile's roce_priority?");
  const auto& err = row(rows, "net.pfc", "mlx5_1:1");
  EXPECT_EQ(err.verdict, Verdict::unknown);
  EXPECT_EQ(err.found, "cannot read");
  EXPECT_EQ(err.note.rfind("the driver of eth1 has no DCB (RTM_GETDCB: ", 0), 0u) << err.note;

  rows = run(f, {}, "eth0:none");
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_0:1").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_0:1").note,
            "the driver of eth0 reports no IEEE PFC state (no DCB_ATTR_IEEE_PFC in its DCB reply)");
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_1:1").note, "SXB_FAKE_DCB names no interface eth1");

  // A profile that wants PFC off.
  NodeProfile no_pfc = profile();
  no_pfc.pfc_enabled = false;
  rows = run(f, {}, "eth0:0x08,eth1:0x00", no_pfc);
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_0:1").verdict, Verdict::fail);
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_0:1").expected, "off at priority 3");
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_0:1").note,
            "PFC is on at priority 3 of eth0; the profile expects it off");
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_1:1").verdict, Verdict::pass);

  // A fixture tree and no script: no DCB state, and this host is not asked.
  const NodeProfile p = profile();
  const auto in = read_preflight_inputs(f.root(), p, "", {}, "/nonexistent/libibverbs.so.1");
  ASSERT_EQ(in.dcb.size(), 2u);
  rows = preflight_checks(in, p);
  for (const char* port : {"mlx5_0:1", "mlx5_1:1"}) {
    const auto& r = row(rows, "net.pfc", port);
    EXPECT_EQ(r.verdict, Verdict::unknown);
    EXPECT_EQ(r.note, "the --root tree has no DCB state: PFC is read through netlink for --root / "
                      "only (SXB_FAKE_DCB scripts it for tests)");
  }
  // The script through read_preflight_inputs; PFC not read at all.
  rows = preflight_checks(
      read_preflight_inputs(f.root(), p, "", {}, "/nonexistent/libibverbs.so.1", "eth0:8,eth1:8"), p);
  EXPECT_EQ(row(rows, "net.pfc", "mlx5_1:1").verdict, Verdict::pass);
  EXPECT_EQ(row(run(f), "net.pfc", "mlx5_0:1").note, "DCB netlink was not asked");
}

TEST(Preflight, Mtu1500FailsNamingInterfaceAndValues) {
  SysfsFixture f("mtu");
  FixturePort a;
  a.mtu = 1500;
  f.add(a);
  FixturePort b;
  b.device = "mlx5_1";
  b.netdev = "eth1";
  f.add(b);
  const auto rows = run(f);
  EXPECT_TRUE(any_failed(rows));
  const auto& m = row(rows, "net.mtu", "mlx5_0:1");
  EXPECT_EQ(m.verdict, Verdict::fail);
  EXPECT_EQ(m.subject, "mlx5_0:1 eth0");
  EXPECT_EQ(m.found, "1500");
  EXPECT_EQ(m.expected, ">= 9000");
  EXPECT_EQ(m.note, "eth0 MTU 1500 is below 9000");
  EXPECT_EQ(row(rows, "net.mtu", "mlx5_1:1").verdict, Verdict::pass);
}

TEST(Preflight, NoRoceV2GidFails) {
  SysfsFixture f("gid");
  FixturePort a;
  a.roce_v2_gid = false;
  f.add(a);
  const auto rows = run(f);
  const auto& g = row(rows, "rdma.gid");
  EXPECT_EQ(g.verdict, Verdict::fail);
  EXPECT_EQ(g.note, "no RoCE v2 GID on this port");
  EXPECT_EQ(g.found, "0:IB/RoCE v1, 1:IB/RoCE v1, 2:IB/RoCE v1");
}

TEST(Preflight, InfinibandPortWarnsAndIsNotCounted) {
  SysfsFixture f("ib");
  FixturePort a;
  a.link_layer = "InfiniBand";
  a.device = "mlx5_ib0";
  a.netdev = "ib0";
  f.add(a);
  FixturePort b;
  b.device = "mlx5_1";
  b.netdev = "eth1";
  f.add(b);
  const auto rows = run(f);
  const auto& ll = row(rows, "rdma.link_layer", "mlx5_ib0:1");
  EXPECT_EQ(ll.verdict, Verdict::warn);
  EXPECT_EQ(ll.found, "InfiniBand");
  EXPECT_EQ(ll.expected, "Ethernet");
  const auto& ports = row(rows, "rdma.roce_ports");
  EXPECT_EQ(ports.verdict, Verdict::fail);  // one RoCE port of the two the profile asks for
  EXPECT_EQ(ports.found, "1 (mlx5_1:1)");
  // An InfiniBand port has no RoCE GID, MTU or ECN rows.
  for (const auto& r : rows) EXPECT_FALSE(r.id == "net.mtu" && r.subject.rfind("mlx5_ib0", 0) == 0);
}

TEST(Preflight, NoRdmaAtAllFailsThePortsCount) {
  SysfsFixture f("none");
  const auto rows = run(f);
  EXPECT_TRUE(any_failed(rows));
  const auto& ports = row(rows, "rdma.roce_ports");
  EXPECT_EQ(ports.verdict, Verdict::fail);
  EXPECT_EQ(ports.found, "0");
  EXPECT_NE(ports.note.find("no RDMA device"), std::string::npos);
  for (const char* id : {"rdma.port_rate", "rdma.gid", "net.mtu", "net.ecn", "net.pfc"}) {
    const auto& r = row(rows, id);
    EXPECT_EQ(r.verdict, Verdict::unknown) << id;
    EXPECT_NE(r.note.find("no RDMA device"), std::string::npos) << id;
  }
}

TEST(Preflight, EcnAbsentIsCannotReadAndOffFails) {
  SysfsFixture f("ecn");
  FixturePort a;
  a.ecn_files = false;
  f.add(a);
  FixturePort b;
  b.device = "mlx5_1";
  b.netdev = "eth1";
  b.ecn_on = false;
  f.add(b);
  const auto rows = run(f);
  const auto& absent = row(rows, "net.ecn", "mlx5_0:1");
  EXPECT_EQ(absent.verdict, Verdict::unknown);
  EXPECT_EQ(absent.found, "cannot read");
  EXPECT_NE(absent.note.find("cannot read ECN state from sysfs"), std::string::npos);
  const auto& off = row(rows, "net.ecn", "mlx5_1:1");
  EXPECT_EQ(off.verdict, Verdict::fail);
  EXPECT_EQ(off.found, "np=0 rp=0");
  EXPECT_EQ(off.expected, "on at priority 3");
}

TEST(Preflight, NcclSettingsAgainstTheHost) {
  SysfsFixture f("nccl");
  f.add_good_node();
  auto rows = run(f, {{"NCCL_IB_HCA", "mlx5_0:1,mlx5_7"}});
  auto hca = row(rows, "nccl.ib_hca");
  EXPECT_EQ(hca.verdict, Verdict::fail);
  EXPECT_NE(hca.note.find("mlx5_7 names no RDMA device or port here (devices: mlx5_0,mlx5_1)"),
            std::string::npos);

  rows = run(f, {{"NCCL_IB_HCA", "=mlx5_0:1,mlx5_1:1"}, {"NCCL_SOCKET_IFNAME", "eth"}});
  EXPECT_EQ(row(rows, "nccl.ib_hca").verdict, Verdict::pass);
  EXPECT_EQ(row(rows, "nccl.socket_ifname").verdict, Verdict::pass);  // a prefix of eth0

  rows = run(f, {{"NCCL_IB_HCA", "mlx5_0:2"}, {"NCCL_SOCKET_IFNAME", "=eth"}});
  EXPECT_EQ(row(rows, "nccl.ib_hca").verdict, Verdict::fail);  // no port 2
  EXPECT_EQ(row(rows, "nccl.socket_ifname").verdict, Verdict::fail);  // exact: no "eth"

  rows = run(f, {{"NCCL_IB_HCA", "^mlx5_7"}, {"NCCL_SOCKET_IFNAME", "^docker,lo"}});
  EXPECT_EQ(row(rows, "nccl.ib_hca").verdict, Verdict::pass);  // excluding nothing is harmless
  EXPECT_EQ(row(rows, "nccl.socket_ifname").verdict, Verdict::pass);
  EXPECT_NE(row(rows, "nccl.socket_ifname").note.find("docker matches no interface"), std::string::npos);

  rows = run(f, {{"NCCL_IB_GID_INDEX", "3"}});
  EXPECT_EQ(row(rows, "nccl.ib_gid_index").verdict, Verdict::pass);
  rows = run(f, {{"NCCL_IB_GID_INDEX", "2"}});
  auto gid = row(rows, "nccl.ib_gid_index");
  EXPECT_EQ(gid.verdict, Verdict::fail);
  EXPECT_NE(gid.note.find("mlx5_0:1: index 2 is IB/RoCE v1"), std::string::npos);
  rows = run(f, {{"NCCL_IB_GID_INDEX", "4"}});
  EXPECT_NE(row(rows, "nccl.ib_gid_index").note.find("index 4 is empty"), std::string::npos);
  rows = run(f, {{"NCCL_IB_GID_INDEX", "x"}});
  EXPECT_EQ(row(rows, "nccl.ib_gid_index").verdict, Verdict::fail);
  rows = run(f);
  EXPECT_NE(row(rows, "nccl.ib_gid_index").note.find("lowest RoCE v2 index here: mlx5_0:1 1"),
            std::string::npos);
}

TEST(PreflightProfile, MalformedProfileNamesFileAndKey) {
  nlohmann::json j = nlohmann::json::parse(R"({"expectations": {}})");
  try {
    node_profile_from_json(j, "p.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "p.json: key \"expectations.gpus_per_node\": missing (an object with \"value\" and \"source\")");
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
  std::ifstream in(std::filesystem::path(SXB_TEST_SOURCE_DIR) / "configs/cluster/h200_spectrumx.json");
  j = nlohmann::json::parse(in);
  j["expectations"]["mtu_bytes"]["value"] = "9000";
  EXPECT_THROW(
      {
        try {
          node_profile_from_json(j, "p.json");
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("p.json: key \"expectations.mtu_bytes.value\""),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  j = nlohmann::json::parse(std::ifstream(std::filesystem::path(SXB_TEST_SOURCE_DIR) /
                                          "configs/cluster/h200_spectrumx.json"));
  j["expectations"]["roce_priority"].erase("source");
  EXPECT_THROW(node_profile_from_json(j, "p.json"), Error);
}

TEST(PreflightProfile, ShippedProfileIsTheRequest) {
  const NodeProfile p = profile();
  EXPECT_EQ(p.gpus_per_node, 8);
  EXPECT_EQ(p.roce_ports_per_node, 2);
  EXPECT_EQ(p.port_rate_gbit_per_s, 400);
  EXPECT_EQ(p.mtu_bytes, 9000);
  EXPECT_EQ(p.link_layer, "Ethernet");
  EXPECT_EQ(p.gid_type, "RoCE v2");
  EXPECT_TRUE(p.pfc_enabled);
  EXPECT_TRUE(p.ecn_enabled);
  EXPECT_EQ(p.roce_priority, 3);
}

}  // namespace

namespace {

using namespace sxb;

// Several hosts (phase 0 of a run, or preflight under mpirun): the checks whose values differ
// between hosts are listed, a check run on one host only too, and the file keeps the first host's
// document at its top with every host under "hosts".
// Two hosts whose NICs run different firmware (fixture trees read as each host reads its own):
// the firmware rows pass on each host, and the difference names the device and both versions.
// The RoCE active MTU through libibverbs: the tests' stand-in serves a 4096 and a 1024 port
// (SXB_FAKE_IBVERBS); a library that does not load, a port it does not list and a query that
// fails are "not run" with the reason, never a pass.
TEST(Preflight, ActiveMtuThroughLibibverbs) {
  SysfsFixture f("active_mtu");
  f.add_good_node();
  const NodeProfile p = profile();
  const auto rows_with = [&](const std::string& library) {
    return preflight_checks(read_preflight_inputs(f.root(), p, "", {}, library), p);
  };
  ASSERT_EQ(setenv("SXB_FAKE_IBVERBS", "mlx5_0:1:4096,mlx5_1:1:1024", 1), 0);
  auto rows = rows_with(SXB_FAKE_IBVERBS);
  const auto& a = row(rows, "rdma.active_mtu", "mlx5_0:1");
  EXPECT_EQ(a.verdict, Verdict::pass) << a.note;
  EXPECT_EQ(a.found, "4096 bytes");
  EXPECT_EQ(a.expected, ">= 4096 bytes (interface MTU 9000)");
  EXPECT_EQ(a.source, p.file + ":mtu_bytes");
  const auto& b = row(rows, "rdma.active_mtu", "mlx5_1:1");
  EXPECT_EQ(b.verdict, Verdict::warn);
  EXPECT_EQ(b.found, "1024 bytes");
  EXPECT_NE(b.note.find("at most 1024 bytes, below the 4096"), std::string::npos) << b.note;

  ASSERT_EQ(setenv("SXB_FAKE_IBVERBS", "mlx5_0:1:err", 1), 0);
  rows = rows_with(SXB_FAKE_IBVERBS);
  EXPECT_EQ(row(rows, "rdma.active_mtu", "mlx5_0:1").verdict, Verdict::unknown);
  EXPECT_EQ(row(rows, "rdma.active_mtu", "mlx5_0:1").note.rfind("ibv_query_port(mlx5_0, 1) failed", 0),
            0u);
  EXPECT_EQ(row(rows, "rdma.active_mtu", "mlx5_1:1").note,
            std::string(SXB_FAKE_IBVERBS) + " lists no device mlx5_1");
  unsetenv("SXB_FAKE_IBVERBS");

  rows = rows_with("/nonexistent/libibverbs.so.1");
  for (const auto& r : rows) {
    if (r.id != "rdma.active_mtu") continue;
    EXPECT_EQ(r.verdict, Verdict::unknown);
    EXPECT_EQ(r.found, "not run");
    EXPECT_EQ(r.note.rfind("/nonexistent/libibverbs.so.1 could not be loaded (", 0), 0u) << r.note;
  }
  EXPECT_EQ(ibv_mtu_bytes(1), 256);
  EXPECT_EQ(ibv_mtu_bytes(5), 4096);
  EXPECT_FALSE(ibv_mtu_bytes(0));
  EXPECT_FALSE(ibv_mtu_bytes(6));
}

TEST(PreflightHosts, NicFirmwareThatDiffersBetweenHostsIsListed) {
  sxb::test::SysfsFixture fa("fw_a"), fb("fw_b");
  fa.add_good_node();
  sxb::test::FixturePort old_fw;
  fb.add(old_fw);
  old_fw.device = "mlx5_1";
  old_fw.netdev = "eth1";
  old_fw.fw_ver = "28.36.1010";
  fb.add(old_fw);
  const EnvConfig env;
  auto a = check_this_host(fa.root().string(), "", env);
  auto b = check_this_host(fb.root().string(), "", env);
  a["hostname"] = "node-a";
  b["hostname"] = "node-b";
  const nlohmann::json diffs = host_differences({a, b});
  nlohmann::json fw;
  for (const auto& d : diffs)
    if (d["check"] == "rdma.firmware") fw.push_back(d);
  ASSERT_EQ(fw.size(), 1u) << diffs.dump(1);
  EXPECT_EQ(fw[0]["subject"], "mlx5_1");
  EXPECT_EQ(fw[0]["values"][0], (nlohmann::json{{"host", "node-a"}, {"found", "28.39.1002"}}));
  EXPECT_EQ(fw[0]["values"][1], (nlohmann::json{{"host", "node-b"}, {"found", "28.36.1010"}}));
  // A device without fw_ver: no verdict, and the note names the file.
  sxb::test::SysfsFixture fc("fw_c");
  sxb::test::FixturePort none;
  none.fw_ver = "";
  fc.add(none);
  const auto c = check_this_host(fc.root().string(), "", env);
  bool seen = false;
  for (const auto& row : c["checks"]) {
    if (row["id"] != "rdma.firmware") continue;
    seen = true;
    EXPECT_EQ(row["verdict"], "unknown");
    EXPECT_EQ(row["found"], "cannot read");
    EXPECT_EQ(row["note"], "no /sys/class/infiniband/mlx5_0/fw_ver to read");
  }
  EXPECT_TRUE(seen);
}

TEST(PreflightHosts, DifferencesBetweenHostsAreListedAndEveryHostIsKept) {
  auto doc = [](const std::string& host, bool passed, nlohmann::json checks) {
    return nlohmann::json{{"schema", "sxbench.preflight/1"}, {"hostname", host},
                          {"passed", passed}, {"checks", std::move(checks)}};
  };
  auto check = [](const std::string& id, const std::string& subject, const std::string& found) {
    return nlohmann::json{{"id", id}, {"subject", subject}, {"found", found}};
  };
  const auto a = doc("a", true,
                     {check("gpu.driver", "node", "580.159.04"), check("net.mtu", "eth2", "9000"),
                      check("nccl.ib_hca", "NCCL_IB_HCA", "mlx5_0,mlx5_1")});
  const auto b = doc("b", false,
                     {check("gpu.driver", "node", "570.86.15"), check("net.mtu", "eth2", "9000"),
                      check("nccl.ib_hca", "NCCL_IB_HCA", "mlx5_0,mlx5_1"),
                      check("net.mtu", "eth3", "1500")});
  const nlohmann::json diffs = host_differences({a, b});
  ASSERT_EQ(diffs.size(), 2u) << diffs.dump(1);
  EXPECT_EQ(diffs[0]["check"], "gpu.driver");
  EXPECT_EQ(diffs[0]["values"][0], (nlohmann::json{{"host", "a"}, {"found", "580.159.04"}}));
  EXPECT_EQ(diffs[0]["values"][1], (nlohmann::json{{"host", "b"}, {"found", "570.86.15"}}));
  EXPECT_EQ(diffs[1]["subject"], "eth3");
  EXPECT_EQ(diffs[1]["values"][0]["found"], "(not checked)");
  EXPECT_TRUE(host_differences({a}).empty());

  const nlohmann::json one = preflight_file({a});
  EXPECT_FALSE(one.contains("hosts"));
  EXPECT_EQ(one["hostname"], "a");
  const nlohmann::json both = preflight_file({a, b});
  EXPECT_EQ(both["hostname"], "a");
  EXPECT_EQ(both["hosts"].size(), 2u);
  EXPECT_FALSE(both["all_passed"].get<bool>());
  EXPECT_EQ(both["differences"], diffs);
  EXPECT_THROW(preflight_file({}), Error);
}

}  // namespace
