#pragma once
// Matrix products of the CUDA training engine through cuBLASLt (CUDA builds only): bf16 operands,
// fp32 accumulation, output bf16 (activations) or fp32 (parameter gradients). Row-major views of
// PyTorch's linear layer, out = x W^T with W (OC, C), mapped onto cuBLASLt's column-major calls.
// Per distinct problem (shape, layout, output type, beta, pointer alignment) the heuristic's first
// candidates are timed once on the real operands, writing into a scratch output, and the fastest
// is kept; a problem cuBLASLt cannot run is an error naming it.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace sxb::gpu {

class Gemm {
 public:
  explicit Gemm(size_t workspace_bytes = size_t(64) << 20);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // out (N, OC) = x (N, C) W^T + residual (N, OC); residual null: no addition. The residual add
  // is the product's beta = 1 term, so the residual connection costs no extra pass.
  void linear_forward(__nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* W,
                      const __nv_bfloat16* residual, int64_t N, int64_t C, int64_t OC,
                      cudaStream_t stream);
  // dx (N, C) = dy (N, OC) W.
  void linear_backward_input(__nv_bfloat16* dx, const __nv_bfloat16* dy, const __nv_bfloat16* W,
                             int64_t N, int64_t C, int64_t OC, cudaStream_t stream);
  // dW (OC, C) fp32 = dy^T x, added to dW when accumulate (gradient accumulation).
  void linear_backward_weight(float* dW, const __nv_bfloat16* dy, const __nv_bfloat16* x, int64_t N,
                              int64_t C, int64_t OC, bool accumulate, cudaStream_t stream);
  // dW (OC, C) bf16 = dy^T x, written (bf16 gradients: no accumulation).
  void linear_backward_weight(__nv_bfloat16* dW, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                              int64_t N, int64_t C, int64_t OC, cudaStream_t stream);

  size_t workspace_bytes() const { return workspace_bytes_; }
  // Candidates timed per new problem (1: take the heuristic's first choice untimed).
  void set_candidates(int n) { candidates_ = n < 1 ? 1 : n; }
  // The SMs the products after this call are planned for (cuBLASLt's SM count target: its
  // kernels then launch for that many SMs, leaving the rest to a concurrent stream); 0: all.
  void set_sm_target(int sms) { sm_target_ = sms < 0 ? 0 : sms; }

 private:
  struct Problem {
    bool trans_a, trans_b;
    int64_t m, n, k, lda, ldb, ldc;
    bool out_fp32;
    bool beta_nonzero;
    int align_a, align_b, align_c, align_d;
    int sm_target;
    auto key() const {
      return std::make_tuple(trans_a, trans_b, m, n, k, lda, ldb, ldc, out_fp32, beta_nonzero,
                             align_a, align_b, align_c, align_d, sm_target);
    }
    bool operator<(const Problem& o) const { return key() < o.key(); }
  };
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};                // the heuristic's first until tune()
    std::vector<cublasLtMatmulAlgo_t> untried;  // candidates tune() still has to time
  };
  // D = alpha op(A) op(B) + beta C, column-major, m x n, inner dimension k.
  void run(Problem p, const void* A, const void* B, const void* C, void* D, float beta,
           cudaStream_t stream);
  Plan& plan(const Problem& p);
  // Times pl.untried on these operands (output to scratch), keeps the fastest in pl.algo and
  // empties the list. Keeps the first when scratch memory is not available.
  void tune(Plan& pl, const Problem& p, const void* A, const void* B, const void* C, float beta,
            cudaStream_t stream);
  static std::string describe(const Problem& p);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Problem, Plan> plans_;
  int candidates_ = 8;
  int sm_target_ = 0;
};

}  // namespace sxb::gpu
