// `sxbench run` end to end on the CPU (mpi backend) under mpirun.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "e2e_util.hpp"
#include "platform/gpu_probe.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;

TEST(RunE2E, NcclModeWritesTheRunDirectory) {
  const fs::path d = scratch_dir("run_nccl");
  const auto r = run_command(mpirun(2,
                                    "run --model meta-llama/Llama-2-7b-hf --nodes 1 --mode nccl "
                                    "--backend mpi --nccl-max-bytes 64K --out " +
                                        (d / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json run = read_json_file(d / "run" / "run.json");
  EXPECT_EQ(run["status"], "complete");
  EXPECT_EQ(run["world_size"], 2);
  EXPECT_EQ(run["launcher"], "mpirun");
  EXPECT_EQ(run["phases"].size(), 1u);
  EXPECT_EQ(run["phases"][0]["status"], "ok");
  EXPECT_FALSE(run["hosts"].empty());
  EXPECT_EQ(run["command_line"][1], "run");
  const nlohmann::json validation = read_json_file(d / "run" / "validation.json");
  EXPECT_TRUE(validation["passed"].get<bool>());
  // Per collective: its data check and its figures' own arithmetic (nccl.figures_consistent).
  EXPECT_EQ(validation["counts"]["ok"], 14);
  for (const char* f : {"nccl.json", "nccl_allreduce.log", "summary_report.md"}) {
    EXPECT_TRUE(fs::exists(d / "run" / f)) << f;
  }
  EXPECT_NE(read_file(d / "run" / "summary_report.md").find("| all_reduce |"), std::string::npos);
  fs::remove_all(d);
}

// The CPU default (scripts/run_h200_benchmark.sh without arguments and without a GPU): tiny, quick,
// two ranks, 128-token sequences. The quick run trains 30 steps with its own defaults (AdamW lr
// 1e-4, betas 0.9/0.95, clipping 1.0) on the learnable synthetic Markov chain, and the loss falls
// by at least 0.05 nats (measured: 5.5544 -> 5.4519, a fall of 0.1025; fp32, seeded, so the same
// on every machine), beyond the curve's noise band: train.loss_decreasing is ok for that reason,
// and the run has no warning.
TEST(RunE2E, CpuDefaultQuickRunLearnsAndHasNoWarning) {
  const fs::path d = scratch_dir("run_cpu_default");
  const auto r = run_command(mpirun(2,
                                    "run --model tiny --nodes 1 --mode quick --backend mpi "
                                    "--seq-len 128 --out " +
                                        (d / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json m = read_json_file(d / "run" / "sft_metrics.json");
  ASSERT_EQ(m["loss_curve"].size(), 30u);
  const double fall = m["initial_loss"].get<double>() - m["final_loss"].get<double>();
  EXPECT_GE(fall, 0.05) << m["loss_curve"].dump();
  EXPECT_EQ(m["ds_config"]["source"], "built-in quick-run defaults") << m["ds_config"].dump();
  const nlohmann::json v = read_json_file(d / "run" / "validation.json");
  EXPECT_EQ(v["counts"]["warning"], 0) << v.dump(1);
  EXPECT_TRUE(v["passed"].get<bool>());
  bool judged = false;
  for (const auto& f : v["findings"]) {
    if (f["check"] != "train.loss_decreasing") continue;
    judged = true;
    EXPECT_EQ(f["verdict"], "ok");
    EXPECT_EQ(f["arithmetic"].get<std::string>().rfind("falls beyond the noise", 0), 0u)
        << f["arithmetic"];
  }
  EXPECT_TRUE(judged) << v.dump(1);

  // Phase 0: this host against the node profile, preflight.json beside the other files; the
  // checks' verdicts are the phase's finding (this machine has no RDMA NIC), not its failure.
  const nlohmann::json pf = read_json_file(d / "run" / "preflight.json");
  EXPECT_EQ(pf["schema"], "sxbench.preflight/1");
  EXPECT_FALSE(pf["checks"].empty());
  const nlohmann::json rj = read_json_file(d / "run" / "run.json");
  ASSERT_EQ(rj["phases"][0]["name"], "preflight");
  EXPECT_EQ(rj["phases"][0]["status"], "ok");
  EXPECT_NE(rj["phases"][0]["reason"].get<std::string>().find("1 host(s): "), std::string::npos)
      << rj["phases"][0].dump();
  EXPECT_EQ(rj["phases"][0]["files"], nlohmann::json::array({"preflight.json"}));

  // Phase windows: run.json times every phase to the millisecond, sft_metrics.json the timed
  // steps, and the monitor's summary has every window, cut from the CSV.
  const nlohmann::json run = read_json_file(d / "run" / "run.json");
  for (const auto& p : run["phases"]) {
    EXPECT_EQ(p["started_utc"].get<std::string>().size(), 24u) << p;  // ...T10:00:00.000Z
    EXPECT_EQ(p["finished_utc"].get<std::string>().size(), 24u) << p;
  }
  const auto& mw = m["measured_window_utc"];
  EXPECT_LE(mw["started"].get<std::string>(), mw["finished"].get<std::string>()) << mw;
  EXPECT_GE(mw["started"].get<std::string>(), run["phases"].back()["started_utc"].get<std::string>());
  const nlohmann::json g = read_json_file(d / "run" / "gpu_metrics_summary.json");
  EXPECT_EQ(g["schema"], "sxbench.gpu_metrics_summary/1");
  std::vector<std::string> names;
  for (const auto& w : g["phase_windows"]["windows"]) names.push_back(w["name"]);
  const std::vector<std::string> expected = {"preflight", "nccl", "compute", "sft", "training"};
  EXPECT_EQ(names, expected) << g["phase_windows"].dump(1);
  fs::remove_all(d);
}

TEST(RunE2E, DefaultDirectoryNameCarriesTimeModelAndNodes) {
  const fs::path d = scratch_dir("run_name");
  const auto r = run_command("RESULTS_DIR=" + d.string() + " " +
                             mpirun(2,
                                    "run --model meta-llama/Llama-2-7b-hf --nodes 1 --mode nccl "
                                    "--backend mpi --nccl-max-bytes 1K"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string name = fs::directory_iterator(d)->path().filename().string();
  EXPECT_EQ(name.rfind("h200_benchmark_", 0), 0u) << name;
  EXPECT_NE(name.find("_Llama-2-7b-hf_1n"), std::string::npos) << name;
  fs::remove_all(d);
}

TEST(RunE2E, SecretsNeverReachTheRunRecord) {
  const fs::path d = scratch_dir("run_secret");
  write_file_atomic(d / "s.env", "HF_TOKEN=hf_do_not_leak_123\n");
  const auto r = run_command(sxbench("--env " + (d / "s.env").string() +
                                     " run --nodes 1 --mode nccl --backend mpi --nccl-max-bytes 1K "
                                     "--out " +
                                     (d / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("hf_do_not_leak_123"), std::string::npos);
  for (const auto& f : fs::directory_iterator(d / "run")) {
    EXPECT_EQ(read_file(f.path()).find("hf_do_not_leak_123"), std::string::npos) << f.path();
  }
  EXPECT_EQ(read_json_file(d / "run" / "run.json")["settings"]["HF_TOKEN"]["value"], "<redacted>");
  fs::remove_all(d);
}

TEST(RunE2E, WrongNodeCountIsRefused) {
  const auto r = run_command(mpirun(2, "run --nodes 2 --mode nccl --backend mpi --out /tmp/x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("wrong node count: --nodes 2 but this job's 2 rank(s) run on 1 host(s)"),
            std::string::npos)
      << r.output;
}

TEST(RunE2E, UnknownModeIsOneLineError) {
  const auto r = run_command(sxbench("run --mode turbo"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("unknown mode 'turbo'"), std::string::npos);
}

// A rank killed mid-run ends the run; run.json says failed and names the rank and host; the
// files written before stay intact.
TEST(RunE2E, KilledRankFailsTheRunAndIsNamed) {
  const fs::path d = scratch_dir("run_kill");
  const fs::path run = d / "run";
  const std::string script =
      "(SXB_FAULT_INJECT=hang:1 " +
      mpirun(2, "run --nodes 1 --mode nccl --backend mpi --timeout 120 --out " + run.string()) +
      " > " + (d / "log").string() + " 2>&1; echo $? > " + (d / "rc").string() + ") & " +
      "for i in $(seq 100); do grep -q '\"pid\"' " + (run / "run.json").string() +
      " 2>/dev/null && grep -q running " + (run / "run.json").string() +
      " && break; sleep 0.2; done; sleep 1; "
      "pid=$(grep -o '\"pid\": [0-9]*' " +
      (run / "run.json").string() + " | sed -n 2p | grep -o '[0-9]*$'); kill -9 $pid; wait";
  write_file_atomic(d / "kill.sh", script);
  const auto r = run_command("bash " + (d / "kill.sh").string());
  const std::string log = read_file(d / "log");
  EXPECT_NE(std::stoi(read_file(d / "rc")), 0) << log;
  const nlohmann::json j = read_json_file(run / "run.json");
  EXPECT_EQ(j["status"], "failed") << j.dump();
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  EXPECT_NE(j["error"].get<std::string>().find("rank 1 on host " + std::string(host)),
            std::string::npos)
      << j["error"];
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e

namespace sxb::e2e {
namespace {

TEST(RunE2E, SftModeOnCpuWritesMetricsAndValidatesTraining) {
  const fs::path d = scratch_dir("run_sft");
  const auto r = run_command(mpirun(2,
                                    "run --model tiny --nodes 1 --mode sft --backend mpi "
                                    "--seq-len 64 --steps 4 --out " +
                                        (d / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json run = read_json_file(d / "run" / "run.json");
  EXPECT_EQ(run["status"], "complete");
  const nlohmann::json m = read_json_file(d / "run" / "sft_metrics.json");
  EXPECT_EQ(m["world_size"], 2);
  EXPECT_EQ(m["seq_len"], 64);
  EXPECT_GT(m["tokens_per_s"].get<double>(), 0);
  const nlohmann::json v = read_json_file(d / "run" / "validation.json");
  bool finite = false;
  for (const auto& f : v["findings"]) finite = finite || f["check"] == "train.loss_finite";
  EXPECT_TRUE(finite) << v.dump();
  EXPECT_TRUE(fs::exists(d / "run" / "gpu_metrics.csv"));
  EXPECT_TRUE(fs::exists(d / "run" / "gpu_metrics_summary.json"));
  EXPECT_NE(read_file(d / "run" / "summary_report.md").find("## Fine-tuning throughput"),
            std::string::npos);
  fs::remove_all(d);
}

TEST(RunE2E, ComputeModeWithoutGpuFailsSayingWhy) {
  if (visible_cuda_devices() > 0) GTEST_SKIP() << "this machine has a GPU";
  const fs::path d = scratch_dir("run_compute");
  const auto r = run_command(
      sxbench("run --nodes 1 --mode compute --backend mpi --out " + (d / "run").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const nlohmann::json run = read_json_file(d / "run" / "run.json");
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["error"].get<std::string>().find("nothing measured (compute: no GPU visible"),
            std::string::npos)
      << run["error"];
  fs::remove_all(d);
}

TEST(RunE2E, FailedPhaseIsRecordedAndFailsTheRun) {
  const fs::path d = scratch_dir("run_sftfail");
  // The tiny model's 512 positions cannot take 4096-token sequences: the sft phase refuses.
  const auto r = run_command(mpirun(2,
                                    "run --model tiny --nodes 1 --mode sft --backend mpi "
                                    "--seq-len 4096 --out " +
                                        (d / "run").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const nlohmann::json run = read_json_file(d / "run" / "run.json");
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["phases"][0]["status"], "failed");
  EXPECT_NE(run["phases"][0]["reason"].get<std::string>().find("max_position_embeddings 512"),
            std::string::npos);
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb::e2e
