// `sxbench monitor` as a user runs it: exit status passthrough, the no-GPU path, signal
// forwarding, and a CSV that stays valid when the monitor is killed outright.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "monitor/metrics_csv.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

size_t fields(const std::string& line) {
  size_t n = 1;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) ++n;
  }
  return n;
}

bool nvml_present() {
  void* h = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) return false;
  ::dlclose(h);
  return true;
}

class MonitorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sxb_monitor_e2e_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts sxbench with args; stdout and stderr go to files in dir_.
  pid_t start(const std::vector<std::string>& args) {
    std::vector<std::string> all = {SXB_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int out = ::open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(err, 2);
      if (::chdir(dir_.c_str()) != 0) ::_exit(125);
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(126);
    }
    return pid;
  }
  // Waits for pid; after timeout_s it is killed, so a monitor that hangs fails the test
  // instead of stalling the suite.
  static int wait_status(pid_t pid, double timeout_s = 30) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > end) {
        ADD_FAILURE() << "sxbench did not exit within " << timeout_s << " s";
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status;
  }
  int run(const std::vector<std::string>& args) {
    const int status = wait_status(start(args));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string err() const { return slurp(dir_ / "stderr"); }
  // Waits until the file exists and has at least `min_lines` lines.
  bool wait_for_lines(const fs::path& p, size_t min_lines, double timeout_s = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      if (fs::exists(p) && lines_of(slurp(p)).size() >= min_lines) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  fs::path dir_;
};

TEST_F(MonitorE2E, ReturnsTheCommandsExitCode) {
  EXPECT_EQ(run({"monitor", "--interval", "0.05", "--out", "m/gpu_metrics.csv", "--", "sh", "-c",
                 "exit 7"}),
            7)
      << err();
  const auto summary = nlohmann::json::parse(slurp(dir_ / "m" / "gpu_metrics_summary.json"));
  EXPECT_EQ(summary["command_exit_code"], 7);
  EXPECT_EQ(summary["command"], nlohmann::json::array({"sh", "-c", "exit 7"}));
  EXPECT_EQ(run({"monitor", "--interval", "0.05", "--out", "m/gpu_metrics.csv", "--", "true"}), 0)
      << err();
}

TEST_F(MonitorE2E, WithoutGpuWritesHostColumnsAndANoteAndExitsZero) {
  if (nvml_present()) GTEST_SKIP() << "an NVIDIA driver is present";
  ASSERT_EQ(
      run({"monitor", "--interval", "0.05", "--out", "gpu_metrics.csv", "--", "sleep", "0.3"}), 0)
      << err();
  const auto err_lines = lines_of(err());
  ASSERT_FALSE(err_lines.empty());
  EXPECT_EQ(err_lines[0].rfind("sxbench: note: no GPU metrics (", 0), 0u) << err();
  const auto lines = lines_of(slurp(dir_ / "gpu_metrics.csv"));
  ASSERT_GE(lines.size(), 4u);  // header + at least 3 samples of 50 ms in 300 ms
  EXPECT_EQ(lines[0] + "\n", sxb::metrics_csv_header());
  const size_t width = sxb::metrics_csv_columns().size();
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(fields(lines[i]), width) << lines[i];
    EXPECT_NE(lines[i].find(",,"), std::string::npos);  // GPU cells empty
  }
  const auto summary = nlohmann::json::parse(slurp(dir_ / "gpu_metrics_summary.json"));
  EXPECT_EQ(summary["gpu_metrics"], false);
  EXPECT_EQ(summary["samples"].get<size_t>(), lines.size() - 1);
  EXPECT_GT(summary["host_metrics"]["mem_used_mib"]["samples"].get<int>(), 0);
}

TEST_F(MonitorE2E, RequireGpuWithoutGpuIsAnError) {
  if (nvml_present()) GTEST_SKIP() << "an NVIDIA driver is present";
  EXPECT_EQ(run({"monitor", "--require-gpu", "--out", "gpu_metrics.csv", "--", "true"}), 4);
  const auto lines = lines_of(err());
  ASSERT_EQ(lines.size(), 1u) << err();
  EXPECT_EQ(lines[0].rfind("sxbench: error: no GPU metrics", 0), 0u) << err();
}

TEST_F(MonitorE2E, BadInputIsAOneLineError) {
  EXPECT_EQ(run({"monitor", "--out", "gpu_metrics.csv"}), 2);
  EXPECT_EQ(lines_of(err()).size(), 1u) << err();
  EXPECT_EQ(run({"monitor", "--interval", "0.001", "--", "true"}), 2);
  EXPECT_NE(err().find("--interval"), std::string::npos) << err();
  EXPECT_EQ(run({"monitor", "--out", "gpu_metrics.csv", "--", "sxb-no-such-command"}), 2);
  EXPECT_NE(err().find("cannot run 'sxb-no-such-command'"), std::string::npos) << err();
}

TEST_F(MonitorE2E, ForwardsSigtermToTheCommand) {
  const fs::path seen = dir_ / "seen";
  const fs::path ready = dir_ / "ready";
  const std::string script = "trap 'echo TERM > " + seen.string() + "; exit 3' TERM; touch " +
                             ready.string() + "; while :; do sleep 0.05; done";
  const pid_t pid = start(
      {"monitor", "--interval", "0.05", "--out", "gpu_metrics.csv", "--", "sh", "-c", script});
  ASSERT_TRUE(wait_for_lines(ready, 0)) << err();
  ASSERT_TRUE(wait_for_lines(dir_ / "gpu_metrics.csv", 2)) << err();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  const int status = wait_status(pid, 10);
  ASSERT_TRUE(WIFEXITED(status)) << "the monitor died of the signal instead of forwarding it";
  EXPECT_EQ(WEXITSTATUS(status), 3) << err();
  EXPECT_EQ(slurp(seen), "TERM\n");
  const auto summary = nlohmann::json::parse(slurp(dir_ / "gpu_metrics_summary.json"));
  EXPECT_EQ(summary["command_exit_code"], 3);
}

TEST_F(MonitorE2E, CommandKilledBySignalGivesShellStatus) {
  EXPECT_EQ(run({"monitor", "--interval", "0.05", "--out", "gpu_metrics.csv", "--", "sh", "-c",
                 "kill -KILL $$"}),
            128 + SIGKILL)
      << err();
}

TEST_F(MonitorE2E, CsvStaysValidWhenTheMonitorIsKilled) {
  const fs::path child_pid = dir_ / "child.pid";
  const pid_t pid = start({"monitor", "--interval", "0.02", "--out", "gpu_metrics.csv", "--", "sh",
                           "-c", "echo $$ > " + child_pid.string() + "; exec sleep 60"});
  ASSERT_TRUE(wait_for_lines(dir_ / "gpu_metrics.csv", 6)) << err();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const int status = wait_status(pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  if (wait_for_lines(child_pid, 1)) {  // the orphaned command is this test's to clean up
    ::kill(std::stoi(slurp(child_pid)), SIGKILL);
  }
  const std::string csv = slurp(dir_ / "gpu_metrics.csv");
  ASSERT_FALSE(csv.empty());
  EXPECT_EQ(csv.back(), '\n') << "a partial row";
  const auto lines = lines_of(csv);
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0] + "\n", sxb::metrics_csv_header());
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(fields(lines[i]), sxb::metrics_csv_columns().size()) << lines[i];
  }
  EXPECT_FALSE(fs::exists(dir_ / "gpu_metrics_summary.json"));
}

}  // namespace
