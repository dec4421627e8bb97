#pragma once
// Small RAII owners of CUDA objects (device and pinned buffers, streams, event pairs) for the
// compute benchmarks and the training engine; creation failures throw through cuda_check.
// CUDA builds only.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "platform/cuda_check.hpp"

namespace sxb {

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    cuda_check(cudaMalloc(&ptr_, bytes ? bytes : 1), "cudaMalloc(" + std::to_string(bytes) + ")");
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Where a stream's pending blocks are scheduled relative to other streams' (the device's range).
enum class StreamPriority { normal, highest, lowest };

class Stream {
 public:
  explicit Stream(StreamPriority p = StreamPriority::normal) {
    int least = 0, greatest = 0;
    cuda_check(cudaDeviceGetStreamPriorityRange(&least, &greatest),
               "cudaDeviceGetStreamPriorityRange");
    const int prio = p == StreamPriority::highest  ? greatest
                     : p == StreamPriority::lowest ? least
                                                   : 0;
    cuda_check(cudaStreamCreateWithPriority(&s_, cudaStreamNonBlocking, prio), "cudaStreamCreate");
  }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class EventPairs {
 public:
  explicit EventPairs(int n) : start_(n), stop_(n) {
    for (int i = 0; i < n; ++i) {
      cuda_check(cudaEventCreate(&start_[i]), "cudaEventCreate");
      cuda_check(cudaEventCreate(&stop_[i]), "cudaEventCreate");
    }
  }
  ~EventPairs() {
    for (auto e : start_) cudaEventDestroy(e);
    for (auto e : stop_) cudaEventDestroy(e);
  }
  EventPairs(const EventPairs&) = delete;
  EventPairs& operator=(const EventPairs&) = delete;
  cudaEvent_t start(int i) const { return start_[i]; }
  cudaEvent_t stop(int i) const { return stop_[i]; }
  double elapsed_us(int i) const {
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, start_[i], stop_[i]), "cudaEventElapsedTime");
    return ms * 1000.0;
  }

 private:
  std::vector<cudaEvent_t> start_, stop_;
};

// Page-locked host memory (cudaHostAlloc), so copies run at the link's DMA rate.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(size_t bytes) {
    cuda_check(cudaHostAlloc(&ptr_, bytes ? bytes : 1, cudaHostAllocPortable),
               "cudaHostAlloc(" + std::to_string(bytes) + ")");
  }
  ~PinnedBuffer() { cudaFreeHost(ptr_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

}  // namespace sxb
