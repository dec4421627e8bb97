#pragma once
// DeepSpeed configuration files (configs/ds_config_*.json): the keys sxbench's trainer uses,
// read with DeepSpeed's rules. Unknown keys produce warnings; contradictions and bad values a
// one-line sxb::Error naming the file and the key.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/model_config.hpp"
#include "model/optimizer_config.hpp"

namespace sxb {

// DeepSpeed's default of zero_optimization.reduce_bucket_size and allgather_bucket_size.
inline constexpr int64_t kDeepSpeedBucketElements = 500000000;

struct DsConfig {
  std::string source;  // file path, "built-in defaults" or "built-in quick-run defaults"
  bool built_in = false;  // no file: micro-batch 1, accumulation 1 unless overridden
  // Batch keys as written; nullopt when absent or "auto" (resolved by resolve_batch).
  std::optional<int64_t> train_batch_size;
  std::optional<int64_t> micro_batch_per_gpu;
  std::optional<int64_t> gradient_accumulation_steps;
  bool bf16 = false;
  bool fp16 = false;
  int zero_stage = 0;
  // zero_optimization.reduce_bucket_size: elements per gradient reduce-scatter call (stage 2);
  // allgather_bucket_size: elements per parameter all-gather call after the optimizer step
  // (stages 1 and 2). DeepSpeed's default when absent. reduce_bucket_size "auto" (as Hugging
  // Face's integration fills it) is hidden_size^2 of the model: see reduce_bucket_elements.
  int64_t reduce_bucket_size = kDeepSpeedBucketElements;
  bool reduce_bucket_size_auto = false;
  int64_t allgather_bucket_size = kDeepSpeedBucketElements;
  std::string optimizer_type = "AdamW";      // as DeepSpeed names it: AdamW, or Adam
  std::string optimizer_source = "default";  // "config" or "default"
  AdamWParams optimizer;
  double gradient_clipping = 0.0;          // 0: off (DeepSpeed's default)
  bool activation_checkpointing = false;   // the section is present: recompute per layer
  std::vector<std::string> warnings;       // one line each
  std::vector<std::string> resolved_auto;  // "key: value" for every "auto" that was resolved

  std::string precision() const { return bf16 ? "bf16" : fp16 ? "fp16" : "fp32"; }
  int64_t reduce_bucket_elements(const ModelConfig& m) const {
    return reduce_bucket_size_auto ? m.hidden_size * m.hidden_size : reduce_bucket_size;
  }
  nlohmann::json to_json() const;
};

// Parses a DeepSpeed config object. `source` names it in messages.
DsConfig parse_ds_config(const nlohmann::json& j, const std::string& source);
DsConfig load_ds_config(const std::filesystem::path& path);
// What training uses when no config is given: AdamW(lr 1e-5, betas 0.9/0.999, eps 1e-8, weight
// decay 0), no clipping, fp32, micro-batch 1, one accumulation step.
DsConfig default_ds_config();
// What `run --mode quick` trains with when no config is given: the defaults with AdamW lr 1e-4,
// betas 0.9/0.95 and gradient clipping 1.0, so its 30 steps from random weights show the loss
// falling (measured on Llama-2-7B on one H200: 11.15 -> 10.79; the tiny model on CPU falls too).
DsConfig quick_run_ds_config();

struct BatchPlan {
  int64_t micro_batch_per_gpu = 0;
  int64_t gradient_accumulation_steps = 0;
  int64_t world_size = 0;
  int64_t train_batch_size = 0;    // sequences per optimizer step, all ranks
  std::string micro_batch_source;  // "ds_config", "--micro-batch", "BATCH_SIZE_PER_GPU", ...
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
};

// DeepSpeed's rule: train_batch_size = micro x accumulation x world; any two of the three
// determine the third (one alone: accumulation 1); all three must agree. A micro-batch override
// (--micro-batch or BATCH_SIZE_PER_GPU) replaces train_micro_batch_size_per_gpu; then
// train_batch_size is derived when gradient_accumulation_steps is given, and otherwise
// determines the accumulation steps (which must divide exactly).
BatchPlan resolve_batch(const DsConfig& c, int64_t world_size,
                        std::optional<int64_t> micro_override = std::nullopt,
                        const std::string& override_source = "");

}  // namespace sxb
