#pragma once
// Whether this process can use CUDA GPUs; callable from CPU-only builds (answers 0 there).
namespace sxb {
int visible_cuda_devices();  // 0 when built without CUDA, without a driver or without GPUs
bool built_with_cuda();
}  // namespace sxb
