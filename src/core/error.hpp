#pragma once
// Errors a user can act on. what() is a single line that names the problem; the CLI prints it
// as "sxbench: error: <what>" and exits with exit_code().
#include <stdexcept>
#include <string>

namespace sxb {

enum class ExitCode : int {
  ok = 0,
  failure = 1,      // the measured thing failed (wrong results, failed check)
  usage = 2,        // bad flag, bad .env, bad JSON, unknown name
  runtime = 3,      // a peer stopped answering, NCCL/MPI/CUDA error, timeout
  environment = 4,  // the machine lacks what was asked for (no GPU, too few GPUs)
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ExitCode code = ExitCode::usage);
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// Convenience constructors that say which class of failure this is.
inline Error usage_error(const std::string& m) { return Error(m, ExitCode::usage); }
inline Error runtime_error(const std::string& m) { return Error(m, ExitCode::runtime); }
inline Error environment_error(const std::string& m) { return Error(m, ExitCode::environment); }

}  // namespace sxb
