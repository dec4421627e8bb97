#include <gtest/gtest.h>

#include "platform/system_info.hpp"

namespace sxb {
namespace {

TEST(SystemInfo, ParsesSysfsAndProcTexts) {
  EXPECT_DOUBLE_EQ(parse_ib_rate_gbit("400 Gb/sec (4X NDR)\n"), 400.0);
  EXPECT_DOUBLE_EQ(parse_ib_rate_gbit("25 Gb/sec (1X EDR)"), 25.0);
  EXPECT_DOUBLE_EQ(parse_ib_rate_gbit("2.5 Gb/sec (1X SDR)"), 2.5);
  EXPECT_DOUBLE_EQ(parse_ib_rate_gbit(""), 0.0);
  EXPECT_EQ(parse_nvidia_driver_version(
                "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release "
                "Build  (dvs-builder@U16-I3-C05-4-1)  Mon Sep 29 2025\nGCC version:  gcc 12\n"),
            "580.159.04");
  EXPECT_EQ(parse_nvidia_driver_version(
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 2023\n"),
            "535.104.05");
  EXPECT_EQ(parse_nvidia_driver_version(""), "");
  EXPECT_EQ(parse_os_release_pretty_name("NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n"),
            "Ubuntu 24.04.1 LTS");
}

TEST(SystemInfo, CollectsThisHost) {
  const HostInfo h = collect_host_info();
  EXPECT_FALSE(h.hostname.empty());
  EXPECT_GT(h.cpu_count, 0);
  EXPECT_GT(h.memory_bytes, 0u);
  const nlohmann::json j = h;
  EXPECT_TRUE(j.contains("gpus"));
  EXPECT_TRUE(j.contains("nics"));
}

}  // namespace
}  // namespace sxb
