// `sxbench compute` as a user runs it on a machine without a GPU (CI): the test list, bad input,
// and the one-line "no CUDA / no GPU" refusal with exit code 4.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/atomic_file.hpp"
#include "platform/gpu_probe.hpp"

namespace {

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

Outcome run_sxbench(const std::string& args) {
  // One file pair per test and process: ctest runs the tests of this binary in parallel, and
  // other build trees on the same machine run the same tests in the same temp directory.
  const std::string base = ::testing::TempDir() + "/compute_e2e_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                           std::to_string(::getpid());
  const std::string out = base + ".out", err = base + ".err";
  const std::string cmd = std::string(SXB_BINARY) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = sxb::read_file(out);
  o.err = sxb::read_file(err);
  return o;
}

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(ComputeCli, ListsEveryTest) {
  const Outcome o = run_sxbench("compute --list");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  for (const char* name : {"gemm", "hbm", "p2p", "h2d", "d2h"}) {
    EXPECT_NE(o.out.find(std::string("\n") + name + " "), std::string::npos) << name << "\n"
                                                                             << o.out;
  }
}

TEST(ComputeCli, UnknownTestIsAUsageError) {
  const Outcome o = run_sxbench("compute --tests gemm,flops");
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(lines(o.err), 1u) << o.err;
  EXPECT_NE(o.err.find("unknown compute test 'flops'"), std::string::npos) << o.err;
}

TEST(ComputeCli, BadSizesAreUsageErrors) {
  EXPECT_EQ(run_sxbench("compute --hbm-bytes 1000").exit_code, 2);
  EXPECT_EQ(run_sxbench("compute --square-min 1000").exit_code, 2);
  EXPECT_EQ(run_sxbench("compute --dtypes int4").exit_code, 2);
  EXPECT_EQ(run_sxbench("compute --shapes gpt2").exit_code, 2);
}

TEST(ComputeCli, RefusesWithoutAGpu) {
  if (sxb::visible_cuda_devices() > 0) GTEST_SKIP() << "a GPU is visible";
  const Outcome o = run_sxbench("compute --tests hbm");
  EXPECT_EQ(o.exit_code, 4) << o.err;
  EXPECT_EQ(lines(o.err), 1u) << o.err;
  const bool says_why = o.err.find("built without CUDA") != std::string::npos ||
                        o.err.find("no CUDA GPU is visible") != std::string::npos;
  EXPECT_TRUE(says_why) << o.err;
  EXPECT_EQ(o.err.rfind("sxbench: error: ", 0), 0u) << o.err;
}

}  // namespace
