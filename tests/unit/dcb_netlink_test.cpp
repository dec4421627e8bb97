// PFC through DCB netlink: the RTM_GETDCB request's bytes, and the reply parser fed byte buffers
// built here field by field (PFC on at priority 3, PFC off, IEEE state without PFC, an
// NLMSG_ERROR, truncated and garbage lengths, which must never be read past); the SXB_FAKE_DCB
// stand-in; and one real query on this host, which must return whatever the host has.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "platform/dcb_netlink.hpp"

namespace {

using namespace sxb;

// Values of the uapi headers (linux/netlink.h, rtnetlink.h, dcbnl.h), written out so that the
// buffers below do not come from the code under test.
constexpr uint16_t kNlmsgError = 2;
constexpr uint16_t kRtmGetDcb = 78;
constexpr uint8_t kDcbCmdIeeeGet = 21;
constexpr uint16_t kAttrIfname = 1;
constexpr uint16_t kAttrIeee = 13;
constexpr uint16_t kAttrIeeeEts = 1;
constexpr uint16_t kAttrIeeePfc = 2;
constexpr uint16_t kNested = 0x8000;
constexpr size_t kIeeePfcSize = 136;  // 3 bytes, pad, __u16 delay, 2 x 8 __u64

struct Bytes {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) { for (int i = 0; i < 2; ++i) b.push_back(uint8_t(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); }
  void pad() { while (b.size() % 4) b.push_back(0); }
  void set_u16(size_t at, uint16_t v) { b[at] = uint8_t(v); b[at + 1] = uint8_t(v >> 8); }
  void set_u32(size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (8 * i)); }
  // Starts an attribute; end_attr writes its length.
  size_t attr(uint16_t type) { const size_t at = b.size(); u16(0); u16(type); return at; }
  void end_attr(size_t at) { set_u16(at, uint16_t(b.size() - at)); pad(); }
};

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// A DCB_CMD_IEEE_GET reply for eth0 as the kernel builds it (dcbnl_ieee_fill): the interface
// name, then DCB_ATTR_IEEE nesting ETS and, when with_pfc, PFC.
std::vector<uint8_t> ieee_reply(bool with_ieee, bool with_pfc, uint8_t pfc_en, uint8_t pfc_cap = 8,
                                size_t pfc_size = kIeeePfcSize) {
  Bytes m;
  m.u32(0);  // nlmsg_len, below
  m.u16(kRtmGetDcb);
  m.u16(0);
  m.u32(1);  // seq
  m.u32(0);  // pid
  m.u8(0);   // dcb_family AF_UNSPEC
  m.u8(kDcbCmdIeeeGet);
  m.u16(0);
  size_t a = m.attr(kAttrIfname);
  for (char c : std::string("eth0")) m.u8(uint8_t(c));
  m.u8(0);
  m.end_attr(a);
  if (with_ieee) {
    const size_t ieee = m.attr(kAttrIeee | kNested);
    const size_t ets = m.attr(kAttrIeeeEts);
    for (int i = 0; i < 59; ++i) m.u8(0xee);  // struct ieee_ets
    m.end_attr(ets);
    if (with_pfc) {
      const size_t pfc = m.attr(kAttrIeeePfc);
      std::vector<uint8_t> s(pfc_size, 0);
      if (pfc_size > 1) {
        s[0] = pfc_cap;
        s[1] = pfc_en;
      }
      m.b.insert(m.b.end(), s.begin(), s.end());
      m.end_attr(pfc);
    }
    m.end_attr(ieee);
  }
  m.set_u32(0, uint32_t(m.b.size()));
  return m.b;
}

std::vector<uint8_t> error_reply(int error) {
  Bytes m;
  m.u32(36);  // header, error, the request's header
  m.u16(kNlmsgError);
  m.u16(0);
  m.u32(1);
  m.u32(0);
  m.u32(uint32_t(-error));
  for (int i = 0; i < 16; ++i) m.u8(0);
  return m.b;
}

DcbPfc parse(const std::vector<uint8_t>& bytes) {
  // An exactly sized copy, so that a read past the end is one past the allocation.
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  return parse_dcb_ieee_reply(copy.empty() ? nullptr : copy.data(), copy.size(), "eth0");
}

