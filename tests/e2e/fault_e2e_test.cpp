// Fault tests: every way a multi-rank job used to hang or lose its cause now ends within its
// timeout, names the rank and host where it happened, and leaves run.json / sft_metrics.json
// saying so; a second writer into one output directory is refused. Two ranks on this machine,
// mpi backend. Each test measures its own wall time: a hang fails the test (and the shell's
// `timeout` ends it) instead of blocking the suite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

// A fault test fails when the job takes longer than this; the shell ends it a little later.
constexpr double kLimit_s = 60;

std::string this_host() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return host;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Timed {
  RunResult result;
  double seconds = 0;
};

Timed timed(const std::string& cmd) {
  const auto t0 = std::chrono::steady_clock::now();
  Timed t;
  t.result = run_command("timeout -k 5 " + std::to_string(int(kLimit_s) + 30) + " " + cmd);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

// Starts `job` (an mpirun command line) in the background with its output in LOG, waits until
// LOG shows `marker` (polling, bounded), then runs `action` with $mp = mpirun's pid and $r1 = rank
// 1's pid (found through its OMPI_COMM_WORLD_RANK), waits for mpirun and writes its exit status
// to RC. Whatever happens, no rank outlives the script (a stopped rank is continued and killed).
Timed fault_script(const fs::path& d, const std::string& job, const std::string& marker,
                   const std::string& action) {
  const std::string log = (d / "log").string();
  const std::string script =
      "timeout -k 5 " + std::to_string(int(kLimit_s) + 30) + " " + job + " > " + log +
      " 2>&1 &\nmp=$!\n"
      "for i in $(seq 600); do grep -q '" + marker + "' " + log + " 2>/dev/null && break; "
      "sleep 0.1; done\n"
      "r1=''\n"
      "for i in $(seq 100); do\n"
      "  for p in $(pgrep -f '" + binary_path() + "'); do\n"
      "    if tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 &&\n"
      "       tr '\\0' '\\n' < /proc/$p/cmdline 2>/dev/null | grep -qF '" + d.string() + "'; then\n"
      "      r1=$p\n"
      "    fi\n"
      "  done\n"
      "  [ -n \"$r1\" ] && break; sleep 0.1\n"
      "done\n" +
      action + "\nwait $mp; echo $? > " + (d / "rc").string() + "\n"
      "[ -n \"$r1\" ] && { kill -CONT $r1; kill -9 $r1; } 2>/dev/null; true\n";
  write_file_atomic(d / "fault.sh", script);
  Timed t = timed("bash " + (d / "fault.sh").string());
  t.result.output = read_file(d / "log");
  t.result.exit_code = std::stoi(read_file(d / "rc"));
  return t;
}

// ---- an output directory that cannot be created (DIR is a file) -----------------------------

TEST(FaultE2E, OutputUnderAFileEndsEveryRankNamingRankAndHost) {
  const fs::path d = scratch_dir("fault_outfile");
  write_file_atomic(d / "file", "not a directory\n");
  const std::string out = (d / "file" / "x").string();
  for (const std::string args :
       {"nccl --backend mpi --ops all_reduce -b 8 -e 64 --out " + out,
        "run --model tiny --nodes 1 --mode quick --backend mpi --timeout 10 --out " + out,
        "train --model tiny --seq-len 64 --steps 2 --out " + out}) {
    const Timed t = timed(mpirun(2, args));
    EXPECT_NE(t.result.exit_code, 0) << args << "\n" << t.result.output;
    EXPECT_LT(t.seconds, kLimit_s) << args;
    EXPECT_TRUE(contains(t.result.output, "sxbench: error: rank 0 on host " + this_host()))
        << args << "\n" << t.result.output;
    EXPECT_TRUE(contains(t.result.output, "Not a directory")) << args << "\n" << t.result.output;
  }
  fs::remove_all(d);
}

// ---- rank 0's disk is full: the cause recorded is the full disk, not a peer ----------------

TEST(FaultE2E, FullDiskOnRankZeroIsTheRecordedCause) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this machine";
  const fs::path d = scratch_dir("fault_full");
  const fs::path run = d / "run";
  fs::create_directories(run);
  // Every write to the run's metrics file fails with ENOSPC, as on a full disk.
  fs::create_symlink("/dev/full", run / "gpu_metrics.csv");
  const Timed t = timed(mpirun(2, "run --model tiny --nodes 1 --mode quick --backend mpi "
                                  "--timeout 10 --out " + run.string()));
  EXPECT_EQ(t.result.exit_code, 3) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s);
  const nlohmann::json j = read_json_file(run / "run.json");
  EXPECT_EQ(j["status"], "failed") << j.dump();
  const std::string error = j["error"].get<std::string>();
  EXPECT_TRUE(contains(error, "rank 0 on host " + this_host())) << error;
  EXPECT_TRUE(contains(error, "No space left on device")) << error;
  EXPECT_FALSE(contains(error, "stopped answering")) << error;
  fs::remove_all(d);
}

