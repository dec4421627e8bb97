#pragma once
// An interface's priority flow control (PFC) as the kernel's DCB netlink interface gives it: what
// `dcb pfc show dev IF` (iproute2) and mlnx_qos read. mlx5/ConnectX drivers show PFC nowhere
// else. One RTM_GETDCB request (DCB_CMD_IEEE_GET) on a NETLINK_ROUTE socket, the reply's
// DCB_ATTR_IEEE -> DCB_ATTR_IEEE_PFC (struct ieee_pfc). Reading needs no privilege. Nothing here
// throws: what cannot be read is said in `why`.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

struct DcbPfc {
  std::string ifname;
  std::optional<uint8_t> pfc_enabled_mask;  // ieee_pfc.pfc_en: bit P set = PFC on at priority P
  uint8_t pfc_cap = 0;                      // ieee_pfc.pfc_cap: how many classes may have PFC
  std::string why;                          // why pfc_enabled_mask is absent
};

// The request for `ifname`'s IEEE DCB state: nlmsghdr RTM_GETDCB, dcbmsg {AF_UNSPEC,
// DCB_CMD_IEEE_GET}, DCB_ATTR_IFNAME.
std::vector<uint8_t> dcb_ieee_get_request(const std::string& ifname, uint32_t seq);

// The reply's bytes (one or more netlink messages) as read from the socket: the PFC state, or
// why there is none (an NLMSG_ERROR, a reply without DCB_ATTR_IEEE_PFC, lengths that do not add
// up). Never reads outside [data, data + size).
DcbPfc parse_dcb_ieee_reply(const uint8_t* data, size_t size, const std::string& ifname);

// Asks the kernel for `ifname`'s PFC state, waiting at most timeout_ms for the answer.
DcbPfc read_dcb_pfc(const std::string& ifname, int timeout_ms = 2000);

// A stand-in for the kernel's answers, by interface, for tests: "eth0:0x08,eth1:none,eth2:err"
// (a pfc_en mask; none: a reply without PFC; err: the driver has no DCB). Each answer is built
// as the kernel's reply bytes and read by parse_dcb_ieee_reply. `knob` names the setting in
// messages. A malformed entry makes every interface's answer say so.
class DcbScript {
 public:
  DcbScript(const std::string& knob, const std::string& text);
  DcbPfc read(const std::string& ifname) const;

 private:
  std::string knob_;
  std::string error_;  // the script's own problem, if any
  std::map<std::string, std::string> answers_;  // ifname -> mask text, "none" or "err"
};

// Reply bytes as the kernel sends them, for the stand-in and the tests: a DCB_CMD_IEEE_GET reply
// holding DCB_ATTR_IFNAME and DCB_ATTR_IEEE (with DCB_ATTR_IEEE_PFC when pfc_en is set), or an
// NLMSG_ERROR carrying -error.
std::vector<uint8_t> dcb_ieee_reply_bytes(const std::string& ifname, std::optional<uint8_t> pfc_en,
                                          uint8_t pfc_cap = 8, uint32_t seq = 1);
std::vector<uint8_t> netlink_error_bytes(int error, uint32_t seq = 1);

// "3,4": the priorities a pfc_en mask names ("" for none).
std::string pfc_priority_list(uint8_t mask);
// "0x08 (priorities 3)", "0x00 (no priority)": a pfc_en mask and the priorities it names.
std::string pfc_mask_text(uint8_t mask);

}  // namespace sxb
