// `sxbench train` and `sxbench data` run as a user would: CPU reference, mpirun -np 1 and 2, and
// the memory planner (`train --plan-only`), which needs no GPU.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "platform/gpu_probe.hpp"
#include "train/cpu_model.hpp"
#include "model/ds_config.hpp"
#include "perfmodel/gpu_memory.hpp"
#include "model/model_config.hpp"
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

// --- train --plan-only ---------------------------------------------------------------------

std::string repo_config(const std::string& name) {
  return std::string(SXB_TEST_SOURCE_DIR) + "/configs/" + name;
}

json read_plan(const fs::path& dir) {
  std::ifstream f(dir / "plan.json");
  EXPECT_TRUE(f.good()) << "no plan.json in " << dir;
  return json::parse(f);
}

// The buffers of a plan.json case against the planner's own list.
void expect_same_buffers(const json& c, const sxb::GpuMemoryPlan& p, const std::string& where) {
  ASSERT_EQ(c["buffers"].size(), p.buffers.size()) << where;
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const json& b = c["buffers"][i];
    EXPECT_EQ(b["name"], p.buffers[i].name) << where;
    EXPECT_EQ(b["category"], p.buffers[i].category) << where;
    EXPECT_EQ(b["bytes"], p.buffers[i].bytes) << where << " " << p.buffers[i].name;
    EXPECT_EQ(b["count"], p.buffers[i].count) << where << " " << p.buffers[i].name;
  }
  EXPECT_EQ(c["total_bytes"], p.total_bytes()) << where;
  for (const auto& [cat, bytes] : p.bytes_by_category()) {
    EXPECT_EQ(c["bytes_by_category"][cat], bytes) << where << " " << cat;
  }
}

