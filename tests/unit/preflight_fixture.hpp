#pragma once
// Fixture trees for `sxbench preflight`: the sysfs files of a host with RDMA ports and GPUs on a
// PCIe tree, and the kernel files GPUDirect RDMA is read from, written under a temporary root
// (files and the device/net/bus symbolic links as Linux lays them out).
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace sxb::test {

struct FixturePort {
  std::string device = "mlx5_0";
  std::string netdev = "eth0";
  std::string link_layer = "Ethernet";
  std::string state = "4: ACTIVE";
  std::string rate = "400 Gb/sec (4X NDR)";
  int mtu = 9000;
  bool roce_v2_gid = true;  // GID 0, 1 are v1/v2 of the link-local address; 2, 3 of an IPv4 one
  bool ecn_files = true;
  bool ecn_on = true;
  // The PCI function under sys/devices ("pci0000:00/0000:00:01.0/0000:0c:00.0"); empty: a
  // function of its own directly under pci0000:00.
  std::string pci_path;
  int numa = 0;  // numa_node of the function; -2 writes no numa_node file
  std::string fw_ver = "28.39.1002";  // <dev>/fw_ver; empty writes none
};

class SysfsFixture {
 public:
  explicit SysfsFixture(const std::string& name)
      : root_(std::filesystem::temp_directory_path() /
              ("sxb_preflight_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "sys/class/net/lo");
    write("sys/class/net/lo/mtu", "65536");
    write("sys/class/net/lo/operstate", "unknown");
  }
  ~SysfsFixture() { std::filesystem::remove_all(root_); }
  const std::filesystem::path& root() const { return root_; }

  void write(const std::string& rel, const std::string& text) {
    const auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
  }

  void add(const FixturePort& f) {
    ++pci_;
    const std::string pci = "sys/devices/" + (f.pci_path.empty() ? "pci0000:00/0000:00:0" + std::to_string(pci_) + ".0"
                                                                 : f.pci_path);
    if (f.numa != -2) write(pci + "/numa_node", std::to_string(f.numa));
    const std::string net = pci + "/net/" + f.netdev;
    write(net + "/mtu", std::to_string(f.mtu));
    write(net + "/operstate", "up");
    write(net + "/dev_port", "0");
    if (f.ecn_files) {
      for (const char* point : {"roce_np", "roce_rp"})
        for (int prio = 0; prio < 8; ++prio)
          write(net + "/ecn/" + point + "/enable/" + std::to_string(prio), f.ecn_on ? "1" : "0");
    }
    link("sys/class/net/" + f.netdev, net);
    const std::string ib = pci + "/infiniband/" + f.device;
    const std::string port = ib + "/ports/1";
    write(port + "/state", f.state);
    write(port + "/phys_state", "5: LinkUp");
    write(port + "/link_layer", f.link_layer);
    write(port + "/rate", f.rate);
    const std::string zero = "0000:0000:0000:0000:0000:0000:0000:0000";
    const std::string ll = "fe80:0000:0000:0000:0e42:a1ff:fe00:000" + std::to_string(pci_);
    const std::string v4 = "0000:0000:0000:0000:0000:ffff:0a00:000" + std::to_string(pci_);
    const bool eth = f.link_layer == "Ethernet";
    write(port + "/gids/0", ll);
    write(port + "/gid_attrs/types/0", "IB/RoCE v1");
    write(port + "/gids/1", eth ? ll : zero);
    if (eth) write(port + "/gid_attrs/types/1", f.roce_v2_gid ? "RoCE v2" : "IB/RoCE v1");
    write(port + "/gids/2", eth ? v4 : zero);
    if (eth) write(port + "/gid_attrs/types/2", "IB/RoCE v1");
    write(port + "/gids/3", eth && f.roce_v2_gid ? v4 : zero);
    if (eth && f.roce_v2_gid) write(port + "/gid_attrs/types/3", "RoCE v2");
    write(port + "/gids/4", zero);
    if (!f.fw_ver.empty()) write(ib + "/fw_ver", f.fw_ver);
    link("sys/class/infiniband/" + f.device, ib);
    // <dev>/device -> the PCI function, whose net/ holds the interface.
    link(ib + "/device", pci);
  }

  // Two 400G RoCE ports with MTU 9000, RoCE v2 GIDs and ECN on: every check passes.
  void add_good_node() {
    add(FixturePort{});
    FixturePort b;
    b.device = "mlx5_1";
    b.netdev = "eth1";
    add(b);
  }

  // A GPU's PCI function at sys/devices/<path> (ending in its bus id) and the
  // /sys/bus/pci/devices/<bdf> link to it.
  void add_gpu(const std::string& path, int numa) {
    const std::string dir = "sys/devices/" + path;
    write(dir + "/numa_node", std::to_string(numa));
    write(dir + "/vendor", "0x10de");
    const std::string bdf = path.substr(path.rfind('/') + 1);
    link("sys/bus/pci/devices/" + bdf, dir);
  }

  // An H200 node as the tests' NVML script describes it (bus ids 1b, 43, 52, 61 on NUMA node 0;
  // 9d, c3, d1, df on 1): mlx5_0 behind the PCIe switch of GPU0 and mlx5_1 behind that of GPU4,
  // both RoCE ports as add_good_node's. nics_on_one_node puts mlx5_1 on NUMA node 0 too.
  void add_h200_node(bool nics_on_one_node = false) {
    FixturePort a;
    a.pci_path = "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:0c:00.0";
    a.numa = 0;
    add(a);
    FixturePort b;
    b.device = "mlx5_1";
    b.netdev = "eth1";
    b.pci_path = nics_on_one_node ? "pci0000:00/0000:00:05.0/0000:0d:00.0"
                                  : "pci0000:80/0000:80:01.0/0000:81:00.0/0000:82:01.0/0000:8c:00.0";
    b.numa = nics_on_one_node ? 0 : 1;
    add(b);
    add_gpu("pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:1b:00.0", 0);
    add_gpu("pci0000:00/0000:00:03.0/0000:43:00.0", 0);
    add_gpu("pci0000:20/0000:20:01.0/0000:52:00.0", 0);
    add_gpu("pci0000:20/0000:20:02.0/0000:61:00.0", 0);
    add_gpu("pci0000:80/0000:80:01.0/0000:81:00.0/0000:82:00.0/0000:9d:00.0", 1);
    add_gpu("pci0000:80/0000:80:03.0/0000:c3:00.0", 1);
    add_gpu("pci0000:a0/0000:a0:01.0/0000:d1:00.0", 1);
    add_gpu("pci0000:a0/0000:a0:02.0/0000:df:00.0", 1);
  }

  // GPUDirect RDMA's kernel files.
  void add_module(const std::string& name) {
    std::filesystem::create_directories(root_ / "sys/module" / name);
  }
  void set_nvidia_driver(bool open_module, const std::string& kernel_release) {
    write("proc/driver/nvidia/version",
          std::string("NVRM version: NVIDIA UNIX ") + (open_module ? "Open Kernel Module for x86_64" : "x86_64 Kernel Module") +
              "  570.86.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Jan 23 2025\nGCC version:  gcc version 12.2.0");
    write("proc/sys/kernel/osrelease", kernel_release);
  }

 private:
  void link(const std::string& rel_link, const std::string& rel_target) {
    const auto l = root_ / rel_link;
    std::filesystem::create_directories(l.parent_path());
    // Relative, as sysfs's own links are, so a copied tree stays whole.
    std::filesystem::create_directory_symlink(
        std::filesystem::relative(root_ / rel_target, l.parent_path()), l);
  }
  std::filesystem::path root_;
  int pci_ = 0;
};

}  // namespace sxb::test
