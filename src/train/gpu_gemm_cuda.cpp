#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "platform/cuda_resources.hpp"
#include "train/gpu_gemm.hpp"

namespace sxb::gpu {

namespace {

// The largest power of two (up to 256) that divides the address: cuBLASLt's kernels are
// chosen for the alignment the heuristic is told about.
int alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

}  // namespace

Gemm::Gemm(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  lt_check(cublasLtCreate(&handle_), "cublasLtCreate");
  if (cudaMalloc(&workspace_, workspace_bytes_) != cudaSuccess) {
    cublasLtDestroy(handle_);
    throw runtime_error(
        fmt::format("cudaMalloc of the {} B cuBLASLt workspace failed", workspace_bytes_));
  }
}

Gemm::~Gemm() {
  for (auto& [p, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatrixLayoutDestroy(plan.d);
    cublasLtMatmulDescDestroy(plan.desc);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

std::string Gemm::describe(const Problem& p) {
  return fmt::format("cuBLASLt bf16 matmul m={} n={} k={} op(A)={} op(B)={} out={} beta={}{}", p.m,
                     p.n, p.k, p.trans_a ? "T" : "N", p.trans_b ? "T" : "N",
                     p.out_fp32 ? "fp32" : "bf16", p.beta_nonzero ? 1 : 0,
                     p.sm_target > 0 ? fmt::format(" sms={}", p.sm_target) : std::string());
}

Gemm::Plan& Gemm::plan(const Problem& p) {
  auto it = plans_.find(p);
  if (it != plans_.end()) return it->second;
  Plan plan;
  const std::string what = describe(p);
  lt_check(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), what);
  const cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  lt_check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
           what);
  lt_check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
           what);
  if (p.sm_target > 0) {
    const int32_t sms = p.sm_target;
    lt_check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &sms,
                                            sizeof(sms)),
             what);
  }
  // Stored shapes: op(A) is m x k, so A is k x m when transposed; likewise B.
  lt_check(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, p.trans_a ? p.k : p.m,
                                      p.trans_a ? p.m : p.k, p.lda),
           what);
  lt_check(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_16BF, p.trans_b ? p.n : p.k,
                                      p.trans_b ? p.k : p.n, p.ldb),
           what);
  const cudaDataType_t out = p.out_fp32 ? CUDA_R_32F : CUDA_R_16BF;
  lt_check(cublasLtMatrixLayoutCreate(&plan.c, out, p.m, p.n, p.ldc), what);
  lt_check(cublasLtMatrixLayoutCreate(&plan.d, out, p.m, p.n, p.ldc), what);

  cublasLtMatmulPreference_t pref = nullptr;
  lt_check(cublasLtMatmulPreferenceCreate(&pref), what);
  uint64_t ws = workspace_bytes_;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof(ws));
  const uint32_t aa = p.align_a, ab = p.align_b, ac = p.align_c, ad = p.align_d;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa,
                                       sizeof(aa));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab,
                                       sizeof(ab));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac,
                                       sizeof(ac));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ad,
                                       sizeof(ad));
  // The heuristic's first candidates, best first; tune() times them on the first real call.
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(candidates_));
  int found = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(handle_, plan.desc, plan.a, plan.b, plan.c, plan.d, pref,
                                     candidates_, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0) {
    throw runtime_error(what + ": cuBLASLt offers no algorithm (" + cublasGetStatusName(hs) + ")");
  }
  plan.algo = results[0].algo;
  for (int i = 0; i < found; ++i) {
    if (results[size_t(i)].state == CUBLAS_STATUS_SUCCESS) {
      plan.untried.push_back(results[size_t(i)].algo);
    }
  }
  return plans_.emplace(p, plan).first->second;
}

void Gemm::run(Problem p, const void* A, const void* B, const void* C, void* D, float beta,
               cudaStream_t stream) {
  p.beta_nonzero = beta != 0.0f;
  p.align_a = alignment_of(A);
  p.align_b = alignment_of(B);
  p.align_c = alignment_of(C);
  p.align_d = alignment_of(D);
  p.sm_target = sm_target_;
  Plan& pl = plan(p);
  if (!pl.untried.empty()) tune(pl, p, A, B, C, beta, stream);
  const float alpha = 1.0f;
  lt_check(cublasLtMatmul(handle_, pl.desc, &alpha, A, pl.a, B, pl.b, &beta, C, pl.c, D, pl.d,
                          &pl.algo, workspace_, workspace_bytes_, stream),
           describe(p));
}

