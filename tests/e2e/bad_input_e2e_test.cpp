// The bad-input corpus: every command, numeric flag and input file kind given a value it must
// refuse. Each row runs the sxbench binary in a fresh directory (also its RESULTS_DIR and cwd)
// holding the row's input files, and asserts what docs/reliability.md promises:
//   - the exit status is the usage class (2);
//   - stderr is exactly one line, "sxbench: error: ...", naming the flag, setting, key or file;
//   - the directory is unchanged afterwards: no file created, changed or removed (inputs
//     included), so a refused command leaves nothing behind.
// Rows may also name text that must not appear (a secret's value).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_util.hpp"

namespace {

namespace fs = std::filesystem;

struct BadInput {
  std::string name;                               // test name suffix
  std::string args;                               // sxbench arguments; {D} is the row's directory
  std::string names;                              // text the one-line message must contain
  std::map<std::string, std::string> files = {};  // relative path -> content ("/" ends a dir)
  std::string hidden = "";                        // text the message must not contain
  std::string environment = "";                   // VAR=VALUE settings of the process environment
};

// How gtest names a row in its output (instead of the object's bytes).
void PrintTo(const BadInput& row, std::ostream* os) {
  *os << row.name << ": " << row.args;
}

std::string expand(std::string s, const fs::path& dir) {
  for (size_t p; (p = s.find("{D}")) != std::string::npos;) s.replace(p, 3, dir.string());
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every entry under dir: files with their content, directories marked.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    out[rel] = e.is_directory() ? "<dir>" : slurp(e.path());
  }
  return out;
}

// Fixture files shared by the rows.
const std::string kTinyConfig =
    R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 160,
        "vocab_size": 256, "max_position_embeddings": 512, "rms_norm_eps": 1e-5})";

std::string config_with(const std::string& key, const std::string& value) {
  std::string c = kTinyConfig;
  const std::string k = "\"" + key + "\": ";
  const size_t at = c.find(k);
  if (at == std::string::npos) return c.substr(0, c.size() - 1) + ", " + k + value + "}";
  const size_t end = c.find_first_of(",}", at);
  return c.substr(0, at + k.size()) + value + c.substr(end);
}

std::string claims_with(const std::string& claim) {
  return R"({"source": "test", "cluster": {"gpu": "h200_sxm", "gpus_per_node": 8},
             "claims": [)" +
         claim + "]}";
}
const std::string kTokensClaim =
    R"("id": "t", "kind": "training_tokens_per_s", "model": "tiny", "seq_len": 64)";

const std::string kGoodJsonl = "{\"prompt\": [1, 2], \"response\": [3, 4]}\n";

// A token file header (docs/training.md layout) whose sizes multiply past 64 bits, with a few
// bytes of data after it.
std::string token_file_with_huge_header() {
  std::string s = "SXBTOKEN";
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
  };
  put(1, 4);                  // version
  put(2, 4);                  // bytes per token
  put(uint64_t(1) << 24, 8);  // seq_len
  put(uint64_t(1) << 40, 8);  // sequences: 2^64 tokens in all
  for (int i = 0; i < 4; ++i) put(0, 8);
  s += std::string(16, '\0');
  return s;
}

