#include "train/cpu_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace sxb::cpu {

namespace {

// Dot product with 8 independent partial sums, so the compiler can keep them in vector lanes
// without reassociating a single floating-point reduction.
template <typename Scalar>
inline Scalar dot(const Scalar* a, const Scalar* b, int64_t n) {
  Scalar acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  Scalar tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

// y[i] += alpha * x[i]
template <typename Scalar>
inline void axpy(Scalar* y, const Scalar* x, Scalar alpha, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <typename Scalar>
inline Scalar sigmoid(Scalar x) {
  return Scalar(1) / (Scalar(1) + std::exp(-x));
}

}  // namespace

template <typename Scalar>
void embedding_forward(Scalar* out, const int32_t* tokens, const Scalar* wte, int64_t N,
                       int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(wte + int64_t(tokens[n]) * C, C, out + n * C);
  }
}

template <typename Scalar>
void embedding_backward(Scalar* dwte, const Scalar* dout, const int32_t* tokens, int64_t N,
                        int64_t C) {
  for (int64_t n = 0; n < N; ++n) axpy(dwte + int64_t(tokens[n]) * C, dout + n * C, Scalar(1), C);
}

template <typename Scalar>
void rmsnorm_forward(Scalar* out, Scalar* rstd, const Scalar* x, const Scalar* w, int64_t N,
                     int64_t C, double eps) {
  for (int64_t n = 0; n < N; ++n) {
    const Scalar* xn = x + n * C;
    const double mean_sq = double(dot(xn, xn, C)) / double(C);
    const Scalar r = Scalar(1.0 / std::sqrt(mean_sq + eps));
    rstd[n] = r;
    Scalar* on = out + n * C;
    for (int64_t c = 0; c < C; ++c) on[c] = xn[c] * r * w[c];
  }
}

template <typename Scalar>
void rmsnorm_backward(Scalar* dx, Scalar* dw, const Scalar* dout, const Scalar* x, const Scalar* w,
                      const Scalar* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const Scalar* xn = x + n * C;
    const Scalar* dn = dout + n * C;
    const Scalar r = rstd[n];
    Scalar gx = 0;  // sum_c (dout * w * x)
    for (int64_t c = 0; c < C; ++c) gx += dn[c] * w[c] * xn[c];
    const Scalar k = r * r * r * gx / Scalar(C);
    Scalar* dxn = dx + n * C;
    for (int64_t c = 0; c < C; ++c) {
      dxn[c] += r * dn[c] * w[c] - xn[c] * k;
      dw[c] += dn[c] * xn[c] * r;
    }
  }
}

template <typename Scalar>
void matmul_forward(Scalar* out, const Scalar* x, const Scalar* W, int64_t N, int64_t C,
                    int64_t OC) {
  // Rows in blocks of 8 so each weight row is read from L1 for all rows of the block.
  constexpr int64_t kRows = 8;
  for (int64_t n0 = 0; n0 < N; n0 += kRows) {
    const int64_t n1 = std::min(N, n0 + kRows);
    for (int64_t oc = 0; oc < OC; ++oc) {
      const Scalar* wr = W + oc * C;
      for (int64_t n = n0; n < n1; ++n) out[n * OC + oc] = dot(x + n * C, wr, C);
    }
  }
}

template <typename Scalar>
void matmul_backward(Scalar* dx, Scalar* dW, const Scalar* dout, const Scalar* x, const Scalar* W,
                     int64_t N, int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    const Scalar* dn = dout + n * OC;
    Scalar* dxn = dx + n * C;
    for (int64_t oc = 0; oc < OC; ++oc) axpy(dxn, W + oc * C, dn[oc], C);
  }
  for (int64_t oc = 0; oc < OC; ++oc) {
    Scalar* dwr = dW + oc * C;
    for (int64_t n = 0; n < N; ++n) axpy(dwr, x + n * C, dout[n * OC + oc], C);
  }
}

std::vector<double> rope_inv_freq(const ModelConfig& cfg) {
  const int64_t hd = cfg.head_dim();
  std::vector<double> inv(hd / 2);
  for (int64_t i = 0; i < hd / 2; ++i) {
    inv[i] = std::pow(cfg.rope_theta, -2.0 * double(i) / double(hd));
  }
  if (cfg.rope_scaling) {
    const auto& s = *cfg.rope_scaling;
    const double old_len = double(s.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / s.low_freq_factor;
    const double high_freq_wavelen = old_len / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen < high_freq_wavelen) continue;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;
      } else {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

template <typename Scalar>
void rope_tables(Scalar* cos_table, Scalar* sin_table, const std::vector<double>& inv_freq,
                 int64_t T) {
  const int64_t half = static_cast<int64_t>(inv_freq.size());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(t) * inv_freq[i];
      cos_table[t * half + i] = Scalar(std::cos(angle));
      sin_table[t * half + i] = Scalar(std::sin(angle));
    }
  }
}

