#pragma once
// The data-parallel training loop of the CPU reference: each rank runs its micro-batches of a
// step, gradients are all-reduced (sum, then divided by the world size), clipped, and every
// replica takes the same AdamW step.
#include <cstdint>
#include <functional>
#include <vector>

#include "train/ds_config.hpp"
#include "train/model_config.hpp"
#include "train/token_data.hpp"

namespace sxb {

// The job as the trainer sees it. Implementations: one process (local_reducer) or the MPI job
// through the Communicator (see commands/train.cpp).
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual void all_reduce_sum(float* data, int64_t count) = 0;  // in place, fp32
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
};

struct TrainOptions {
  ModelConfig model;
  DsConfig ds;
  BatchPlan batch;
  int64_t seq_len = 0;
  int64_t steps = 0;
  uint64_t seed = 0;
  const SequenceSource* data = nullptr;
  // Called on every rank after each step with that step's record (times are this rank's).
  std::function<void(const TrainStep&)> on_step;
};

struct TrainRun {
  std::vector<TrainStep> steps;
  double param_checksum = 0;        // sum of all parameters after the last step (this rank)
  bool replicas_identical = false;  // checksum equal on every rank
};

// Sequence index of element j of micro-batch i of `rank` in step s (0-based): every step takes
// train_batch_size consecutive sequences, micro-batch i of rank r taking the block
// (i * world + r) * micro. The set of sequences per step is independent of the split.
int64_t sequence_index(const BatchPlan& b, int64_t step, int64_t micro_step, int rank, int64_t j);

TrainRun train_cpu(const TrainOptions& o, GradientReducer& job);

}  // namespace sxb
