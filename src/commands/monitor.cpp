// `sxbench monitor [--interval S] [--out FILE] [--require-gpu] -- CMD ARGS...`: runs CMD,
// samples every GPU (and the host) until CMD exits, writes gpu_metrics.csv and
// gpu_metrics_summary.json beside it, and exits with CMD's exit status.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "monitor/sampler.hpp"

namespace sxb {

namespace {

struct MonitorOptions {
  std::optional<double> interval_s;  // absent: METRICS_INTERVAL
  std::string out;        // empty: RESULTS_DIR/monitor_<stamp>/gpu_metrics.csv
  bool require_gpu = false;
  std::vector<std::string> command;
};

std::atomic<pid_t> g_child{0};
std::atomic<int> g_pending_signal{0};  // arrived before CMD existed; sent once it does
constexpr int kForwarded[] = {SIGINT, SIGTERM};

// A signal that another process sent to the monitor (kill, a batch scheduler) is passed on to
// CMD. A terminal's Ctrl-C (si_code SI_KERNEL) already reached CMD, which shares the foreground
// process group, so it is not sent twice. The monitor itself keeps running until CMD exits, so
// the CSV and summary cover the whole run and its exit status is CMD's.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  const pid_t child = g_child.load();
  if (child <= 0) {
    g_pending_signal.store(sig);
    return;
  }
  ::kill(child, sig);
}

class SignalForwarding {
 public:
  SignalForwarding() {
    struct sigaction sa {};
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kForwarded); ++i) {
      ::sigaction(kForwarded[i], &sa, &saved_[i]);
    }
  }
  ~SignalForwarding() {
    for (size_t i = 0; i < std::size(kForwarded); ++i) {
      ::sigaction(kForwarded[i], &saved_[i], nullptr);
    }
  }

 private:
  struct sigaction saved_[std::size(kForwarded)]{};
};

// Forks and execs the command. Returns the child's pid, or throws when exec fails (the child
// reports errno through a close-on-exec pipe, which closes silently when exec succeeds).
pid_t spawn(const std::vector<std::string>& command, const sigset_t& child_mask) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw runtime_error(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw runtime_error(fmt::format("cannot fork: {}", std::strerror(e)));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only until exec.
    ::close(pipe_fds[0]);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : kForwarded) ::sigaction(sig, &dfl, nullptr);
    ::sigprocmask(SIG_SETMASK, &child_mask, nullptr);
    ::execvp(argv[0], argv.data());
    const int e = errno;
    ssize_t ignored = ::write(pipe_fds[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(pipe_fds[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(pipe_fds[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw usage_error(fmt::format("cannot run '{}': {}", command[0], std::strerror(child_errno)));
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);  // the shell's convention
  return 1;
}

int run_monitor(const MonitorOptions& o, const CommandContext& ctx) {
  if (o.command.empty()) {
    throw usage_error("no command to monitor: give it after '--' (sxbench monitor -- CMD ARGS...)");
  }
  const double interval_s = o.interval_s ? *o.interval_s : metrics_interval_s(ctx.env);
  if (o.interval_s) check_metrics_interval(*o.interval_s, "--interval");

  std::filesystem::path csv_path;
  if (o.out.empty()) {
    csv_path = create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                       ("monitor_" + utc_compact_now())) /
               "gpu_metrics.csv";
  } else {
    csv_path = o.out;
  }
  const std::filesystem::path out_dir =
      csv_path.has_parent_path() ? csv_path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path summary_path = out_dir / "gpu_metrics_summary.json";
  // One writer per directory: a second monitor (or a run, train, nccl) writing here is refused
  // before the CSV is truncated.
  std::filesystem::create_directories(out_dir);
  const DirectoryLock out_lock(out_dir, "monitor");

  SamplerOptions so;
  so.interval_s = interval_s;
  so.csv_path = csv_path;
  so.require_gpu = o.require_gpu;
  MetricsSampler sampler(so);
  if (!sampler.has_gpu()) {
    std::fprintf(stderr, "sxbench: note: no GPU metrics (%s); recording host CPU and memory only\n",
                 sampler.gpu_note().c_str());
  }

  // The sampling thread must not take the forwarded signals: block them in every thread except
  // this one while it starts, and give CMD the signal mask this process started with.
  sigset_t forwarded, original;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  ::pthread_sigmask(SIG_BLOCK, &forwarded, &original);
  SignalForwarding forwarding;
  try {
    sampler.start();
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &original, nullptr);
    throw;
  }
  pid_t pid = 0;
  int exit_code = 0;
  std::string spawn_error;
  try {
    pid = spawn(o.command, original);
    g_child.store(pid);
    if (const int sig = g_pending_signal.exchange(0); sig != 0) ::kill(pid, sig);
  } catch (const Error& e) {
    spawn_error = e.what();
  }
  ::pthread_sigmask(SIG_SETMASK, &original, nullptr);
  if (pid > 0) exit_code = wait_for(pid);
  g_child.store(0);

  MetricsSummary summary = sampler.stop();
  summary.extra = {{"command", redact_command_line(o.command)},
                   {"command_exit_code",
                    spawn_error.empty() ? nlohmann::json(exit_code) : nlohmann::json(nullptr)},
                   {"csv", csv_path.filename().string()},
                   {"argv", ctx.argv}};
  write_json_atomic(summary_path, summary.to_json());
  if (!spawn_error.empty()) throw usage_error(spawn_error);
  std::fprintf(stderr, "sxbench: monitor: %zu samples of %zu GPU(s) in %s\n", summary.samples,
               summary.gpus.size(), csv_path.string().c_str());
  return exit_code;
}

}  // namespace

Command add_monitor_command(CLI::App& root) {
  auto opts = std::make_shared<MonitorOptions>();
  CLI::App* app = root.add_subcommand(
      "monitor",
      "Run a command while sampling every GPU through NVML (and host CPU/memory); write "
      "gpu_metrics.csv and gpu_metrics_summary.json; exit with the command's status");
  app->add_option("--interval", opts->interval_s,
                  "Seconds between samples, fractions allowed, 0.01 to 3600 (default: "
                  "METRICS_INTERVAL)")
      ->check(number_in(0.01, 3600));
  app->add_option("--out", opts->out,
                  "CSV path; the summary goes beside it (default: "
                  "RESULTS_DIR/monitor_<time>/gpu_metrics.csv)");
  app->add_flag("--require-gpu", opts->require_gpu,
                "Fail (exit 4) instead of recording host metrics only when no GPU answers");
  app->add_option("command", opts->command, "The command and its arguments, after '--'");
  return {app, [opts](const CommandContext& ctx) { return run_monitor(*opts, ctx); }};
}

}  // namespace sxb
