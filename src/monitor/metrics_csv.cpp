#include "monitor/metrics_csv.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <stdexcept>
#include <type_traits>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "monitor/throttle.hpp"

namespace sxb {

namespace {

using Cell = std::function<std::string(const Tick&, const GpuSample*)>;
// The inverse of a cell: stores the cell's text (not empty) back into the tick or its GPU sample;
// throws std::invalid_argument on text the writer cannot have produced. Null for columns derived
// from another one (throttle_reasons from throttle_mask).
using Read = std::function<void(std::string_view, Tick&, GpuSample&)>;

double read_number(std::string_view cell) {
  double v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || end != cell.data() + cell.size() || !std::isfinite(v)) {
    throw std::invalid_argument("not a finite number");
  }
  return v;
}
template <typename T>
T read_whole(std::string_view cell, int base = 10) {
  T v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v, base);
  if (ec != std::errc() || end != cell.data() + cell.size()) {
    throw std::invalid_argument("not a whole number in range");
  }
  return v;
}

std::string num(const std::optional<double>& v, int decimals) {
  if (!v || !std::isfinite(*v)) return {};
  return fmt::format("{:.{}f}", *v, decimals);
}
template <typename T>
std::string whole(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : std::string();
}
// Quotes a field when it holds a comma, quote or line break (RFC 4180).
std::string text(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

struct ColumnDef {
  CsvColumn column;
  Cell cell;
  Read read;
};

#define GPU_NUM(field, decimals)                                                              \
  [](const Tick&, const GpuSample* g) { return g ? num(g->field, decimals) : std::string(); }, \
      [](std::string_view c, Tick&, GpuSample& g) { g.field = read_number(c); }
#define GPU_WHOLE(field)                                                          \
  [](const Tick&, const GpuSample* g) { return g ? whole(g->field) : std::string(); }, \
      [](std::string_view c, Tick&, GpuSample& g) {                                 \
        g.field = read_whole<std::remove_reference_t<decltype(*g.field)>>(c);       \
      }

const std::vector<ColumnDef>& columns() {
  static const std::vector<ColumnDef> defs = {
      {{"timestamp_utc", "ISO-8601 UTC time of the sample"},
       [](const Tick& t, const GpuSample*) { return t.timestamp_utc; },
       [](std::string_view c, Tick& t, GpuSample&) { t.timestamp_utc = std::string(c); }},
      {{metrics_csv_name::elapsed_s, "s since sampling started (monotonic clock)"},
       [](const Tick& t, const GpuSample*) { return fmt::format("{:.3f}", t.elapsed_s); },
       [](std::string_view c, Tick& t, GpuSample&) { t.elapsed_s = read_number(c); }},
      {{metrics_csv_name::host, "host name"},
       [](const Tick& t, const GpuSample*) { return text(t.host); },
       [](std::string_view c, Tick& t, GpuSample&) { t.host = std::string(c); }},
      {{metrics_csv_name::gpu_index, "NVML device index"},
       [](const Tick&, const GpuSample* g) {
         return g ? fmt::format("{}", g->index) : std::string();
       },
       [](std::string_view c, Tick&, GpuSample& g) { g.index = read_whole<unsigned int>(c); }},
      {{"gpu_uuid", "GPU UUID"},
       [](const Tick&, const GpuSample* g) { return g ? text(g->uuid) : std::string(); },
       [](std::string_view c, Tick&, GpuSample& g) { g.uuid = std::string(c); }},
      {{metrics_csv_name::gpu_name, "product name"},
       [](const Tick&, const GpuSample* g) { return g ? text(g->name) : std::string(); },
       [](std::string_view c, Tick&, GpuSample& g) { g.name = std::string(c); }},
      {{metrics_csv_name::gpu_util_pct, "% of the last sample period in which a kernel ran (NVML)"},
       GPU_NUM(gpu_util_pct, 0)},
      {{"mem_util_pct", "% of the last sample period the memory was read or written (NVML)"},
       GPU_NUM(mem_util_pct, 0)},
      {{"mem_used_mib", "GPU memory used, MiB"}, GPU_NUM(mem_used_mib, 0)},
      {{"mem_total_mib", "GPU memory total, MiB"}, GPU_NUM(mem_total_mib, 0)},
      {{metrics_csv_name::power_w, "board power, W (nvmlDeviceGetPowerUsage)"},
       GPU_NUM(power_w, 3)},
      {{"power_instant_w", "instantaneous power, W (field POWER_INSTANT)"},
       GPU_NUM(power_instant_w, 3)},
      {{"energy_j", "energy counter since driver load, J (nvmlDeviceGetTotalEnergyConsumption)"},
       GPU_NUM(energy_j, 3)},
      {{"temperature_c", "GPU temperature, degrees C"}, GPU_NUM(temperature_c, 0)},
      {{"sm_clock_mhz", "SM clock, MHz"}, GPU_NUM(sm_clock_mhz, 0)},
      {{"mem_clock_mhz", "memory clock, MHz"}, GPU_NUM(mem_clock_mhz, 0)},
      {{"throttle_reasons", "active clock-event reasons, names joined by '|'"},
       [](const Tick&, const GpuSample* g) {
         return g && g->throttle_mask ? throttle_reasons_text(*g->throttle_mask) : std::string();
       },
       nullptr},
      {{"throttle_mask", "the same reasons as NVML's bit mask, hex"},
       [](const Tick&, const GpuSample* g) {
         return g && g->throttle_mask ? fmt::format("0x{:x}", *g->throttle_mask) : std::string();
       },
       [](std::string_view c, Tick&, GpuSample& g) {
         if (c.size() < 3 || c.substr(0, 2) != "0x") throw std::invalid_argument("not 0x<hex>");
         g.throttle_mask = read_whole<uint64_t>(c.substr(2), 16);
       }},
      {{"pcie_tx_mib_per_s", "PCIe bytes sent since the previous sample, MiB/s (byte counter)"},
       GPU_NUM(pcie_tx_mib_per_s, 3)},
      {{"pcie_rx_mib_per_s", "PCIe bytes received since the previous sample, MiB/s"},
       GPU_NUM(pcie_rx_mib_per_s, 3)},
      {{"pcie_link_gen", "current PCIe link generation"}, GPU_WHOLE(pcie_link_gen)},
      {{"pcie_link_gen_max", "maximum PCIe link generation of GPU and slot"},
       GPU_WHOLE(pcie_link_gen_max)},
      {{"pcie_link_width", "current PCIe link width, lanes"}, GPU_WHOLE(pcie_link_width)},
      {{"pcie_link_width_max", "maximum PCIe link width, lanes"}, GPU_WHOLE(pcie_link_width_max)},
      {{"ecc_corrected", "corrected ECC errors since driver load"}, GPU_WHOLE(ecc_corrected)},
      {{"ecc_uncorrected", "uncorrected ECC errors since driver load"}, GPU_WHOLE(ecc_uncorrected)},
      {{"xid_count", "XID events seen since sampling started"}, GPU_WHOLE(xid_count)},
      {{"xid_last", "number of the latest XID seen"}, GPU_WHOLE(xid_last)},
      {{"nvlink_replay_errors", "NVLink replay errors, all links, since driver load"},
       GPU_WHOLE(nvlink_replay_errors)},
      {{"nvlink_recovery_errors", "NVLink recovery errors, all links, since driver load"},
       GPU_WHOLE(nvlink_recovery_errors)},
      {{"nvlink_crc_errors", "NVLink flit + data CRC errors, all links, since driver load"},
       GPU_WHOLE(nvlink_crc_errors)},
      {{"remapped_rows_correctable", "HBM rows remapped for correctable errors"},
       GPU_WHOLE(remapped_rows_correctable)},
      {{"remapped_rows_uncorrectable", "HBM rows remapped for uncorrectable errors"},
       GPU_WHOLE(remapped_rows_uncorrectable)},
      {{"remap_pending", "1 when a row remap waits for a GPU reset"}, GPU_WHOLE(remap_pending)},
      {{"remap_failure", "1 when a row remap failed"}, GPU_WHOLE(remap_failure)},
      {{"gpm_sm_activity_pct", "GPM: % of SMs busy over the interval"},
       GPU_NUM(gpm_sm_activity_pct, 2)},
      {{"gpm_sm_occupancy_pct", "GPM: % of maximum resident warps over the interval"},
       GPU_NUM(gpm_sm_occupancy_pct, 2)},
      {{"gpm_tensor_activity_pct", "GPM: % of time any tensor pipe was active"},
       GPU_NUM(gpm_tensor_activity_pct, 2)},
      {{"gpm_dram_bw_util_pct", "GPM: % of peak DRAM bandwidth used"},
       GPU_NUM(gpm_dram_bw_util_pct, 2)},
      {{"gpm_pcie_tx_mib_per_s", "GPM: PCIe transmit, MiB/s"}, GPU_NUM(gpm_pcie_tx_mib_per_s, 3)},
      {{"gpm_pcie_rx_mib_per_s", "GPM: PCIe receive, MiB/s"}, GPU_NUM(gpm_pcie_rx_mib_per_s, 3)},
      {{"gpm_nvlink_tx_mib_per_s", "GPM: NVLink transmit, all links, MiB/s"},
       GPU_NUM(gpm_nvlink_tx_mib_per_s, 3)},
      {{"gpm_nvlink_rx_mib_per_s", "GPM: NVLink receive, all links, MiB/s"},
       GPU_NUM(gpm_nvlink_rx_mib_per_s, 3)},
      {{"host_cpu_util_pct", "host CPU busy, all CPUs, since the previous sample, % (/proc/stat)"},
       [](const Tick& t, const GpuSample*) { return num(t.host_sample.cpu_util_pct, 1); },
       [](std::string_view c, Tick& t, GpuSample&) { t.host_sample.cpu_util_pct = read_number(c); }},
      {{"host_mem_used_mib", "host memory used (MemTotal - MemAvailable), MiB (/proc/meminfo)"},
       [](const Tick& t, const GpuSample*) { return num(t.host_sample.mem_used_mib, 0); },
       [](std::string_view c, Tick& t, GpuSample&) { t.host_sample.mem_used_mib = read_number(c); }},
      {{"host_mem_total_mib", "host memory total, MiB (/proc/meminfo)"},
       [](const Tick& t, const GpuSample*) { return num(t.host_sample.mem_total_mib, 0); },
       [](std::string_view c, Tick& t, GpuSample&) { t.host_sample.mem_total_mib = read_number(c); }},
  };
  return defs;
}

#undef GPU_NUM
#undef GPU_WHOLE

std::string row(const Tick& tick, const GpuSample* gpu) {
  std::string line;
  bool first = true;
  for (const auto& c : columns()) {
    if (!first) line += ',';
    first = false;
    line += c.cell(tick, gpu);
  }
  line += '\n';
  return line;
}

}  // namespace

