#pragma once
// The Hopper (sm_90a) attention forward: wgmma, TMA and a warp-specialised K/V pipeline
// (gpu_attention_sm90.cu). attention_forward (gpu_ops.hpp) chooses it where it applies; these
// are the pieces that choice and the tests use.
#include "train/gpu_ops.hpp"

namespace sxb::gpu {

// True when the current device is sm_90, this build carries sm_90a code, the driver offers
// cuTensorMapEncodeTiled, and the shape is one the kernel handles (head_dim 128, no window;
// causal with any GQA ratio).
bool attention_forward_sm90_supports(const AttentionShape& s);
// True when q, k and v start on 16-byte boundaries, as the kernel's TMA descriptors need.
bool attention_sm90_inputs_aligned(const void* q, const void* k, const void* v);
// Same contract as attention_forward; throws sxb::Error where attention_forward_sm90_supports is
// false.
void attention_forward_sm90(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
                            const AttentionShape& s, cudaStream_t stream);

}  // namespace sxb::gpu
