// `sxbench train` and `sxbench data` run as a user would: CPU reference, mpirun -np 1 and 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "dist/gpu_probe.hpp"
#include "train/cpu_model.hpp"
#include "train/model_config.hpp"
#include "train/zero.hpp"

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct Result {
  int code = -1;
  std::string output;
};

// OpenMPI settings for the launched binaries: root allowed (CI runs as root), more ranks than
// cores, no ptrace-based single copy (often refused in containers), loopback only. Values already
// in the environment win.
void prepare_mpi_environment() {
  const char* settings[][2] = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                               {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                               {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
                               {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"},
                               {"OMPI_MCA_btl", "self,vader,tcp"},
                               {"OMPI_MCA_btl_tcp_if_include", "lo"},
                               {"OMPI_MCA_oob_tcp_if_include", "lo"}};
  for (const auto& kv : settings) ::setenv(kv[0], kv[1], 0);
}

Result run(const std::string& cmd) {
  prepare_mpi_environment();
  Result r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string sxbench() {
  return SXB_BINARY;
}
std::string mpirun(int np) {
  return std::string(SXB_MPIEXEC) + " -np " + std::to_string(np) + " --oversubscribe " + SXB_BINARY;
}

// ZeRO stages on the tiny model: micro 1 x accumulation 2 per rank, clipping active (the tiny
// model's norms exceed 0.5), buckets small enough that stage 2 makes several calls.
std::string zero_ds_config(int stage) {
  return R"({"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 2,
    "zero_optimization": {"stage": )" +
         std::to_string(stage) + R"(, "reduce_bucket_size": 20000,
                          "allgather_bucket_size": 30000},
    "optimizer": {"type": "AdamW", "params": {"lr": 0.003, "weight_decay": 0.01}},
    "gradient_clipping": 0.5})";
}

// Payload per rank and step (sft_metrics.json's communication.bytes_per_rank_per_step) for
// tiny, as TrainStep::comm_bytes defines it.
int64_t zero_step_bytes(int stage, int world) {
  const sxb::ModelConfig m = sxb::resolve_model("tiny");
  const int64_t P = m.param_count();
  const sxb::ShardPlan plan(P, world);
  auto shards = [&](int64_t bucket) {
    const sxb::ShardBuckets b(plan, bucket);
    int64_t bytes = 0;
    for (int64_t j = 0; j < b.count(); ++j) bytes += 4 * world * b.bucket(j).size();
    return bytes;
  };
  switch (stage) {
    case 0:
      return 4 * P + 16;
    case 1:
      return 4 * P + shards(30000) + 16;
    case 2:
      return shards(20000) + shards(30000) + 24;
    default: {
      int64_t per_micro = 0;
      const auto units = sxb::cpu::parameter_units(m);
      for (size_t u = 0; u < units.size(); ++u) {
        per_micro += 4 * world * plan.largest_part(units[u]) * (u == 0 ? 2 : 3);
      }
      return 2 * per_micro + 24;
    }
  }
}

