#include "comm/job_abort.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

namespace sxb {

namespace {

struct HookRegistry {
  std::recursive_mutex mu;  // held while hooks run; a hook may (un)register
  std::map<int, std::function<void(const std::string&)>> hooks;
  int next_id = 0;
  bool ran = false;
};

HookRegistry& registry() {
  static auto* r = new HookRegistry();  // never destroyed: hooks may run while the process exits
  return *r;
}

std::string line_for(const MpiContext& mpi, const std::string& cause) {
  return fmt::format("rank {} on host {}: {}", mpi.rank(), mpi.host(), cause);
}

void print_error(const std::string& line) {
  std::fflush(stdout);
  std::fprintf(stderr, "sxbench: error: %s\n", line.c_str());
  std::fflush(stderr);
}

// How long a failing rank waits for rank 0 to record its failure before ending the job anyway.
constexpr double kReportWait_s = 5.0;

}  // namespace

FailureHook::FailureHook(std::function<void(const std::string& line)> hook) {
  auto& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mu);
  id_ = r.next_id++;
  r.hooks.emplace(id_, std::move(hook));
}

FailureHook::~FailureHook() {
  auto& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mu);
  r.hooks.erase(id_);
}

bool run_failure_hooks(const std::string& line) {
  auto& r = registry();
  std::lock_guard<std::recursive_mutex> lock(r.mu);
  if (r.ran) return false;
  r.ran = true;
  for (auto it = r.hooks.rbegin(); it != r.hooks.rend(); ++it) {
    try {
      it->second(line);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sxbench: error: while recording the failure: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "sxbench: error: while recording the failure: unknown error\n");
    }
  }
  return true;
}

std::pair<std::string, ExitCode> describe_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return {e.what(), e.code()};
  } catch (const std::filesystem::filesystem_error& e) {
    std::string what = e.what();
    if (what.rfind("filesystem error: ", 0) == 0) what = what.substr(18);
    return {what, ExitCode::runtime};
  } catch (const std::bad_alloc&) {
    return {"out of memory (an allocation failed)", ExitCode::environment};
  } catch (const std::system_error& e) {
    return {e.what(), ExitCode::runtime};
  } catch (const std::exception& e) {
    return {e.what(), ExitCode::runtime};
  } catch (...) {
    return {"unknown error (an exception of unknown type)", ExitCode::runtime};
  }
}

void on_root_then_agree(const MpiContext& mpi, const std::function<void()>& work) {
  std::exception_ptr error;
  if (mpi.rank() == 0) {
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
  }
  int failed = error ? 1 : 0;
  if (mpi.world_size() > 1) mpi.broadcast(&failed, sizeof failed, 0);
  if (error) {
    const auto [cause, code] = describe_exception(error);
    throw JobWideError(mpi.world_size() > 1 ? line_for(mpi, cause) : cause, code);
  }
  if (failed) throw JobWideError("", ExitCode::ok);
}

int run_as_job(const MpiContext& mpi, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    if (e.code() == ExitCode::ok) return 0;  // another rank reported
    handle_job_exception(mpi, std::current_exception());
    throw;
  } catch (...) {
    handle_job_exception(mpi, std::current_exception());
    throw;
  }
}

void handle_job_exception(const MpiContext& mpi, std::exception_ptr error) {
  const auto [cause, code] = describe_exception(error);
  if (code == ExitCode::ok || code == ExitCode::failure) return;
  try {
    std::rethrow_exception(error);
  } catch (const JobWideError&) {
    if (mpi.rank() == 0) run_failure_hooks(cause);
    return;
  } catch (...) {
  }
  if (mpi.world_size() <= 1) {
    run_failure_hooks(line_for(mpi, cause));
    return;
  }
  fail_job(mpi, cause, code);
}

void fail_job(const MpiContext& mpi, const std::string& cause, ExitCode code) {
  static std::atomic<bool> failing{false};
  if (failing.exchange(true)) {
    // Another thread of this rank is already ending the job (say the watchdog fired while the
    // main thread reports an error): it finishes; this thread waits to be ended with it.
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const std::string line = line_for(mpi, cause);
  print_error(line);
  const int exit_code = static_cast<int>(code);
  if (mpi.rank() == 0 || mpi.world_size() <= 1) {
    run_failure_hooks(line);
  } else if (mpi.threads_may_call_mpi()) {
    mpi.report_failure_to_root(line, exit_code, kReportWait_s);
  }
  if (mpi.world_size() > 1) mpi.abort(exit_code);
  std::fflush(stdout);
  std::_Exit(exit_code);
}

void end_on_termination_signal(const MpiContext& mpi, int sig) {
  std::string cause = fmt::format("terminated by signal {} ({})", sig, strsignal(sig));
  const auto peers = mpi.unresponsive_local_peers();
  if (!peers.empty()) {
    cause += "; " + fmt::format("{}", fmt::join(peers, ", "));
  } else if (mpi.world_size() > 1) {
    cause += "; another rank or the launcher ended the job (the launcher's output names it)";
  }
  const std::string line = line_for(mpi, cause);
  if (mpi.rank() == 0 || mpi.world_size() <= 1) {
    if (run_failure_hooks(line)) print_error(line);
  } else {
    // The launcher may signal the ranks one by one and end the job once one of them exits: tell
    // rank 0 first, so that what it records (run.json, partial metrics) is on disk before then.
    print_error(line);
    if (mpi.threads_may_call_mpi()) mpi.report_failure_to_root(line, 128 + sig, kReportWait_s);
  }
  std::fflush(stdout);
  std::_Exit(128 + sig);
}

}  // namespace sxb
