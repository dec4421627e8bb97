#pragma once
// Host-side conversions for the 16-bit floating-point types that collectives and the training
// engine move around. bf16 keeps float32's exponent and the top 7 mantissa bits; conversion
// rounds to nearest even and keeps NaN a (quiet) NaN.
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace sxb {

enum class DataType { f32, f16, bf16 };

size_t dtype_size(DataType t);
// nccl-tests' names: "float", "half", "bfloat16"; also accepts f32/fp32/float32, f16/fp16/float16,
// bf16. Throws sxb::Error listing the accepted names.
DataType parse_dtype(std::string_view name);
std::string dtype_name(DataType t);  // nccl-tests' spelling: float, half, bfloat16

inline uint16_t float_to_bf16_bits(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}
inline float bf16_bits_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

// IEEE binary16, round to nearest even (defined out of line: CUDA's front end has no _Float16).
uint16_t float_to_half_bits(float f);
float half_bits_to_float(uint16_t h);

// Reads element i of a buffer of type t as float; writes a float into element i.
float load_as_float(const void* data, size_t i, DataType t);
void store_from_float(void* data, size_t i, DataType t, float v);

}  // namespace sxb
