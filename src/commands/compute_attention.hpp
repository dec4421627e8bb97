#pragma once
// The `attention` test of `sxbench compute`: the training engine's causal attention kernels
// (train/gpu_ops.hpp: the Hopper wgmma/TMA kernels and the mma.sync ones) timed forward and
// backward at Llama shapes, in TFLOP/s by FlashAttention's count, after a check of every kernel
// against a float64 CPU reference. It sits with the commands because it runs the engine's
// kernels, a layer above bench/'s registry of the other tests.
#include <string_view>
#include <vector>

#include "bench/compute_tests.hpp"
#include "core/compute_results.hpp"

namespace sxb {

// The default shapes: the two of FlashAttention's and cuDNN's published comparisons (1, 32 heads,
// 32 kv, 4096, 128; 1, 32, 8 kv, 8192, 128), then every built-in model's attention shape not
// already listed (distinct heads, kv heads, head_dim, window) at sequence 4096, and at 8192 where
// the model has a sliding window shorter than that.
std::vector<AttentionBenchShape> default_attention_shapes();

// --attention-shapes: "default", or comma-separated BxHxKVxTxD or BxHxKVxTxDxW items (batch,
// heads, kv heads, sequence, head_dim, window). Throws a one-line usage error naming the item.
std::vector<AttentionBenchShape> parse_attention_shapes(std::string_view text);

// The registry entry (name "attention", one GPU).
const ComputeTestSpec& attention_compute_test();

}  // namespace sxb