class TrainE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sxb_train_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  json metrics(const std::string& out) {
    std::ifstream f(dir_ / out / "sft_metrics.json");
    EXPECT_TRUE(f.good()) << "no sft_metrics.json in " << out;
    return json::parse(f);
  }
  std::string common(const std::string& out, int steps = 4) {
    return " train --device cpu --model tiny --seq-len 32 --steps " + std::to_string(steps) +
           " --out " + (dir_ / out).string();
  }
  // Stages 1-3 against stage 0 on the same ranks: per-step loss and gradient norm within 1e-5
  // relative. The stages add the same gradients, but MPI's reduce_scatter may sum the ranks'
  // contributions in another order than its all_reduce, the global norm of stages 2 and 3 is a sum
  // of per-shard sums of squares, and stage 3 sums each micro-step's gradients separately: fp32
  // rounding of ~1e-7 relative that the AdamW steps carry into the next losses.
  void check_zero_stages(int np) {
    std::vector<json> m;
    for (int stage = 0; stage <= 3; ++stage) {
      const std::string name = "z" + std::to_string(stage);
      const std::string ds = write(name + ".json", zero_ds_config(stage));
      const Result r = run(mpirun(np) + common(name, 3) + " --ds-config " + ds);
      ASSERT_EQ(r.code, 0) << r.output;
      m.push_back(metrics(name));
    }
    for (int stage = 0; stage <= 3; ++stage) {
      const json& z = m[stage];
      const std::string where = "np " + std::to_string(np) + " stage " + std::to_string(stage);
      EXPECT_EQ(z["world_size"], np) << where;
      EXPECT_EQ(z["zero_stage"]["requested"], stage) << where;
      EXPECT_EQ(z["zero_stage"]["applied"], stage) << where;
      EXPECT_EQ(z["communication"]["zero_stage_applied"], stage) << where;
      EXPECT_EQ(z["replicas_identical"], true) << where;
      const auto& bytes = z["communication"]["bytes_per_rank_per_step"];
      EXPECT_EQ(bytes["median"].get<double>(), double(zero_step_bytes(stage, np))) << where;
      EXPECT_EQ(bytes["min"], bytes["max"]) << where;
      EXPECT_GT(z["communication"]["time_s_per_step"]["median"].get<double>(), 0.0) << where;
      ASSERT_EQ(z["loss_curve"].size(), 3u) << where;
      for (size_t i = 0; i < 3; ++i) {
        const json &s = z["loss_curve"][i], &b = m[0]["loss_curve"][i];
        EXPECT_EQ(s["comm_bytes"], zero_step_bytes(stage, np)) << where;
        const double l = s["loss"], lb = b["loss"], g = s["grad_norm"], gb = b["grad_norm"];
        EXPECT_LT(std::abs(l - lb) / lb, 1e-5)
            << where << " step " << i + 1 << ": " << l << " vs stage 0 " << lb;
        EXPECT_LT(std::abs(g - gb) / gb, 1e-5)
            << where << " step " << i + 1 << ": " << g << " vs stage 0 " << gb;
      }
    }
    // Clipping was active and the runs moved: the comparison is not of untouched values.
    EXPECT_GT(m[0]["loss_curve"][0]["grad_norm"].get<double>(), 0.5);
    EXPECT_NE(m[0]["loss_curve"][0]["loss"], m[0]["loss_curve"][2]["loss"]);
  }
  fs::path dir_;
};

const char* kDsConfig = R"({
  "train_batch_size": 4,
  "train_micro_batch_size_per_gpu": 1,
  "bf16": {"enabled": true},
  "zero_optimization": {"stage": 2},
  "optimizer": {"type": "AdamW", "params": {"lr": 0.003, "betas": [0.9, 0.95], "eps": 1e-8,
                                           "weight_decay": 0.01}},
  "gradient_clipping": 1.0
})";

TEST_F(TrainE2E, TwoRanksWriteValidSftMetrics) {
  const std::string ds = write("ds.json", kDsConfig);
  const Result r = run(mpirun(2) + common("out") + " --ds-config " + ds);
  ASSERT_EQ(r.code, 0) << r.output;
  const json m = metrics("out");
  EXPECT_EQ(m["schema"], "sxbench.sft_metrics/1");
  EXPECT_EQ(m["status"], "complete");
  EXPECT_EQ(m["world_size"], 2);
  EXPECT_EQ(m["device"]["kind"], "cpu");
  EXPECT_EQ(m["batch"]["gradient_accumulation_steps"], 2);  // 4 = 1 x 2 x 2
  EXPECT_EQ(m["precision"]["requested"], "bf16");
  EXPECT_EQ(m["precision"]["computed"], "fp32");
  const auto& st = m["step_time_s"];
  EXPECT_GT(st["median"].get<double>(), 0.0);
  EXPECT_LE(st["p10"].get<double>(), st["median"].get<double>());
  EXPECT_LE(st["median"].get<double>(), st["p90"].get<double>());
  EXPECT_EQ(st["count"], 3);  // 4 steps, 1 warm-up
  const double median = st["median"];
  EXPECT_EQ(m["tokens_per_step"], 4 * 32);
  EXPECT_NEAR(m["tokens_per_s"].get<double>(), 128.0 / median, 1e-6 * 128.0 / median);
  EXPECT_NEAR(m["tokens_per_s_per_device"].get<double>(), m["tokens_per_s"].get<double>() / 2,
              1e-9 * m["tokens_per_s"].get<double>());
  EXPECT_NEAR(m["samples_per_s"].get<double>(), 4.0 / median, 1e-6 * 4.0 / median);
  const double fpt = m["model_flops_per_token"];
  EXPECT_NEAR(m["model_tflops_per_s_per_device"].get<double>(),
              fpt * m["tokens_per_s_per_device"].get<double>() / 1e12, 1e-9);
  EXPECT_TRUE(m["mfu"].is_null());
  EXPECT_EQ(m["recomputation_counted"], false);
  EXPECT_GT(m["peak_memory_bytes"]["host_rss_max_over_ranks"].get<double>(), 1e6);
  const double share = m["exposed_communication_share"];
  EXPECT_GT(share, 0.0);
  EXPECT_LT(share, 1.0);
  EXPECT_EQ(m["replicas_identical"], true);
  ASSERT_EQ(m["loss_curve"].size(), 4u);
  for (const auto& s : m["loss_curve"]) EXPECT_TRUE(std::isfinite(s["loss"].get<double>()));
  EXPECT_NE(r.output.find("step 4/4"), std::string::npos) << r.output;
}

