#include "platform/dcb_netlink.hpp"

#include <fmt/format.h>
#include <linux/dcbnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace sxb {

namespace {

// Appends `n` bytes at `p`, then zeros up to the next 4-byte boundary (netlink's alignment).
void put(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
  out.resize(NLMSG_ALIGN(out.size()), 0);
}

void put_attr(std::vector<uint8_t>& out, uint16_t type, const void* p, size_t n) {
  nlattr a{};
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + n);
  a.nla_type = type;
  put(out, &a, sizeof a);
  put(out, p, n);
}

void set_length(std::vector<uint8_t>& msg) {
  const auto len = static_cast<uint32_t>(msg.size());
  std::memcpy(msg.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
}

std::vector<uint8_t> header(uint16_t type, uint16_t flags, uint32_t seq) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  std::vector<uint8_t> out;
  put(out, &h, sizeof h);
  return out;
}

// Calls f(type, payload, payload size) for each attribute of [p, p + n); false when an
// attribute's length runs past the end or is shorter than its own header.
template <class F>
bool for_each_attr(const uint8_t* p, size_t n, F f) {
  size_t off = 0;
  while (n - off >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, p + off, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > n - off) return false;
    f(static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK), p + off + NLA_HDRLEN,
      size_t(a.nla_len) - NLA_HDRLEN);
    off += NLA_ALIGN(a.nla_len);
    if (off >= n) break;
  }
  return true;  // fewer than an attribute header's bytes left: padding
}

std::string error_text(int error, const std::string& ifname) {
  const char* text = std::strerror(error);
  if (error == EOPNOTSUPP) {
    return fmt::format("the driver of {} has no DCB (RTM_GETDCB: {})", ifname, text);
  }
  if (error == ENODEV) return fmt::format("no interface {} here (RTM_GETDCB: {})", ifname, text);
  return fmt::format("RTM_GETDCB for {} failed: {}", ifname, text);
}

// One DCB message's payload (dcbmsg, then attributes).
DcbPfc parse_dcb_message(const uint8_t* p, size_t n, DcbPfc out) {
  if (n < sizeof(dcbmsg)) {
    out.why = fmt::format("DCB reply for {} of {} bytes, shorter than its dcbmsg header",
                          out.ifname, n);
    return out;
  }
  dcbmsg d;
  std::memcpy(&d, p, sizeof d);
  if (d.cmd != DCB_CMD_IEEE_GET) {
    out.why = fmt::format("DCB reply for {} answers command {}, not DCB_CMD_IEEE_GET", out.ifname,
                          int(d.cmd));
    return out;
  }
  const size_t start = NLMSG_ALIGN(sizeof(dcbmsg));
  bool ieee = false, pfc_seen = false, nested_ok = true;
  size_t pfc_size = 0;
  ieee_pfc pfc{};
  const bool ok = for_each_attr(p + start, n > start ? n - start : 0,
                                [&](uint16_t type, const uint8_t* v, size_t len) {
    if (type != DCB_ATTR_IEEE) return;
    ieee = true;
    nested_ok = nested_ok && for_each_attr(v, len, [&](uint16_t t, const uint8_t* w, size_t l) {
      if (t != DCB_ATTR_IEEE_PFC) return;
      pfc_seen = true;
      pfc_size = l;
      if (l >= sizeof pfc) std::memcpy(&pfc, w, sizeof pfc);
    });
  });
  if (!ok || !nested_ok) {
    out.why = fmt::format("DCB reply for {}: an attribute's length runs past its end (truncated "
                          "or malformed reply)", out.ifname);
  } else if (!ieee) {
    out.why = fmt::format("the DCB reply for {} holds no IEEE 802.1Qaz state (no DCB_ATTR_IEEE)",
                          out.ifname);
  } else if (!pfc_seen) {
    out.why = fmt::format("the driver of {} reports no IEEE PFC state (no DCB_ATTR_IEEE_PFC in "
                          "its DCB reply)", out.ifname);
  } else if (pfc_size < sizeof pfc) {
    out.why = fmt::format("DCB_ATTR_IEEE_PFC for {} holds {} bytes, less than struct ieee_pfc's {}",
                          out.ifname, pfc_size, sizeof pfc);
  } else {
    out.pfc_enabled_mask = pfc.pfc_en;
    out.pfc_cap = pfc.pfc_cap;
  }
  return out;
}

}  // namespace

