// GEMM through cuBLASLt: one matmul descriptor per (type, layout, shape), heuristic candidates
// timed and the fastest kept, CUDA-event timing rotating through input sets larger than L2.
// Row-major C[M,N] is computed as column-major Cᵀ[N,M] = op(B) op(A): cuBLAS's "A" operand is
// the user's B and its "B" operand the user's A (see gemm_shapes.hpp for the two layouts).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bench/compute_device.hpp"
#include "bench/compute_kernels.hpp"
#include "core/error.hpp"
#include "core/numeric.hpp"
#include "core/stats.hpp"
#include "platform/cuda_resources.hpp"

namespace sxb {

namespace {

// Per-tensor fp8 scales: non-unit so that a product that ignored them would fail the check.
constexpr float kFp8ScaleA = 0.5f;
constexpr float kFp8ScaleB = 0.25f;

FillType fill_type(GemmDtype t) {
  switch (t) {
    case GemmDtype::bf16:
      return FillType::bf16;
    case GemmDtype::fp16:
      return FillType::f16;
    case GemmDtype::tf32:
      return FillType::f32;
    case GemmDtype::fp8_e4m3:
      return FillType::fp8_e4m3;
  }
  return FillType::f32;
}

std::string shape_text(GemmDtype t, GemmLayout l, int64_t m, int64_t n, int64_t k) {
  return gemm_dtype_name(t) + " " + gemm_layout_name(l) + " " + std::to_string(m) + "x" +
         std::to_string(n) + "x" + std::to_string(k);
}

// One cuBLASLt product description and its heuristic candidates.
class LtGemm {
 public:
  LtGemm(GemmDtype dtype, GemmLayout layout, int64_t m, int64_t n, int64_t k,
         uint64_t workspace_bytes, const float* fp8_scale_a, const float* fp8_scale_b,
         bool fp8_fast_accum)
      : what_(shape_text(dtype, layout, m, n, k)), workspace_bytes_(workspace_bytes) {
    cudaDataType ab = CUDA_R_16BF, cd = CUDA_R_16BF;
    cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
    switch (dtype) {
      case GemmDtype::bf16:
        break;
      case GemmDtype::fp16:
        ab = cd = CUDA_R_16F;
        break;
      case GemmDtype::tf32:
        ab = cd = CUDA_R_32F;
        compute = CUBLAS_COMPUTE_32F_FAST_TF32;
        break;
      case GemmDtype::fp8_e4m3:
        ab = CUDA_R_8F_E4M3;
        break;
    }
    lt_check(cublasLtCreate(&handle_), "cublasLtCreate");
    lt_check(cublasLtMatmulDescCreate(&desc_, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
    const cublasOperation_t op_a = layout == GemmLayout::tn ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = CUBLAS_OP_N;
    set_desc(CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a);
    set_desc(CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b);
    if (dtype == GemmDtype::fp8_e4m3) {
      if (fp8_scale_a && fp8_scale_b) {
        // cuBLAS's A is the user's B and vice versa.
        const void* scale_lt_a = fp8_scale_b;
        const void* scale_lt_b = fp8_scale_a;
        set_desc(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_lt_a, sizeof scale_lt_a);
        set_desc(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_lt_b, sizeof scale_lt_b);
      }
      const int8_t fast = fp8_fast_accum ? 1 : 0;
      set_desc(CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast);
    }
    // Column-major view: m' = N, n' = M, k' = K.
    const uint64_t mp = n, np = m, kp = k;
    if (layout == GemmLayout::tn) {
      lt_check(cublasLtMatrixLayoutCreate(&a_, ab, kp, mp, kp), "cublasLtMatrixLayoutCreate(A)");
    } else {
      lt_check(cublasLtMatrixLayoutCreate(&a_, ab, mp, kp, mp), "cublasLtMatrixLayoutCreate(A)");
    }
    lt_check(cublasLtMatrixLayoutCreate(&b_, ab, kp, np, kp), "cublasLtMatrixLayoutCreate(B)");
    lt_check(cublasLtMatrixLayoutCreate(&c_, cd, mp, np, mp), "cublasLtMatrixLayoutCreate(C)");
    lt_check(cublasLtMatmulPreferenceCreate(&pref_), "cublasLtMatmulPreferenceCreate");
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &workspace_bytes_, sizeof workspace_bytes_),
             "cublasLtMatmulPreferenceSetAttribute");
  }

