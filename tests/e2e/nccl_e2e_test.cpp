// `sxbench nccl` end to end on the mpi backend: the binary under mpirun, as CI runs it.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.hpp"
#include "platform/gpu_probe.hpp"
#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

void expect_clean_sweep(const fs::path& out, int world, const std::string& dtype) {
  const nlohmann::json j = read_json_file(out / "nccl.json");
  EXPECT_EQ(j["status"], "complete");
  EXPECT_EQ(j["world_size"], world);
  EXPECT_EQ(j["params"]["backend"], "mpi");
  EXPECT_EQ(j["params"]["dtype"], dtype);
  ASSERT_EQ(j["summary"].size(), 7u);
  int rows = 0;
  for (const auto& row : j["rows"]) {
    ++rows;
    EXPECT_EQ(row["out_of_place"]["wrong"], 0) << row.dump();
    EXPECT_GT(row["out_of_place"]["time_us"].get<double>(), 0.0);
    if (!row["in_place"].is_null()) EXPECT_EQ(row["in_place"]["wrong"], 0) << row.dump();
  }
  EXPECT_GE(rows, 7 * 4);
  for (const auto& s : j["summary"]) {
    EXPECT_TRUE(s["checked"].get<bool>());
    EXPECT_EQ(s["wrong"], 0);
  }
}

class NcclAllOps : public ::testing::TestWithParam<std::string> {};

