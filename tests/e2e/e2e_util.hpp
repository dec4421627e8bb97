#pragma once
// Helpers for end-to-end tests that run the sxbench binary as a user would.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sxb::e2e {

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// OpenMPI settings for tests: root allowed (CI runs as root), more ranks than cores, shared
// memory without ptrace-based single copy (often refused in containers), loopback only.
inline void prepare_mpi_environment() {
  static const bool done = [] {
    const char* settings[][2] = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                 {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                 {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
                                 {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"},
                                 {"OMPI_MCA_btl", "self,vader,tcp"},
                                 {"OMPI_MCA_btl_tcp_if_include", "lo"},
                                 {"OMPI_MCA_oob_tcp_if_include", "lo"},
                                 {"NCCL_NVLS_ENABLE", "0"}};
    for (const auto& kv : settings) ::setenv(kv[0], kv[1], 0);
    return true;
  }();
  (void)done;
}

inline RunResult run_command(const std::string& cmd) {
  prepare_mpi_environment();
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The binary under test: the build's, or $SXB_TEST_BINARY (a build copied to another machine,
// where the build tree's absolute path does not exist).
inline std::string binary_path() {
  const char* override_path = std::getenv("SXB_TEST_BINARY");
  return override_path && *override_path ? override_path : SXB_BINARY;
}

inline std::string sxbench(const std::string& args) { return binary_path() + " " + args; }

inline std::string mpirun(int np, const std::string& args) {
  return std::string(SXB_MPIEXEC) + " -np " + std::to_string(np) + " --oversubscribe " +
         binary_path() + " " + args;
}

// A fresh, empty directory under the system temp dir, unique to this test process.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() /
           ("sxb_e2e_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Lines of the output that are not empty.
inline int count_lines(const std::string& s) {
  int n = 0;
  bool in_line = false;
  for (char c : s) {
    if (c == '\n') {
      n += in_line;
      in_line = false;
    } else {
      in_line = true;
    }
  }
  return n + in_line;
}

}  // namespace sxb::e2e
