#include "monitor/host_sampler.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sxb {

namespace {

std::string slurp(const char* path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool parse_u64(std::string_view token, uint64_t& out) {
  const auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
  return ec == std::errc() && p == token.data() + token.size();
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) tokens.push_back(line.substr(i, j - i));
    i = j;
  }
  return tokens;
}

}  // namespace

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const auto tok = split_ws(line);
    if (tok.empty() || tok[0] != "cpu") continue;
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
    // already counted in user and nice, so it is left out.
    if (tok.size() < 5) return std::nullopt;
    uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 1; i < tok.size() && i <= 8; ++i) {
      if (!parse_u64(tok[i], v[i - 1])) return std::nullopt;
    }
    CpuTimes t;
    const uint64_t idle = v[3] + v[4];
    t.busy_ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    t.total_ticks = t.busy_ticks + idle;
    return t;
  }
  return std::nullopt;
}

std::optional<HostMemory> parse_meminfo(std::string_view text) {
  std::optional<uint64_t> total, available;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto tok = split_ws(text.substr(pos, end - pos));
    pos = end + 1;
    if (tok.size() < 2) continue;
    uint64_t v = 0;
    if (!parse_u64(tok[1], v)) continue;
    if (tok[0] == "MemTotal:") total = v;
    if (tok[0] == "MemAvailable:") available = v;
  }
  if (!total || !available) return std::nullopt;
  return HostMemory{*total, *available};
}

std::optional<double> cpu_util_pct(const CpuTimes& before, const CpuTimes& after) {
  if (after.total_ticks <= before.total_ticks || after.busy_ticks < before.busy_ticks) {
    return std::nullopt;
  }
  return 100.0 * static_cast<double>(after.busy_ticks - before.busy_ticks) /
         static_cast<double>(after.total_ticks - before.total_ticks);
}

HostSampler::HostSampler() : previous_(parse_proc_stat(slurp("/proc/stat"))) {}

HostSample HostSampler::sample() {
  HostSample s;
  const auto now = parse_proc_stat(slurp("/proc/stat"));
  if (now && previous_) s.cpu_util_pct = cpu_util_pct(*previous_, *now);
  if (now) previous_ = now;
  if (const auto mem = parse_meminfo(slurp("/proc/meminfo"))) {
    s.mem_total_mib = static_cast<double>(mem->total_kib) / 1024.0;
    s.mem_used_mib =
        static_cast<double>(mem->total_kib - std::min(mem->available_kib, mem->total_kib)) / 1024.0;
  }
  return s;
}

}  // namespace sxb