// ---- whatever one rank throws is the cause recorded ------------------------------------------

TEST(FaultE2E, BadInputSeenByOneRankIsRecordedWithThatRank) {
  const fs::path d = scratch_dir("fault_onerank");
  const fs::path run = d / "run";
  // MPMD launch: rank 1 alone is given a DeepSpeed config that does not exist.
  const std::string args =
      " run --model tiny --nodes 1 --mode sft --backend mpi --seq-len 64 --steps 2 --timeout 10 "
      "--out " + run.string();
  const Timed t = timed(std::string(SXB_MPIEXEC) + " --oversubscribe -np 1 " + binary_path() +
                        args + " : -np 1 " + binary_path() + args + " --ds-config " +
                        (d / "missing_ds_config.json").string());
  EXPECT_EQ(t.result.exit_code, 1) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s);
  const nlohmann::json j = read_json_file(run / "run.json");
  EXPECT_EQ(j["status"], "failed") << j.dump();
  const std::string reason = j["phases"][0].value("reason", "");
  EXPECT_TRUE(contains(reason, "rank 1 on host " + this_host())) << reason;
  EXPECT_TRUE(contains(reason, "missing_ds_config.json")) << reason;
  fs::remove_all(d);
}

TEST(FaultE2E, AnErrorEveryRankThrowsIsTheCauseNotTheSignalThatFollows) {
  const fs::path d = scratch_dir("fault_maxbytes");
  const fs::path run = d / "run";
  const Timed t = timed(mpirun(2, "run --model tiny --nodes 1 --mode nccl --backend mpi "
                                  "--nccl-max-bytes 0 --timeout 10 --out " + run.string()));
  EXPECT_NE(t.result.exit_code, 0) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s);
  if (!fs::exists(run / "run.json")) {
    // Refused before the job started: a one-line usage error naming the flag.
    EXPECT_EQ(t.result.exit_code, 2) << t.result.output;
    EXPECT_TRUE(contains(t.result.output, "--nccl-max-bytes")) << t.result.output;
  } else {
    const nlohmann::json j = read_json_file(run / "run.json");
    EXPECT_EQ(j["status"], "failed") << j.dump();
    const std::string error = j["error"].get<std::string>();
    EXPECT_TRUE(contains(error, "maximum size 0")) << error;
    EXPECT_FALSE(contains(error, "signal")) << error;
  }
  fs::remove_all(d);
}

// ---- a rank stopped (SIGSTOP) during training ------------------------------------------------

void expect_stopped_rank_named(const Timed& t, const std::string& text) {
  EXPECT_TRUE(contains(text, "rank 1 on host " + this_host())) << text;
  EXPECT_TRUE(contains(text, "is stopped")) << text;
  EXPECT_TRUE(contains(text, "did not finish within")) << text;
  (void)t;
}

