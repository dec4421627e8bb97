#pragma once
// gpu_metrics.csv: one row per GPU per sample (one row per sample, GPU columns empty, when no GPU
// is visible). The header is written when the file is opened and every sample's rows go out in
// one write(2) straight to the file, so the file is valid CSV at every moment: a run killed at any
// point leaves the header and every complete sample before it. The file holds whole rows only: a
// write that fails part-way (a full disk) is cut back to the last whole row before the error is
// reported.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/samples.hpp"

namespace sxb {

struct CsvColumn {
  std::string_view name;
  std::string_view meaning;  // unit and source, for docs and --help
};

// The names of the columns that other layers read back (report/'s GPU time series and its check
// of a run's gpu_metrics.csv). The writer's column table spells these columns through the same
// constants, so a column has one name in both the file and its readers.
namespace metrics_csv_name {
inline constexpr std::string_view elapsed_s = "elapsed_s";
inline constexpr std::string_view host = "host";
inline constexpr std::string_view gpu_index = "gpu_index";
inline constexpr std::string_view gpu_name = "gpu_name";
inline constexpr std::string_view gpu_util_pct = "gpu_util_pct";
inline constexpr std::string_view power_w = "power_w";
}  // namespace metrics_csv_name

// The columns in file order.
const std::vector<CsvColumn>& metrics_csv_columns();
std::string metrics_csv_header();  // names joined by ',', ending in '\n'
// The rows of one sample, each ending in '\n'. Empty cells for values not provided.
std::string metrics_csv_rows(const Tick& tick);

// The cells of one line (RFC 4180: the writer quotes a cell holding a comma, quote or line
// break, and never writes a line break inside a cell, so a line is a record).
std::vector<std::string> split_csv_line(std::string_view line);

// Reads gpu_metrics.csv back into samples: `on_tick` is called once per sample (the consecutive
// rows of one host with one timestamp), in file order, with every column the file has. Throws a
// one-line sxb::Error naming the file, line and column on anything the writer cannot have
// written (unknown column, wrong cell count, a cell that does not parse, a last line cut short).
void read_metrics_csv(const std::filesystem::path& csv,
                      const std::function<void(const Tick&)>& on_tick);

// write(2) or a stand-in with its contract (tests: a disk that fills part-way).
using CsvWriteFn = std::function<ssize_t(int fd, const void* data, size_t size)>;

// Appends `rows` (whole rows, each ending in '\n') to an existing CSV with one write; on a short
// or failed write the file is cut back to its previous end and sxb::Error (runtime) is thrown.
void append_csv_rows(const std::filesystem::path& path, std::string_view rows,
                     const CsvWriteFn& write_fn = nullptr);

class MetricsCsvWriter {
 public:
  // Creates (truncates) the file and writes the header; throws sxb::Error on failure.
  explicit MetricsCsvWriter(const std::filesystem::path& path, CsvWriteFn write_fn = nullptr);
  ~MetricsCsvWriter();
  MetricsCsvWriter(const MetricsCsvWriter&) = delete;
  MetricsCsvWriter& operator=(const MetricsCsvWriter&) = delete;

  void write(const Tick& tick);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_all(std::string_view text);
  std::filesystem::path path_;
  CsvWriteFn write_fn_;
  int fd_ = -1;
  off_t whole_ = 0;  // bytes of the file that are whole rows (the header included)
};

}  // namespace sxb
