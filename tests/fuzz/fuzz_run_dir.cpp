// Run directories (report, plan, validate DIR): the input is a run directory written as
// sections, each a line "=== NAME" followed by the file's content, NAME one of the files a run
// directory holds. The files are written to a scratch directory that read_run_directory reads
// the way report does (validation against the shipped hardware specs included); a
// gpu_metrics.csv is also read as the report's charts read it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/hardware.hpp"
#include "fuzz_contract.hpp"
#include "report/results/aggregate.hpp"

namespace fs = std::filesystem;

namespace {

const std::set<std::string>& run_files() {
  static const std::set<std::string> names = {
      "run.json",          "nccl.json",     "sft_metrics.json",  "compute.json",
      "gpu_metrics_summary.json", "gpu_metrics.csv", "validation.json", "summary_report.md",
      "diagnose.json"};
  return names;
}

void write_sections(const fs::path& dir, std::string_view text) {
  std::string name;
  std::string content;
  auto flush = [&] {
    if (!name.empty()) std::ofstream(dir / name, std::ios::binary) << content;
    name.clear();
    content.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    if (line.rfind("=== ", 0) == 0 && run_files().count(std::string(line.substr(4)))) {
      flush();
      name = std::string(line.substr(4));
    } else if (!name.empty()) {
      content.append(line);
      if (end < text.size()) content.push_back('\n');
    }
    pos = end + 1;
  }
  flush();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  static const std::vector<HardwareSpec> specs = load_hardware_specs(find_config_dir() / "hardware");
  static const fs::path dir =
      fs::temp_directory_path() / ("sxb_fuzz_run_dir_" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  write_sections(dir, fuzz::as_text(data, size));
  report::ReadOptions options;
  options.specs = &specs;
  fuzz::parses([&] { (void)report::read_run_directory(dir, options); });
  if (fs::exists(dir / "gpu_metrics.csv")) {
    fuzz::parses([&] { (void)report::read_gpu_timeseries(dir / "gpu_metrics.csv"); });
  }
  fs::remove_all(dir, ec);
  return 0;
}
