#include "core/numeric.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>

#include "core/error.hpp"

namespace sxb {

#if defined(__FLT16_MANT_DIG__)
uint16_t float_to_half_bits(float f) { return std::bit_cast<uint16_t>(static_cast<_Float16>(f)); }
float half_bits_to_float(uint16_t h) { return static_cast<float>(std::bit_cast<_Float16>(h)); }
#else
// Compilers without _Float16 on this target (clang before 15 on x86-64, which builds the
// sanitizer tree): the same IEEE conversions, rounding to nearest even.
uint16_t float_to_half_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t exp = (x >> 23) & 0xff;
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) {  // infinity, or NaN kept quiet with the payload's top bits
    return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
  }
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  auto rounded = [](uint32_t value, uint32_t rest, uint32_t halfway) {
    return rest > halfway || (rest == halfway && (value & 1)) ? value + 1 : value;
  };
  if (e <= 0) {  // a half subnormal (or zero): mantissa with its implicit bit, shifted
    if (e < -10) return sign;
    mant |= 0x800000;
    const int shift = 14 - e;
    return static_cast<uint16_t>(
        sign | rounded(mant >> shift, mant & ((1u << shift) - 1), 1u << (shift - 1)));
  }
  // A carry out of the mantissa moves to the next exponent, up to infinity, as it should.
  return static_cast<uint16_t>(
      sign | rounded((static_cast<uint32_t>(e) << 10) | (mant >> 13), mant & 0x1fff, 0x1000));
}
float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}
#endif

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