std::vector<uint8_t> dcb_ieee_get_request(const std::string& ifname, uint32_t seq) {
  std::vector<uint8_t> msg = header(RTM_GETDCB, NLM_F_REQUEST, seq);
  dcbmsg d{};
  d.dcb_family = AF_UNSPEC;
  d.cmd = DCB_CMD_IEEE_GET;
  put(msg, &d, sizeof d);
  put_attr(msg, DCB_ATTR_IFNAME, ifname.c_str(), ifname.size() + 1);
  set_length(msg);
  return msg;
}

std::vector<uint8_t> dcb_ieee_reply_bytes(const std::string& ifname, std::optional<uint8_t> pfc_en,
                                          uint8_t pfc_cap, uint32_t seq) {
  std::vector<uint8_t> msg = header(RTM_GETDCB, 0, seq);
  dcbmsg d{};
  d.dcb_family = AF_UNSPEC;
  d.cmd = DCB_CMD_IEEE_GET;
  put(msg, &d, sizeof d);
  put_attr(msg, DCB_ATTR_IFNAME, ifname.c_str(), ifname.size() + 1);
  std::vector<uint8_t> nest;
  ieee_ets ets{};
  put_attr(nest, DCB_ATTR_IEEE_ETS, &ets, sizeof ets);
  if (pfc_en) {
    ieee_pfc pfc{};
    pfc.pfc_cap = pfc_cap;
    pfc.pfc_en = *pfc_en;
    put_attr(nest, DCB_ATTR_IEEE_PFC, &pfc, sizeof pfc);
  }
  put_attr(msg, static_cast<uint16_t>(DCB_ATTR_IEEE | NLA_F_NESTED), nest.data(), nest.size());
  set_length(msg);
  return msg;
}

std::vector<uint8_t> netlink_error_bytes(int error, uint32_t seq) {
  std::vector<uint8_t> msg = header(NLMSG_ERROR, 0, seq);
  nlmsgerr e{};
  e.error = -error;
  e.msg.nlmsg_type = RTM_GETDCB;
  e.msg.nlmsg_seq = seq;
  put(msg, &e, sizeof e);
  set_length(msg);
  return msg;
}

DcbPfc parse_dcb_ieee_reply(const uint8_t* data, size_t size, const std::string& ifname) {
  DcbPfc out;
  out.ifname = ifname;
  if (data == nullptr || size == 0) {
    out.why = fmt::format("empty DCB netlink reply for {}", ifname);
    return out;
  }
  size_t off = 0;
  while (off < size && size - off >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, data + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - off) {
      out.why = fmt::format("DCB netlink reply for {}: a message of {} bytes where {} remain "
                            "(truncated or malformed reply)", ifname, h.nlmsg_len, size - off);
      return out;
    }
    const uint8_t* payload = data + off + NLMSG_HDRLEN;
    const size_t n = h.nlmsg_len - NLMSG_HDRLEN;
    if (h.nlmsg_type == NLMSG_ERROR) {
      int error = 0;
      if (n < sizeof error) {
        out.why = fmt::format("DCB netlink reply for {}: an NLMSG_ERROR of {} bytes (truncated)",
                              ifname, h.nlmsg_len);
        return out;
      }
      std::memcpy(&error, payload, sizeof error);
      if (error != 0) {
        out.why = error_text(error < 0 ? -error : error, ifname);
        return out;
      }
      // 0: an acknowledgement; the answer is another message.
    } else if (h.nlmsg_type == RTM_GETDCB) {
      return parse_dcb_message(payload, n, std::move(out));
    }
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  out.why = fmt::format("the netlink reply for {} holds no DCB message", ifname);
  return out;
}