namespace {
// Rotates every (i, i + hd/2) pair of x: (B, T, nh, hd) by sign * angle(t, i).
template <typename Scalar>
void rope_rotate(Scalar* x, const Scalar* cos_table, const Scalar* sin_table, int64_t B, int64_t T,
                 int64_t nh, int64_t hd, Scalar sign) {
  const int64_t half = hd / 2;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const Scalar* ct = cos_table + t * half;
      const Scalar* st = sin_table + t * half;
      for (int64_t h = 0; h < nh; ++h) {
        Scalar* v = x + ((b * T + t) * nh + h) * hd;
        for (int64_t i = 0; i < half; ++i) {
          const Scalar a = v[i], c = v[i + half];
          const Scalar s = sign * st[i];
          v[i] = a * ct[i] - c * s;
          v[i + half] = c * ct[i] + a * s;
        }
      }
    }
  }
}
}  // namespace

template <typename Scalar>
void rope_forward(Scalar* x, const Scalar* cos_table, const Scalar* sin_table, int64_t B, int64_t T,
                  int64_t nh, int64_t hd) {
  rope_rotate(x, cos_table, sin_table, B, T, nh, hd, Scalar(1));
}

template <typename Scalar>
void rope_backward(Scalar* dx, const Scalar* cos_table, const Scalar* sin_table, int64_t B,
                   int64_t T, int64_t nh, int64_t hd) {
  rope_rotate(dx, cos_table, sin_table, B, T, nh, hd, Scalar(-1));
}

template <typename Scalar>
void attention_forward(Scalar* out, Scalar* att, const Scalar* q, const Scalar* k, const Scalar* v,
                       int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd, int64_t window) {
  const Scalar scale = Scalar(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group;
      for (int64_t t = 0; t < T; ++t) {
        const Scalar* qt = q + ((b * T + t) * H + h) * hd;
        Scalar* arow = att + ((b * H + h) * T + t) * T;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
        Scalar max_s = -std::numeric_limits<Scalar>::infinity();
        for (int64_t u = lo; u <= t; ++u) {
          const Scalar s = dot(qt, k + ((b * T + u) * KV + g) * hd, hd) * scale;
          arow[u] = s;
          max_s = std::max(max_s, s);
        }
        Scalar sum = 0;
        for (int64_t u = lo; u <= t; ++u) {
          arow[u] = std::exp(arow[u] - max_s);
          sum += arow[u];
        }
        const Scalar inv_sum = Scalar(1) / sum;
        std::fill(arow, arow + lo, Scalar(0));
        std::fill(arow + t + 1, arow + T, Scalar(0));
        Scalar* ot = out + ((b * T + t) * H + h) * hd;
        std::fill(ot, ot + hd, Scalar(0));
        for (int64_t u = lo; u <= t; ++u) {
          arow[u] *= inv_sum;
          axpy(ot, v + ((b * T + u) * KV + g) * hd, arow[u], hd);
        }
      }
    }
  }
}

template <typename Scalar>
void attention_backward(Scalar* dq, Scalar* dk, Scalar* dv, const Scalar* dout, const Scalar* q,
                        const Scalar* k, const Scalar* v, const Scalar* att, int64_t B, int64_t T,
                        int64_t H, int64_t KV, int64_t hd, int64_t window) {
  const Scalar scale = Scalar(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV;
  std::vector<Scalar> dp(T);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group;
      for (int64_t t = 0; t < T; ++t) {
        const Scalar* arow = att + ((b * H + h) * T + t) * T;
        const Scalar* dot_t = dout + ((b * T + t) * H + h) * hd;
        const Scalar* qt = q + ((b * T + t) * H + h) * hd;
        Scalar* dqt = dq + ((b * T + t) * H + h) * hd;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
        Scalar weighted = 0;  // sum_u att[u] dp[u]
        for (int64_t u = lo; u <= t; ++u) {
          const int64_t kv_off = ((b * T + u) * KV + g) * hd;
          dp[u] = dot(dot_t, v + kv_off, hd);
          weighted += arow[u] * dp[u];
          axpy(dv + kv_off, dot_t, arow[u], hd);
        }
        for (int64_t u = lo; u <= t; ++u) {
          const int64_t kv_off = ((b * T + u) * KV + g) * hd;
          const Scalar ds = arow[u] * (dp[u] - weighted) * scale;
          axpy(dqt, k + kv_off, ds, hd);
          axpy(dk + kv_off, qt, ds, hd);
        }
      }
    }
  }
}