TEST(FaultE2E, StoppedRankEndsTrainWithinTheTimeoutAndLeavesPartialMetrics) {
  const fs::path d = scratch_dir("fault_stop_train");
  const fs::path out = d / "train";
  const Timed t = fault_script(
      d, "env COMM_TIMEOUT=10 " + mpirun(2, "train --model tiny --seq-len 64 --steps 1000000 --out " +
                                             out.string()),
      "^step 3/", "kill -STOP $r1");
  EXPECT_EQ(t.result.exit_code, 3) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s) << t.result.output;
  expect_stopped_rank_named(t, t.result.output);
  const nlohmann::json m = read_json_file(out / "sft_metrics.json");
  EXPECT_EQ(m["status"], "partial");
  expect_stopped_rank_named(t, m["error"].get<std::string>());
  EXPECT_GE(m["steps_completed"].get<int64_t>(), 3);
  EXPECT_EQ(m["loss_curve"].size(), m["steps_completed"].get<size_t>());
  EXPECT_GT(m["tokens_per_s"].get<double>(), 0);
  fs::remove_all(d);
}

// A rank that stops answering in the middle of `diagnose` (kill -STOP during the pair
// exchanges) ends every rank within the timeout, naming that rank and its host, and leaves no
// diagnose.json; one that dies (kill -9) ends the job too, the launcher naming the rank.
TEST(FaultE2E, ARankLostMidDiagnoseEndsEveryRankNamingIt) {
  const std::string job_args =
      "diagnose --backend mpi --samples 100 --gemm-size 64 --copy-bytes 1M --pair-bytes 64M "
      "--timeout 10 --out ";
  {
    const fs::path d = scratch_dir("fault_stop_diagnose");
    const Timed t = fault_script(d, mpirun(3, job_args + (d / "out").string()),
                                 "^diagnose: every rank measured", "sleep 0.5; kill -STOP $r1");
    EXPECT_EQ(t.result.exit_code, 3) << t.result.output;
    EXPECT_LT(t.seconds, kLimit_s) << t.result.output;
    expect_stopped_rank_named(t, t.result.output);
    EXPECT_FALSE(fs::exists(d / "out" / "diagnose.json"));
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_dir("fault_kill_diagnose");
    const Timed t = fault_script(d, mpirun(3, job_args + (d / "out").string()),
                                 "^diagnose: every rank measured", "sleep 0.5; kill -KILL $r1");
    EXPECT_NE(t.result.exit_code, 0) << t.result.output;
    EXPECT_LT(t.seconds, kLimit_s) << t.result.output;
    EXPECT_TRUE(contains(t.result.output, "rank 1")) << t.result.output;
    EXPECT_TRUE(contains(t.result.output, this_host())) << t.result.output;
    EXPECT_FALSE(fs::exists(d / "out" / "diagnose.json"));
    fs::remove_all(d);
  }
}

TEST(FaultE2E, StoppedRankEndsRunsSftPhaseAndRunJsonSaysWhy) {
  const fs::path d = scratch_dir("fault_stop_run");
  const fs::path run = d / "run";
  const Timed t = fault_script(
      d, mpirun(2, "run --model tiny --nodes 1 --mode sft --backend mpi --seq-len 64 "
                   "--steps 1000000 --timeout 10 --out " + run.string()),
      "^step 3/", "kill -STOP $r1");
  EXPECT_EQ(t.result.exit_code, 3) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s) << t.result.output;
  const nlohmann::json j = read_json_file(run / "run.json");
  EXPECT_EQ(j["status"], "failed") << j.dump();
  const std::string error = j["error"].get<std::string>();
  expect_stopped_rank_named(t, error);
  EXPECT_TRUE(contains(error, "phase sft")) << error;
  EXPECT_EQ(j["phases"].back()["status"], "failed");
  EXPECT_EQ(read_json_file(run / "sft_metrics.json")["status"], "partial");
  fs::remove_all(d);
}

