#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "core/env_config.hpp"
#include "core/error.hpp"

namespace sxb {
namespace {

std::string error_of(std::string_view text) {
  try {
    EnvConfig::from_string(text, ".env");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "";
}

TEST(EnvFile, ParsesCommentsQuotesExportAndInlineComments) {
  const auto cfg = EnvConfig::from_string(
      "# comment\n\nexport SEQ_LEN=2048\nHF_HOME=\"/data/hf cache\"\n"
      "METRICS_INTERVAL=0.5  # seconds\nREPORT_LANG='ja'\nNCCL_IB_HCA=mlx5_0,mlx5_1\n",
      "test.env");
  const auto& e = cfg.file_entries();
  EXPECT_EQ(e.at("SEQ_LEN").value, "2048");
  EXPECT_EQ(e.at("SEQ_LEN").line, 3);
  EXPECT_EQ(e.at("HF_HOME").value, "/data/hf cache");
  EXPECT_EQ(e.at("METRICS_INTERVAL").value, "0.5");
  EXPECT_EQ(e.at("REPORT_LANG").value, "ja");
  EXPECT_EQ(e.at("NCCL_IB_HCA").value, "mlx5_0,mlx5_1");
}

TEST(EnvFile, BadInputNamesFileAndLine) {
  EXPECT_EQ(error_of("SEQ_LEN=1024\nthis is not a setting\n"),
            ".env:2: malformed line: expected KEY=VALUE");
  EXPECT_NE(error_of("FOO_BAR=1\n").find(".env:1: unknown key 'FOO_BAR'"), std::string::npos);
  EXPECT_NE(error_of("SEQ_LEN=abc\n").find(".env:1: SEQ_LEN=abc:"), std::string::npos);
  EXPECT_NE(error_of("\n\nMETRICS_INTERVAL=0.001\n").find(".env:3: METRICS_INTERVAL=0.001: must be"),
            std::string::npos);
  EXPECT_NE(error_of("REPORT_LANG=fr\n").find("expected one of: en, ja"), std::string::npos);
  EXPECT_NE(error_of("HF_HOME=\"/x\n").find(".env:1: unterminated quoted value"), std::string::npos);
  EXPECT_NE(error_of("SEQ_LEN=1024\nSEQ_LEN=2048\n").find(".env:2: SEQ_LEN is set twice (first on line 1)"),
            std::string::npos);
  EXPECT_NE(error_of("1BAD=2\n").find("invalid key name"), std::string::npos);
  // Values are recorded in run.json, which holds UTF-8 only (found by tests/fuzz/fuzz_env: the
  // JSON writer threw on the value instead of the .env reader naming the line).
  EXPECT_EQ(error_of("SEQ_LEN=1024\nRESULTS_DIR=/data/r\xe9sultats\n"),
            ".env:2: the value of RESULTS_DIR is not valid UTF-8 text");
  EXPECT_EQ(error_of("HF_TOKEN=hf_\xff\xfe\n"), ".env:1: the value of HF_TOKEN is not valid UTF-8 text");
  EXPECT_EQ(EnvConfig::from_string("RESULTS_DIR=/data/r\xc3\xa9sultats\n", ".env")
                .get_string("RESULTS_DIR"),
            "/data/r\xc3\xa9sultats");
  for (auto text : {"FOO=1\n", "SEQ_LEN=x\n", "nonsense\n"}) {
    EXPECT_EQ(error_of(text).find('\n'), std::string::npos);
  }
}

TEST(EnvFile, PrecedenceEnvironmentOverFileOverDefault) {
  const auto cfg = EnvConfig::from_string("SEQ_LEN=2048\nREPORT_LANG=ja\n", "p.env");
  ::unsetenv("SEQ_LEN");
  ::unsetenv("REPORT_LANG");
  ::unsetenv("COMM_TIMEOUT");
  EXPECT_EQ(cfg.get_int("SEQ_LEN"), 2048);
  EXPECT_EQ(cfg.source("SEQ_LEN"), "p.env:1");
  ::setenv("SEQ_LEN", "512", 1);
  EXPECT_EQ(cfg.get_int("SEQ_LEN"), 512);
  EXPECT_EQ(cfg.source("SEQ_LEN"), "environment");
  ::unsetenv("SEQ_LEN");
  EXPECT_EQ(cfg.get_number("COMM_TIMEOUT"), 300.0);
  EXPECT_EQ(cfg.source("COMM_TIMEOUT"), "default");
  EXPECT_EQ(cfg.get_int("BATCH_SIZE_PER_GPU"), std::nullopt);
  EXPECT_EQ(cfg.source("BATCH_SIZE_PER_GPU"), "unset");
  const auto empty = EnvConfig::from_string("BATCH_SIZE_PER_GPU=\nSEQ_LEN=\n", "e.env");
  EXPECT_EQ(empty.get_int("BATCH_SIZE_PER_GPU"), std::nullopt);
  EXPECT_EQ(empty.get_int("SEQ_LEN"), 4096);  // empty means "use the default"
}

TEST(EnvFile, BadValueInProcessEnvironmentIsAnError) {
  const EnvConfig cfg;
  ::setenv("COMM_BACKEND", "carrier-pigeon", 1);
  try {
    cfg.get_string("COMM_BACKEND");
    ADD_FAILURE() << "accepted a bad COMM_BACKEND";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("environment: COMM_BACKEND=carrier-pigeon"),
              std::string::npos);
  }
  ::unsetenv("COMM_BACKEND");
}

TEST(EnvFile, NcclKeysPassThroughWithoutOverridingTheEnvironment) {
  ::unsetenv("NCCL_SXB_TEST_A");
  ::setenv("NCCL_SXB_TEST_B", "from-env", 1);
  const auto cfg = EnvConfig::from_string("NCCL_SXB_TEST_A=1\nNCCL_SXB_TEST_B=from-file\n", "x");
  cfg.export_passthrough();
  EXPECT_STREQ(::getenv("NCCL_SXB_TEST_A"), "1");
  EXPECT_STREQ(::getenv("NCCL_SXB_TEST_B"), "from-env");
  ::unsetenv("NCCL_SXB_TEST_A");
  ::unsetenv("NCCL_SXB_TEST_B");
}

TEST(Secrets, RedactedInResolvedConfigAndErrors) {
  EXPECT_TRUE(is_secret_env_key("HF_TOKEN"));
  EXPECT_TRUE(is_secret_env_key("WANDB_API_KEY"));
  EXPECT_TRUE(is_secret_env_key("DB_PASSWORD"));
  EXPECT_TRUE(is_secret_env_key("CLIENT_SECRET"));
  EXPECT_FALSE(is_secret_env_key("SEQ_LEN"));
  ::unsetenv("HF_TOKEN");
  const auto cfg = EnvConfig::from_string("HF_TOKEN=hf_supersecretvalue\n", "s.env");
  const std::string dumped = cfg.resolved_redacted().dump();
  EXPECT_EQ(dumped.find("hf_supersecretvalue"), std::string::npos) << dumped;
  EXPECT_EQ(cfg.resolved_redacted()["HF_TOKEN"]["value"], "<redacted>");
  EXPECT_EQ(redact_env_value("NCCL_IB_KEY", "abc"), "<redacted>");
  EXPECT_EQ(redact_env_value("SEQ_LEN", "abc"), "abc");
}

TEST(Secrets, NoErrorRepeatsASecretsValue) {
  // A line without '=' is named by its first word only: the rest is the token.
  const std::string m1 = error_of("SEQ_LEN=64\nHF_TOKEN hf_abcdefSECRET\n");
  EXPECT_EQ(m1, ".env:2: malformed line (starts with HF_TOKEN): expected KEY=VALUE");
  for (const char* text : {"HF_TOKEN hf_abcdefSECRET\n", "HF_TOKEN:hf_abcdefSECRET\n",
                           "HF_TOKEN hf_abcdefSECRET=x\n", "export HF_TOKEN hf_abcdefSECRET\n",
                           "  WANDB_API_KEY\thf_abcdefSECRET # comment\n",
                           "hf_abcdefSECRET\n", "HF_TOKEN=\"hf_abcdefSECRET\n",
                           "HF_TOKEN='hf_abcdefSECRET' trailing\n"}) {
    const std::string m = error_of(text);
    EXPECT_FALSE(m.empty()) << text;
    EXPECT_EQ(m.find("abcdef"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(Secrets, OneRuleForSettingsAndFlags) {
  for (const char* k : {"TOKEN", "token", "KEY", "SECRET", "PASSWORD", "hf_token", "API_KEY",
                        "aws_secret", "Db_Password"}) {
    EXPECT_TRUE(is_secret_env_key(k)) << k;
  }
  for (const char* k : {"SEQ_LEN", "KEYS", "MONKEY", "TOKENIZER", "PASSWORD_FILE", "SECRETS_DIR",
                        ""}) {
    EXPECT_FALSE(is_secret_env_key(k)) << k;
  }
}

TEST(Secrets, RecordedCommandLinesAreRedacted) {
  const std::vector<std::string> in = {
      "sxbench", "monitor", "--", "env", "HF_TOKEN=hf_abc", "python", "train.py",
      "--hf-token", "hf_def", "--api_key=k123", "--seq-len", "64", "WANDB_API_KEY=", "--token",
      "t456", "--out", "x", "SEQ_LEN=128"};
  const std::vector<std::string> want = {
      "sxbench", "monitor", "--", "env", "HF_TOKEN=<redacted>", "python", "train.py",
      "--hf-token", "<redacted>", "--api_key=<redacted>", "--seq-len", "64", "WANDB_API_KEY=",
      "--token", "<redacted>", "--out", "x", "SEQ_LEN=128"};
  EXPECT_EQ(redact_command_line(in), want);
  // A secret flag at the end has no value to hide.
  EXPECT_EQ(redact_command_line({"a", "--password"}),
            (std::vector<std::string>{"a", "--password"}));
  EXPECT_TRUE(redact_command_line({}).empty());
}

TEST(EnvFileLoad, ExplicitPathMustBeARegularFile) {
  try {
    EnvConfig::load(std::filesystem::temp_directory_path());
    ADD_FAILURE() << "a directory was accepted as --env";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

// SXB_* knobs: registered, validated, read from the process environment and refused in a file.
TEST(EnvKnobs, ReadFromTheProcessEnvironmentOnly) {
  ::setenv("SXB_GEMM_CANDIDATES", "3", 1);
  EXPECT_EQ(environment_knob_int("SXB_GEMM_CANDIDATES"), 3);
  ::setenv("SXB_GEMM_CANDIDATES", "many", 1);
  EXPECT_THROW(environment_knob_int("SXB_GEMM_CANDIDATES"), Error);
  ::setenv("SXB_GEMM_CANDIDATES", "", 1);
  EXPECT_FALSE(environment_knob_int("SXB_GEMM_CANDIDATES").has_value());
  ::unsetenv("SXB_GEMM_CANDIDATES");
  EXPECT_FALSE(environment_knob_int("SXB_GEMM_CANDIDATES").has_value());
  ::setenv("SXB_OVERLAP_OPTIMIZER", "0", 1);
  EXPECT_EQ(environment_knob_bool("SXB_OVERLAP_OPTIMIZER"), false);
  ::unsetenv("SXB_OVERLAP_OPTIMIZER");
  EXPECT_THROW(environment_knob("MODEL_NAME"), Error);  // a setting, not a knob
  EXPECT_THROW(environment_knob("SXB_NO_SUCH_KNOB"), Error);
  EXPECT_NE(error_of("SXB_FAULT_INJECT=hang:1\n").find("process environment only"),
            std::string::npos);
  EXPECT_EQ(error_of("SXB_FAULT_INJECT=\n"), "");
}

// .env.example must list exactly the keys sxbench knows, so users can discover every setting.
TEST(EnvExample, ListsEveryKnownKeyAndParses) {
  std::ifstream in(std::string(SXB_TEST_SOURCE_DIR) + "/.env.example");
  ASSERT_TRUE(in) << "missing .env.example";
  std::stringstream ss;
  ss << in.rdbuf();
  const auto cfg = EnvConfig::from_string(ss.str(), ".env.example");
  std::set<std::string> in_file;
  for (const auto& [k, v] : cfg.file_entries()) {
    if (!is_passthrough_env_key(k)) in_file.insert(k);
  }
  std::set<std::string> known;
  for (const auto& k : known_env_keys()) known.insert(k.name);
  EXPECT_EQ(in_file, known);
  for (const auto& k : known_env_keys()) EXPECT_FALSE(k.description.empty()) << k.name;
}

}  // namespace
}  // namespace sxb
