#pragma once
// Builds a PlanRequest from the user's choices (flags of `sxbench plan`, or the models a report
// found): model names and aliases through the model registry, node counts, ds_config per model
// size, hardware figures from configs/hardware, sequence length and GPUs per node from .env.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/env_config.hpp"
#include "report/plan/plan.hpp"

namespace sxb::report {

struct PlanRequestOptions {
  std::string models = "7b,13b,70b";  // comma-separated: aliases, Hugging Face ids, directories
  std::string nodes = "1,2,4,8";      // comma-separated positive node counts
  std::optional<int> gpus_per_node;   // absent: GPUS_PER_NODE when set, else 8
  std::optional<int64_t> seq_len;     // absent: SEQ_LEN
  int64_t steps = 20;                 // per training run, 1 of them warm-up
  std::string ds_config;              // directory or comma-separated files; empty: configs/
  std::string gpu = "H200";           // configs/hardware match string of the planned GPU
};

// The seed's shorthand: 7b, 13b, 70b -> meta-llama/Llama-2-<size>-hf; anything else unchanged.
std::string model_alias(const std::string& name);
// "4,1,2" -> {4, 1, 2} (as written; each 1..1024, none twice); one-line sxb::Error naming the
// bad item otherwise.
std::vector<int> parse_node_counts(const std::string& text);
// The same, sorted.
std::vector<int> parse_node_list(const std::string& text);
// The size a ds_config file name states: "ds_config_13b.json" -> 13e9 parameters.
std::optional<double> ds_config_size(const std::string& file_name);

// Throws a one-line sxb::Error for an unknown model, a bad node list, an unreadable ds_config, a
// sequence longer than a model's positions or a GPU configs/hardware does not know.
PlanRequest make_plan_request(const PlanRequestOptions& o, const EnvConfig& env);

}  // namespace sxb::report