TEST_F(TrainE2E, OneRankAndTwoRanksGiveTheSameLoss) {
  // Same global batch of 4 sequences per step: 1 rank x micro 2 x accumulation 2, and
  // 2 ranks x micro 1 x accumulation 2 (BATCH_SIZE_PER_GPU override, train_batch_size fixed).
  const std::string ds = write("ds.json", kDsConfig);
  Result r1 = run(mpirun(1) + common("one", 6) + " --micro-batch 2 --ds-config " + ds);
  ASSERT_EQ(r1.code, 0) << r1.output;
  Result r2 = run("BATCH_SIZE_PER_GPU=1 " + mpirun(2) + common("two", 6) + " --ds-config " + ds);
  ASSERT_EQ(r2.code, 0) << r2.output;
  const json a = metrics("one"), b = metrics("two");
  EXPECT_EQ(a["batch"]["train_batch_size"], 4);
  EXPECT_EQ(b["batch"]["train_batch_size"], 4);
  EXPECT_EQ(b["batch"]["micro_batch_source"], "BATCH_SIZE_PER_GPU");
  ASSERT_EQ(a["loss_curve"].size(), 6u);
  ASSERT_EQ(b["loss_curve"].size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const double la = a["loss_curve"][i]["loss"], lb = b["loss_curve"][i]["loss"];
    EXPECT_LT(std::abs(la - lb) / la, 1e-5)
        << "step " << i + 1 << ": 1 rank " << la << ", 2 ranks " << lb;
  }
  // The run learns: the synthetic chain is predictable, so the loss falls.
  EXPECT_LT(a["final_loss"].get<double>(), a["initial_loss"].get<double>());
}

TEST_F(TrainE2E, ZeroStagesOnTwoRanksMatchStageZero) {
  check_zero_stages(2);
}

TEST_F(TrainE2E, ZeroStagesOnThreeRanksWithPaddedShardsMatchStageZero) {
  // 119104 parameters over 3 ranks: shards of 39702, the last holds 39700 and 2 of padding.
  ASSERT_NE(sxb::resolve_model("tiny").param_count() % 3, 0);
  check_zero_stages(3);
}

TEST_F(TrainE2E, BadZeroSettingsGiveOneLineErrors) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"stage", "4"}, {"reduce_bucket_size", "0"}, {"allgather_bucket_size", "-8"}}) {
    const std::string ds = write("bad_" + key + ".json",
                                 "{\"train_micro_batch_size_per_gpu\": 1, \"zero_optimization\": "
                                 "{\"" +
                                     key + "\": " + value + "}}");
    const Result r = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --ds-config " +
                         ds + " --out " + (dir_ / ("bad_" + key)).string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("\"zero_optimization." + key + "\""), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(dir_ / ("bad_" + key) / "sft_metrics.json"));
  }
}

