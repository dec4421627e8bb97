// Bandwidth and latency timing for `sxbench compute`: HBM kernels, pinned host copies, GPU-to-GPU
// copies by copy engine and by SM kernel, pointer-chase latency; plus device and peer queries.
// Every figure is timed with CUDA events recorded on the issuing stream, one pair per run.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/compute_device.hpp"
#include "bench/compute_kernels.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "platform/cuda_resources.hpp"

namespace sxb {

namespace {

int sm_count(int device) {
  int n = 0;
  cuda_check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute(multiprocessors)");
  return n;
}

// 8 blocks of 256 threads per SM: 2048 resident threads, the Hopper maximum.
int memory_blocks(int device) {
  return sm_count(device) * 8;
}

std::string version_text(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Lets `from` address `to`'s memory; a second call is harmless.
void enable_peer(int from, int to) {
  if (from == to) return;
  cuda_check(cudaSetDevice(from), "cudaSetDevice");
  const cudaError_t e = cudaDeviceEnablePeerAccess(to, 0);
  if (e == cudaErrorPeerAccessAlreadyEnabled) {
    cudaGetLastError();
    return;
  }
  cuda_check(
      e, "cudaDeviceEnablePeerAccess(" + std::to_string(from) + " -> " + std::to_string(to) + ")");
}

class DeviceBufferOn {
 public:
  DeviceBufferOn(int device, size_t bytes) {
    cuda_check(cudaSetDevice(device), "cudaSetDevice");
    buf_ = std::make_unique<DeviceBuffer>(bytes);
  }
  void* get() const { return buf_->get(); }

 private:
  std::unique_ptr<DeviceBuffer> buf_;
};

}  // namespace

std::vector<ComputeDevice> query_compute_devices() {
  int n = 0;
  cuda_check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  std::vector<ComputeDevice> out;
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    cuda_check(cudaGetDeviceProperties(&p, d), "cudaGetDeviceProperties");
    char bus[32] = {};
    cuda_check(cudaDeviceGetPCIBusId(bus, sizeof bus, d), "cudaDeviceGetPCIBusId");
    ComputeDevice c;
    c.index = d;
    c.name = p.name;
    c.pci_bus_id = bus;
    c.sm_count = p.multiProcessorCount;
    c.compute_capability_major = p.major;
    c.compute_capability_minor = p.minor;
    c.l2_bytes = static_cast<uint64_t>(p.l2CacheSize);
    c.memory_bytes = p.totalGlobalMem;
    out.push_back(c);
  }
  return out;
}

std::string cuda_runtime_version_string() {
  int v = 0;
  cuda_check(cudaRuntimeGetVersion(&v), "cudaRuntimeGetVersion");
  return version_text(v);
}

std::string cuda_driver_version_string() {
  int v = 0;
  cuda_check(cudaDriverGetVersion(&v), "cudaDriverGetVersion");
  return version_text(v);
}

HbmTiming time_hbm(int device, HbmKernel kernel, uint64_t bytes, int warmup_iters, int iters) {
  if (bytes < 16 || bytes % 16 != 0) {
    throw usage_error("HBM buffer size must be a multiple of 16 bytes");
  }
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  Stream stream;
  const size_t vectors = bytes / 16;
  DeviceBuffer src(kernel == HbmKernel::write ? 16 : bytes);
  const bool writes = kernel != HbmKernel::read;
  DeviceBuffer dst(writes ? bytes : 16);
  DeviceBuffer sink(16);
  if (kernel != HbmKernel::write) {
    launch_fill_random(src.get(), bytes / 4, FillType::f32, 7, stream.get());
  }
  MemKernelShape shape;
  const auto once = [&] {
    switch (kernel) {
      case HbmKernel::copy:
        launch_copy16(src.get(), dst.get(), vectors, shape, stream.get());
        break;
      case HbmKernel::read:
        launch_read16(src.get(), vectors, static_cast<unsigned*>(sink.get()), shape, stream.get());
        break;
      case HbmKernel::write:
        launch_write16(dst.get(), vectors, shape, stream.get());
        break;
      case HbmKernel::memcpy:
        cuda_check(
            cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()),
            "cudaMemcpyAsync(D2D)");
        break;
    }
  };
  const auto timed = [&](int warm, int n) {
    for (int i = 0; i < warm; ++i) once();
    EventPairs ev(n);
    for (int i = 0; i < n; ++i) {
      cuda_check(cudaEventRecord(ev.start(i), stream.get()), "cudaEventRecord");
      once();
      cuda_check(cudaEventRecord(ev.stop(i), stream.get()), "cudaEventRecord");
    }
    cuda_check(cudaStreamSynchronize(stream.get()), "HBM timing");
    std::vector<double> times;
    for (int i = 0; i < n; ++i) times.push_back(ev.elapsed_us(i));
    return times;
  };
  HbmTiming t;
  if (kernel == HbmKernel::memcpy) {
    t.kernel = "cudaMemcpyAsync device-to-device";
  } else {
    // Launch shape chosen by measurement: each candidate's median over 3 passes, fastest kept.
    double best_us = 0;
    MemKernelShape best;
    for (const MemKernelShape& candidate : mem_kernel_shapes(sm_count(device))) {
      shape = candidate;
      const double us = median_of(timed(1, 3), IfEmpty::error);
      if (best_us == 0 || us < best_us) {
        best_us = us;
        best = candidate;
      }
    }
    shape = best;
    t.kernel = shape.describe(vectors);
  }
  t.times_us = timed(warmup_iters, iters);
  return t;
}