template <typename Scalar>
void swiglu_forward(Scalar* out, const Scalar* gate, const Scalar* up, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N * F; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <typename Scalar>
void swiglu_backward(Scalar* dgate, Scalar* dup, const Scalar* dout, const Scalar* gate,
                     const Scalar* up, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N * F; ++i) {
    const Scalar g = gate[i];
    const Scalar s = sigmoid(g);
    dgate[i] += dout[i] * up[i] * s * (Scalar(1) + g * (Scalar(1) - s));
    dup[i] += dout[i] * g * s;
  }
}

template <typename Scalar>
void residual_add(Scalar* out, const Scalar* x, int64_t n) {
  axpy(out, x, Scalar(1), n);
}

template <typename Scalar>
double cross_entropy_forward(Scalar* losses, const Scalar* logits, const int32_t* targets,
                             int64_t N, int64_t V) {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) {
      losses[n] = 0;
      continue;
    }
    const Scalar* ln = logits + n * V;
    const Scalar max_l = *std::max_element(ln, ln + V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(ln[i] - max_l));
    const double loss = std::log(sum) + double(max_l) - double(ln[targets[n]]);
    losses[n] = Scalar(loss);
    total += loss;
  }
  return total;
}

template <typename Scalar>
void cross_entropy_backward(Scalar* dlogits, const Scalar* logits, const int32_t* targets,
                            double dloss, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    Scalar* dn = dlogits + n * V;
    if (targets[n] < 0) {
      std::fill(dn, dn + V, Scalar(0));
      continue;
    }
    const Scalar* ln = logits + n * V;
    const Scalar max_l = *std::max_element(ln, ln + V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(ln[i] - max_l));
    const double inv_sum = 1.0 / sum;
    for (int64_t i = 0; i < V; ++i) {
      dn[i] = Scalar(dloss * std::exp(double(ln[i] - max_l)) * inv_sum);
    }
    dn[targets[n]] -= Scalar(dloss);
  }
}

#define SXB_INSTANTIATE(S)                                                                    \
  template void embedding_forward<S>(S*, const int32_t*, const S*, int64_t, int64_t);         \
  template void embedding_backward<S>(S*, const S*, const int32_t*, int64_t, int64_t);        \
  template void rmsnorm_forward<S>(S*, S*, const S*, const S*, int64_t, int64_t, double);     \
  template void rmsnorm_backward<S>(S*, S*, const S*, const S*, const S*, const S*, int64_t,  \
                                    int64_t);                                                 \
  template void matmul_forward<S>(S*, const S*, const S*, int64_t, int64_t, int64_t);         \
  template void matmul_backward<S>(S*, S*, const S*, const S*, const S*, int64_t, int64_t,    \
                                   int64_t);                                                  \
  template void rope_tables<S>(S*, S*, const std::vector<double>&, int64_t);                  \
  template void rope_forward<S>(S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t);  \
  template void rope_backward<S>(S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t); \
  template void attention_forward<S>(S*, S*, const S*, const S*, const S*, int64_t, int64_t,  \
                                     int64_t, int64_t, int64_t, int64_t);                     \
  template void attention_backward<S>(S*, S*, S*, const S*, const S*, const S*, const S*,     \
                                      const S*, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                      int64_t);                                               \
  template void swiglu_forward<S>(S*, const S*, const S*, int64_t, int64_t);                  \
  template void swiglu_backward<S>(S*, S*, const S*, const S*, const S*, int64_t, int64_t);   \
  template void residual_add<S>(S*, const S*, int64_t);                                       \
  template double cross_entropy_forward<S>(S*, const S*, const int32_t*, int64_t, int64_t);   \
  template void cross_entropy_backward<S>(S*, const S*, const int32_t*, double, int64_t, int64_t);

SXB_INSTANTIATE(float)
SXB_INSTANTIATE(double)
#undef SXB_INSTANTIATE

}  // namespace sxb::cpu