TEST_F(TrainE2E, PlanOnlyPrintsEveryBufferAndWritesTheSamePlanJson) {
  const fs::path out = dir_ / "plan7b";
  const Result r = run(sxbench() +
                       " train --plan-only --model meta-llama/Llama-2-7b-hf --seq-len 4096 "
                       "--micro-batch 1 --out " +
                       out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  // One GPU (no --nodes, no mpirun), no ds_config: one micro-batch per step, so auto gradients
  // are bf16; the datasheet's 141e9 bytes hold the plan without recomputation (113.1e9 + 1.34e9
  // reserve), so auto recomputation is none.
  const sxb::ModelConfig m = sxb::resolve_model("meta-llama/Llama-2-7b-hf");
  const sxb::GpuMemoryPlan p =
      sxb::plan_gpu_memory(m, 1, 4096, sxb::Recompute::none, sxb::GradStorage::bf16);
  for (const auto& b : p.buffers) {
    const std::string row = b.name + " ";
    const size_t at = r.output.find("\n" + row);
    ASSERT_NE(at, std::string::npos) << b.name << " missing:\n" << r.output;
    const std::string line = r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
    EXPECT_NE(line.find(" " + b.category + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" " + std::to_string(b.bytes) + " "), std::string::npos) << line;
    EXPECT_NE(line.find(" " + std::to_string(b.count) + " "), std::string::npos) << line;
  }
  EXPECT_NE(r.output.find(std::to_string(p.total_bytes())), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("verdict: fits: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("reserve (assumed, not allocated by the engine): cuda_context 0.50 GiB"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("per node count"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("note: "), std::string::npos) << r.output;
  const json j = read_plan(out);
  EXPECT_EQ(j["schema"], "sxbench.train_plan/1");
  EXPECT_EQ(j["gpu"]["capacity_bytes"], 141000000000ull);
  EXPECT_EQ(j["gpu"]["capacity_kind"], "device_total");
  EXPECT_NE(j["gpu"]["source"].get<std::string>().find("h200_sxm.json"), std::string::npos);
  const json& job = j["job"];
  EXPECT_EQ(job["world_size"], 1);
  EXPECT_EQ(job["recompute"], "none");
  EXPECT_EQ(job["gradients"], "bf16");
  EXPECT_EQ(job["zero_stage"]["applied"], 0);
  EXPECT_EQ(job["batch"]["gradient_accumulation_steps"], 1);
  expect_same_buffers(job, p, "7B on one GPU");
  const json& v = job["verdict"];
  EXPECT_EQ(v["fits"], true);
  EXPECT_EQ(v["plan_bytes"], p.total_bytes());
  EXPECT_EQ(v["reserve_bytes"], (768ull + 512) << 20);
  EXPECT_EQ(v["needed_bytes"], p.total_bytes() + ((768ull + 512) << 20));
  EXPECT_EQ(v["free_bytes"], 141000000000ull - p.total_bytes() - ((768ull + 512) << 20));
  EXPECT_NE(r.output.find("verdict: " + v["line"].get<std::string>()), std::string::npos);
  EXPECT_EQ(j["fits"], true);
  EXPECT_TRUE(j["node_counts"].empty());
  EXPECT_FALSE(fs::exists(out / "sft_metrics.json"));
  // Nothing but plan.json: the temporary file was renamed.
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator{}), 1);
}

TEST_F(TrainE2E, PlanOnlyGivesOneVerdictLinePerNodeCountFor70B) {
  const fs::path out = dir_ / "plan70b";
  const std::string cmd = sxbench() +
                          " train --plan-only --model meta-llama/Llama-2-70b-hf --seq-len 4096 "
                          "--micro-batch 1 --ds-config " +
                          repo_config("ds_config_70b.json");
  const Result r = run(cmd + " --nodes 1,2,4,8 --out " + out.string());
  // The job is the first node count: 8 GPUs cannot hold 70B even in ZeRO-3 (unit test
  // GpuMemoryVerdict.Llama2_70BNeedsZero3AndTwoNodesOfEightH200 derives why).
  EXPECT_EQ(r.code, 4) << r.output;
  const std::string last = r.output.substr(r.output.rfind("sxbench: error: "));
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
  EXPECT_NE(last.find("does not fit on 1 node x 8 NVIDIA H200 SXM GPUs (world 8)"),
            std::string::npos)
      << last;
  EXPECT_NE(last.find("short by"), std::string::npos) << last;
  const std::pair<int, const char*> rows[] = {
      {1, "does not fit"}, {2, "fits"}, {4, "fits"}, {8, "fits"}};
  for (const auto& [n, verdict] : rows) {
    const std::string start = fmt::format("\n{:5d} {:6d}     3 full      fp32 ", n, 8 * n);
    const size_t at = r.output.find(start);
    ASSERT_NE(at, std::string::npos) << n << " nodes:\n" << r.output;
    const std::string line = r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
    EXPECT_NE(line.find(std::string("  ") + verdict + ","), std::string::npos) << line;
  }
  // The engine runs every stage: the stage-3 plan is its allocation, with no caveat.
  EXPECT_EQ(r.output.find("note: the CUDA engine runs"), std::string::npos) << r.output;
  const json j = read_plan(out);
  EXPECT_EQ(j["fits"], false);
  EXPECT_EQ(j["job"]["zero_stage"]["engine_runs"], 3);
  EXPECT_EQ(j["job"]["world_size"], 8);
  EXPECT_EQ(j["gpus_per_node"], 8);
  const sxb::ModelConfig m = sxb::resolve_model("meta-llama/Llama-2-70b-hf");
  const sxb::DsConfig ds = sxb::load_ds_config(repo_config("ds_config_70b.json"));
  ASSERT_EQ(j["node_counts"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const json& c = j["node_counts"][i];
    const int n = rows[i].first;
    EXPECT_EQ(c["nodes"], n);
    EXPECT_EQ(c["world_size"], 8 * n);
    EXPECT_EQ(c["verdict"]["fits"], n > 1) << n;
    EXPECT_EQ(c["recompute"], "full");
    EXPECT_EQ(c["gradients"], "fp32");
    EXPECT_EQ(c["zero_stage"]["applied"], 3);
    EXPECT_EQ(c["batch"]["gradient_accumulation_steps"], 16);
    expect_same_buffers(c,
                        sxb::plan_gpu_memory(m, 1, 4096, sxb::Recompute::full,
                                             sxb::GradStorage::fp32, sxb::kCublasLtWorkspaceBytes,
                                             sxb::zero_layout(ds, m, 8 * n)),
                        std::to_string(n) + " nodes");
  }
  // The job on two nodes fits: exit 0.
  const Result two = run(cmd + " --nodes 2 --out " + (dir_ / "plan70b2").string());
  EXPECT_EQ(two.code, 0) << two.output;
  EXPECT_NE(two.output.find("verdict: fits: "), std::string::npos) << two.output;
  EXPECT_EQ(read_plan(dir_ / "plan70b2")["job"]["world_size"], 16);
}

TEST_F(TrainE2E, PlanOnlyChoosesTheLightestRecomputationPerNodeCount) {
  // ZeRO-3 without activation checkpointing: auto recomputation is decided per node count
  // (unit test GpuMemoryVerdict.AutoRecomputationIsChosenPerWorld: full on 16 GPUs, none on 64).
  const std::string ds = write("z3.json", R"({"train_micro_batch_size_per_gpu": 1,
    "gradient_accumulation_steps": 16, "bf16": {"enabled": true},
    "zero_optimization": {"stage": 3}})");
  const fs::path out = dir_ / "auto";
  const Result r = run(sxbench() +
                       " train --plan-only --model meta-llama/Llama-2-70b-hf --seq-len 4096 "
                       "--ds-config " +
                       ds + " --nodes 2,8 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const json j = read_plan(out);
  ASSERT_EQ(j["node_counts"].size(), 2u);
  EXPECT_EQ(j["node_counts"][0]["recompute"], "full");
  EXPECT_EQ(j["node_counts"][1]["recompute"], "none");
  EXPECT_NE(j["node_counts"][1]["recompute_reason"].get<std::string>().find("auto: the lightest"),
            std::string::npos);
  EXPECT_NE(r.output.find("    8     64     3 none "), std::string::npos) << r.output;
}

TEST_F(TrainE2E, PlanOnlyTakesTheGpuMemoryFromTheCommandLine) {
  const fs::path out = dir_ / "gib80";
  const Result r = run(sxbench() +
                       " train --plan-only --model meta-llama/Llama-2-7b-hf --seq-len 4096 "
                       "--micro-batch 1 --gpu-memory-gib 80 --out " +
                       out.string());
  // 7B on one GPU needs 14 bytes per parameter (bf16 weights and gradients, the fp32 master's
  // low halves, m, v) = 94.3e9 > 80 GiB = 85.9e9 in every recomputation mode.
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("of 80.00 GiB"), std::string::npos) << r.output;
  const std::string last = r.output.substr(r.output.rfind("sxbench: error: "));
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
  const json j = read_plan(out);
  EXPECT_EQ(j["gpu"]["capacity_bytes"], 80ull << 30);
  EXPECT_NE(j["gpu"]["source"].get<std::string>().find("--gpu-memory-gib 80"), std::string::npos);
  EXPECT_EQ(j["job"]["recompute"], "full");  // auto tried all three
  EXPECT_EQ(j["job"]["verdict"]["fits"], false);
}

TEST_F(TrainE2E, PlanOnlyUnderMpirunPlansTheLaunchWorldOnce) {
  const std::string ds = write("z2.json", zero_ds_config(2));
  const fs::path out = dir_ / "mpi";
  const Result r = run(mpirun(2) + " train --plan-only --model tiny --seq-len 64 --ds-config " +
                       ds + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  size_t headers = 0;
  for (size_t at = 0; (at = r.output.find("sxbench train --plan-only:", at)) != std::string::npos;
       ++at) {
    ++headers;
  }
  EXPECT_EQ(headers, 1u) << r.output;
  const json j = read_plan(out);
  EXPECT_EQ(j["job"]["world_size"], 2);
  EXPECT_EQ(j["job"]["zero_stage"]["applied"], 2);
  EXPECT_EQ(j["job"]["batch"]["gradient_accumulation_steps"], 2);
  EXPECT_NE(j["job"]["buffers"].dump().find("grad.shard"), std::string::npos);
}

TEST_F(TrainE2E, PlanOnlyBadFlagsGiveOneLineErrorsAndExit2) {
  const std::string base = " train --model meta-llama/Llama-2-7b-hf --seq-len 4096 ";
  const std::pair<std::string, std::string> cases[] = {
      {"--plan-only --nodes 0", "--nodes '0': 0 is outside 1..1024"},
      {"--plan-only --nodes x", "--nodes 'x': 'x' is not a whole number"},
      {"--plan-only --nodes 1,,2", "--nodes '1,,2': empty item"},
      {"--plan-only --nodes 2,2", "2 is given twice"},
      {"--plan-only --nodes 1 --gpus-per-node 0", "--gpus-per-node: invalid value '0'"},
      {"--plan-only --gpus-per-node x", "--gpus-per-node"},
      {"--plan-only --gpu-memory-gib -1", "--gpu-memory-gib"},
      {"--plan-only --gpu-memory-gib 0", "--gpu-memory-gib"},
      {"--plan-only --gpu B200", "--gpu 'B200'"},
      {"--plan-only --device cpu", "--plan-only plans the CUDA engine"},
      {"--plan-only --recompute some", "--recompute must be"},
      {"--plan-only --micro-batch 1 --grad-dtype bf16 --nodes 1",
       "--grad-dtype bf16: the gradient exchange between ranks sums fp32 gradients"},
      {"--nodes 2", "--nodes applies to --plan-only"},
      {"--gpu-memory-gib 80", "--gpu-memory-gib applies to --plan-only"},
  };
  int i = 0;
  for (const auto& [flags, message] : cases) {
    const fs::path out = dir_ / ("bad" + std::to_string(i++));
    const Result r = run(sxbench() + base + flags + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << flags << ": " << r.output;
    EXPECT_EQ(r.output.rfind("sxbench: error: ", 0), 0u) << flags << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << flags << ": " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << flags << ": " << r.output;
    EXPECT_FALSE(fs::exists(out / "plan.json")) << flags;
  }
}

}  // namespace

// --init pretrained: a tiny model trained on the CPU and saved (--save-weights) is loaded back
// and training continues from it. The data file holds exactly one step's sequences, so every
// step sees the same batch: the reloaded run's first loss is the loss of the saved weights on
// that batch, which a run one step longer than the saving run computes as its last loss.
class PretrainedE2E : public TrainE2E {
 protected:
  void SetUp() override {
    TrainE2E::SetUp();
    std::string jsonl;
    for (int i = 0; i < 8; ++i) {
      jsonl += "{\"prompt\": [" + std::to_string(i + 1) + ", 2], \"response\": [" +
               std::to_string(20 + 3 * i) + ", " + std::to_string(40 + 5 * i) + ", " +
               std::to_string(90 + i) + ", 7, 1]}\n";
    }
    const std::string in = write("sft.jsonl", jsonl);
    bin_ = (dir_ / "sft.bin").string();
    const Result p = run(sxbench() + " data pack --in " + in + " --out " + bin_ + " --seq-len 32");
    ASSERT_EQ(p.code, 0) << p.output;
    const Result info = run(sxbench() + " data info " + bin_);
    ASSERT_EQ(info.code, 0) << info.output;
    ASSERT_EQ(json::parse(info.output)["num_sequences"], 2);  // one step of micro 2 x 1 rank
    ds_ = write("ds.json", R"({"train_micro_batch_size_per_gpu": 2,
      "gradient_accumulation_steps": 1,
      "optimizer": {"type": "AdamW", "params": {"lr": 0.01, "weight_decay": 0.0}}})");
  }
  // Trains `steps` steps on `np` ranks into dir_/out; `extra` adds flags.
  json train(const std::string& out, int steps, const std::string& extra, int np = 1,
             const std::string& ds = "") {
    const Result r = run(mpirun(np) + " train --device cpu --steps " + std::to_string(steps) +
                         " --data " + bin_ + " --ds-config " + (ds.empty() ? ds_ : ds) +
                         " --out " + (dir_ / out).string() + " " + extra);
    EXPECT_EQ(r.code, 0) << r.output;
    last_output_ = r.output;
    return r.code == 0 ? metrics(out) : json();
  }
  static double loss(const json& m, size_t step) { return m["loss_curve"][step - 1]["loss"]; }
  std::string bin_, ds_, last_output_;
};

TEST_F(PretrainedE2E, SavedWeightsReloadAndTrainingContinuesFromThem) {
  const std::string saved = (dir_ / "saved").string();
  const json a = train("a", 6, "--model tiny --save-weights " + saved);
  EXPECT_NE(last_output_.find(saved + "/model.safetensors (F32) and config.json"),
            std::string::npos)
      << last_output_;
  ASSERT_TRUE(fs::exists(dir_ / "saved" / "config.json"));
  // The same run one step longer: its step 7 loss is the saved weights' loss on the batch.
  const json a7 = train("a7", 7, "--model tiny");
  for (size_t s = 1; s <= 6; ++s) ASSERT_EQ(loss(a7, s), loss(a, s)) << "step " << s;
  const double saved_loss = loss(a7, 7);
  const double random_loss = loss(a, 1);
  // The saving run learnt: far below the random start.
  ASSERT_LT(saved_loss, random_loss - 1.0) << random_loss << " -> " << saved_loss;

  // Fine-tuning from it at a lower learning rate (fresh AdamW moments take full-size first
  // steps).
  const std::string ft = write("ft.json", R"({"train_micro_batch_size_per_gpu": 2,
      "gradient_accumulation_steps": 1,
      "optimizer": {"type": "AdamW", "params": {"lr": 0.002, "weight_decay": 0.0}}})");
  const json b = train("b", 4, "--model " + saved + " --init pretrained", 1, ft);
  EXPECT_NE(last_output_.find("weights: " + saved + "/model.safetensors ("), std::string::npos)
      << last_output_;
  // fp32 weights: the first loss is the saved model's loss on the same batch (fp32 summation in
  // the same order; 1e-6 relative allows for nothing but rounding).
  EXPECT_EQ(b["weights"], (json{{"init", "pretrained"},
                                 {"source", saved + "/model.safetensors"},
                                 {"tensors", 21},
                                 {"files", 1},
                                 {"dtypes", {"F32"}}}));
  EXPECT_EQ(a["weights"], (json{{"init", "random"}}));
  EXPECT_NEAR(loss(b, 1), saved_loss, 1e-6 * saved_loss);
  EXPECT_LT(loss(b, 1), random_loss - 1.0);
  // And training continues: the loss keeps falling.
  for (size_t s = 2; s <= 4; ++s) EXPECT_LT(loss(b, s), loss(b, s - 1)) << "step " << s;
  EXPECT_LT(loss(b, 4), saved_loss - 0.1);

  // Saved in bf16: the weights are rounded to 8 significant bits, the loss moves by a little.
  const std::string saved16 = (dir_ / "saved16").string();
  train("a16", 6, "--model tiny --save-weights " + saved16 + " --save-dtype bf16");
  EXPECT_NE(last_output_.find("(BF16) and config.json"), std::string::npos) << last_output_;
  const json b16 = train("b16", 2, "--model " + saved16 + " --init pretrained", 1, ft);
  EXPECT_NE(last_output_.find("BF16)"), std::string::npos) << last_output_;
  EXPECT_NEAR(loss(b16, 1), saved_loss, 0.05) << "bf16 weights";
  EXPECT_NE(loss(b16, 1), saved_loss);  // the rounding is visible, so bf16 was read as bf16

  // Two ranks at ZeRO stage 3 (each holding a shard of the loaded weights) start from the same
  // loss.
  const std::string ds3 = write("ds3.json", R"({"train_micro_batch_size_per_gpu": 1,
      "gradient_accumulation_steps": 1, "zero_optimization": {"stage": 3},
      "optimizer": {"type": "AdamW", "params": {"lr": 0.002, "weight_decay": 0.0}}})");
  const json z3 = train("z3", 2, "--model " + saved + " --init pretrained", 2, ds3);
  EXPECT_NEAR(loss(z3, 1), saved_loss, 1e-5 * saved_loss);
  EXPECT_EQ(z3["replicas_identical"], true);
}

