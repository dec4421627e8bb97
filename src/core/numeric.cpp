#include "core/numeric.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace sxb {

uint16_t float_to_half_bits(float f) { return std::bit_cast<uint16_t>(static_cast<_Float16>(f)); }
float half_bits_to_float(uint16_t h) { return static_cast<float>(std::bit_cast<_Float16>(h)); }

size_t dtype_size(DataType t) { return t == DataType::f32 ? 4 : 2; }

DataType parse_dtype(std::string_view n) {
  if (n == "float" || n == "f32" || n == "fp32" || n == "float32") return DataType::f32;
  if (n == "half" || n == "f16" || n == "fp16" || n == "float16") return DataType::f16;
  if (n == "bfloat16" || n == "bf16") return DataType::bf16;
  throw usage_error(fmt::format("unknown data type '{}' (known: float, half, bfloat16)", n));
}

std::string dtype_name(DataType t) {
  switch (t) {
    case DataType::f32: return "float";
    case DataType::f16: return "half";
    case DataType::bf16: return "bfloat16";
  }
  return "?";
}

float load_as_float(const void* data, size_t i, DataType t) {
  switch (t) {
    case DataType::f32: return static_cast<const float*>(data)[i];
    case DataType::f16: return half_bits_to_float(static_cast<const uint16_t*>(data)[i]);
    case DataType::bf16: return bf16_bits_to_float(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

void store_from_float(void* data, size_t i, DataType t, float v) {
  switch (t) {
    case DataType::f32: static_cast<float*>(data)[i] = v; break;
    case DataType::f16: static_cast<uint16_t*>(data)[i] = float_to_half_bits(v); break;
    case DataType::bf16: static_cast<uint16_t*>(data)[i] = float_to_bf16_bits(v); break;
  }
}

}  // namespace sxb
