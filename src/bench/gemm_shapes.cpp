#include "bench/gemm_shapes.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb {

std::string gemm_dtype_name(GemmDtype t) {
  switch (t) {
    case GemmDtype::bf16:
      return "bf16";
    case GemmDtype::fp16:
      return "fp16";
    case GemmDtype::tf32:
      return "tf32";
    case GemmDtype::fp8_e4m3:
      return "fp8_e4m3";
  }
  return "?";
}

GemmDtype parse_gemm_dtype(std::string_view name) {
  if (name == "bf16" || name == "bfloat16") return GemmDtype::bf16;
  if (name == "fp16" || name == "half" || name == "f16") return GemmDtype::fp16;
  if (name == "tf32") return GemmDtype::tf32;
  if (name == "fp8" || name == "fp8_e4m3" || name == "e4m3") return GemmDtype::fp8_e4m3;
  throw usage_error("unknown GEMM type '" + std::string(name) +
                    "' (known: bf16, fp16, tf32, fp8_e4m3)");
}

std::vector<GemmDtype> parse_gemm_dtype_list(std::string_view list) {
  if (list == "all") {
    return {GemmDtype::bf16, GemmDtype::fp16, GemmDtype::tf32, GemmDtype::fp8_e4m3};
  }
  std::vector<GemmDtype> out;
  for (std::string_view item : split_comma_list(list)) {
    if (item.empty()) continue;
    const GemmDtype t = parse_gemm_dtype(item);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.empty()) throw usage_error("no GEMM type given (--dtypes)");
  return out;
}

std::string gemm_layout_name(GemmLayout l) {
  return l == GemmLayout::tn ? "tn" : "nn";
}

GemmLayout parse_gemm_layout(std::string_view name) {
  if (name == "tn") return GemmLayout::tn;
  if (name == "nn") return GemmLayout::nn;
  throw usage_error("unknown GEMM layout '" + std::string(name) + "' (known: tn, nn)");
}

size_t gemm_input_element_bytes(GemmDtype t) {
  switch (t) {
    case GemmDtype::bf16:
    case GemmDtype::fp16:
      return 2;
    case GemmDtype::tf32:
      return 4;
    case GemmDtype::fp8_e4m3:
      return 1;
  }
  return 0;
}

size_t gemm_output_element_bytes(GemmDtype t) {
  return t == GemmDtype::tf32 ? 4 : 2;
}

std::string gemm_spec_key(GemmDtype t) {
  switch (t) {
    case GemmDtype::bf16:
      return "dense_bf16_tflops";
    case GemmDtype::fp16:
      return "dense_fp16_tflops";
    case GemmDtype::tf32:
      return "dense_tf32_tflops";
    case GemmDtype::fp8_e4m3:
      return "dense_fp8_tflops";
  }
  return "";
}

