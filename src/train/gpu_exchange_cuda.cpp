#include <fmt/format.h>

#include <algorithm>
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
    for (auto& pair : gather_ev_) {
      for (cudaEvent_t& e : pair) {
        cuda_check(cudaEventCreateWithFlags(&e, cudaEventDefault), "cudaEventCreate");
      }
    }
  }
}

GradientExchange::~GradientExchange() {
  for (auto& pair : gather_ev_) {
    for (cudaEvent_t e : pair) {
      if (e) cudaEventDestroy(e);
    }
  }
  for (cudaEvent_t e : ready_) cudaEventDestroy(e);
  if (backward_done_) cudaEventDestroy(backward_done_);
  if (comm_done_) cudaEventDestroy(comm_done_);
}

std::string GradientExchange::method(int zero_stage) const {
  const char* grads = zero_stage >= 2
                          ? "reduce (fp32 sum) of each parameter unit's gradients into the owners' "
                            "shards"
                          : "all_reduce (fp32 sum) of each parameter unit's gradients";
  const char* weights = zero_stage >= 3   ? "; each unit's weights broadcast from their owners "
                                            "before its forward and backward"
                        : zero_stage >= 1 ? "; the updated bf16 shards all-gathered after AdamW"
                                          : "";
  if (comm_stream_) {
    return fmt::format(
        "{}: {} on the communicator's stream as soon as the unit's backward is done, "
        "overlapping the rest of the backward{}",
        comm_.library_version(), grads, weights);
  }
  return fmt::format(
      "{}: host-staged {} (device -> pinned host -> MPI -> device){}, synchronous, fully exposed",
      comm_.library_version(), grads, weights);
}

void GradientExchange::follow_compute() {
  if (next_ready_ == ready_.size()) {
    cudaEvent_t e = nullptr;
    cuda_check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    ready_.push_back(e);
  }
  cudaEvent_t e = ready_[next_ready_++];
  cuda_check(cudaEventRecord(e, compute_), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(comm_stream_, e, 0), "cudaStreamWaitEvent");
}

void* GradientExchange::staging(size_t bytes) {
  if (bytes > staging_bytes_) {
    staging_ = std::make_unique<PinnedBuffer>(bytes);
    staging_bytes_ = bytes;
  }
  return staging_->get();
}

