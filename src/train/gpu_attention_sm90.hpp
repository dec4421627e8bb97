#pragma once
// The Hopper (sm_90a) attention forward and backward: wgmma, TMA and warp-specialised load
// pipelines (gpu_attention_sm90.cu). attention_forward and attention_backward (gpu_ops.hpp)
// choose them where they apply; these are the pieces that choice and the tests use.
#include "train/gpu_ops.hpp"

namespace sxb::gpu {

// True when the current device is sm_90, this build carries sm_90a code, the driver offers
// cuTensorMapEncodeTiled, and the shape is one the forward handles (head_dim 64 or 128; causal,
// with or without a window, any GQA ratio).
bool attention_forward_sm90_supports(const AttentionShape& s);
// The same for the backward (the same shapes: head_dim 64 or 128).
bool attention_backward_sm90_supports(const AttentionShape& s);
// True when q, k and v start on 16-byte boundaries, as the kernel's TMA descriptors need.
bool attention_sm90_inputs_aligned(const void* q, const void* k, const void* v);
// Same contract as attention_forward; throws sxb::Error where attention_forward_sm90_supports is
// false.
void attention_forward_sm90(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
                            const AttentionShape& s, cudaStream_t stream);

// The backward after attention_backward's D pre-pass: dsum holds D (B, H, T) and dq_accum is
// zeroed; adds dQ (times the scale) into dq_accum and writes dk (times the scale) and dv. Throws
// where attention_backward_sm90_supports is false or dout is not 16-byte aligned.
void attention_backward_sm90(float* dq_accum, bf16* dk, bf16* dv, const float* dsum,
                             const bf16* dout, const float* lse, const bf16* q, const bf16* k,
                             const bf16* v, const AttentionShape& s, cudaStream_t stream);

}  // namespace sxb::gpu