void Gemm::tune(Plan& pl, const Problem& p, const void* A, const void* B, const void* C, float beta,
                cudaStream_t stream) {
  const std::vector<cublasLtMatmulAlgo_t> candidates = std::move(pl.untried);
  pl.untried.clear();
  if (candidates.size() <= 1) return;
  // The real output may be an input too (C == D when accumulating): candidates write a scratch
  // copy aligned like D, so the operands stay untouched.
  const size_t out_bytes = size_t(p.ldc) * size_t(p.n) * (p.out_fp32 ? 4 : 2);
  void* scratch = nullptr;
  if (cudaMalloc(&scratch, out_bytes) != cudaSuccess) {
    cudaGetLastError();  // no memory to spare: keep the heuristic's first choice
    return;
  }
  void* D = scratch;  // 256-byte aligned: at least as aligned as the plan assumes
  const void* Cin = beta != 0.0f ? C : D;
  EventPairs ev(1);
  const float alpha = 1.0f;
  float best_us = 0;
  int best = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const cublasLtMatmulAlgo_t* algo = &candidates[i];
    auto once = [&] {
      return cublasLtMatmul(handle_, pl.desc, &alpha, A, pl.a, B, pl.b, &beta, Cin, pl.c, D, pl.d,
                            algo, workspace_, workspace_bytes_, stream);
    };
    if (once() != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; a candidate that fails is skipped
    float runs[3];
    bool ok = true;
    for (float& r : runs) {
      cudaEventRecord(ev.start(0), stream);
      ok = ok && once() == CUBLAS_STATUS_SUCCESS;
      cudaEventRecord(ev.stop(0), stream);
      cudaEventSynchronize(ev.stop(0));
      r = float(ev.elapsed_us(0));
    }
    if (!ok) continue;
    std::sort(runs, runs + 3);
    if (best < 0 || runs[1] < best_us) {
      best_us = runs[1];
      best = int(i);
    }
  }
  cudaStreamSynchronize(stream);
  cudaFree(scratch);
  cudaGetLastError();
  if (best >= 0) pl.algo = candidates[size_t(best)];
}

void Gemm::linear_forward(__nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* W,
                          const __nv_bfloat16* residual, int64_t N, int64_t C, int64_t OC,
                          cudaStream_t stream) {
  // Column-major: out^T (OC x N) = W^T' (W stored C x OC, transposed) * x^T (C x N).
  Problem p{true, false, OC, N, C, C, C, OC, false, false, 0, 0, 0, 0, 0};
  run(p, W, x, residual ? static_cast<const void*>(residual) : out, out, residual ? 1.0f : 0.0f,
      stream);
}

void Gemm::linear_backward_input(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* W,
                                 int64_t N, int64_t C, int64_t OC, cudaStream_t stream) {
  // dx^T (C x N) = W (stored C x OC) * dy^T (OC x N).
  Problem p{false, false, C, N, OC, C, OC, C, false, false, 0, 0, 0, 0, 0};
  run(p, W, dy, dx, dx, 0.0f, stream);
}

void Gemm::linear_backward_weight(float* dW, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                  int64_t N, int64_t C, int64_t OC, bool accumulate,
                                  cudaStream_t stream) {
  // dW^T (C x OC) = x^T (C x N) * dy (dy^T stored OC x N, transposed).
  Problem p{false, true, C, OC, N, C, OC, C, true, false, 0, 0, 0, 0, 0};
  run(p, x, dy, dW, dW, accumulate ? 1.0f : 0.0f, stream);
}

void Gemm::linear_backward_weight(__nv_bfloat16* dW, const __nv_bfloat16* dy,
                                  const __nv_bfloat16* x, int64_t N, int64_t C, int64_t OC,
                                  cudaStream_t stream) {
  Problem p{false, true, C, OC, N, C, OC, C, false, false, 0, 0, 0, 0, 0};
  run(p, x, dy, dW, dW, 0.0f, stream);
}

}  // namespace sxb::gpu