void GradientExchange::unit_ready(float* grads, int64_t n) {
  const size_t bytes = size_t(n) * sizeof(float);
  bytes_ += bytes;
  if (comm_stream_) {
    follow_compute();
    comm_.all_reduce(grads, grads, size_t(n), DataType::f32);
    return;
  }
  // The compute queued so far finishes first, so host_ms_ holds the exchange alone.
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  const auto t0 = std::chrono::steady_clock::now();
  void* host = staging(bytes);
  cuda_check(cudaMemcpyAsync(host, grads, bytes, cudaMemcpyDeviceToHost, compute_),
             "gradient exchange: copy to host");
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  comm_.all_reduce(host, host, size_t(n), DataType::f32);
  cuda_check(cudaMemcpyAsync(grads, host, bytes, cudaMemcpyHostToDevice, compute_),
             "gradient exchange: copy to device");
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  host_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void GradientExchange::set_shards(int64_t shard_elements, int64_t total_elements) {
  shard_elements_ = shard_elements;
  total_elements_ = total_elements;
}

std::vector<GradientExchange::Part> GradientExchange::parts(int64_t offset, int64_t count) const {
  if (shard_elements_ <= 0) throw runtime_error("gradient exchange: no shard layout");
  const int64_t S = shard_elements_, end = offset + count;
  std::vector<Part> out;  // [max(offset, o S), min(end, (o + 1) S))
  for (int64_t o = offset / S; o * S < end; ++o) {
    const int64_t a = std::max(offset, o * S), b = std::min({end, (o + 1) * S, total_elements_});
    if (a < b) out.push_back({int(o), a, b - a});
  }
  return out;
}

void GradientExchange::gather_unit(bf16* unit, int64_t offset, int64_t count, const bf16* shard,
                                   cudaEvent_t free, cudaEvent_t updated, cudaEvent_t done) {
  const int r = comm_.rank();
  const int64_t S = shard_elements_;
  bytes_ += uint64_t(count) * sizeof(bf16);
  const std::vector<Part> ps = parts(offset, count);
  if (comm_stream_) {
    cuda_check(cudaStreamWaitEvent(comm_stream_, free, 0), "cudaStreamWaitEvent");
    cuda_check(cudaStreamWaitEvent(comm_stream_, updated, 0), "cudaStreamWaitEvent");
    for (const Part& p : ps) {
      const bf16* src = shard + (p.begin - int64_t(p.owner) * S);
      comm_.broadcast(p.owner == r ? src : nullptr, unit + (p.begin - offset), size_t(p.size),
                      DataType::bf16, p.owner);
    }
    cuda_check(cudaEventRecord(done, comm_stream_), "cudaEventRecord");
    return;
  }
  cuda_check(cudaEventSynchronize(free), "weight gather");
  cuda_check(cudaEventSynchronize(updated), "weight gather");
  cuda_check(cudaStreamSynchronize(compute_), "weight gather");
  const auto t0 = std::chrono::steady_clock::now();
  const size_t bytes = size_t(count) * sizeof(bf16);
  char* host = static_cast<char*>(staging(bytes));
  for (const Part& p : ps) {
    char* h = host + size_t(p.begin - offset) * sizeof(bf16);
    if (p.owner == r) {
      cuda_check(cudaMemcpyAsync(h, shard + (p.begin - int64_t(r) * S),
                                 size_t(p.size) * sizeof(bf16), cudaMemcpyDeviceToHost, compute_),
                 "weight gather: copy to host");
      cuda_check(cudaStreamSynchronize(compute_), "weight gather");
    }
    comm_.broadcast(h, h, size_t(p.size), DataType::bf16, p.owner);
  }
  cuda_check(cudaMemcpyAsync(unit, host, bytes, cudaMemcpyHostToDevice, compute_),
             "weight gather: copy to device");
  cuda_check(cudaStreamSynchronize(compute_), "weight gather");
  cuda_check(cudaEventRecord(done, compute_), "cudaEventRecord");
  host_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void GradientExchange::reduce_unit(float* grads, int64_t offset, int64_t count, bool accumulate,
                                   float* shard, cudaEvent_t done) {
  const int r = comm_.rank();
  const int64_t S = shard_elements_;
  bytes_ += uint64_t(count) * sizeof(float);
  const std::vector<Part> parts = this->parts(offset, count);
  if (comm_stream_) {
    follow_compute();
    for (const Part& p : parts) {
      float* src = grads + (p.begin - offset);
      float* dst = shard + (p.begin - int64_t(p.owner) * S);
      if (accumulate && p.owner == r) add_into(src, dst, p.size, comm_stream_);
      comm_.reduce(src, p.owner == r ? dst : src, size_t(p.size), DataType::f32, p.owner);
    }
    cuda_check(cudaEventRecord(done, comm_stream_), "cudaEventRecord");
    return;
  }
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  const auto t0 = std::chrono::steady_clock::now();
  const size_t bytes = size_t(count) * sizeof(float);
  float* host = static_cast<float*>(staging(bytes));
  for (const Part& p : parts) {
    float* src = grads + (p.begin - offset);
    float* dst = shard + (p.begin - int64_t(p.owner) * S);
    if (accumulate && p.owner == r) add_into(src, dst, p.size, compute_);
  }
  cuda_check(cudaMemcpyAsync(host, grads, bytes, cudaMemcpyDeviceToHost, compute_),
             "gradient exchange: copy to host");
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  for (const Part& p : parts) {
    float* h = host + (p.begin - offset);
    comm_.reduce(h, h, size_t(p.size), DataType::f32, p.owner);
    if (p.owner == r) {
      cuda_check(cudaMemcpyAsync(shard + (p.begin - int64_t(r) * S), h,
                                 size_t(p.size) * sizeof(float), cudaMemcpyHostToDevice, compute_),
                 "gradient exchange: copy to device");
    }
  }
  cuda_check(cudaStreamSynchronize(compute_), "gradient exchange");
  cuda_check(cudaEventRecord(done, compute_), "cudaEventRecord");
  host_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void GradientExchange::collect_gathers() {
  // Weight gathers that have completed (the forward that needed them waited for them).
  for (int i = 0; i < 2; ++i) {
    if (!gather_pending_[i] || cudaEventQuery(gather_ev_[i][1]) != cudaSuccess) continue;
    float t = 0;
    if (cudaEventElapsedTime(&t, gather_ev_[i][0], gather_ev_[i][1]) == cudaSuccess && t > 0) {
      gather_ms_ += t;
    }
    gather_pending_[i] = false;
  }
}

void GradientExchange::gather_weights(bf16* w, int64_t shard_elements, cudaStream_t stream) {
  const int r = comm_.rank(), W = comm_.size();
  const size_t shard_bytes = size_t(shard_elements) * sizeof(bf16);
  bytes_ += shard_bytes * size_t(W);  // nccl-tests' size of an all_gather: the output
  if (comm_stream_) {
    const int slot = next_gather_;
    next_gather_ ^= 1;
    if (gather_pending_[slot]) {  // two steps old: complete (its forward waited for it)
      cuda_check(cudaEventSynchronize(gather_ev_[slot][1]), "weight gather");
      collect_gathers();
    }
    cuda_check(cudaEventRecord(gather_ev_[slot][0], stream), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(comm_stream_, gather_ev_[slot][0], 0), "cudaStreamWaitEvent");
    comm_.all_gather(w + int64_t(r) * shard_elements, w, size_t(shard_elements), DataType::bf16);
    cuda_check(cudaEventRecord(gather_ev_[slot][1], comm_stream_), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream, gather_ev_[slot][1], 0), "cudaStreamWaitEvent");
    gather_pending_[slot] = true;
    return;
  }
  cuda_check(cudaStreamSynchronize(stream), "weight gather");
  const auto t0 = std::chrono::steady_clock::now();
  const size_t bytes = shard_bytes * size_t(W);
  char* host = static_cast<char*>(staging(bytes));
  char* own = host + size_t(r) * shard_bytes;
  cuda_check(cudaMemcpyAsync(own, w + int64_t(r) * shard_elements, shard_bytes,
                             cudaMemcpyDeviceToHost, stream),
             "weight gather: copy to host");
  cuda_check(cudaStreamSynchronize(stream), "weight gather");
  comm_.all_gather(own, host, size_t(shard_elements), DataType::bf16);
  cuda_check(cudaMemcpyAsync(w, host, bytes, cudaMemcpyHostToDevice, stream),
             "weight gather: copy to device");
  cuda_check(cudaStreamSynchronize(stream), "weight gather");
  host_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void GradientExchange::begin_window() { window_start_host_ms_ = host_ms_; }

void GradientExchange::finish() {
  window_host_ms_ = host_ms_ - window_start_host_ms_;
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
  collect_gathers();
  ms += gather_ms_;
  gather_ms_ = 0;
  window_exposed_ms_ = window_host_ms_;
  if (pending_timing_) {
    cuda_check(cudaEventSynchronize(comm_done_), "gradient exchange");
    float t = 0;
    // Both events are complete; a negative interval means the exchanges ended first (hidden).
    if (cudaEventElapsedTime(&t, backward_done_, comm_done_) == cudaSuccess && t > 0) {
      ms += t;
      window_exposed_ms_ += t;
    }
    pending_timing_ = false;
  }
  window_host_ms_ = 0;
  return ms;
}

uint64_t GradientExchange::take_bytes() {
  const uint64_t b = bytes_;
  bytes_ = 0;
  return b;
}

}  // namespace sxb::gpu
