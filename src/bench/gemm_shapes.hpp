#pragma once
// What `sxbench compute`'s gemm test multiplies: element types, layouts, the square sweep and the
// linear-layer shapes of training a registry model (model/model_config.hpp), FLOP counts, and
// the CPU reference that the GPU product is checked against. Plain C++, no CUDA.
//
// Every product is C[M,N] = A[M,K] x B, row-major C, in one of two layouts:
//   tn: A row-major [M,K], B given as Bt row-major [N,K] (C = A Btᵀ): a linear layer's forward
//       (x [tokens, in] times W [out, in] transposed); both operands K-contiguous. In cuBLAS's
//       column-major terms this is op(A)=T, op(B)=N, which Hopper's fp8 kernels require.
//   nn: A row-major [M,K], B row-major [K,N]: PyTorch's `A @ B` on contiguous tensors.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_config.hpp"

namespace sxb {

enum class GemmDtype { bf16, fp16, tf32, fp8_e4m3 };
enum class GemmLayout { tn, nn };

std::string gemm_dtype_name(GemmDtype t);  // bf16, fp16, tf32, fp8_e4m3
// Accepts bf16, fp16 (half), tf32, fp8 (fp8_e4m3, e4m3); throws sxb::Error listing them.
GemmDtype parse_gemm_dtype(std::string_view name);
// "all" (bf16,fp16,tf32,fp8_e4m3) or a comma-separated list, duplicates removed, order kept.
std::vector<GemmDtype> parse_gemm_dtype_list(std::string_view list);
std::string gemm_layout_name(GemmLayout l);
GemmLayout parse_gemm_layout(std::string_view name);

// Bytes per element of the inputs (A, B) and of the output C.
size_t gemm_input_element_bytes(GemmDtype t);   // 2, 2, 4, 1
size_t gemm_output_element_bytes(GemmDtype t);  // 2, 2, 4, 2 (fp8 products are written as bf16)
// configs/hardware key of the dense datasheet rate: dense_bf16_tflops, ...
std::string gemm_spec_key(GemmDtype t);

struct GemmShape {
  std::string group;  // "square", "llama2-7b", ...
  std::string name;   // "8192", "qkv", "attn_out", "mlp_up_gate", "mlp_down", "lm_head"
  std::string phase;  // "fwd", "dgrad", "wgrad"; "-" for square shapes
  int64_t m = 0, n = 0, k = 0;
};

// Multiply-adds count as two operations: 2*m*n*k.
double gemm_flop(int64_t m, int64_t n, int64_t k);

// Square shapes min, 2*min, 4*min, ... <= max. min must be a positive multiple of 16
// (cuBLASLt's fp8 alignment; doubling keeps it) and max >= min; throws sxb::Error otherwise.
std::vector<GemmShape> square_gemm_shapes(int64_t min_size, int64_t max_size);

// A shape group named after a model: the group name the output shows and the model, from the
// model registry, whose dimensions it reads.
struct GemmModelGroup {
  std::string group;  // "llama2-7b", or the model's registry name
  ModelConfig model;
};
// The Llama-2 groups llama2-7b, llama2-13b and llama2-70b: meta-llama/Llama-2-{7b,13b,70b}-hf
// from the model registry.
std::vector<GemmModelGroup> llama2_gemm_groups();

// The dense products of one decoder layer of `model` plus the output head for `tokens` tokens
// (sequence length x micro-batch), listed under `group`: qkv (N = hidden + 2 * kv_dim),
// attn_out, mlp_up_gate (gate and up projections fused, N = 2 * intermediate), mlp_down,
// lm_head (N = vocab). A forward product (M = tokens, N = out, K = in) has backward products
// dgrad (M = tokens, N = in, K = out) and wgrad (M = out, N = in, K = tokens); they are listed
// when `backward` is set. Attention's score and value products are batched per head and not
// included.
std::vector<GemmShape> llama_training_shapes(const std::string& group, const ModelConfig& model,
                                             int64_t tokens, bool backward);

struct GemmShapeOptions {
  int64_t square_min = 1024;
  int64_t square_max = 16384;
  int64_t tokens = 4096;  // sequence x micro-batch
  bool backward = false;
};
// "all" or a comma-separated list of groups: square, llama2-7b, llama2-13b, llama2-70b
// (llama2 = all three; all = square and the three), or any model resolve_model accepts (a
// built-in name or Hugging Face id, a model directory, a cached snapshot), listed under its
// registry name. Throws sxb::Error (usage) naming an unknown group.
std::vector<GemmShape> parse_gemm_shapes(std::string_view groups, const GemmShapeOptions& o);

// Input sets rotated through so that consecutive products read different memory: at least
// `min_sets`, and enough that all sets together exceed `min_total_bytes` (a multiple of the L2
// size), but never more than `max_sets`.
int gemm_rotation_sets(uint64_t bytes_per_set, uint64_t min_total_bytes, int min_sets,
                       int max_sets);

// Largest accepted ||out - ref||_F / ||ref||_F for the correctness check. The reference is a
// float64 product of the same quantised inputs, so the error comes from the accumulation order
// and precision and the rounding of the output (unit roundoff: bf16 2^-8, fp16 2^-11; the
// Frobenius ratio of random rounding errors is about a third to a half of that); tf32 rounds the
// float inputs to 10 mantissa bits (2^-11); fp8 sums in the tensor core's reduced-precision fast
// accumulator, then rounds to bf16.
double gemm_check_tolerance(GemmDtype t);

// float64 reference C[M,N] (row-major) of the layout above, from inputs already converted to
// double: a is [M,K]; b is [N,K] for tn, [K,N] for nn.
std::vector<double> reference_gemm(GemmLayout layout, int64_t m, int64_t n, int64_t k,
                                   const std::vector<double>& a, const std::vector<double>& b);
// ||out - ref||_F / ||ref||_F; infinity when out holds a NaN or an infinity.
double relative_frobenius_error(const std::vector<double>& out, const std::vector<double>& ref);

// OCP fp8 e4m3 (the "fn" variant: no infinities, 0x7f/0xff are NaN) to float.
float fp8_e4m3_bits_to_float(uint8_t bits);

}  // namespace sxb
