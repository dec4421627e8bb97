#pragma once
// Data-parallel exchange of the CUDA engine: the collectives of its ZeRO stages, as the table
// in train/zero.hpp states them (stage 0-1 gradients: unit_ready; stage 2-3 gradients:
// reduce_unit; stage 1-2 weights: gather_weights; stage 3 weights: gather_unit). Each starts as
// soon as its input is final: a unit's gradients when the backward has finished the unit (the
// backward runs from the output head to the embedding), the weights when AdamW has written the
// shard. CUDA builds only.
//   nccl: on the communicator's own stream, ordered after the work it needs by an event, so the
//         gradient collectives overlap the backward of the units below; finish() makes the
//         compute stream wait for the last one. Exposed time: from the end of the backward to
//         the end of the last gradient collective (CUDA events), zero when fully hidden, plus the
//         stage 1-2 weight all_gather, which the next forward waits for whole, counted in the
//         step whose forward waits for it (the next one, or the last step itself).
//   mpi:  host-staged (device -> pinned host -> MPI -> device) and synchronous: for ranks that
//         share a GPU (tests) or machines without NCCL. All of it is exposed.
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "platform/cuda_resources.hpp"
#include "train/gpu_ops.hpp"

namespace sxb::gpu {

class GradientExchange {
 public:
  GradientExchange(Communicator& comm, cudaStream_t compute);
  ~GradientExchange();
  GradientExchange(const GradientExchange&) = delete;
  GradientExchange& operator=(const GradientExchange&) = delete;

  // Stages 0-1: sum over ranks of grads[0..n) (fp32) in place, after everything enqueued on the
  // compute stream.
  void unit_ready(float* grads, int64_t n);
  // The step's forward and backward start on the compute stream (after its start event).
  void begin_window();
  // The compute stream waits for every exchange of this step.
  void finish();
  // Stages 2-3: the shard layout (S elements per rank of the P-element flat buffer).
  void set_shards(int64_t shard_elements, int64_t total_elements);
  // Stages 2-3: sum over ranks of grads[0..count) (fp32, flat elements offset..) into the
  // owners' shards (this rank's part at shard[flat - rank S]), after the work queued on the
  // compute stream; with `accumulate` the owner adds its shard's current values. Records `done`
  // when grads may be overwritten.
  void reduce_unit(float* grads, int64_t offset, int64_t count, bool accumulate, float* shard,
                   cudaEvent_t done);
  // Stage 3: bf16 weights of flat elements offset..offset+count from their owners' shards (this
  // rank's part at shard[flat - rank S]) into `unit`, after `free` (the compute stream is done
  // with the buffer) and `updated` (this rank's AdamW has written its shard); records `done`.
  void gather_unit(bf16* unit, int64_t offset, int64_t count, const bf16* shard, cudaEvent_t free,
                   cudaEvent_t updated, cudaEvent_t done);
  // Stages 1-2: in-place all_gather of the working copy w (W x S bf16 elements, rank r's shard at
  // r S after the work queued on `stream`); `stream` waits for it.
  void gather_weights(bf16* w, int64_t shard_elements, cudaStream_t stream);
  // After the step's synchronisation: milliseconds the step's exchanges were exposed, and the
  // payload bytes of this rank in the step; both reset for the next step.
  double take_exposed_ms();
  uint64_t take_bytes();
  // After take_exposed_ms: the part of that step's exposed time that lies between begin_window()
  // and the end of finish()'s wait (host-staged exchanges made in the forward and backward; the
  // wait for the last gradient collective), so the compute stream's time over that window less
  // this is the rank's own work. Stage 3's waits for weight gathers are not in it.
  double window_exposed_ms() const { return window_exposed_ms_; }

  // What the exchange does at this ZeRO stage, for sft_metrics.json.
  std::string method(int zero_stage) const;

 private:
  Communicator& comm_;
  cudaStream_t compute_;
  cudaStream_t comm_stream_ = nullptr;  // nccl only
  std::vector<cudaEvent_t> ready_;      // one per unit of a step, reused
  size_t next_ready_ = 0;
  cudaEvent_t backward_done_ = nullptr, comm_done_ = nullptr;
  bool pending_timing_ = false;
  double host_ms_ = 0;  // mpi: wall time of the staged exchanges (their copies and MPI)
  double window_start_host_ms_ = 0, window_host_ms_ = 0, window_exposed_ms_ = 0;
  uint64_t bytes_ = 0;
  std::unique_ptr<PinnedBuffer> staging_;  // mpi only, grown to the largest unit
  size_t staging_bytes_ = 0;
  // nccl weight gathers not yet counted: (start, end) event pairs, two in flight at most.
  cudaEvent_t gather_ev_[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};
  bool gather_pending_[2] = {false, false};
  int next_gather_ = 0;
  double gather_ms_ = 0;  // completed gathers not yet reported
  int64_t shard_elements_ = 0, total_elements_ = 0;
  void collect_gathers();
  // nccl: the communicator's stream waits for the work queued on the compute stream so far.
  void follow_compute();
  // mpi: the page-locked staging buffer, grown to at least `bytes`.
  void* staging(size_t bytes);
  struct Part {
    int owner;
    int64_t begin, size;
  };
  // The parts of flat elements [offset, offset + count) by shard owner.
  std::vector<Part> parts(int64_t offset, int64_t count) const;
};

}  // namespace sxb::gpu
