// Diagnostic: which cuBLASLt fp8 (e4m3, TN, bf16 out) configurations run on this GPU and
// library. Prints one line per configuration with the heuristic count and the matmul status.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdint>

struct Config {
  const char* name;
  bool c_separate, c_null, fast_accum, scales, d_fp8;
  bool aligned_scales = false;  // each scale in its own 256-byte-aligned allocation
};

int main() {
  const int m = 640, n = 384, k = 512;
  void *a, *b, *c, *d, *ws;
  float *sc, *sa, *sb;
  cudaMalloc(&a, m * k);
  cudaMalloc(&b, n * k);
  cudaMalloc(&c, m * n * 2);
  cudaMalloc(&d, m * n * 2);
  cudaMalloc(&ws, 64 << 20);
  cudaMalloc(&sc, 16);
  cudaMalloc(&sa, 4);
  cudaMalloc(&sb, 4);
  cudaMemset(a, 0x38, m * k);  // 1.0 in e4m3
  cudaMemset(b, 0x38, n * k);
  const float ones[4] = {1, 1, 1, 1};
  cudaMemcpy(sc, ones, 16, cudaMemcpyHostToDevice);
  cudaMemcpy(sa, ones, 4, cudaMemcpyHostToDevice);
  cudaMemcpy(sb, ones, 4, cudaMemcpyHostToDevice);
  cublasLtHandle_t h;
  cublasLtCreate(&h);
  const Config configs[] = {
      {"C==D bf16, scales, fast", false, false, true, true, false},
      {"C separate", true, false, true, true, false},
      {"C null", false, true, true, true, false},
      {"no fast-accum attr", false, false, false, true, false},
      {"no scale pointers", false, false, true, false, false},
      {"C sep, no fast, no scales", true, false, false, false, false},
      {"D fp8, C bf16 sep", true, false, true, true, true},
      {"C==D, aligned scales, fast", false, false, true, true, false, true},
  };
  for (const Config& cf : configs) {
    cublasLtMatmulDesc_t op;
    cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (cf.scales) {
      const void* p0 = cf.aligned_scales ? sa : sc;
      const void* p1 = cf.aligned_scales ? sb : sc + 1;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p0, sizeof p0);
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &p1, sizeof p1);
    }
    if (cf.d_fp8) {
      const void* p2 = sc + 2;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &p2, sizeof p2);
    }
    if (cf.fast_accum) {
      int8_t f = 1;
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &f, sizeof f);
    }
    cublasLtMatrixLayout_t la, lb, lc, ld;
    cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, k);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, k);
    cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, m, n, m);
    cublasLtMatrixLayoutCreate(&ld, cf.d_fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF, m, n, m);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    uint64_t wsb = 64 << 20;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                         sizeof wsb);
    cublasLtMatmulHeuristicResult_t res[4];
    int got = 0;
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(h, op, la, lb, lc, ld, pref, 4, res, &got);
    std::printf("fp8 probe %-28s heuristic %s, %d candidates:", cf.name,
                cublasLtGetStatusString(hs), got);
    const float alpha = 1, beta = 0;
    for (int i = 0; i < got; ++i) {
      void* cp = cf.c_null ? nullptr : (cf.c_separate ? c : d);
      cublasStatus_t s = cublasLtMatmul(h, op, &alpha, a, la, b, lb, &beta, cp, lc, d, ld,
                                        &res[i].algo, ws, wsb, 0);
      cudaError_t e = cudaDeviceSynchronize();
      std::printf(" [%s/%s ws=%zu]", cublasLtGetStatusString(s), cudaGetErrorString(e),
                  res[i].workspaceSize);
    }
    std::printf("\n");
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatrixLayoutDestroy(ld);
    cublasLtMatmulDescDestroy(op);
  }
  return 0;
}