TEST(DcbNetlink, RequestAsksForIeeeStateByName) {
  ASSERT_TRUE(little_endian());
  const auto r = dcb_ieee_get_request("eth0", 7);
  ASSERT_EQ(r.size(), 32u);  // 16 header, 4 dcbmsg, 4 + 5 attribute padded to 12
  uint32_t len = 0, seq = 0;
  uint16_t type = 0, flags = 0;
  std::memcpy(&len, &r[0], 4);
  std::memcpy(&type, &r[4], 2);
  std::memcpy(&flags, &r[6], 2);
  std::memcpy(&seq, &r[8], 4);
  EXPECT_EQ(len, 32u);
  EXPECT_EQ(type, kRtmGetDcb);
  EXPECT_EQ(flags, 1);  // NLM_F_REQUEST, no dump
  EXPECT_EQ(seq, 7u);
  EXPECT_EQ(r[16], 0);  // AF_UNSPEC
  EXPECT_EQ(r[17], kDcbCmdIeeeGet);
  uint16_t alen = 0, atype = 0;
  std::memcpy(&alen, &r[20], 2);
  std::memcpy(&atype, &r[22], 2);
  EXPECT_EQ(alen, 9);
  EXPECT_EQ(atype, kAttrIfname);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&r[24])), "eth0");
}

TEST(DcbNetlink, PfcOnAtPriorityThree) {
  const DcbPfc d = parse(ieee_reply(true, true, 0x08));
  ASSERT_TRUE(d.pfc_enabled_mask) << d.why;
  EXPECT_EQ(*d.pfc_enabled_mask, 0x08);
  EXPECT_EQ(d.pfc_cap, 8);
  EXPECT_EQ(d.ifname, "eth0");
  EXPECT_EQ(d.why, "");
}

TEST(DcbNetlink, PfcOff) {
  const DcbPfc d = parse(ieee_reply(true, true, 0x00, 4));
  ASSERT_TRUE(d.pfc_enabled_mask) << d.why;
  EXPECT_EQ(*d.pfc_enabled_mask, 0);
  EXPECT_EQ(d.pfc_cap, 4);
}

TEST(DcbNetlink, IeeeStateWithoutPfcOrWithoutIeee) {
  DcbPfc d = parse(ieee_reply(true, false, 0));
  EXPECT_FALSE(d.pfc_enabled_mask);
  EXPECT_EQ(d.why, "the driver of eth0 reports no IEEE PFC state (no DCB_ATTR_IEEE_PFC in its DCB reply)");
  d = parse(ieee_reply(false, false, 0));
  EXPECT_FALSE(d.pfc_enabled_mask);
  EXPECT_EQ(d.why, "the DCB reply for eth0 holds no IEEE 802.1Qaz state (no DCB_ATTR_IEEE)");
  d = parse(ieee_reply(true, true, 0x08, 8, 10));  // shorter than struct ieee_pfc
  EXPECT_FALSE(d.pfc_enabled_mask);
  EXPECT_NE(d.why.find("DCB_ATTR_IEEE_PFC for eth0 holds 10 bytes"), std::string::npos) << d.why;
}

TEST(DcbNetlink, ErrorsNameTheInterfaceAndTheReason) {
  DcbPfc d = parse(error_reply(EOPNOTSUPP));
  EXPECT_FALSE(d.pfc_enabled_mask);
  EXPECT_EQ(d.why.rfind("the driver of eth0 has no DCB (RTM_GETDCB: ", 0), 0u) << d.why;
  d = parse(error_reply(ENODEV));
  EXPECT_EQ(d.why.rfind("no interface eth0 here (RTM_GETDCB: ", 0), 0u) << d.why;
  d = parse(error_reply(EPERM));
  EXPECT_EQ(d.why.rfind("RTM_GETDCB for eth0 failed: ", 0), 0u) << d.why;
  // An acknowledgement (error 0) before the answer is passed over.
  std::vector<uint8_t> both = error_reply(0);
  const auto reply = ieee_reply(true, true, 0x18);
  both.insert(both.end(), reply.begin(), reply.end());
  d = parse(both);
  ASSERT_TRUE(d.pfc_enabled_mask) << d.why;
  EXPECT_EQ(*d.pfc_enabled_mask, 0x18);
}