double gemm_flop(int64_t m, int64_t n, int64_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

std::vector<GemmShape> square_gemm_shapes(int64_t min_size, int64_t max_size) {
  if (min_size <= 0 || min_size % 16 != 0) {
    throw usage_error("smallest square GEMM size must be a positive multiple of 16 (got " +
                      std::to_string(min_size) + ")");
  }
  if (max_size < min_size) {
    throw usage_error("largest square GEMM size " + std::to_string(max_size) +
                      " is below the smallest " + std::to_string(min_size));
  }
  std::vector<GemmShape> out;
  for (int64_t s = min_size; s <= max_size; s *= 2) {
    out.push_back({"square", std::to_string(s), "-", s, s, s});
  }
  return out;
}

std::vector<GemmModelGroup> llama2_gemm_groups() {
  return {{"llama2-7b", resolve_model("meta-llama/Llama-2-7b-hf")},
          {"llama2-13b", resolve_model("meta-llama/Llama-2-13b-hf")},
          {"llama2-70b", resolve_model("meta-llama/Llama-2-70b-hf")}};
}

std::vector<GemmShape> llama_training_shapes(const std::string& group, const ModelConfig& m,
                                             int64_t tokens, bool backward) {
  if (tokens <= 0) throw usage_error("GEMM token count must be positive");
  struct Linear {
    const char* name;
    int64_t in, out;
  };
  const int64_t d = m.hidden_size, F = m.intermediate_size;
  const Linear layers[] = {{"qkv", d, d + 2 * m.kv_dim()},
                           {"attn_out", d, d},
                           {"mlp_up_gate", d, 2 * F},
                           {"mlp_down", F, d},
                           {"lm_head", d, m.vocab_size}};
  std::vector<GemmShape> out;
  for (const Linear& l : layers) {
    out.push_back({group, l.name, "fwd", tokens, l.out, l.in});
    if (backward) {
      out.push_back({group, l.name, "dgrad", tokens, l.in, l.out});
      out.push_back({group, l.name, "wgrad", l.out, l.in, tokens});
    }
  }
  return out;
}

std::vector<GemmShape> parse_gemm_shapes(std::string_view groups, const GemmShapeOptions& o) {
  std::vector<std::string> names;
  const auto add = [&](std::string n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
  };
  const std::vector<GemmModelGroup> llama2 = llama2_gemm_groups();
  for (std::string_view item : split_comma_list(groups)) {
    if (item.empty()) continue;
    if (item == "all") {
      add("square");
      for (const auto& g : llama2) add(g.group);
    } else if (item == "llama2") {
      for (const auto& g : llama2) add(g.group);
    } else {
      add(std::string(item));
    }
  }
  if (names.empty()) throw usage_error("no GEMM shape group given (--shapes)");
  std::vector<GemmShape> out;
  for (const std::string& n : names) {
    std::vector<GemmShape> part;
    if (n == "square") {
      part = square_gemm_shapes(o.square_min, o.square_max);
    } else {
      const auto it = std::find_if(llama2.begin(), llama2.end(),
                                   [&](const GemmModelGroup& g) { return g.group == n; });
      if (it != llama2.end()) {
        part = llama_training_shapes(it->group, it->model, o.tokens, o.backward);
      } else {
        ModelConfig m;
        try {
          m = resolve_model(n);
        } catch (const Error& e) {
          // Not a model either: the group list, then why no model matched.
          throw usage_error("unknown GEMM shape group '" + n +
                            "' (known: all, square, llama2, llama2-7b, llama2-13b, llama2-70b, or "
                            "a model): " +
                            e.what());
        }
        part = llama_training_shapes(m.name, m, o.tokens, o.backward);
      }
    }
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

int gemm_rotation_sets(uint64_t bytes_per_set, uint64_t min_total_bytes, int min_sets,
                       int max_sets) {
  if (bytes_per_set == 0) return std::max(1, min_sets);
  const uint64_t needed = (min_total_bytes + bytes_per_set - 1) / bytes_per_set;
  const uint64_t sets = std::max<uint64_t>(needed, static_cast<uint64_t>(std::max(1, min_sets)));
  return static_cast<int>(std::min<uint64_t>(sets, static_cast<uint64_t>(std::max(1, max_sets))));
}

double gemm_check_tolerance(GemmDtype t) {
  switch (t) {
    case GemmDtype::bf16:
      return 1e-2;
    case GemmDtype::fp16:
      return 2e-3;
    case GemmDtype::tf32:
      return 5e-3;
    case GemmDtype::fp8_e4m3:
      return 2e-2;
  }
  return 0;
}

std::vector<double> reference_gemm(GemmLayout layout, int64_t m, int64_t n, int64_t k,
                                   const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != static_cast<size_t>(m * k) || b.size() != static_cast<size_t>(n * k)) {
    throw runtime_error("reference GEMM: operand sizes do not match the shape");
  }
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double bv = layout == GemmLayout::tn ? b[j * k + p] : b[p * n + j];
        sum += a[i * k + p] * bv;
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

double relative_frobenius_error(const std::vector<double>& out, const std::vector<double>& ref) {
  if (out.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return std::numeric_limits<double>::infinity();
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  if (norm == 0) return diff == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

float fp8_e4m3_bits_to_float(uint8_t bits) {
  const bool negative = bits & 0x80;
  const int exponent = (bits >> 3) & 0xF;
  const int mantissa = bits & 0x7;
  float v;
  if (exponent == 0xF && mantissa == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    v = std::ldexp(static_cast<float>(mantissa) / 8.0f, -6);  // subnormal
  } else {
    v = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  }
  return negative ? -v : v;
}

}  // namespace sxb
