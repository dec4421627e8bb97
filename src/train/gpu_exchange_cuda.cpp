#include <fmt/format.h>

#include <chrono>

#include "core/error.hpp"
#include "train/gpu_exchange.hpp"

namespace sxb::gpu {

GradientExchange::GradientExchange(Communicator& comm, cudaStream_t compute)
    : comm_(comm), compute_(compute) {
  if (comm_.memory_space() == MemorySpace::cuda) {
    comm_stream_ = static_cast<cudaStream_t>(comm_.native_stream());
    if (!comm_stream_) throw runtime_error("gradient exchange: the nccl communicator has no stream");
    cuda_check(cudaEventCreateWithFlags(&backward_done_, cudaEventDefault), "cudaEventCreate");
    cuda_check(cudaEventCreateWithFlags(&comm_done_, cudaEventDefault), "cudaEventCreate");
  }
}

GradientExchange::~GradientExchange() {
  for (cudaEvent_t e : ready_) cudaEventDestroy(e);
  if (backward_done_) cudaEventDestroy(backward_done_);
  if (comm_done_) cudaEventDestroy(comm_done_);
}

std::string GradientExchange::method() const {
  if (comm_stream_) {
    return fmt::format(
        "{}: all_reduce (fp32 sum) of each parameter unit's gradients on the communicator's "
        "stream as soon as the unit's backward is done, overlapping the rest of the backward",
        comm_.library_version());
  }
  return fmt::format(
      "{}: host-staged all_reduce (fp32 sum) of each unit's gradients (device -> pinned host -> "
      "MPI -> device), synchronous, fully exposed",
      comm_.library_version());
}

void GradientExchange::unit_ready(float* grads, int64_t n) {
  const size_t bytes = size_t(n) * sizeof(float);
  bytes_ += bytes;
  if (comm_stream_) {
    if (next_ready_ == ready_.size()) {
      cudaEvent_t e = nullptr;
      cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      ready_.push_back(e);
    }
    cudaEvent_t e = ready_[next_ready_++];
    cuda_check(cudaEventRecord(e, compute_), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(comm_stream_, e, 0), "cudaStreamWaitEvent");
    comm_.all_reduce(grads, grads, size_t(n), DataType::f32);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (bytes > staging_bytes_) {
    staging_ = std::make_unique<PinnedBuffer>(bytes);
    staging_bytes_ = bytes;
  }
  void* host = staging_->get();
  cuda_check(cudaMemcpyAsync(host, grads, bytes, cudaMemcpyDeviceToHost, compute_),
             "gradient exchange: copy to host");
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  comm_.all_reduce(host, host, size_t(n), DataType::f32);
  cuda_check(cudaMemcpyAsync(grads, host, bytes, cudaMemcpyHostToDevice, compute_),
             "gradient exchange: copy to device");
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  host_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void GradientExchange::finish() {
  if (!comm_stream_) return;
  cuda_check(cudaEventRecord(backward_done_, compute_), "cudaEventRecord");
  cuda_check(cudaEventRecord(comm_done_, comm_stream_), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(compute_, comm_done_, 0), "cudaStreamWaitEvent");
  pending_timing_ = true;
}

double GradientExchange::take_exposed_ms() {
  double ms = host_ms_;
  host_ms_ = 0;
  next_ready_ = 0;
  if (pending_timing_) {
    cuda_check(cudaEventSynchronize(comm_done_), "gradient exchange");
    float t = 0;
    // Both events are complete; a negative interval means the exchanges ended first (hidden).
    if (cudaEventElapsedTime(&t, backward_done_, comm_done_) == cudaSuccess && t > 0) ms += t;
    pending_timing_ = false;
  }
  return ms;
}

uint64_t GradientExchange::take_bytes() {
  const uint64_t b = bytes_;
  bytes_ = 0;
  return b;
}

}  // namespace sxb::gpu