// ---- SIGTERM to the launcher: what was measured stays, marked partial -------------------------

TEST(FaultE2E, TerminatedTrainingLeavesPartialMetricsTheReportShowsAsPartial) {
  const fs::path d = scratch_dir("fault_term");
  const fs::path out = d / "results" / "train";
  const Timed t = fault_script(
      d, mpirun(2, "train --model tiny --seq-len 64 --steps 1000000 --out " + out.string()),
      // mpirun itself (the child of timeout), once: a second SIGTERM makes OpenMPI kill the ranks
      // at once (SIGKILL), which no program can answer.
      "^step 3/", "kill -TERM $(pgrep -P $mp)");
  EXPECT_NE(t.result.exit_code, 0) << t.result.output;
  EXPECT_LT(t.seconds, kLimit_s) << t.result.output;
  ASSERT_TRUE(fs::exists(out / "sft_metrics.json")) << t.result.output;
  const nlohmann::json m = read_json_file(out / "sft_metrics.json");
  EXPECT_EQ(m["status"], "partial") << m.dump();
  EXPECT_TRUE(contains(m["error"].get<std::string>(), "terminated by signal 15")) << m["error"];
  EXPECT_GE(m["steps_completed"].get<int64_t>(), 3);
  EXPECT_EQ(m["steps"], 1000000);
  // The report, over it and a complete training, says the interrupted one is partial and how
  // far it got.
  const auto done = run_command(sxbench("train --model tiny --seq-len 64 --steps 2 --out " +
                                        (d / "results" / "complete").string()));
  ASSERT_EQ(done.exit_code, 0) << done.output;
  const auto r = run_command(sxbench("report --results " + (d / "results").string() + " --out " +
                                     (d / "report").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string md = read_file(d / "report" / "h200_benchmark_comprehensive_report.md");
  EXPECT_TRUE(contains(md, "status 'partial': training stopped after")) << md;
  fs::remove_all(d);
}

// ---- one writer per output directory ---------------------------------------------------------

TEST(FaultE2E, SecondWriterIntoADirectoryIsRefusedInOneLine) {
  const fs::path d = scratch_dir("fault_lock");
  fs::create_directories(d / "out");
  write_file_atomic(d / "out" / "gpu_metrics.csv", "the first writer's rows\n");
  const DirectoryLock held(d / "out", "run");  // the first writer, still running
  const std::string out = (d / "out").string();
  for (const std::string args :
       {"nccl --backend mpi --ops all_reduce -b 8 -e 64 --out " + out,
        "train --model tiny --seq-len 64 --steps 2 --out " + out,
        "run --model tiny --nodes 1 --mode nccl --backend mpi --out " + out,
        "monitor --interval 0.1 --out " + out + "/gpu_metrics.csv -- true"}) {
    const auto r = run_command(sxbench(args));
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_EQ(count_lines(r.output), 1) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, "output directory " + out + " is in use by another sxbench"))
        << r.output;
    EXPECT_TRUE(contains(r.output, "pid " + std::to_string(::getpid()))) << r.output;
  }
  // Under mpirun too, before anything is written.
  const auto r = run_command(
      mpirun(2, "run --model tiny --nodes 1 --mode nccl --backend mpi --out " + out));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "is in use by another sxbench")) << r.output;
  EXPECT_FALSE(fs::exists(d / "out" / "run.json"));
  EXPECT_EQ(read_file(d / "out" / "gpu_metrics.csv"), "the first writer's rows\n");
  fs::remove_all(d);
}

TEST(FaultE2E, TheLockEndsWithItsHolder) {
  const fs::path d = scratch_dir("fault_lock_free");
  { const DirectoryLock first(d, "run"); }
  const auto r = run_command(
      sxbench("nccl --backend mpi --ops all_reduce -b 8 -e 64 --out " + d.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(d / "nccl.json"));
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
