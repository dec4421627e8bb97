#pragma once
// Checks of measured figures against physical limits and correctness rules. Each check yields a
// Finding that shows its arithmetic, so a reader can redo it. Pure functions, no I/O.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/collective_results.hpp"
#include "core/hardware.hpp"

namespace sxb {

enum class Verdict {
  ok,          // within limits / correct
  warning,     // suspicious but not impossible (e.g. above a stated assumption)
  failed,      // a correctness check failed (wrong results, non-finite loss)
  impossible,  // exceeds a physical limit: the figure cannot be true
};
std::string verdict_name(Verdict v);

struct Finding {
  std::string check;    // "nccl.data_check", "nccl.busbw_vs_nvlink", ...
  std::string subject;  // what was checked: "all_reduce, 8 GiB, out-of-place"
  Verdict verdict = Verdict::ok;
  std::optional<double> measured;
  std::optional<double> limit;
  std::string unit;
  std::string arithmetic;  // the comparison in words and numbers, with the limit's source
};

struct ValidationReport {
  std::vector<Finding> findings;
  int count(Verdict v) const;
  bool passed() const { return count(Verdict::failed) == 0 && count(Verdict::impossible) == 0; }
  void add(std::vector<Finding> more);
};

void to_json(nlohmann::json& j, const Finding& f);
void to_json(nlohmann::json& j, const ValidationReport& r);

// Limits that apply to one job: the GPU's spec (by device name) and the NIC spec, when known.
struct JobLimits {
  std::optional<HardwareSpec> gpu;
  std::optional<HardwareSpec> nic;
  int node_count = 1;
  int gpus_per_node = 1;
};
JobLimits job_limits(const std::vector<HardwareSpec>& specs, const std::string& gpu_name,
                     int node_count, int gpus_per_node);

// Collectives: every data check clean; busbw within the per-direction NVLink rate on one node;
// across nodes, busbw compared with the node's NIC line rate (a warning: the NIC count per node
// is an assumption in configs/hardware).
std::vector<Finding> validate_collectives(const CollectiveReport& report, const JobLimits& limits);

}  // namespace sxb

namespace sxb {
// Training (sft_metrics.json): every loss finite, the loss curve falls beyond its noise (or the
// finding says why the run cannot show it: see training.cpp), replicas agree, and the model
// TFLOP/s per device within the device's dense bf16 peak (when the device is a known GPU).
std::vector<Finding> validate_training(const nlohmann::json& sft_metrics, const JobLimits& limits);
}  // namespace sxb

namespace sxb {
// GPU ceilings (compute.json): every GEMM rate and bandwidth at or below its datasheet figure
// (the spec recorded next to each measurement), and every GEMM correctness check passed.
std::vector<Finding> validate_compute(const nlohmann::json& compute);
}  // namespace sxb