TEST_F(TrainE2E, PackedDataFileTrainsOverMpi) {
  std::string jsonl;
  for (int i = 0; i < 20; ++i) {
    jsonl += "{\"prompt\": [" + std::to_string(i % 7 + 1) + ", 2, 3], \"response\": [4, " +
             std::to_string(10 + i) + ", 6, 1]}\n";
  }
  const std::string in = write("sft.jsonl", jsonl);
  const std::string bin = (dir_ / "sft.bin").string();
  Result p = run(sxbench() + " data pack --in " + in + " --out " + bin + " --seq-len 32");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_NE(p.output.find("packed 20 records"), std::string::npos) << p.output;
  Result info = run(sxbench() + " data info " + bin);
  ASSERT_EQ(info.code, 0) << info.output;
  EXPECT_EQ(json::parse(info.output)["num_target_tokens"], 80);  // 4 response tokens x 20
  Result r = run(mpirun(2) + " train --device cpu --model tiny --steps 3 --micro-batch 2 --data " +
                 bin + " --out " + (dir_ / "out").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const json m = metrics("out");
  EXPECT_EQ(m["data"]["kind"], "file");
  EXPECT_EQ(m["seq_len"], 32);  // taken from the file
  EXPECT_EQ(m["seq_len_source"], "data file");
}

TEST_F(TrainE2E, BadJsonlRecordNamesTheLine) {
  const std::string in =
      write("bad.jsonl",
            "{\"prompt\": [1], \"response\": [2]}\n{\"prompt\": [1], \"response\": [\"x\"]}\n");
  Result r = run(sxbench() + " data pack --in " + in + " --out " + (dir_ / "x.bin").string() +
                 " --seq-len 16");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.jsonl:2:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "x.bin"));
}

TEST_F(TrainE2E, CudaDeviceWithoutGpuIsRefusedWithExit4) {
  if (sxb::visible_cuda_devices() > 0)
    GTEST_SKIP() << "a GPU is visible: tests/gpu runs the engine";
  Result r = run(sxbench() + " train --device cuda --model tiny --seq-len 32");
  EXPECT_EQ(r.code, 4) << r.output;
  const bool says_why = r.output.find("no GPU is visible") != std::string::npos ||
                        r.output.find("built without CUDA") != std::string::npos;
  EXPECT_TRUE(says_why) << r.output;
}

TEST_F(TrainE2E, RecomputeSettingIsCheckedAndCpuOnlyTakesAuto) {
  Result bad = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --recompute some");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--recompute must be"), std::string::npos) << bad.output;
  Result cpu = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --recompute full");
  EXPECT_EQ(cpu.code, 2) << cpu.output;
  EXPECT_NE(cpu.output.find("applies to --device cuda"), std::string::npos) << cpu.output;
}

TEST_F(TrainE2E, CudaEngineSettingsAreCheckedAndCpuOnlyTakesAuto) {
  Result bad = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --grad-dtype fp16");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--grad-dtype must be auto, fp32 or bf16"), std::string::npos)
      << bad.output;
  Result cpu = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --grad-dtype bf16");
  EXPECT_EQ(cpu.code, 2) << cpu.output;
  EXPECT_NE(cpu.output.find("--grad-dtype applies to --device cuda"), std::string::npos)
      << cpu.output;
  Result backend = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --comm-backend gloo");
  EXPECT_EQ(backend.code, 2) << backend.output;
  EXPECT_NE(backend.output.find("--comm-backend must be auto, nccl or mpi"), std::string::npos)
      << backend.output;
  Result cpu_backend =
      run(sxbench() + " train --device cpu --model tiny --seq-len 32 --comm-backend mpi");
  EXPECT_EQ(cpu_backend.code, 2) << cpu_backend.output;
  EXPECT_NE(cpu_backend.output.find("--comm-backend applies to --device cuda"), std::string::npos)
      << cpu_backend.output;
}

TEST_F(TrainE2E, ModelTooBigForHostMemoryIsRefusedBeforeAllocation) {
  Result r = run(mpirun(2) +
                 " train --device cpu --model meta-llama/Llama-2-70b-hf --seq-len 128 "
                 "--out " +
                 (dir_ / "big").string());
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("needed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("available"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "big" / "sft_metrics.json"));
}

TEST_F(TrainE2E, BadInputsGiveOneLineErrors) {
  Result r = run(sxbench() + " train --device cpu --model no-such-model");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("meta-llama/Llama-2-7b-hf"), std::string::npos) << r.output;
  const std::string ds = write("bad_ds.json", R"({"train_batch_size": 6,
    "train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 1})");
  r = run(sxbench() + " train --device cpu --model tiny --seq-len 32 --ds-config " + ds);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("\"train_batch_size\""), std::string::npos) << r.output;
  r = run(sxbench() + " train --device cpu --model tiny --seq-len 100000");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("max_position_embeddings"), std::string::npos) << r.output;
}

}  // namespace
