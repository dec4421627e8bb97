#pragma once
// Training as a building block: `sxbench train` and the sft phase of `sxbench run` both prepare a
// job (all checks that need no MPI) and run it on every rank of an existing MPI job.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/env_config.hpp"
#include "core/numeric.hpp"
#include "comm/mpi_context.hpp"
#include "model/ds_config.hpp"
#include "model/model_config.hpp"
#include "train/token_data.hpp"

namespace sxb {

struct TrainJobRequest {
  std::string device = "cpu";
  std::string model;  // empty: MODEL_NAME
  std::string ds_config;
  // No ds_config: train with quick_run_ds_config() instead of default_ds_config() (run's quick
  // mode, which must show the loss falling).
  bool quick_defaults = false;
  int64_t steps = 10;
  int64_t warmup_steps = 1;
  std::optional<int64_t> seq_len;      // absent: SEQ_LEN, or the data file's
  std::optional<int64_t> micro_batch;  // absent: BATCH_SIZE_PER_GPU, else the ds_config
  std::string data;
  uint64_t seed = 1234;
  std::string recompute = "auto";  // CUDA engine: auto | none | selective | full
  bool profile = false;            // CUDA engine: per-category times of the last step
  std::string grad_dtype = "auto";  // CUDA engine: auto | fp32 | bf16
  std::string comm_backend = "auto";  // CUDA engine gradient exchange: auto | nccl | mpi
  // Starting weights: random (the seeded initialisation) or pretrained (the safetensors weights
  // of the --model directory).
  std::string init = "random";
  // Not empty: rank 0 writes the trained weights there (config.json + model.safetensors).
  std::string save_weights;
  std::string save_dtype = "fp32";  // fp32 | bf16
  // Planning only (`train --plan-only`): the CUDA engine's settings are resolved, but no GPU or
  // CUDA build is required.
  bool plan_only = false;
};

struct TrainJob {
  std::string device = "cpu";
  std::string recompute = "auto";
  bool profile = false;
  std::string grad_dtype = "auto";
  std::string comm_backend = "auto";
  ModelConfig model;
  DsConfig ds;
  std::unique_ptr<SequenceSource> data;
  int64_t seq_len = 0;
  std::string seq_len_source;
  std::optional<int64_t> micro_override;
  std::string micro_source;
  int64_t steps = 0, warmup_steps = 0;
  uint64_t seed = 0;
  bool progress_on_terminal = false;
  std::filesystem::path pretrained_dir;  // empty: random initialisation
  std::string pretrained_note;           // what the checkpoint holds, printed by rank 0
  nlohmann::json weights;                // sft_metrics.json "weights": init and checkpoint
  std::filesystem::path save_weights_dir;
  DataType save_dtype = DataType::f32;
};

// Tokens of one rank's micro-step (micro-batch x sequence length), checked: at most
// kMaxMicroStepTokens (2^24), which keeps every activation count of a model inside its shape
// bounds within 64 bits. Throws a usage error naming both factors otherwise.
inline constexpr uint64_t kMaxMicroStepTokens = uint64_t(1) << 24;
uint64_t micro_step_tokens(int64_t micro_batch, int64_t seq_len, const std::string& micro_source);

// Resolves model, ds_config, data and batch overrides; throws sxb::Error on bad input.
TrainJob prepare_train_job(const TrainJobRequest& request, const EnvConfig& env);
// Trains on every rank of `mpi`; rank 0 writes out_dir/sft_metrics.json and gets the metrics
// back (other ranks get them too, without the write). A refusal every rank shares is thrown by
// rank 0 and as Error(ExitCode::ok) on the others, so only one line is printed.
nlohmann::json run_train_job(TrainJob& job, const MpiContext& mpi,
                             const std::filesystem::path& out_dir);

}  // namespace sxb
