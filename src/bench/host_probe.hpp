#pragma once
// Host-side measurements of one rank, for `sxbench diagnose` where a rank has no GPU (the mpi
// backend): a single-threaded fp32 matrix product and a memory copy. They measure the CPU core
// and memory path this rank runs on, named as such in every output; they are no stand-in for a
// GPU figure. Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID): time spent preempted
// by other processes on a shared host is not the rank's, but a slow or throttled core, which
// needs more CPU time for the same work, shows.
#include <cstdint>
#include <vector>

namespace sxb {

// Per-sample times (us) of C = A B for n x n fp32 matrices (2 n^3 FLOPs), each sample the
// product `repeat` times, after `warmup` untimed samples.
std::vector<double> time_host_gemm_us(int n, int warmup, int iters, int repeat = 1);

// Per-sample times (us) of copying `bytes` bytes between two buffers (the copy reads and writes
// them: 2 x bytes moved), each sample the copy `repeat` times.
std::vector<double> time_host_memcpy_us(uint64_t bytes, int warmup, int iters, int repeat = 1);

}  // namespace sxb