TEST(DcbNetlink, TruncatedAndGarbageLengthsAreNeverReadPast) {
  const auto good = ieee_reply(true, true, 0x08);
  // Every prefix: the message's own length then runs past the end.
  for (size_t n = 0; n < good.size(); ++n) {
    const DcbPfc d = parse(std::vector<uint8_t>(good.begin(), good.begin() + n));
    EXPECT_FALSE(d.pfc_enabled_mask) << n;
    EXPECT_FALSE(d.why.empty()) << n;
  }
  EXPECT_EQ(parse({}).why, "empty DCB netlink reply for eth0");
  // A message length larger than the buffer, and smaller than a header.
  auto bad = good;
  bad[0] = 0xff;
  bad[1] = 0xff;
  EXPECT_NE(parse(bad).why.find("truncated or malformed"), std::string::npos) << parse(bad).why;
  bad = good;
  bad[0] = 4;
  bad[1] = bad[2] = bad[3] = 0;
  EXPECT_NE(parse(bad).why.find("truncated or malformed"), std::string::npos);
  // The IEEE attribute (at 32: header 16, dcbmsg 4, name 12) claims more than the message holds,
  // or less than its own header.
  ASSERT_EQ(good[34], kAttrIeee & 0xff);
  for (uint16_t len : {uint16_t(0xfff0), uint16_t(2), uint16_t(0)}) {
    bad = good;
    bad[32] = uint8_t(len);
    bad[33] = uint8_t(len >> 8);
    const DcbPfc d = parse(bad);
    EXPECT_FALSE(d.pfc_enabled_mask) << len;
    EXPECT_NE(d.why.find("runs past its end"), std::string::npos) << d.why;
  }
  // Every byte of the reply set to every value: whatever the answer, it is an answer.
  for (size_t i = 0; i < good.size(); ++i) {
    for (int v : {0x00, 0x01, 0x03, 0x7f, 0x80, 0xff}) {
      bad = good;
      bad[i] = uint8_t(v);
      const DcbPfc d = parse(bad);
      EXPECT_TRUE(d.pfc_enabled_mask || !d.why.empty()) << i << " " << v;
    }
  }
  // Pseudo-random bytes of every length up to 300.
  uint32_t x = 12345;
  for (size_t n = 0; n < 300; ++n) {
    std::vector<uint8_t> junk(n);
    for (auto& c : junk) {
      x = x * 1664525u + 1013904223u;
      c = uint8_t(x >> 24);
    }
    if (n >= 16) {  // mostly plausible headers, so that parsing goes deeper
      const uint32_t len = uint32_t(n - (x % 8));
      std::memcpy(junk.data(), &len, 4);
      junk[4] = uint8_t(kRtmGetDcb);
      junk[5] = 0;
    }
    if (n >= 18) junk[17] = kDcbCmdIeeeGet;
    const DcbPfc d = parse(junk);
    EXPECT_TRUE(d.pfc_enabled_mask || !d.why.empty()) << n;
  }
}

TEST(DcbNetlink, StandInBuildsTheKernelsReplies) {
  const DcbScript s("SXB_FAKE_DCB", "eth0:0x08,eth1:none,eth2:err,eth3:24");
  DcbPfc d = s.read("eth0");
  ASSERT_TRUE(d.pfc_enabled_mask) << d.why;
  EXPECT_EQ(*d.pfc_enabled_mask, 0x08);
  EXPECT_EQ(s.read("eth3").pfc_enabled_mask, uint8_t(24));
  EXPECT_EQ(s.read("eth1").why,
            "the driver of eth1 reports no IEEE PFC state (no DCB_ATTR_IEEE_PFC in its DCB reply)");
  EXPECT_EQ(s.read("eth2").why.rfind("the driver of eth2 has no DCB (RTM_GETDCB: ", 0), 0u);
  EXPECT_EQ(s.read("eth9").why, "SXB_FAKE_DCB names no interface eth9");
  for (const char* bad : {"eth0", "eth0:0x100", "eth0:on", ":0x08"}) {
    const DcbScript b("SXB_FAKE_DCB", bad);
    EXPECT_EQ(b.read("eth0").why.rfind("SXB_FAKE_DCB: bad entry '", 0), 0u) << bad;
  }
  // The builder's replies read as the hand-built ones.
  const auto built = dcb_ieee_reply_bytes("eth0", uint8_t(0x08));
  EXPECT_EQ(parse(built).pfc_enabled_mask, uint8_t(0x08));
  const auto err = netlink_error_bytes(ENODEV);
  EXPECT_EQ(parse(err).why, parse(error_reply(ENODEV)).why);
}

TEST(DcbNetlink, MaskText) {
  EXPECT_EQ(pfc_mask_text(0x08), "0x08 (priorities 3)");
  EXPECT_EQ(pfc_mask_text(0x18), "0x18 (priorities 3,4)");
  EXPECT_EQ(pfc_mask_text(0x00), "0x00 (no priority)");
  EXPECT_EQ(pfc_mask_text(0xff), "0xff (priorities 0,1,2,3,4,5,6,7)");
}

// The kernel's answer on this host: lo has no DCB on any driver, a made-up name is no interface,
// though a sandbox may refuse netlink altogether. The query returns, with a value or a reason.
TEST(DcbNetlink, RealQueryOnThisHostReturns) {
  for (const char* name : {"lo", "sxbnoif0"}) {
    const DcbPfc d = read_dcb_pfc(name, 2000);
    EXPECT_EQ(d.ifname, name);
    EXPECT_TRUE(d.pfc_enabled_mask || !d.why.empty()) << name;
    if (!d.pfc_enabled_mask) std::printf("%s: %s\n", name, d.why.c_str());
  }
  EXPECT_NE(read_dcb_pfc("an-interface-name-too-long").why.find("not an interface name"),
            std::string::npos);
}

}  // namespace