  ~LtGemm() {
    if (pref_) cublasLtMatmulPreferenceDestroy(pref_);
    if (c_) cublasLtMatrixLayoutDestroy(c_);
    if (b_) cublasLtMatrixLayoutDestroy(b_);
    if (a_) cublasLtMatrixLayoutDestroy(a_);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
    if (handle_) cublasLtDestroy(handle_);
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  std::vector<cublasLtMatmulHeuristicResult_t> candidates(int max_algos) const {
    std::vector<cublasLtMatmulHeuristicResult_t> results(std::max(1, max_algos));
    int returned = 0;
    lt_check(
        cublasLtMatmulAlgoGetHeuristic(handle_, desc_, a_, b_, c_, c_, pref_,
                                       static_cast<int>(results.size()), results.data(), &returned),
        "cublasLtMatmulAlgoGetHeuristic(" + what_ + ")");
    results.resize(returned);
    std::erase_if(results, [&](const cublasLtMatmulHeuristicResult_t& r) {
      return r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize > workspace_bytes_;
    });
    if (results.empty()) throw runtime_error("cuBLASLt has no algorithm for " + what_);
    return results;
  }

  cublasStatus_t run(const cublasLtMatmulAlgo_t& algo, const void* user_a, const void* user_b,
                     void* c, void* workspace, cudaStream_t s) const {
    const float alpha = 1.0f, beta = 0.0f;
    return cublasLtMatmul(handle_, desc_, &alpha, user_b, a_, user_a, b_, &beta, c, c_, c, c_,
                          &algo, workspace, workspace_bytes_, s);
  }

  const std::string& what() const { return what_; }

 private:
  void set_desc(cublasLtMatmulDescAttributes_t attr, const void* value, size_t size) {
    lt_check(cublasLtMatmulDescSetAttribute(desc_, attr, value, size),
             "cublasLtMatmulDescSetAttribute");
  }

  std::string what_;
  uint64_t workspace_bytes_;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
};

// Operands of one product on the device.
struct Operands {
  std::vector<std::unique_ptr<DeviceBuffer>> a, b;
  std::unique_ptr<DeviceBuffer> c, workspace;
  // One allocation each (256-byte aligned): cuBLASLt 13.1 on an H200 refused every fp8
  // candidate when a scale pointer sat 4 bytes into a shared buffer.
  std::unique_ptr<DeviceBuffer> scale_a, scale_b;
};

Operands make_operands(GemmDtype dtype, int64_t m, int64_t n, int64_t k, int sets,
                       uint64_t workspace_bytes, uint64_t seed, cudaStream_t s) {
  Operands o;
  const size_t in = gemm_input_element_bytes(dtype);
  for (int i = 0; i < sets; ++i) {
    o.a.push_back(std::make_unique<DeviceBuffer>(size_t(m) * size_t(k) * in));
    o.b.push_back(std::make_unique<DeviceBuffer>(size_t(n) * size_t(k) * in));
    launch_fill_random(o.a.back()->get(), size_t(m) * size_t(k), fill_type(dtype),
                       seed + 2 * uint64_t(i), s);
    launch_fill_random(o.b.back()->get(), size_t(n) * size_t(k), fill_type(dtype),
                       seed + 2 * uint64_t(i) + 1, s);
  }
  o.c = std::make_unique<DeviceBuffer>(size_t(m) * size_t(n) * gemm_output_element_bytes(dtype));
  o.workspace = std::make_unique<DeviceBuffer>(workspace_bytes);
  o.scale_a = std::make_unique<DeviceBuffer>(sizeof kFp8ScaleA);
  o.scale_b = std::make_unique<DeviceBuffer>(sizeof kFp8ScaleB);
  cuda_check(
      cudaMemcpyAsync(o.scale_a->get(), &kFp8ScaleA, sizeof kFp8ScaleA, cudaMemcpyHostToDevice, s),
      "cudaMemcpyAsync(scale)");
  cuda_check(
      cudaMemcpyAsync(o.scale_b->get(), &kFp8ScaleB, sizeof kFp8ScaleB, cudaMemcpyHostToDevice, s),
      "cudaMemcpyAsync(scale)");
  cuda_check(cudaStreamSynchronize(s), "operand fill");
  return o;
}

std::vector<double> to_doubles(const std::vector<unsigned char>& raw, size_t count, int kind) {
  // kind: 0 f32, 1 f16, 2 bf16, 3 fp8 e4m3
  std::vector<double> out(count);
  for (size_t i = 0; i < count; ++i) {
    switch (kind) {
      case 0: {
        float f;
        std::memcpy(&f, raw.data() + 4 * i, 4);
        out[i] = f;
        break;
      }
      case 1: {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[i] = half_bits_to_float(h);
        break;
      }
      case 2: {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[i] = bf16_bits_to_float(h);
        break;
      }
      default:
        out[i] = fp8_e4m3_bits_to_float(raw[i]);
        break;
    }
  }
  return out;
}

int input_kind(GemmDtype t) {
  switch (t) {
    case GemmDtype::tf32:
      return 0;
    case GemmDtype::fp16:
      return 1;
    case GemmDtype::bf16:
      return 2;
    case GemmDtype::fp8_e4m3:
      return 3;
  }
  return 0;
}

int output_kind(GemmDtype t) {
  return t == GemmDtype::tf32 ? 0 : (t == GemmDtype::fp16 ? 1 : 2);
}

std::vector<double> copy_to_host(const void* dev, size_t count, size_t elem_bytes, int kind) {
  std::vector<unsigned char> raw(count * elem_bytes);
  cuda_check(cudaMemcpy(raw.data(), dev, raw.size(), cudaMemcpyDeviceToHost), "cudaMemcpy(D2H)");
  return to_doubles(raw, count, kind);
}

std::unique_ptr<LtGemm> make_gemm(GemmDtype dtype, GemmLayout layout, int64_t m, int64_t n,
                                  int64_t k, uint64_t workspace_bytes, const Operands& ops,
                                  bool scale_pointers, bool fp8_fast_accum) {
  return std::make_unique<LtGemm>(
      dtype, layout, m, n, k, workspace_bytes,
      scale_pointers ? static_cast<const float*>(ops.scale_a->get()) : nullptr,
      scale_pointers ? static_cast<const float*>(ops.scale_b->get()) : nullptr, fp8_fast_accum);
}

}  // namespace

std::string cublaslt_version_string() {
  const size_t v = cublasLtGetVersion();
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." +
         std::to_string(v % 100);
}

GemmTiming time_gemm(int device, const GemmRunConfig& cfg) {
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  if (cfg.iters < 1) throw usage_error("GEMM iterations must be at least 1");
  Stream stream;
  GemmTiming t;
  t.input_bytes_per_set =
      (uint64_t(cfg.m) * cfg.k + uint64_t(cfg.n) * cfg.k) * gemm_input_element_bytes(cfg.dtype);
  int sets = gemm_rotation_sets(t.input_bytes_per_set, cfg.rotate_min_bytes, 2, cfg.max_input_sets);
  // Keep a quarter of the free memory spare; fewer sets (at least one) when memory is short.
  size_t free_bytes = 0, total_bytes = 0;
  cuda_check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  const uint64_t fixed =
      uint64_t(cfg.m) * cfg.n * gemm_output_element_bytes(cfg.dtype) + cfg.workspace_bytes;
  while (sets > 1 && fixed + uint64_t(sets) * t.input_bytes_per_set > free_bytes / 4 * 3) --sets;
  t.input_sets = sets;

  Operands ops =
      make_operands(cfg.dtype, cfg.m, cfg.n, cfg.k, sets, cfg.workspace_bytes,
                    0x5EED0000ull + uint64_t(cfg.m * 131 + cfg.n * 17 + cfg.k), stream.get());
  // fp8 runs with per-tensor scale pointers; a library that refuses every candidate with them
  // is asked again without (unit scales), and the result says which ran.
  const bool fp8 = cfg.dtype == GemmDtype::fp8_e4m3;
  std::unique_ptr<LtGemm> gemm;
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  int set = 0;
  const auto run_once = [&](const cublasLtMatmulAlgo_t& algo) {
    const cublasStatus_t s = gemm->run(algo, ops.a[set]->get(), ops.b[set]->get(), ops.c->get(),
                                       ops.workspace->get(), stream.get());
    set = (set + 1) % sets;
    return s;
  };

  // Choose: two rounds over the candidates; in each, two warm-up products, then trial_iters
  // products with one event pair each. A candidate's score is the lower of its two medians, so a
  // clock dip during one candidate's turn does not decide.
  const int trial = std::max(1, cfg.trial_iters);
  int best = -1;
  std::string refusals;
  for (bool scales : {true, false}) {
    if (!scales && (!fp8 || best >= 0)) break;
    gemm = make_gemm(cfg.dtype, cfg.layout, cfg.m, cfg.n, cfg.k, cfg.workspace_bytes, ops,
                     fp8 && scales, cfg.fp8_fast_accum);
    candidates = gemm->candidates(cfg.max_algos);
    t.scale_pointers = fp8 && scales;
    std::vector<double> score(candidates.size(), std::numeric_limits<double>::infinity());
    std::vector<bool> refused(candidates.size(), false);
    EventPairs trial_events(trial);
    for (int round = 0; round < 2; ++round) {
      for (size_t i = 0; i < candidates.size(); ++i) {
        if (refused[i]) continue;
        const auto& algo = candidates[i].algo;
        if (const cublasStatus_t s = run_once(algo); s != CUBLAS_STATUS_SUCCESS) {
          refusals += std::string(refusals.empty() ? "" : ", ") + cublasLtGetStatusString(s);
          refused[i] = true;  // candidate refused at launch
          continue;
        }
        run_once(algo);
        for (int r = 0; r < trial; ++r) {
          cuda_check(cudaEventRecord(trial_events.start(r), stream.get()), "cudaEventRecord");
          lt_check(run_once(algo), "cublasLtMatmul(" + gemm->what() + ")");
          cuda_check(cudaEventRecord(trial_events.stop(r), stream.get()), "cudaEventRecord");
        }
        cuda_check(cudaStreamSynchronize(stream.get()), "GEMM trial");
        std::vector<double> us;
        for (int r = 0; r < trial; ++r) us.push_back(trial_events.elapsed_us(r));
        score[i] = std::min(score[i], median_of(us, IfEmpty::error));
      }
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (refused[i]) continue;
      ++t.algos_tried;
      if (best < 0 || score[i] < score[best]) best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    throw runtime_error("no cuBLASLt candidate ran for " + gemm->what() + " (" + refusals + ")");
  }
  t.algo_rank = best;
  const auto& algo = candidates[best].algo;

  for (int r = 0; r < cfg.warmup_iters; ++r)
    lt_check(run_once(algo), "cublasLtMatmul(" + gemm->what() + ")");
  EventPairs events(cfg.iters);
  for (int r = 0; r < cfg.iters; ++r) {
    cuda_check(cudaEventRecord(events.start(r), stream.get()), "cudaEventRecord");
    lt_check(run_once(algo), "cublasLtMatmul(" + gemm->what() + ")");
    cuda_check(cudaEventRecord(events.stop(r), stream.get()), "cudaEventRecord");
  }
  cuda_check(cudaStreamSynchronize(stream.get()), "GEMM timing (" + gemm->what() + ")");
  for (int r = 0; r < cfg.iters; ++r) t.times_us.push_back(events.elapsed_us(r));
  return t;
}

GemmCheck check_gemm(int device, GemmDtype dtype, GemmLayout layout, int64_t m, int64_t n,
                     int64_t k, int max_algos, uint64_t workspace_bytes, bool fp8_fast_accum) {
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  Stream stream;
  Operands ops = make_operands(dtype, m, n, k, 1, workspace_bytes, 0xC0FFEEull + uint64_t(dtype),
                               stream.get());
  const size_t in = gemm_input_element_bytes(dtype);
  const size_t out_bytes = gemm_output_element_bytes(dtype);
  const std::vector<double> a = copy_to_host(ops.a[0]->get(), size_t(m * k), in, input_kind(dtype));
  const std::vector<double> b = copy_to_host(ops.b[0]->get(), size_t(n * k), in, input_kind(dtype));
  const std::vector<double> unscaled = reference_gemm(layout, m, n, k, a, b);
  GemmCheck check;
  check.device = device;
  check.dtype = gemm_dtype_name(dtype);
  check.layout = gemm_layout_name(layout);
  check.m = m;
  check.n = n;
  check.k = k;
  check.tolerance = gemm_check_tolerance(dtype);
  // Every candidate the timing could keep is checked; the worst error is reported. fp8 falls
  // back to unit scales (no scale pointers) exactly as time_gemm does.
  const bool fp8 = dtype == GemmDtype::fp8_e4m3;
  int ran = 0;
  std::string refusals, what;
  for (bool scales : {true, false}) {
    if (!scales && (!fp8 || ran > 0)) break;
    const auto gemm =
        make_gemm(dtype, layout, m, n, k, workspace_bytes, ops, fp8 && scales, fp8_fast_accum);
    what = gemm->what();
    check.scale_pointers = fp8 && scales;
    std::vector<double> ref = unscaled;
    if (check.scale_pointers) {
      for (double& v : ref) v *= double(kFp8ScaleA) * double(kFp8ScaleB);
    }
    for (const auto& cand : gemm->candidates(max_algos)) {
      cuda_check(cudaMemsetAsync(ops.c->get(), 0xFF, size_t(m * n) * out_bytes, stream.get()),
                 "cudaMemsetAsync(poison)");
      const cublasStatus_t s = gemm->run(cand.algo, ops.a[0]->get(), ops.b[0]->get(), ops.c->get(),
                                         ops.workspace->get(), stream.get());
      if (s != CUBLAS_STATUS_SUCCESS) {
        refusals += std::string(refusals.empty() ? "" : ", ") + cublasLtGetStatusString(s);
        continue;
      }
      ++ran;
      cuda_check(cudaStreamSynchronize(stream.get()), "GEMM check (" + what + ")");
      const std::vector<double> out =
          copy_to_host(ops.c->get(), size_t(m * n), out_bytes, output_kind(dtype));
      check.relative_error = std::max(check.relative_error, relative_frobenius_error(out, ref));
    }
  }
  if (ran == 0) {
    throw runtime_error("no cuBLASLt candidate ran for " + what + " (" + refusals + ")");
  }
  check.passed = check.relative_error <= check.tolerance;
  return check;
}

}  // namespace sxb