std::vector<double> time_host_copy(int device, bool host_to_device, uint64_t bytes,
                                   int warmup_iters, int iters) {
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  Stream stream;
  PinnedBuffer host(bytes);
  std::memset(host.get(), 0x5A, bytes);  // touch every page before timing
  DeviceBuffer dev(bytes);
  const auto once = [&] {
    cuda_check(
        host_to_device
            ? cudaMemcpyAsync(dev.get(), host.get(), bytes, cudaMemcpyHostToDevice, stream.get())
            : cudaMemcpyAsync(host.get(), dev.get(), bytes, cudaMemcpyDeviceToHost, stream.get()),
        host_to_device ? "cudaMemcpyAsync(H2D)" : "cudaMemcpyAsync(D2H)");
  };
  for (int i = 0; i < warmup_iters; ++i) once();
  EventPairs ev(iters);
  for (int i = 0; i < iters; ++i) {
    cuda_check(cudaEventRecord(ev.start(i), stream.get()), "cudaEventRecord");
    once();
    cuda_check(cudaEventRecord(ev.stop(i), stream.get()), "cudaEventRecord");
  }
  cuda_check(cudaStreamSynchronize(stream.get()), "host copy timing");
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) times.push_back(ev.elapsed_us(i));
  return times;
}

std::vector<double> time_p2p(int src, int dst, P2PEngine engine, bool bidirectional, uint64_t bytes,
                             int warmup_iters, int iters) {
  if (bytes < 16 || bytes % 16 != 0)
    throw usage_error("p2p buffer size must be a multiple of 16 bytes");
  if (engine == P2PEngine::sm) {
    enable_peer(src, dst);
    enable_peer(dst, src);
  } else if (src != dst) {
    // Copy engines use the direct path when peer access is on, else cudaMemcpyPeer stages.
    int can = 0;
    cuda_check(cudaDeviceCanAccessPeer(&can, src, dst), "cudaDeviceCanAccessPeer");
    if (can) {
      enable_peer(src, dst);
      enable_peer(dst, src);
    }
  }
  DeviceBufferOn src_out(src, bytes), src_in(src, bytes);
  DeviceBufferOn dst_out(dst, bytes), dst_in(dst, bytes);
  cuda_check(cudaSetDevice(dst), "cudaSetDevice");
  Stream dst_stream;
  cudaEvent_t dst_done = nullptr;
  cuda_check(cudaEventCreateWithFlags(&dst_done, cudaEventDisableTiming), "cudaEventCreate");
  launch_fill_random(dst_out.get(), bytes / 4, FillType::f32, 11, dst_stream.get());
  cuda_check(cudaStreamSynchronize(dst_stream.get()), "p2p fill");
  cuda_check(cudaSetDevice(src), "cudaSetDevice");
  Stream src_stream;
  launch_fill_random(src_out.get(), bytes / 4, FillType::f32, 13, src_stream.get());
  cuda_check(cudaStreamSynchronize(src_stream.get()), "p2p fill");
  const MemKernelShape shape{256, 8, 0};

  EventPairs ev(warmup_iters + iters);
  // Forward on src's stream; the reverse direction on dst's stream, started after ev.start and
  // joined before ev.stop, so the interval covers both.
  const auto once = [&](int i) {
    cuda_check(cudaSetDevice(src), "cudaSetDevice");
    cuda_check(cudaEventRecord(ev.start(i), src_stream.get()), "cudaEventRecord");
    if (bidirectional) {
      cuda_check(cudaStreamWaitEvent(dst_stream.get(), ev.start(i), 0), "cudaStreamWaitEvent");
    }
    if (engine == P2PEngine::copy_engine) {
      cuda_check(
          cudaMemcpyPeerAsync(dst_in.get(), dst, src_out.get(), src, bytes, src_stream.get()),
          "cudaMemcpyPeerAsync");
    } else {
      launch_copy16(src_out.get(), dst_in.get(), bytes / 16, shape, src_stream.get());
    }
    if (bidirectional) {
      cuda_check(cudaSetDevice(dst), "cudaSetDevice");
      if (engine == P2PEngine::copy_engine) {
        cuda_check(
            cudaMemcpyPeerAsync(src_in.get(), src, dst_out.get(), dst, bytes, dst_stream.get()),
            "cudaMemcpyPeerAsync");
      } else {
        launch_copy16(dst_out.get(), src_in.get(), bytes / 16, shape, dst_stream.get());
      }
      cuda_check(cudaEventRecord(dst_done, dst_stream.get()), "cudaEventRecord");
      cuda_check(cudaSetDevice(src), "cudaSetDevice");
      cuda_check(cudaStreamWaitEvent(src_stream.get(), dst_done, 0), "cudaStreamWaitEvent");
    }
    cuda_check(cudaEventRecord(ev.stop(i), src_stream.get()), "cudaEventRecord");
  };
  for (int i = 0; i < warmup_iters + iters; ++i) once(i);
  cuda_check(cudaStreamSynchronize(src_stream.get()), "p2p timing");
  std::vector<double> times;
  for (int i = warmup_iters; i < warmup_iters + iters; ++i) times.push_back(ev.elapsed_us(i));
  cudaEventDestroy(dst_done);
  return times;
}