TEST_F(PretrainedE2E, PretrainedWithoutMatchingWeightsIsRefusedInOneLine) {
  auto refused = [&](const std::string& flags, const std::string& want) {
    const Result r = run(sxbench() + " train --device cpu --steps 1 --data " + bin_ +
                         " --out " + (dir_ / "x").string() + " " + flags);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("sxbench: error: " + want), std::string::npos)
        << "want: " << want << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "x" / "sft_metrics.json"));
  };
  refused("--model tiny --init pretrained",
          "--init pretrained needs --model DIR with config.json and safetensors weights; tiny is "
          "a built-in shape without weights");
  const fs::path saved = dir_ / "saved";
  train("a", 1, "--model tiny --save-weights " + saved.string());
  // A directory with config.json but no weights.
  fs::create_directories(dir_ / "noweights");
  fs::copy_file(saved / "config.json", dir_ / "noweights" / "config.json");
  refused("--model " + (dir_ / "noweights").string() + " --init pretrained",
          (dir_ / "noweights").string() +
              ": no model.safetensors or model.safetensors.index.json");
  // A config whose shapes differ from the weights': the tensor and both shapes are named.
  json cfg = json::parse(std::ifstream(saved / "config.json"));
  const sxb::ModelConfig tiny = sxb::resolve_model("tiny");
  cfg["vocab_size"] = tiny.vocab_size + 8;
  std::ofstream(saved / "config.json") << cfg.dump();
  refused("--model " + saved.string() + " --init pretrained",
          fmt::format("{}: tensor model.embed_tokens.weight has shape [{}, {}], the model's "
                      "config implies [{}, {}]",
                      (saved / "model.safetensors").string(), tiny.vocab_size, tiny.hidden_size,
                      tiny.vocab_size + 8, tiny.hidden_size));
  // A truncated weights file.
  cfg["vocab_size"] = tiny.vocab_size;
  std::ofstream(saved / "config.json") << cfg.dump();
  fs::resize_file(saved / "model.safetensors", fs::file_size(saved / "model.safetensors") - 4);
  refused("--model " + saved.string() + " --init pretrained",
          (saved / "model.safetensors").string() + ": tensor lm_head.weight: data_offsets");
  refused("--model tiny --init zeros", "--init: zeros not in {random,pretrained}");
  // Saving where a sharded checkpoint's index would shadow the written file.
  std::ofstream(saved / "model.safetensors.index.json") << R"({"weight_map": {}})";
  refused("--model tiny --save-weights " + saved.string(),
          "--save-weights " + saved.string() + ": holds model.safetensors.index.json");
}
