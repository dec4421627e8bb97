#pragma once
// Status checks for CUDA runtime and cuBLASLt calls, the one home for them: each throws
// sxb::runtime_error "<what> failed: <CUDA's message>" (exit code 3). CUDA builds only. nvcc
// compiles this header too (the .cu files include it), so it uses no fmt format strings.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.hpp"

namespace sxb {

inline void cuda_check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw runtime_error(what + " failed: " + cudaGetErrorString(e));
}

// After a kernel launch: a bad launch configuration (grid, block, shared memory) shows up in
// cudaGetLastError at once, while faults inside the kernel surface at the next synchronizing call.
inline void check_launch(const std::string& what) {
  cuda_check(cudaGetLastError(), what + " launch");
}

inline void lt_check(cublasStatus_t s, const std::string& what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw runtime_error(what + " failed: " + cublasLtGetStatusString(s));
  }
}

}  // namespace sxb