double pointer_chase_latency_us(int src, int dst, uint64_t footprint_bytes, int loads) {
  enable_peer(src, dst);
  // One slot per 4 KiB; a single random cycle through all slots (Sattolo's algorithm), so every
  // load depends on the last and lands on a different page.
  constexpr uint64_t kSlotElems = 4096 / sizeof(uint64_t);
  const uint64_t slots = std::max<uint64_t>(2, footprint_bytes / 4096);
  std::vector<uint64_t> order(slots);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(42);
  for (uint64_t i = slots - 1; i > 0; --i) {
    std::uniform_int_distribution<uint64_t> pick(0, i - 1);
    std::swap(order[i], order[pick(rng)]);
  }
  std::vector<uint64_t> chain(slots * kSlotElems, 0);
  for (uint64_t i = 0; i < slots; ++i) chain[i * kSlotElems] = order[i] * kSlotElems;
  DeviceBufferOn chain_dev(dst, chain.size() * sizeof(uint64_t));
  cuda_check(cudaMemcpy(chain_dev.get(), chain.data(), chain.size() * sizeof(uint64_t),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy(chain)");
  DeviceBufferOn sink(src, sizeof(uint64_t));
  cuda_check(cudaSetDevice(src), "cudaSetDevice");
  Stream stream;
  const auto* chain_ptr = static_cast<const uint64_t*>(chain_dev.get());
  auto* sink_ptr = static_cast<uint64_t*>(sink.get());
  launch_pointer_chase(chain_ptr, std::min(loads, 1000), sink_ptr, stream.get());  // warm-up
  EventPairs ev(1);
  cuda_check(cudaEventRecord(ev.start(0), stream.get()), "cudaEventRecord");
  launch_pointer_chase(chain_ptr, loads, sink_ptr, stream.get());
  cuda_check(cudaEventRecord(ev.stop(0), stream.get()), "cudaEventRecord");
  cuda_check(cudaStreamSynchronize(stream.get()), "pointer chase");
  return ev.elapsed_us(0) / loads;
}

std::vector<double> time_small_peer_copy(int src, int dst, int warmup_iters, int iters) {
  int can = 0;
  if (src != dst) {
    cuda_check(cudaDeviceCanAccessPeer(&can, src, dst), "cudaDeviceCanAccessPeer");
    if (can) enable_peer(src, dst);
  }
  DeviceBufferOn from(src, 16), to(dst, 16);
  cuda_check(cudaSetDevice(src), "cudaSetDevice");
  Stream stream;
  EventPairs ev(warmup_iters + iters);
  for (int i = 0; i < warmup_iters + iters; ++i) {
    cuda_check(cudaEventRecord(ev.start(i), stream.get()), "cudaEventRecord");
    cuda_check(cudaMemcpyPeerAsync(to.get(), dst, from.get(), src, 4, stream.get()),
               "cudaMemcpyPeerAsync");
    cuda_check(cudaEventRecord(ev.stop(i), stream.get()), "cudaEventRecord");
  }
  cuda_check(cudaStreamSynchronize(stream.get()), "small peer copy");
  std::vector<double> times;
  for (int i = warmup_iters; i < warmup_iters + iters; ++i) times.push_back(ev.elapsed_us(i));
  return times;
}

PeerAttributes peer_attributes(int a, int b) {
  PeerAttributes p;
  int v = 0;
  cuda_check(cudaDeviceCanAccessPeer(&v, a, b), "cudaDeviceCanAccessPeer");
  p.access = v != 0;
  if (cudaDeviceGetP2PAttribute(&v, cudaDevP2PAttrPerformanceRank, a, b) == cudaSuccess) {
    p.performance_rank = v;
  } else {
    cudaGetLastError();
  }
  if (cudaDeviceGetP2PAttribute(&v, cudaDevP2PAttrNativeAtomicSupported, a, b) == cudaSuccess) {
    p.native_atomics = v != 0;
  } else {
    cudaGetLastError();
  }
  return p;
}

}  // namespace sxb