std::vector<BadInput> corpus() {
  const std::string tiny_train = "train --device cpu --model tiny --steps 2 --out {D}/o ";
  const std::string model_train = "train --device cpu --model {D}/m --steps 2 --out {D}/o";
  const std::string ds_train =
      "train --device cpu --model tiny --ds-config {D}/ds.json --out {D}/o";
  const std::string env_plan = "--env {D}/bad.env plan --out {D}/o";
  const std::string pack = "data pack --in {D}/in.jsonl --out {D}/out.bin ";
  std::vector<BadInput> rows = {
      // train: numeric flags
      {"train_micro_batch_0", tiny_train + "--micro-batch 0", "--micro-batch"},
      {"train_micro_batch_negative", tiny_train + "--micro-batch -1", "--micro-batch"},
      {"train_micro_batch_fraction", tiny_train + "--micro-batch 1.5", "--micro-batch"},
      {"train_micro_batch_huge", tiny_train + "--micro-batch 1000001", "--micro-batch"},
      {"train_seq_len_0", tiny_train + "--seq-len 0", "--seq-len"},
      {"train_seq_len_1", tiny_train + "--seq-len 1", "--seq-len"},
      {"train_seq_len_nan", tiny_train + "--seq-len nan", "--seq-len"},
      {"train_steps_0", tiny_train.substr(0, tiny_train.find("--steps")) + "--steps 0", "--steps"},
      {"train_steps_overflow", "train --model tiny --steps 99999999999999999999", "--steps"},
      {"train_warmup_negative", tiny_train + "--warmup-steps -1", "--warmup-steps"},
      {"train_seed_negative", tiny_train + "--seed -5", "--seed"},
      {"train_micro_step_tokens",
       "train --model tiny --seq-len 512 --micro-batch 1000000 --out {D}/o",
       "tokens per micro-step"},
      {"train_micro_step_tokens_from_ds_config",
       "train --model tiny --seq-len 512 --ds-config {D}/ds.json --out {D}/o",
       "tokens per micro-step",
       {{"ds.json", R"({"train_micro_batch_size_per_gpu": 10000000})"}}},
      {"train_plan_micro_step_tokens",
       "train --plan-only --model tiny --seq-len 512 --micro-batch 1000000 --out {D}/o",
       "tokens per micro-step"},
      {"train_plan_gpus_per_node_0", "train --plan-only --model tiny --gpus-per-node 0",
       "--gpus-per-node"},
      {"train_plan_gpu_memory_nan", "train --plan-only --model tiny --gpu-memory-gib nan",
       "--gpu-memory-gib"},
      {"train_plan_gpu_memory_0", "train --plan-only --model tiny --gpu-memory-gib 0",
       "--gpu-memory-gib"},
      // run
      {"run_steps_0", "run --mode sft --model tiny --steps 0 --out {D}/r", "--steps"},
      {"run_steps_1", "run --mode sft --model tiny --steps 1 --out {D}/r", "--steps"},
      {"run_micro_batch_0", "run --mode sft --model tiny --micro-batch 0 --out {D}/r",
       "--micro-batch"},
      {"run_seq_len_0", "run --mode sft --model tiny --seq-len 0 --out {D}/r", "--seq-len"},
      {"run_timeout_0", "run --mode nccl --timeout 0 --out {D}/r", "--timeout"},
      {"run_timeout_nan", "run --mode nccl --timeout nan --out {D}/r", "--timeout"},
      {"run_nodes_0", "run --mode nccl --nodes 0 --out {D}/r", "--nodes"},
      {"run_nccl_max_bytes_0", "run --mode nccl --nccl-max-bytes 0 --out {D}/r",
       "--nccl-max-bytes"},
      {"run_nccl_max_bytes_below_min", "run --mode nccl --nccl-max-bytes 7 --out {D}/r",
       "--nccl-max-bytes"},
      {"run_nccl_max_bytes_u64",
       "run --mode nccl --nccl-max-bytes 18446744073709551615 --out {D}/r", "--nccl-max-bytes"},
      // nccl
      {"nccl_timeout_negative", "nccl --timeout -1 --out {D}/n", "--timeout"},
      {"nccl_timeout_nan", "nccl --timeout nan --out {D}/n", "--timeout"},
      {"nccl_timeout_inf", "nccl --timeout inf --out {D}/n", "--timeout"},
      {"nccl_check_7", "nccl -c 7 --out {D}/n", "--check"},
      {"nccl_check_negative", "nccl -c -1 --out {D}/n", "--check"},
      {"nccl_factor_nan", "nccl -f nan --out {D}/n", "--stepfactor"},
      {"nccl_factor_inf", "nccl -f inf --out {D}/n", "--stepfactor"},
      {"nccl_factor_below_1", "nccl -f 0.5 --out {D}/n", "--stepfactor"},
      {"nccl_maxbytes_u64", "nccl -e 18446744073709551615 --out {D}/n", "--maxbytes"},
      {"nccl_maxbytes_over_ceiling", "nccl -e 65G --out {D}/n", "--maxbytes"},
      {"nccl_minbytes_0", "nccl -b 0 --out {D}/n", "--minbytes"},
      {"nccl_stepbytes_fraction", "nccl -i 1.5K --out {D}/n", "--stepbytes"},
      {"nccl_sweep_too_long", "nccl -i 1 -e 1G --out {D}/n", "-i"},
      {"nccl_max_below_min", "nccl -b 2G -e 1G --out {D}/n", "maximum size"},
      {"nccl_iters_0", "nccl -n 0 --out {D}/n", "--iters"},
      {"nccl_iters_fraction", "nccl -n 2.5 --out {D}/n", "--iters"},
      {"nccl_warmup_negative", "nccl -w -1 --out {D}/n", "--warmup_iters"},
      {"nccl_root_negative", "nccl -r -1 --out {D}/n", "--root"},
      // monitor
      {"monitor_interval_0", "monitor --interval 0 --out {D}/m.csv -- true", "--interval"},
      {"monitor_interval_nan", "monitor --interval nan --out {D}/m.csv -- true", "--interval"},
      {"monitor_interval_negative", "monitor --interval -1 --out {D}/m.csv -- true", "--interval"},
      {"monitor_interval_over_an_hour", "monitor --interval 3601 --out {D}/m.csv -- true",
       "--interval"},
      // plan
      {"plan_gpus_per_node_0", "plan --gpus-per-node 0 --out {D}/o", "--gpus-per-node"},
      {"plan_gpus_per_node_65", "plan --gpus-per-node 65 --out {D}/o", "--gpus-per-node"},
      {"plan_seq_len_0", "plan --seq-len 0 --out {D}/o", "--seq-len"},
      {"plan_steps_1", "plan --steps 1 --out {D}/o", "--steps"},
      {"plan_nodes_0", "plan --nodes 0 --out {D}/o", "--nodes"},
      {"plan_nodes_fraction", "plan --nodes 1.5 --out {D}/o", "--nodes"},
      // compute (flags are checked before the CUDA build or a GPU is looked for)
      {"compute_square_min_0", "compute --square-min 0 --out {D}/c", "--square-min"},
      {"compute_square_max_huge", "compute --square-max 9223372036854775807 --out {D}/c",
       "--square-max"},
      {"compute_check_2", "compute --check 2 --out {D}/c", "--check"},
      {"compute_fp8_fast_accum_7", "compute --fp8-fast-accum 7 --out {D}/c", "--fp8-fast-accum"},
      {"compute_rotate_l2_nan", "compute --rotate-l2 nan --out {D}/c", "--rotate-l2"},
      {"compute_iters_0", "compute --iters 0 --out {D}/c", "--iters"},
      {"compute_bw_warmup_negative", "compute --bw-warmup -1 --out {D}/c", "--bw-warmup"},
      {"compute_hbm_bytes_0", "compute --hbm-bytes 0 --out {D}/c", "--hbm-bytes"},
      {"compute_hbm_bytes_over_ceiling", "compute --hbm-bytes 1T --out {D}/c", "--hbm-bytes"},
      {"compute_workspace_huge", "compute --workspace 5G --out {D}/c", "--workspace"},
      {"compute_seq_0", "compute --seq 0 --out {D}/c", "--seq"},
      {"compute_tokens_product", "compute --seq 1048576 --micro-batch 1000 --out {D}/c",
       "--seq x --micro-batch"},
      // data pack / info
      {"data_pack_seq_len_0", pack + "--seq-len 0", "--seq-len", {{"in.jsonl", kGoodJsonl}}},
      {"data_pack_pad_id_uint16",
       pack + "--seq-len 8 --pad-id 70000 --dtype uint16",
       "pad id",
       {{"in.jsonl", kGoodJsonl}}},
      {"data_pack_pad_id_negative", pack + "--pad-id -1", "--pad-id", {{"in.jsonl", kGoodJsonl}}},
      {"data_pack_pad_id_over_u32",
       pack + "--pad-id 4294967296",
       "--pad-id",
       {{"in.jsonl", kGoodJsonl}}},
      {"data_pack_out_is_in",
       "data pack --in {D}/in.jsonl --out {D}/in.jsonl --seq-len 8",
       "--out",
       {{"in.jsonl", kGoodJsonl}}},
      {"data_pack_out_is_in_via_dot",
       "data pack --in {D}/in.jsonl --out {D}/./in.jsonl --seq-len 8",
       "--out",
       {{"in.jsonl", kGoodJsonl}}},
      {"data_jsonl_negative_id",
       pack + "--seq-len 8",
       "in.jsonl:2",
       {{"in.jsonl", kGoodJsonl + "{\"prompt\": [1, -1], \"response\": [3]}\n"}}},
      {"data_jsonl_fractional_id",
       pack + "--seq-len 8",
       "in.jsonl:1",
       {{"in.jsonl", "{\"prompt\": [1.5], \"response\": [3]}\n"}}},
      {"data_jsonl_id_over_u32",
       pack + "--seq-len 8",
       "in.jsonl:1",
       {{"in.jsonl", "{\"prompt\": [4294967296], \"response\": [3]}\n"}}},
      {"data_jsonl_not_json", pack + "--seq-len 8", "in.jsonl:1", {{"in.jsonl", "{prompt\n"}}},
      {"data_jsonl_huge_number",
       pack + "--seq-len 8",
       "in.jsonl:1",
       {{"in.jsonl", "{\"prompt\": [1e999], \"response\": [3]}\n"}}},
      {"data_info_not_a_token_file",
       "data info {D}/in.jsonl",
       "in.jsonl",
       {{"in.jsonl", kGoodJsonl}}},
      {"data_info_header_overflow",
       "data info {D}/t.bin",
       "t.bin",
       {{"t.bin", token_file_with_huge_header()}}},
      {"train_data_header_overflow",
       tiny_train + "--data {D}/t.bin",
       "t.bin",
       {{"t.bin", token_file_with_huge_header()}}},
      // the process environment
      {"environment_comm_timeout_nan",
       "nccl --out {D}/n",
       "COMM_TIMEOUT",
       {},
       "",
       "COMM_TIMEOUT=nan"},
      {"environment_metrics_interval_0",
       "monitor --out {D}/m.csv -- true",
       "METRICS_INTERVAL",
       {},
       "",
       "METRICS_INTERVAL=0"},
      {"environment_seq_len_0", tiny_train, "SEQ_LEN", {}, "", "SEQ_LEN=0"},
      {"environment_batch_size_fraction",
       tiny_train + "--seq-len 64",
       "BATCH_SIZE_PER_GPU",
       {},
       "",
       "BATCH_SIZE_PER_GPU=1.5"},
      // --env and .env
      {"env_is_a_directory", "--env {D} plan --out {D}/o", "--env"},
      {"dot_env_is_a_directory", "plan --out {D}/o", ".env", {{".env/", ""}}},
      {"env_seq_len_0", env_plan, "SEQ_LEN", {{"bad.env", "SEQ_LEN=0\n"}}},
      {"env_seq_len_fraction", env_plan, "SEQ_LEN", {{"bad.env", "SEQ_LEN=4096.5\n"}}},
      {"env_seq_len_overflow",
       env_plan,
       "SEQ_LEN",
       {{"bad.env", "SEQ_LEN=99999999999999999999\n"}}},
      {"env_comm_timeout_inf", env_plan, "COMM_TIMEOUT", {{"bad.env", "COMM_TIMEOUT=inf\n"}}},
      {"env_comm_timeout_nan", env_plan, "COMM_TIMEOUT", {{"bad.env", "COMM_TIMEOUT=nan\n"}}},
      {"env_metrics_interval_0",
       env_plan,
       "METRICS_INTERVAL",
       {{"bad.env", "METRICS_INTERVAL=0\n"}}},
      {"env_batch_size_0", env_plan, "BATCH_SIZE_PER_GPU", {{"bad.env", "BATCH_SIZE_PER_GPU=0\n"}}},
      {"env_gpus_per_node_65", env_plan, "GPUS_PER_NODE", {{"bad.env", "GPUS_PER_NODE=65\n"}}},
      {"env_gpus_per_node_0_for_a_plan",
       env_plan,
       "GPUS_PER_NODE",
       {{"bad.env", "GPUS_PER_NODE=0\n"}}},
      {"env_pue_1e999", env_plan, "PUE", {{"bad.env", "PUE=1e999\n"}}},
      {"env_hub_timeout_0",
       env_plan,
       "HF_HUB_DOWNLOAD_TIMEOUT",
       {{"bad.env", "HF_HUB_DOWNLOAD_TIMEOUT=0\n"}}},
      {"env_hub_timeout_nan",
       env_plan,
       "HF_HUB_DOWNLOAD_TIMEOUT",
       {{"bad.env", "HF_HUB_DOWNLOAD_TIMEOUT=nan\n"}}},
      {"environment_hub_offline_maybe",
       "hub download acme/tiny",
       "HF_HUB_OFFLINE",
       {},
       "",
       "HF_HUB_OFFLINE=maybe"},
      {"environment_hub_endpoint_ftp",
       "hub download acme/tiny",
       "HF_ENDPOINT",
       {},
       "",
       "HF_ENDPOINT=ftp://example.com"},
      {"hub_repo_id_dotdot", "hub download acme/../etc", "acme/../etc"},
      {"hub_file_absolute", "hub download acme/tiny /etc/passwd", "/etc/passwd"},
      {"hub_revision_dotdot", "hub download acme/tiny --revision ../x", "../x"},
      {"env_malformed_secret_line",
       env_plan,
       "bad.env:2",
       {{"bad.env", "SEQ_LEN=64\nHF_TOKEN hf_corpusSecretValue\n"}},
       "corpusSecret"},
      {"env_malformed_secret_key",
       env_plan,
       "bad.env:1",
       {{"bad.env", "HF_TOKEN hf_corpusSecretValue=1\n"}},
       "corpusSecret"},
      // config.json of a model directory
      {"config_hidden_size_fraction",
       model_train,
       "\"hidden_size\"",
       {{"m/config.json", config_with("hidden_size", "64.5")}}},
      {"config_hidden_size_1e9",
       model_train,
       "\"hidden_size\"",
       {{"m/config.json", config_with("hidden_size", "1e9")}}},
      {"config_hidden_size_string",
       model_train,
       "\"hidden_size\"",
       {{"m/config.json", config_with("hidden_size", "\"64\"")}}},
      {"config_layers_1e7",
       model_train,
       "\"num_hidden_layers\"",
       {{"m/config.json", config_with("num_hidden_layers", "10000000")}}},
      {"config_vocab_negative",
       model_train,
       "\"vocab_size\"",
       {{"m/config.json", config_with("vocab_size", "-1")}}},
      {"config_kv_heads_0",
       model_train,
       "\"num_key_value_heads\"",
       {{"m/config.json", config_with("num_key_value_heads", "0")}}},
      {"config_rope_theta_string",
       model_train,
       "\"rope_theta\"",
       {{"m/config.json", config_with("rope_theta", "\"big\"")}}},
      {"config_number_overflow",
       model_train,
       "config.json",
       {{"m/config.json", config_with("hidden_size", "1e999")}}},
      {"config_hidden_act_null_is_absent_but_model_type_number",
       model_train,
       "\"model_type\"",
       {{"m/config.json", config_with("model_type", "7")}}},
      // ds_config
      {"ds_micro_batch_0",
       ds_train,
       "train_micro_batch_size_per_gpu",
       {{"ds.json", R"({"train_micro_batch_size_per_gpu": 0})"}}},
      {"ds_micro_batch_fraction",
       ds_train,
       "train_micro_batch_size_per_gpu",
       {{"ds.json", R"({"train_micro_batch_size_per_gpu": 1.5})"}}},
      {"ds_micro_batch_1e30",
       ds_train,
       "train_micro_batch_size_per_gpu",
       {{"ds.json", R"({"train_micro_batch_size_per_gpu": 1e30})"}}},
      {"ds_accumulation_string",
       ds_train,
       "gradient_accumulation_steps",
       {{"ds.json", R"({"gradient_accumulation_steps": "4"})"}}},
      {"ds_zero_stage_4",
       ds_train,
       "zero_optimization.stage",
       {{"ds.json", R"({"zero_optimization": {"stage": 4}})"}}},
      {"ds_bucket_negative",
       ds_train,
       "reduce_bucket_size",
       {{"ds.json", R"({"zero_optimization": {"reduce_bucket_size": -5}})"}}},
      {"ds_clipping_string",
       ds_train,
       "gradient_clipping",
       {{"ds.json", R"({"gradient_clipping": "x"})"}}},
      {"ds_betas_string",
       ds_train,
       "optimizer.params.betas",
       {{"ds.json", R"({"optimizer": {"type": "AdamW", "params": {"betas": [0.9, "x"]}}})"}}},
      {"ds_lr_overflow",
       ds_train,
       "ds.json",
       {{"ds.json", R"({"optimizer": {"type": "AdamW", "params": {"lr": 1e999}}})"}}},
      // claims (validate)
      {"claims_nodes_1e12",
       "validate {D}/claims.json",
       "\"nodes\"",
       {{"claims.json", claims_with("{" + kTokensClaim + R"(, "value": 1000, "nodes": 1e12})")}}},
      {"claims_nodes_negative",
       "validate {D}/claims.json",
       "\"nodes\"",
       {{"claims.json", claims_with("{" + kTokensClaim + R"(, "value": 1000, "nodes": -1})")}}},
      {"claims_value_negative",
       "validate {D}/claims.json",
       "\"value\"",
       {{"claims.json", claims_with("{" + kTokensClaim + R"(, "value": -1000, "nodes": 1})")}}},
      {"claims_value_string",
       "validate {D}/claims.json",
       "\"value\"",
       {{"claims.json", claims_with("{" + kTokensClaim + R"(, "value": "fast", "nodes": 1})")}}},
      {"claims_tokens_per_sample_0",
       "validate {D}/claims.json",
       "\"tokens_per_sample\"",
       {{"claims.json",
         claims_with(R"({"id": "s", "kind": "training_samples_per_s", "model": "tiny",
                        "nodes": 1, "value": 10, "tokens_per_sample": 0})")}}},
      {"claims_value_1e999",
       "validate {D}/claims.json",
       "claims.json",
       {{"claims.json", claims_with("{" + kTokensClaim + R"(, "value": 1e999, "nodes": 1})")}}},
      {"claims_id_null",
       "validate {D}/claims.json",
       "\"id\"",
       {{"claims.json", claims_with(R"({"id": null, "kind": "gpu_utilization_percent",
                                         "value": 50})")}}},
      {"claims_gpus_per_node_0",
       "validate {D}/claims.json",
       "\"gpus_per_node\"",
       {{"claims.json", R"({"cluster": {"gpus_per_node": 0}, "claims": []})"}}},
  };
  return rows;
}

class BadInputCorpus : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputCorpus, RefusedInOneLineNamingItWithNoFileTouched) {
  const BadInput& row = GetParam();
  const fs::path dir = sxb::e2e::scratch_dir("bad_" + row.name);
  for (const auto& [rel, content] : row.files) {
    if (!rel.empty() && rel.back() == '/') {
      fs::create_directories(dir / rel);
      continue;
    }
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel, std::ios::binary) << content;
  }
  const auto before = snapshot(dir);
  const fs::path out = dir.string() + ".stdout", err = dir.string() + ".stderr";
  // cwd and RESULTS_DIR inside the row's directory: a default output would show up there.
  const std::string cmd =
      "(cd " + dir.string() +
      " && env -u SEQ_LEN -u GPUS_PER_NODE RESULTS_DIR=" + (dir / "results").string() + " " +
      row.environment + " " + sxb::e2e::sxbench(expand(row.args, dir)) + " >" + out.string() +
      " 2>" + err.string() + ")";
  const auto r = sxb::e2e::run_command(cmd);
  const std::string stderr_text = slurp(err);
  EXPECT_EQ(r.exit_code, 2) << cmd << "\n" << stderr_text << slurp(out);
  EXPECT_EQ(sxb::e2e::count_lines(stderr_text), 1) << stderr_text;
  EXPECT_EQ(stderr_text.rfind("sxbench: error: ", 0), 0u) << stderr_text;
  EXPECT_NE(stderr_text.find(expand(row.names, dir)), std::string::npos)
      << "message does not name '" << row.names << "': " << stderr_text;
  if (!row.hidden.empty()) {
    EXPECT_EQ(stderr_text.find(row.hidden), std::string::npos) << stderr_text;
    EXPECT_EQ(slurp(out).find(row.hidden), std::string::npos);
  }
  const auto after = snapshot(dir);
  std::string changed;
  for (const auto& [path, content] : after) {
    auto it = before.find(path);
    if (it == before.end())
      changed += " created:" + path;
    else if (it->second != content)
      changed += " changed:" + path;
  }
  for (const auto& [path, content] : before) {
    if (!after.count(path)) changed += " removed:" + path;
  }
  EXPECT_TRUE(changed.empty()) << "files under " << dir << ":" << changed;
  fs::remove_all(dir);
  fs::remove(out);
  fs::remove(err);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInputCorpus, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return info.param.name;
                         });

// Recorded command lines follow the secrets rule: the monitored command's arguments and
// sxbench's own command line, as gpu_metrics_summary.json stores them.
TEST(SecretsE2E, MonitorRecordsTheCommandLineRedacted) {
  const fs::path dir = sxb::e2e::scratch_dir("secret_monitor");
  const auto r = sxb::e2e::run_command(sxb::e2e::sxbench(
      "monitor --interval 0.05 --out " + (dir / "m.csv").string() +
      " -- env HF_TOKEN=hf_monitorSecret1 sh -c true --api-key hf_monitorSecret2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string summary = slurp(dir / "gpu_metrics_summary.json");
  ASSERT_FALSE(summary.empty());
  EXPECT_EQ(summary.find("monitorSecret"), std::string::npos) << summary;
  EXPECT_NE(summary.find("HF_TOKEN=<redacted>"), std::string::npos) << summary;
  EXPECT_NE(summary.find("--api-key"), std::string::npos) << summary;
  EXPECT_EQ(r.output.find("monitorSecret"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