const std::vector<CsvColumn>& metrics_csv_columns() {
  static const std::vector<CsvColumn> cols = [] {
    std::vector<CsvColumn> v;
    for (const auto& c : columns()) v.push_back(c.column);
    return v;
  }();
  return cols;
}

std::string metrics_csv_header() {
  std::string h;
  for (const auto& c : metrics_csv_columns()) {
    if (!h.empty()) h += ',';
    h += c.name;
  }
  return h + '\n';
}

std::string metrics_csv_rows(const Tick& tick) {
  if (tick.gpus.empty()) return row(tick, nullptr);
  std::string out;
  for (const auto& g : tick.gpus) out += row(tick, &g);
  return out;
}

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cell += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      cells.push_back(std::move(cell));
      cell.clear();
    } else {
      cell += ch;
    }
  }
  cells.push_back(std::move(cell));
  return cells;
}

void read_metrics_csv(const std::filesystem::path& csv,
                      const std::function<void(const Tick&)>& on_tick) {
  const std::string file = csv.filename().string();
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {}", csv.string()), ExitCode::runtime);
  std::string line;
  if (!std::getline(in, line)) throw usage_error(file + ": empty file (no header)");
  // Columns by name: a file from a version with fewer columns leaves the others empty; a column
  // this version does not know is an error (the file is not gpu_metrics.csv as documented).
  std::vector<const ColumnDef*> layout;
  for (const auto& name : split_csv_line(line)) {
    const ColumnDef* found = nullptr;
    for (const auto& c : columns()) {
      if (c.column.name == name) found = &c;
    }
    if (!found) {
      throw usage_error(
          fmt::format("{}: line 1: unknown column '{}'", file, quoted_excerpt(name)));
    }
    layout.push_back(found);
  }
  Tick tick;
  bool have_tick = false;
  size_t line_no = 1;
  auto flush = [&] {
    if (have_tick) on_tick(tick);
    tick = Tick();
    have_tick = false;
  };
  for (; std::getline(in, line); ) {
    ++line_no;
    if (in.eof()) {
      throw usage_error(fmt::format("{}: line {}: incomplete last line (no line end)", file,
                                    line_no));
    }
    const auto cells = split_csv_line(line);
    if (cells.size() != layout.size()) {
      throw usage_error(fmt::format("{}: line {}: {} cells, the header has {}", file, line_no,
                                    cells.size(), layout.size()));
    }
    Tick row;
    GpuSample gpu;
    bool has_gpu = false;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (cells[i].empty() || !layout[i]->read) continue;
      if (layout[i]->column.name == metrics_csv_name::gpu_index) has_gpu = true;
      try {
        layout[i]->read(cells[i], row, gpu);
      } catch (const std::exception& e) {
        throw usage_error(fmt::format("{}: line {}: column {}: '{}' is {}", file, line_no,
                                      layout[i]->column.name, quoted_excerpt(cells[i]),
                                      e.what()));
      }
    }
    if (row.timestamp_utc.empty()) {
      throw usage_error(fmt::format("{}: line {}: no timestamp_utc", file, line_no));
    }
    if (!have_tick || row.timestamp_utc != tick.timestamp_utc || row.host != tick.host) {
      flush();
      tick.timestamp_utc = row.timestamp_utc;
      tick.elapsed_s = row.elapsed_s;
      tick.host = row.host;
      tick.host_sample = row.host_sample;
      have_tick = true;
    }
    if (has_gpu) tick.gpus.push_back(std::move(gpu));
  }
  flush();
}

