#pragma once
// Checks of measured figures against physical limits and correctness rules. Each check yields a
// Finding that shows its arithmetic, so a reader can redo it. Pure functions, no I/O.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/collective_results.hpp"
#include "core/hardware.hpp"
#include "core/records.hpp"

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
  std::string record;      // id of the published record compared with (configs/records), or ""
  bool implausible = false;  // above that record: a warning that must be double-checked
};

struct ValidationReport {
  std::vector<Finding> findings;
  int count(Verdict v) const;
  int implausible() const;  // warnings that are above a published record
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
  std::vector<Record> records;  // configs/records: above one is implausible
};
JobLimits job_limits(const std::vector<HardwareSpec>& specs, const std::string& gpu_name,
                     int node_count, int gpus_per_node, std::vector<Record> records);

// The published record as a second bound under the physical one. `peak` is this hardware's limit
// of the kind the record was measured against (its datasheet TFLOP/s, its NVLink rate); the record
// scales to record.fraction() x peak here. A finding already impossible is left as it is; above
// the record an ok finding becomes a warning marked implausible, naming the record and by how much
// it is exceeded. Without a record the finding is unchanged, or, with note_missing, says so,
// naming what was looked for when `scope` is given (record_scope: kind, precision, scaling).
void compare_with_record(Finding& f, double measured, double peak, const Record* record,
                         bool note_missing = false, std::string_view scope = {});

// Across nodes: the inter-node record (collective_busbw_inter_node, set per NIC with the ring
// algorithm) against node_nic_rate = the node's NICs x their rate per direction, from 3 nodes;
// on 2 nodes NCCL's tree algorithms can carry more than the NICs' rate, so the finding names the
// record and says why it is not compared. Without a record the finding says so.
void compare_inter_node_record(Finding& f, double busbw, double node_nic_rate, int nodes,
                               const std::vector<Record>& records, const std::string& op);

// The most bus bandwidth an operation can show per rank for a link rate of 1: all_reduce with an
// in-network reduction (NVLink SHARP on an NVSwitch, a reduction tree across nodes) moves each
// rank's data once each way, so its busbw = algbw x 2(n-1)/n can reach 2(n-1)/n x the link rate;
// every other operation (and a ring all_reduce) moves busbw itself over the link: 1.
double busbw_ceiling_factor(const std::string& op, int ranks);

// Collectives: every data check clean; busbw within the per-direction NVLink rate x the
// operation's ceiling (busbw_ceiling_factor) on one node, and within the best published record
// for that operation there; across nodes, busbw compared with the node's NIC line rate x the
// ceiling (a warning: the NIC count per node is an assumption in configs/hardware) and with the
// inter-node record (compare_inter_node_record).
std::vector<Finding> validate_collectives(const CollectiveReport& report, const JobLimits& limits);

}  // namespace sxb

namespace sxb {
// Training (sft_metrics.json): every loss finite, the loss curve falls beyond its noise (or the
// finding says why the run cannot show it: see training.cpp), replicas agree, and the model
// TFLOP/s per device within the device's dense bf16 peak (when the device is a known GPU) and
// within the best published bf16 training MFU (configs/records).
std::vector<Finding> validate_training(const nlohmann::json& sft_metrics, const JobLimits& limits);
}  // namespace sxb

namespace sxb {
// GPU ceilings (compute.json): every GEMM rate and bandwidth at or below its datasheet figure
// (the spec recorded next to each measurement) and within the best published record of its kind
// and precision as a fraction of that figure, and every GEMM correctness check passed.
std::vector<Finding> validate_compute(const nlohmann::json& compute,
                                      const std::vector<Record>& records);
}  // namespace sxb

namespace sxb {
// GPU power (gpu_metrics_summary.json): each GPU's mean power drawn, over the whole run and over
// each phase window, at or below the board limit (configs/hardware tdp_watts) within NVML's
// reading tolerance (kPowerReadingTolerance); above it the figure is impossible. The mean from
// the energy counter is held to the same bound. One finding per GPU, at its highest mean, naming
// the window. Energy per token is the product of this power and the training throughput, which
// validate_training bounds: a run directory's energy figures are checked through both factors.
inline constexpr double kPowerReadingTolerance = 0.05;
std::vector<Finding> validate_gpu_power(const nlohmann::json& summary, const JobLimits& limits);
}  // namespace sxb
