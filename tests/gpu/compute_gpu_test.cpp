// `sxbench compute` on a GPU: cuBLASLt products against the CPU reference for every type and
// layout, the memory kernels' data and plausible rates, the p2p and latency paths on one GPU,
// and the command end to end. Each test skips when no GPU is visible.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "../e2e/e2e_util.hpp"
#include "core/atomic_file.hpp"
#include "core/compute_results.hpp"
#include "platform/gpu_probe.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_runtime.h>

#include "bench/compute_device.hpp"
#include "bench/compute_kernels.hpp"
#endif

namespace sxb {

#define SKIP_WITHOUT_GPU() \
  if (visible_cuda_devices() == 0) GTEST_SKIP() << "no GPU visible"

#ifdef SXB_HAVE_CUDA

namespace {

double median_gb_per_s(const std::vector<double>& times_us, double bytes) {
  std::vector<double> t = times_us;
  std::sort(t.begin(), t.end());
  return bytes / (t[t.size() / 2] * 1e-6) / 1e9;
}

}  // namespace

TEST(ComputeGpu, GemmMatchesCpuReferenceForEveryTypeAndLayout) {
  SKIP_WITHOUT_GPU();
  for (GemmDtype t : parse_gemm_dtype_list("all")) {
    for (GemmLayout l : {GemmLayout::tn, GemmLayout::nn}) {
      if (t == GemmDtype::fp8_e4m3 && l == GemmLayout::nn) continue;  // Hopper fp8: tn only
      const GemmCheck c = check_gemm(0, t, l, 384, 640, 512, 4, 64ull << 20, true);
      EXPECT_TRUE(c.passed) << c.dtype << " " << c.layout << ": relative error " << c.relative_error
                            << " over tolerance " << c.tolerance;
      EXPECT_GT(c.relative_error, 0.0) << c.dtype << ": an exact match means the check saw "
                                       << "the reference itself";
    }
  }
}

TEST(ComputeGpu, GemmTimingRotatesAndTimesEveryRun) {
  SKIP_WITHOUT_GPU();
  GemmRunConfig cfg;
  cfg.m = cfg.n = cfg.k = 2048;
  cfg.iters = 12;
  cfg.warmup_iters = 2;
  cfg.rotate_min_bytes = 200ull << 20;
  const GemmTiming t = time_gemm(0, cfg);
  ASSERT_EQ(t.times_us.size(), 12u);
  EXPECT_EQ(t.input_bytes_per_set, 2u * 2048 * 2048 * 2);
  EXPECT_GE(uint64_t(t.input_sets) * t.input_bytes_per_set, 200ull << 20);
  EXPECT_GE(t.algos_tried, 1);
  for (double us : t.times_us) {
    // 17 GFLOP: above 5 PFLOP/s would be impossible, below 1 TFLOP/s broken.
    EXPECT_GT(us, 2 * 2048.0 * 2048 * 2048 / 5e15 * 1e6);
    EXPECT_LT(us, 2 * 2048.0 * 2048 * 2048 / 1e12 * 1e6);
  }
}

TEST(ComputeGpu, CopyKernelCopiesEveryByte) {
  SKIP_WITHOUT_GPU();
  const size_t vectors = 1000003;  // not a multiple of the unrolled stride
  void *src = nullptr, *dst = nullptr;
  ASSERT_EQ(cudaMalloc(&src, vectors * 16), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dst, vectors * 16), cudaSuccess);
  launch_fill_random(src, vectors * 4, FillType::f32, 3, nullptr);
  for (const MemKernelShape& shape : mem_kernel_shapes(132)) {
    ASSERT_EQ(cudaMemset(dst, 0, vectors * 16), cudaSuccess);
    launch_copy16(src, dst, vectors, shape, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> a(vectors * 4), b(vectors * 4);
    ASSERT_EQ(cudaMemcpy(a.data(), src, vectors * 16, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(b.data(), dst, vectors * 16, cudaMemcpyDeviceToHost), cudaSuccess);
    size_t differ = 0, zeros = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      differ += a[i] != b[i];
      zeros += a[i] == 0.0f;
    }
    EXPECT_EQ(differ, 0u) << shape.describe(vectors);
    EXPECT_EQ(zeros, 0u) << "random fill must never produce zeros";
  }
  cudaFree(src);
  cudaFree(dst);
}

TEST(ComputeGpu, HbmRatesArePhysical) {
  SKIP_WITHOUT_GPU();
  const uint64_t bytes = 512ull << 20;
  for (HbmKernel k : {HbmKernel::copy, HbmKernel::read, HbmKernel::write, HbmKernel::memcpy}) {
    const auto times = time_hbm(0, k, bytes, 2, 10).times_us;
    ASSERT_EQ(times.size(), 10u);
    const double passes = (k == HbmKernel::copy || k == HbmKernel::memcpy) ? 2 : 1;
    const double gbps = median_gb_per_s(times, passes * double(bytes));
    EXPECT_GT(gbps, 300.0) << int(k);
    EXPECT_LT(gbps, 10000.0) << int(k) << ": faster than any HBM means the work was skipped";
  }
}

TEST(ComputeGpu, HostLinksAndLocalPeerPaths) {
  SKIP_WITHOUT_GPU();
  for (bool h2d : {true, false}) {
    const double gbps =
        median_gb_per_s(time_host_copy(0, h2d, 64ull << 20, 1, 5), 64.0 * (1 << 20));
    EXPECT_GT(gbps, 1.0);
    EXPECT_LT(gbps, 200.0);
  }
  // One GPU: the p2p code path with source = destination (a local copy).
  for (P2PEngine e : {P2PEngine::copy_engine, P2PEngine::sm}) {
    for (bool bidir : {false, true}) {
      const auto t = time_p2p(0, 0, e, bidir, 64ull << 20, 1, 5);
      ASSERT_EQ(t.size(), 5u);
      for (double us : t) EXPECT_GT(us, 0.0);
    }
  }
  const double lat = pointer_chase_latency_us(0, 0, 256ull << 20, 5000);
  EXPECT_GT(lat, 0.05);
  EXPECT_LT(lat, 20.0);
  const auto small = time_small_peer_copy(0, 0, 2, 10);
  EXPECT_EQ(small.size(), 10u);
}

#endif  // SXB_HAVE_CUDA

namespace {

int run_binary(const std::string& args, const std::string& log) {
  // The build's binary, or $SXB_TEST_BINARY (a build carried to another machine).
  const std::string cmd = sxb::e2e::binary_path() + " " + args + " >" + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(ComputeGpu, CommandWritesComputeJson) {
  SKIP_WITHOUT_GPU();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "compute_gpu_run";
  std::filesystem::remove_all(dir);
  const std::string log = ::testing::TempDir() + "/compute_gpu_run.log";
  const int rc = run_binary(
      "compute --tests gemm,hbm,h2d,d2h --dtypes bf16,fp8 --shapes square "
      "--square-min 1024 --square-max 2048 --iters 10 --hbm-bytes 256M "
      "--host-bytes 64M --out " +
          dir.string(),
      log);
  ASSERT_EQ(rc, 0) << read_file(log);
  const ComputeReport r = read_json_file(dir / "compute.json").get<ComputeReport>();
  EXPECT_EQ(r.status, "complete");
  EXPECT_EQ(r.gemm.size(), 4u);  // 2 types x 2 sizes
  EXPECT_EQ(r.gemm_checks.size(), 2u);
  for (const auto& g : r.gemm) {
    EXPECT_GT(g.tflop_per_s, 1.0) << g.dtype << " " << g.name;
    EXPECT_EQ(g.iters, 10);
  }
  size_t hbm = 0, host = 0;
  for (const auto& b : r.bandwidth) {
    hbm += b.test == "hbm";
    host += b.test == "h2d" || b.test == "d2h";
    EXPECT_GT(b.gb_per_s, 0.0);
  }
  EXPECT_EQ(hbm, 4u);
  EXPECT_EQ(host, 2u);
  ASSERT_TRUE(r.topology);
  EXPECT_TRUE(r.methods.contains("gemm"));
}

// The engine's attention kernels through the command: every kernel checked against float64
// (with and without a window), each applicable kernel timed both ways, the automatic choice
// marked once per shape and direction.
TEST(ComputeGpu, AttentionTestChecksAndTimesTheEngineKernels) {
  SKIP_WITHOUT_GPU();
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "compute_gpu_attention";
  std::filesystem::remove_all(dir);
  const std::string log = ::testing::TempDir() + "/compute_gpu_attention.log";
  const int rc = run_binary(
      "compute --tests attention --attention-shapes 1x8x2x1000x128,2x4x4x300x64x100 "
      "--attention-iters 3 --out " +
          dir.string(),
      log);
  ASSERT_EQ(rc, 0) << read_file(log);
  const ComputeReport r = read_json_file(dir / "compute.json").get<ComputeReport>();
  EXPECT_EQ(r.status, "complete");
  // Checks at head_dim 64 and 128, each without and with a window, per applicable kernel.
  ASSERT_GE(r.attention_checks.size(), 4u);
  for (const auto& c : r.attention_checks) {
    EXPECT_TRUE(c.passed) << c.kernel << " hd " << c.shape.head_dim << " window " << c.shape.window
                          << ": " << c.relative_error;
  }
  ASSERT_GE(r.attention.size(), 4u);  // 2 shapes x 2 directions, x 2 where sm90 applies
  std::map<std::tuple<int64_t, std::string>, int> defaults;
  for (const auto& a : r.attention) {
    EXPECT_GT(a.tflop_per_s, 0.1) << a.kernel << " " << a.direction;
    EXPECT_EQ(a.iters, 3);
    EXPECT_DOUBLE_EQ(a.flop, attention_flop(a.shape, a.direction == "backward"));
    if (a.engine_default) ++defaults[{a.shape.seq, a.direction}];
  }
  EXPECT_EQ(defaults.size(), 4u);
  for (const auto& [key, n] : defaults) EXPECT_EQ(n, 1);
  EXPECT_TRUE(r.methods.contains("attention"));
}

TEST(ComputeGpu, P2pOnOneGpuIsRefusedNotInvented) {
  SKIP_WITHOUT_GPU();
  if (visible_cuda_devices() > 1) GTEST_SKIP() << "more than one GPU";
  const std::string log = ::testing::TempDir() + "/compute_gpu_p2p.log";
  EXPECT_EQ(run_binary("compute --tests p2p --out " + ::testing::TempDir() + "/p2p_refused", log),
            4)
      << read_file(log);
  EXPECT_NE(read_file(log).find("p2p needs at least 2 GPUs"), std::string::npos) << read_file(log);
}

}  // namespace sxb