namespace {

// Writes `data` at the end of fd (opened O_APPEND) whose whole rows end at `whole`; on failure
// cuts the file back to `whole` and throws. A short write is retried for the rest; if the retry
// fails, the part already written is cut off too, so no half row remains.
void write_whole(int fd, const std::filesystem::path& path, std::string_view data, off_t whole,
                 const CsvWriteFn& write_fn) {
  std::string_view left = data;
  while (!left.empty()) {
    const ssize_t n =
        write_fn ? write_fn(fd, left.data(), left.size()) : ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : ENOSPC;
      const bool cut = ::ftruncate(fd, whole) == 0;
      throw Error(fmt::format("cannot write {}: {}; {}", path.string(), std::strerror(e),
                              cut ? "the file keeps its whole rows only"
                                  : "the file may end with a partial row"),
                  ExitCode::runtime);
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void append_csv_rows(const std::filesystem::path& path, std::string_view rows,
                     const CsvWriteFn& write_fn) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    throw Error(fmt::format("cannot append to {}: {}", path.string(), std::strerror(errno)),
                ExitCode::runtime);
  }
  const off_t end = ::lseek(fd, 0, SEEK_END);
  try {
    write_whole(fd, path, rows, end < 0 ? 0 : end, write_fn);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

MetricsCsvWriter::MetricsCsvWriter(const std::filesystem::path& path, CsvWriteFn write_fn)
    : path_(path), write_fn_(std::move(write_fn)) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)),
                ExitCode::runtime);
  }
  write_all(metrics_csv_header());
}

MetricsCsvWriter::~MetricsCsvWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsCsvWriter::write(const Tick& tick) {
  write_all(metrics_csv_rows(tick));
}

void MetricsCsvWriter::write_all(std::string_view data) {
  write_whole(fd_, path_, data, whole_, write_fn_);
  whole_ += static_cast<off_t>(data.size());
}

}  // namespace sxb
