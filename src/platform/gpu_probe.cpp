#include "platform/gpu_probe.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace sxb {

int visible_cuda_devices() {
#ifdef SXB_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

bool built_with_cuda() {
#ifdef SXB_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace sxb