TEST_P(NcclAllOps, TwoRanksEveryOperationChecksClean) {
  const fs::path out = scratch_dir("nccl_" + GetParam());
  const auto r = run_command(mpirun(2, "nccl --backend mpi -b 8 -e 256K -f 4 -w 1 -n 3 -d " +
                                           GetParam() + " --out " + out.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_clean_sweep(out, 2, GetParam());
  for (const char* log : {"nccl_allreduce.log", "nccl_allgather.log", "nccl_reducescatter.log",
                          "nccl_broadcast.log", "nccl_reduce.log", "nccl_alltoall.log",
                          "nccl_sendrecv.log"}) {
    EXPECT_TRUE(fs::exists(out / log)) << log;
  }
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(DataTypes, NcclAllOps, ::testing::Values("float", "half", "bfloat16"));

TEST(NcclE2E, ThreeRanksRootedOpsAndOddSizes) {
  const fs::path out = scratch_dir("nccl3");
  const auto r = run_command(mpirun(3, "nccl --backend mpi -b 100 -e 1000 -i 300 -r 2 -w 0 -n 2 "
                                       "--out " + out.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_clean_sweep(out, 3, "float");
  const nlohmann::json j = read_json_file(out / "nccl.json");
  for (const auto& row : j["rows"]) {
    if (row["op"] == "broadcast" || row["op"] == "reduce") EXPECT_EQ(row["root"], 2);
    if (row["op"] == "all_gather") EXPECT_EQ(row["size_bytes"].get<uint64_t>() % 12, 0u);
  }
  fs::remove_all(out);
}

// The all_reduce log must read like nccl-tests' all_reduce_perf output.
TEST(NcclE2E, AllReduceLogMatchesJsonAndNcclTestsLayout) {
  const fs::path out = scratch_dir("nccllog");
  const auto r = run_command(
      mpirun(2, "nccl --backend mpi --ops all_reduce -b 1K -e 64K -f 2 --out " + out.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = read_json_file(out / "nccl.json");
  std::ifstream log(out / "nccl_allreduce.log");
  std::string line;
  size_t data_rows = 0;
  bool saw_header = false, saw_ok = false, saw_avg = false;
  while (std::getline(log, line)) {
    if (line.rfind("#       size         count      type   redop    root", 0) == 0) saw_header = true;
    if (line == "# Out of bounds values : 0 OK") saw_ok = true;
    if (line.rfind("# Avg bus bandwidth    : ", 0) == 0) saw_avg = true;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string x; in >> x;) f.push_back(x);
    ASSERT_EQ(f.size(), 13u) << line;
    ASSERT_LT(data_rows, j["rows"].size());
    const auto& row = j["rows"][data_rows];
    EXPECT_EQ(std::stoull(f[0]), row["size_bytes"].get<uint64_t>());
    EXPECT_EQ(f[3], "sum");
    // busbw = algbw x 2(n-1)/n = algbw for 2 ranks.
    EXPECT_EQ(f[6], f[7]);
    ++data_rows;
  }
  EXPECT_EQ(data_rows, 7u);  // 1K..64K by 2
  EXPECT_TRUE(saw_header && saw_ok && saw_avg);
  EXPECT_EQ(j["rows"].size(), 7u);
  fs::remove_all(out);
}

TEST(NcclE2E, CorruptedOutputIsCaughtAndFailsTheRun) {
  const fs::path out = scratch_dir("corrupt");
  const auto r = run_command("SXB_FAULT_INJECT=corrupt:1 " +
                             mpirun(2, "nccl --backend mpi --ops all_reduce,all_gather -b 64 -e 1K "
                                       "-f 4 --out " + out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("sxbench: error: data check failed"), std::string::npos) << r.output;
  const nlohmann::json j = read_json_file(out / "nccl.json");
  for (const auto& row : j["rows"]) EXPECT_GE(row["out_of_place"]["wrong"].get<int>(), 1);
  EXPECT_NE(read_file(out / "nccl_allreduce.log").find("FAILED"), std::string::npos);
  fs::remove_all(out);
}

TEST(NcclE2E, HungRankEndsTheRunWithinTheTimeoutNamingRankAndHost) {
  const fs::path out = scratch_dir("hang");
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_command("SXB_FAULT_INJECT=hang:1 " +
                             mpirun(2, "nccl --backend mpi --ops all_reduce -b 8 -e 64 --timeout 2 "
                                       "--out " + out.string()));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(seconds, 60.0);
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  EXPECT_NE(r.output.find("rank 0 on host " + std::string(host)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did not finish within 2 s"), std::string::npos) << r.output;
  fs::remove_all(out);
}

TEST(NcclE2E, SingletonWithoutLauncher) {
  const fs::path out = scratch_dir("single");
  const auto r = run_command(sxbench("nccl --backend mpi --ops sendrecv,alltoall -b 8 -e 4K --out " +
                                     out.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(out / "nccl.json")["launcher"], "singleton");
  fs::remove_all(out);
}

struct BadInput {
  const char* name;
  const char* args;
  const char* message;
};

class NcclBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(NcclBadInput, OneLineErrorAndUsageExit) {
  const auto r = run_command(sxbench(GetParam().args));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_EQ(r.output.rfind("sxbench: error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(GetParam().message), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NcclBadInput,
    ::testing::Values(
        BadInput{"UnknownOp", "nccl --ops all_reduse", "unknown collective 'all_reduse'"},
        BadInput{"MaxBelowMin", "nccl -b 1M -e 1K", "below minimum size"},
        BadInput{"BadSize", "nccl -b 8 -e 12Q", "--maxbytes: invalid value '12Q'"},
        BadInput{"BadType", "nccl -d int128", "unknown data type 'int128'"},
        BadInput{"BadBackend", "nccl --backend carrier", "unknown backend 'carrier'"},
        BadInput{"ZeroIters", "nccl -n 0", "--iters: invalid value '0'"},
        BadInput{"UnknownFlag", "nccl --no-such-flag", "--no-such-flag"},
        BadInput{"UnknownCommand", "frobnicate", "unknown command 'frobnicate' (known: nccl"},
        BadInput{"MissingEnvFile", "--env /nonexistent/.env nccl",
                 "--env /nonexistent/.env: no such file"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return std::string(info.param.name); });

TEST(NcclE2E, EnvFileErrorsNameFileAndLine) {
  const fs::path d = scratch_dir("envbad");
  write_file_atomic(d / "bad.env", "# settings\nSEQ_LEN=4096\nCOMM_TIMEOUT=soon\n");
  auto r = run_command(sxbench("--env " + (d / "bad.env").string() + " nccl"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("bad.env:3: COMM_TIMEOUT=soon"), std::string::npos) << r.output;
  write_file_atomic(d / "unknown.env", "BATCH_SIZE=8\n");
  r = run_command(sxbench("--env " + (d / "unknown.env").string() + " nccl"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown.env:1: unknown key 'BATCH_SIZE'"), std::string::npos) << r.output;
  fs::remove_all(d);
}

// flag > process environment > .env > default, seen through where the run writes and which
// backend it uses.
TEST(NcclE2E, SettingsPrecedence) {
  const fs::path d = scratch_dir("precedence");
  write_file_atomic(d / "s.env", "RESULTS_DIR=" + (d / "from_file").string() +
                                     "\nCOMM_BACKEND=nccl\nCOMM_TIMEOUT=120\n");
  const std::string base = sxbench("--env " + (d / "s.env").string() +
                                   " nccl --ops all_reduce -b 8 -e 8");
  // .env says nccl; the process environment says mpi and wins.
  auto r = run_command("COMM_BACKEND=mpi " + base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(d / "from_file"));
  const auto run_dir = fs::directory_iterator(d / "from_file")->path();
  const nlohmann::json j = read_json_file(run_dir / "nccl.json");
  EXPECT_EQ(j["params"]["backend"], "mpi");
  EXPECT_EQ(j["params"]["timeout_s"], 120.0);
  // The flag wins over both.
  r = run_command("COMM_BACKEND=nccl " + base + " --backend mpi --timeout 7 --out " +
                  (d / "flag").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(d / "flag" / "nccl.json")["params"]["timeout_s"], 7.0);
  fs::remove_all(d);
}

TEST(NcclE2E, NcclBackendWithoutGpuIsAnEnvironmentError) {
  if (visible_cuda_devices() > 0) GTEST_SKIP() << "this machine has a GPU";
  const auto r = run_command(sxbench("nccl --backend nccl -b 8 -e 8"));
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_TRUE(r.output.find("no CUDA GPU is visible") != std::string::npos ||
              r.output.find("built without CUDA") != std::string::npos)
      << r.output;
}

TEST(Cli, VersionAndHelp) {
  auto r = run_command(sxbench("--version"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("sxbench " SXB_VERSION), std::string::npos);
  r = run_command(sxbench("nccl --help"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--minbytes"), std::string::npos);
  r = run_command(sxbench("nccl --list"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("reduce_scatter"), std::string::npos);
}

}  // namespace
}  // namespace sxb::e2e

namespace sxb::e2e {
namespace {

TEST(InfoE2E, OneReportPerHostUnderMpirun) {
  const auto d = scratch_dir("info");
  const auto r = run_command(mpirun(2, "info --json " + (d / "info.json").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = read_json_file(d / "info.json");
  EXPECT_EQ(j["world_size"], 2);
  ASSERT_EQ(j["hosts"].size(), 1u);  // both ranks share this host
  EXPECT_FALSE(j["hosts"][0]["mpi_library_version"].get<std::string>().empty());
  EXPECT_NE(r.output.find("host "), std::string::npos);
  std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