DcbPfc read_dcb_pfc(const std::string& ifname, int timeout_ms) {
  DcbPfc out;
  out.ifname = ifname;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    out.why = fmt::format("'{}' is not an interface name the kernel accepts", ifname);
    return out;
  }
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    out.why = fmt::format("cannot open a NETLINK_ROUTE socket for DCB: {}", std::strerror(errno));
    return out;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const auto fail = [&](std::string why) {
    out.why = std::move(why);
    return out;
  };
  if (timeout_ms < 1) timeout_ms = 1;
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return fail(fmt::format("cannot set a timeout on the netlink socket: {}", std::strerror(errno)));
  }
  static uint32_t counter = 0;
  const uint32_t seq = static_cast<uint32_t>(::time(nullptr)) + ++counter;
  const std::vector<uint8_t> request = dcb_ieee_get_request(ifname, seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  ssize_t sent = -1;
  do {
    sent = ::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(request.size())) {
    return fail(fmt::format("cannot send RTM_GETDCB for {}: {}", ifname,
                            sent < 0 ? std::strerror(errno) : "short write"));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    const bool late = std::chrono::steady_clock::now() >= deadline;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || (errno == EINTR && late)) {
        return fail(fmt::format("no DCB netlink answer for {} within {} ms", ifname, timeout_ms));
      }
      if (errno == EINTR) continue;
      return fail(fmt::format("reading the DCB netlink answer for {}: {}", ifname,
                              std::strerror(errno)));
    }
    if (static_cast<size_t>(n) > buf.size()) {
      return fail(fmt::format("the DCB netlink answer for {} ({} bytes) is larger than the {}-byte "
                              "buffer (truncated)", ifname, n, buf.size()));
    }
    // Only the kernel's answer to this request counts.
    bool ours = from.nl_pid == 0 && static_cast<size_t>(n) >= sizeof(nlmsghdr);
    if (ours) {
      nlmsghdr h;
      std::memcpy(&h, buf.data(), sizeof h);
      ours = h.nlmsg_seq == seq;
    }
    if (ours) return parse_dcb_ieee_reply(buf.data(), static_cast<size_t>(n), ifname);
    if (late) {
      return fail(fmt::format("no DCB netlink answer for {} within {} ms", ifname, timeout_ms));
    }
  }
}

std::string pfc_priority_list(uint8_t mask) {
  std::string out;
  for (int p = 0; p < 8; ++p) {
    if ((mask & (1u << p)) == 0) continue;
    if (!out.empty()) out.push_back(',');
    out.push_back(static_cast<char>('0' + p));
  }
  return out;
}

std::string pfc_mask_text(uint8_t mask) {
  const std::string prios = pfc_priority_list(mask);
  return prios.empty() ? fmt::format("0x{:02x} (no priority)", mask)
                       : fmt::format("0x{:02x} (priorities {})", mask, prios);
}

DcbScript::DcbScript(const std::string& knob, const std::string& text) : knob_(knob) {
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string entry =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (entry.empty()) continue;
    const size_t colon = entry.rfind(':');
    const std::string name = colon == std::string::npos ? "" : entry.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : entry.substr(colon + 1);
    bool ok = !name.empty() && (value == "none" || value == "err");
    if (!ok && !value.empty()) {
      char* end = nullptr;
      errno = 0;
      const unsigned long m = std::strtoul(value.c_str(), &end, 0);
      ok = errno == 0 && end != nullptr && *end == '\0' && m <= 0xff && !name.empty();
    }
    if (!ok) {
      error_ = fmt::format("{}: bad entry '{}' (expected IF:MASK, IF:none or IF:err)", knob_, entry);
      return;
    }
    answers_[name] = value;
  }
}

DcbPfc DcbScript::read(const std::string& ifname) const {
  DcbPfc out;
  out.ifname = ifname;
  if (!error_.empty()) {
    out.why = error_;
    return out;
  }
  const auto it = answers_.find(ifname);
  if (it == answers_.end()) {
    out.why = fmt::format("{} names no interface {}", knob_, ifname);
    return out;
  }
  std::vector<uint8_t> reply;
  if (it->second == "err") {
    reply = netlink_error_bytes(EOPNOTSUPP);
  } else if (it->second == "none") {
    reply = dcb_ieee_reply_bytes(ifname, std::nullopt);
  } else {
    reply = dcb_ieee_reply_bytes(ifname, static_cast<uint8_t>(std::strtoul(it->second.c_str(), nullptr, 0)));
  }
  return parse_dcb_ieee_reply(reply.data(), reply.size(), ifname);
}

}  // namespace sxb
