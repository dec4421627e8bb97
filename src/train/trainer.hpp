#pragma once
// The data-parallel training loop of the CPU reference: each rank runs its micro-batches of a
// step, gradients are summed over ranks and divided by the world size, clipped by their global
// norm, and AdamW steps the parameters. DsConfig::zero_stage chooses what each rank keeps and
// how the ranks exchange it: DeepSpeed's ZeRO stages 0-3, as the table in train/zero.hpp states
// them (the CPU reference's collectives are that table's "cpu:" entries).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "core/numeric.hpp"
#include "model/ds_config.hpp"
#include "model/model_config.hpp"
#include "train/token_data.hpp"

namespace sxb {

// The job as the trainer sees it. Implementations: one process (local_reducer) or the MPI job
// through the Communicator (CommReducer, train/comm_reducer.hpp).
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual void all_reduce_sum(float* data, int64_t count) = 0;  // in place, fp32
  // Equal-shard collectives, fp32, over world_size() blocks of shard_count elements in rank
  // order. reduce_scatter_sum: send holds world * shard_count elements, recv (shard_count)
  // receives the sum over ranks of block rank(). all_gather: send (shard_count) is this rank's
  // block, recv (world * shard_count) receives every rank's block; in place when send == recv +
  // rank() * shard_count. Otherwise send and recv must not overlap.
  virtual void reduce_scatter_sum(const float* send, float* recv, int64_t shard_count) = 0;
  virtual void all_gather(const float* send, float* recv, int64_t shard_count) = 0;
  virtual double sum(double v) = 0;
  virtual int64_t sum(int64_t v) = 0;
  virtual double max(double v) = 0;
  virtual double min(double v) = 0;
};

// World of one: every reduction is the identity.
class LocalReducer final : public GradientReducer {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(float*, int64_t) override {}
  void reduce_scatter_sum(const float* send, float* recv, int64_t n) override {
    if (send != recv) std::copy(send, send + n, recv);
  }
  void all_gather(const float* send, float* recv, int64_t n) override {
    if (send != recv) std::copy(send, send + n, recv);
  }
  double sum(double v) override { return v; }
  int64_t sum(int64_t v) override { return v; }
  double max(double v) override { return v; }
  double min(double v) override { return v; }
};

struct TrainStep {
  int64_t step = 0;      // 1-based
  double loss = 0;       // mean over the step's target tokens, all ranks (nats)
  double grad_norm = 0;  // global L2 norm before clipping
  double lr = 0;
  int64_t target_tokens = 0;  // counted targets in the step, all ranks
  double step_time_s = 0;     // wall clock of the whole step, max over ranks
  double comm_time_s = 0;     // time inside reductions during the step, max over ranks
  // Payload of the step's collectives on one rank (the same on every rank), bytes: all_reduce
  // its buffer, reduce_scatter its input (world blocks), all_gather its output (world blocks),
  // 8 per scalar sum; 0 in a world of one, where nothing leaves the process.
  int64_t comm_bytes = 0;
};

struct TrainOptions {
  ModelConfig model;
  DsConfig ds;
  BatchPlan batch;
  int64_t seq_len = 0;
  int64_t steps = 0;
  uint64_t seed = 0;
  const SequenceSource* data = nullptr;
  // Starting weights: empty, the seeded initialisation; otherwise a directory with safetensors
  // weights for this model (train/safetensors.hpp: load_pretrained).
  std::filesystem::path pretrained_dir;
  // Not empty: after the last step rank 0 writes the weights there (config.json and
  // model.safetensors in Hugging Face names, stored as save_dtype).
  std::filesystem::path save_weights_dir;
  DataType save_dtype = DataType::f32;
  // Called on every rank after each step with that step's record (times are this rank's).
  std::function<void(const TrainStep&)> on_step;
  // Test-only fault (SXB_FAULT_INJECT=slow:R[:F], bench/collective_sweep.hpp): above 1, this
  // rank's forward and backward work is stretched that many times (a busy wait of F - 1 times
  // its own CPU time after each micro-batch), so it is the job's straggler.
  int slow_factor = 1;
};

struct TrainRun {
  std::vector<TrainStep> steps;
  int zero_stage = 0;  // the stage applied (DsConfig::zero_stage)
  // Checksum of the parameters after the last step (this rank). CPU reference: their sum
  // (sharded stages gather the full parameters once at the end for it); CUDA engine: the
  // order-independent 64-bit sum of the fp32 master weights' bits, as a double.
  double param_checksum = 0;
  bool replicas_identical = false;  // checksum equal on every rank
  // This rank's own times per step (steps[] hold the maximum over ranks): the wall clock of its
  // step, and its busy time: the thread's CPU time in the step outside communication (its own
  // work: a straggler's is the longest, while the others' wait shows as communication; time the
  // rank was preempted by other processes is not counted). Empty where the engine does not
  // record them.
  std::vector<double> rank_step_time_s, rank_busy_time_s;
};

// Sequence index of element j of micro-batch i of `rank` in step s (0-based): every step takes
// train_batch_size consecutive sequences, micro-batch i of rank r taking the block
// (i * world + r) * micro. The set of sequences per step is independent of the split.
int64_t sequence_index(const BatchPlan& b, int64_t step, int64_t micro_step, int rank, int64_t j);

// Host bytes train_cpu allocates on each rank of a world of `world` ranks: the model's
// parameters, gradients and activations (cpu::LlamaCpu keeps full-size working buffers in every
// stage), the AdamW moments (the rank's shard from stage 1), the gradient shard (stage 2 and 3),
// the parameter shard (stage 3) and the largest communication buffer. Stage 0 equals
// cpu::training_bytes_needed.
uint64_t cpu_training_bytes(const ModelConfig& m, const DsConfig& ds, int world, int64_t B,
                            int64_t T);

// Throws sxb::Error for a zero stage other than 0..3 or a world size that differs from the batch
// plan's.
TrainRun train_cpu(const TrainOptions& o, GradientReducer& job);

}  // namespace sxb
