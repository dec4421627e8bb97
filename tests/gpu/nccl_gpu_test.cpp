// GPU tests for the collective benchmark: the device-side data check and the nccl backend end
// to end on every visible GPU. Each test skips when no GPU is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/pattern.hpp"
#include "core/atomic_file.hpp"
#include "platform/gpu_probe.hpp"
#include "../e2e/e2e_util.hpp"

#ifdef SXB_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace sxb {
namespace {

namespace fs = std::filesystem;

#define SXB_REQUIRE_GPUS(n)                                                             \
  do {                                                                                  \
    if (!built_with_cuda()) GTEST_SKIP() << "built without CUDA";                       \
    if (visible_cuda_devices() < (n)) GTEST_SKIP() << "needs " << (n) << " GPU(s)";     \
  } while (0)

#ifdef SXB_HAVE_CUDA
TEST(GpuPattern, DeviceFillAndCheckAgreeWithHost) {
  SXB_REQUIRE_GPUS(1);
  const size_t count = (1u << 22) + 3;  // odd size: grid-stride tail
  for (DataType t : {DataType::f32, DataType::f16, DataType::bf16}) {
    void* d = nullptr;
    ASSERT_EQ(cudaMalloc(&d, count * dtype_size(t)), cudaSuccess);
    poison(MemorySpace::cuda, d, count * dtype_size(t));
    EXPECT_EQ(count_mismatches(MemorySpace::cuda, d, count, t, 5, 8, 77), count);  // all NaN
    fill_pattern(MemorySpace::cuda, d, count, t, 5, 77);
    std::vector<char> host(count * dtype_size(t)), want(count * dtype_size(t));
    ASSERT_EQ(cudaMemcpy(host.data(), d, host.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    fill_pattern(MemorySpace::host, want.data(), count, t, 5, 77);
    EXPECT_EQ(host, want) << dtype_name(t);
    EXPECT_EQ(count_mismatches(MemorySpace::cuda, d, count, t, 5, 8, 77), 0u);
    EXPECT_GT(count_mismatches(MemorySpace::cuda, d, count, t, 6, 8, 77), count / 2);
    std::vector<char> bad(dtype_size(t));
    store_from_float(bad.data(), 0, t, 1000.0f);
    ASSERT_EQ(cudaMemcpy(static_cast<char*>(d) + 12345 * dtype_size(t), bad.data(), bad.size(),
                         cudaMemcpyHostToDevice),
              cudaSuccess);
    EXPECT_EQ(count_mismatches(MemorySpace::cuda, d, count, t, 5, 8, 77), 1u);
    cudaFree(d);
  }
}
#endif

class GpuNcclSweep : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuNcclSweep, EveryOperationOnEveryGpuChecksClean) {
  SXB_REQUIRE_GPUS(1);
  const int gpus = visible_cuda_devices();
  const fs::path out = e2e::scratch_dir("gpu_nccl_" + GetParam());
  const auto r = e2e::run_command(
      e2e::mpirun(gpus, "nccl --backend nccl -b 8 -e 64M -f 8 -w 2 -n 5 -d " + GetParam() +
                            " --out " + out.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = read_json_file(out / "nccl.json");
  EXPECT_EQ(j["world_size"], gpus);
  EXPECT_EQ(j["params"]["backend"], "nccl");
  ASSERT_EQ(j["summary"].size(), 7u);
  for (const auto& s : j["summary"]) EXPECT_EQ(s["wrong"], 0) << s.dump();
  for (const auto& row : j["rows"]) {
    EXPECT_TRUE(std::isfinite(row["out_of_place"]["busbw_gb_per_s"].get<double>()));
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(DataTypes, GpuNcclSweep, ::testing::Values("float", "half", "bfloat16"));

TEST(GpuNccl, CorruptionIsCaughtOnTheGpuPath) {
  SXB_REQUIRE_GPUS(1);
  const fs::path out = e2e::scratch_dir("gpu_corrupt");
  const auto r = e2e::run_command("SXB_FAULT_INJECT=corrupt:0 " +
                                  e2e::mpirun(visible_cuda_devices(),
                                              "nccl --backend nccl --ops all_reduce -b 1K -e 1M "
                                              "-f 32 --out " + out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("data check failed"), std::string::npos) << r.output;
  fs::remove_all(out);
}

TEST(GpuNccl, HungRankEndsTheRunNamingRankAndHost) {
  SXB_REQUIRE_GPUS(2);
  const auto r = e2e::run_command("SXB_FAULT_INJECT=hang:1 " +
                                  e2e::mpirun(2, "nccl --backend nccl --ops all_reduce -b 8 -e 64 "
                                                 "--timeout 5 --out " +
                                                     e2e::scratch_dir("gpu_hang").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("did not finish within 5 s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 0 on host"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sxb
