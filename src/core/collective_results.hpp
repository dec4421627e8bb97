#pragma once
// Results of a collective sweep (nccl.json). Units follow nccl-tests: time in microseconds,
// bandwidth in GB/s with GB = 1e9 bytes.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sxb {

struct CollectiveMeasurement {
  double time_us = 0;         // mean over iterations on a rank, max over ranks
  double algbw_gb_per_s = 0;  // size_bytes / time
  double busbw_gb_per_s = 0;  // algbw x the operation's bus factor
  std::optional<int64_t> wrong;  // elements that failed the data check, summed over ranks
};

struct CollectiveRow {
  std::string op;
  std::string dtype;
  std::string redop;  // "sum" or "none"
  int root = -1;
  uint64_t size_bytes = 0;
  uint64_t count = 0;
  CollectiveMeasurement out_of_place;
  std::optional<CollectiveMeasurement> in_place;
};

struct CollectiveOpSummary {
  std::string op;
  double avg_busbw_gb_per_s = 0;  // mean over sizes and placements, as nccl-tests' "Avg bus bandwidth"
  double max_busbw_gb_per_s = 0;
  uint64_t max_busbw_size_bytes = 0;
  int64_t wrong = 0;
  bool checked = false;
};

struct RankPlacement {
  int rank = 0;
  std::string host;
  int pid = 0;
  std::string device;
};

struct CollectiveSweepParams {
  std::string backend;
  std::string dtype;
  uint64_t min_bytes = 0, max_bytes = 0;
  double step_factor = 2;
  uint64_t step_bytes = 0;
  int warmup_iters = 0, iters = 0;
  bool check = true;
  int root = 0;
  double timeout_s = 0;
};

struct CollectiveReport {
  std::string schema = "sxbench.nccl/1";
  std::string tool_version;
  std::string status;  // "complete", "partial" or "failed"
  std::string started_utc, finished_utc;
  std::string library_version;  // NCCL or MPI library
  std::string mpi_library_version;
  std::string launcher;
  int world_size = 0, node_count = 0;
  std::vector<RankPlacement> ranks;
  CollectiveSweepParams params;
  std::vector<CollectiveRow> rows;
  std::vector<CollectiveOpSummary> summary;
  std::string method;  // how the figures were measured, in words
};

void to_json(nlohmann::json& j, const CollectiveMeasurement& m);
void from_json(const nlohmann::json& j, CollectiveMeasurement& m);
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CollectiveOpSummary, op, avg_busbw_gb_per_s, max_busbw_gb_per_s,
                                   max_busbw_size_bytes, wrong, checked)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RankPlacement, rank, host, pid, device)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CollectiveSweepParams, backend, dtype, min_bytes, max_bytes,
                                   step_factor, step_bytes, warmup_iters, iters, check, root,
                                   timeout_s)
void to_json(nlohmann::json& j, const CollectiveRow& r);
void from_json(const nlohmann::json& j, CollectiveRow& r);
void to_json(nlohmann::json& j, const CollectiveReport& r);
void from_json(const nlohmann::json& j, CollectiveReport& r);

}  // namespace sxb
