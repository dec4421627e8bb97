#pragma once
// The device side of `sxbench compute`: plain C++ declarations of what the CUDA files measure
// (gemm_cublaslt_cuda.cpp: GEMMs and their check; membw_cuda.cpp: HBM, host copies, peer copies,
// latency and the device and peer queries; both launch compute_kernels.cu's fill and memory
// kernels). Everything here exists only in CUDA builds; callers guard with SXB_HAVE_CUDA. Every
// function selects its device itself and throws sxb::Error (runtime) naming the failing CUDA /
// cuBLASLt call.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/gemm_shapes.hpp"
#include "core/compute_results.hpp"

namespace sxb {

std::vector<ComputeDevice> query_compute_devices();  // spec_id left empty
std::string cuda_runtime_version_string();
std::string cuda_driver_version_string();
std::string cublaslt_version_string();

struct GemmRunConfig {
  GemmDtype dtype = GemmDtype::bf16;
  GemmLayout layout = GemmLayout::tn;
  int64_t m = 0, n = 0, k = 0;
  int warmup_iters = 10;
  int iters = 50;
  int max_algos = 4;    // heuristic candidates timed; the fastest is kept
  int trial_iters = 8;  // timed runs per candidate when choosing
  uint64_t workspace_bytes = 64ull << 20;
  uint64_t rotate_min_bytes = 0;  // input sets together exceed this (see gemm_rotation_sets)
  int max_input_sets = 64;
  bool fp8_fast_accum = true;
};

struct GemmTiming {
  std::vector<double> times_us;  // one per timed product
  int algos_tried = 0;
  int algo_rank = 0;
  int input_sets = 0;
  uint64_t input_bytes_per_set = 0;
  bool scale_pointers = false;  // fp8: per-tensor scales passed by pointer (false: unit scales)
};

// Random non-zero inputs (|x| in [1/8, 1], random sign; fp8 products scaled by per-tensor scale
// pointers), cuBLASLt heuristic candidates timed, the fastest timed `iters` times with CUDA
// events, one event pair per product, rotating through the input sets.
GemmTiming time_gemm(int device, const GemmRunConfig& config);

// The product of one small random input set with the same cuBLASLt path, compared with
// reference_gemm() on the host (output poisoned with NaN first).
GemmCheck check_gemm(int device, GemmDtype dtype, GemmLayout layout, int64_t m, int64_t n,
                     int64_t k, int max_algos, uint64_t workspace_bytes, bool fp8_fast_accum);

enum class HbmKernel { copy, read, write, memcpy };
struct HbmTiming {
  std::vector<double> times_us;  // one per pass over the buffer
  std::string kernel;            // the launch shape kept, or the copy call
};
// Per-pass times of copy/read/write kernels over `bytes` bytes (the copy reads and writes them),
// in the launch shape that measured fastest of mem_kernel_shapes(), or of cudaMemcpyAsync.
HbmTiming time_hbm(int device, HbmKernel kernel, uint64_t bytes, int warmup_iters, int iters);

// Pinned host memory <-> device, cudaMemcpyAsync, per-copy times (us).
std::vector<double> time_host_copy(int device, bool host_to_device, uint64_t bytes,
                                   int warmup_iters, int iters);

enum class P2PEngine { copy_engine, sm };
// src -> dst (and dst -> src at the same time when bidirectional) of `bytes` each way;
// per-run times (us). src == dst is allowed (a local copy) so that one GPU can exercise the
// code path. The SM engine runs a copy kernel on src that writes into dst's memory (and one on
// dst writing into src's when bidirectional).
std::vector<double> time_p2p(int src, int dst, P2PEngine engine, bool bidirectional, uint64_t bytes,
                             int warmup_iters, int iters);

// Mean time (us) of one dependent 8-byte load issued by one thread of `src` from `dst`'s memory,
// over a pointer chase that strides through `footprint_bytes` (larger than L2, so each load goes
// to memory or across the link).
double pointer_chase_latency_us(int src, int dst, uint64_t footprint_bytes, int loads);
// Per-copy times (us) of a 4-byte cudaMemcpyPeerAsync src -> dst.
std::vector<double> time_small_peer_copy(int src, int dst, int warmup_iters, int iters);

struct PeerAttributes {
  bool access = false;
  int performance_rank = 0;
  bool native_atomics = false;
};
PeerAttributes peer_attributes(int a, int b);

}  // namespace sxb
