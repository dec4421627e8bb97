#include "comm/mpi_context.hpp"

#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <thread>

#include "comm/job_abort.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"

namespace sxb {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw runtime_error(fmt::format("MPI {} failed: {}", what, std::string(msg, len)));
  }
}

// Read before MPI_Init: a singleton MPI start sets PMIx variables of its own.
std::string detect_launcher() {
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (std::getenv("SLURM_STEP_ID") || std::getenv("SLURM_PROCID")) return "srun";
  if (std::getenv("PMI_RANK") || std::getenv("PMIX_RANK")) return "pmi";
  return "singleton";
}

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// The context the signal thread reports through; cleared when it is destroyed, so a signal that
// arrives while the process exits ends it without touching a destroyed context.
std::atomic<const MpiContext*> g_signal_context{nullptr};

constexpr int kFailureTag = 1;
constexpr int kAckTag = 2;
constexpr int kMaxFailureLine = 8192;
constexpr auto kPoll = std::chrono::milliseconds(10);
}  // namespace

// Rank 0's listener for failures reported by other ranks, on a communicator of its own so that
// it never matches the job's messages.
struct MpiContext::FailureListener {
  MPI_Comm comm = MPI_COMM_NULL;
  std::atomic<bool> stop{false};
  std::thread thread;
};

MpiContext::MpiContext(int* argc, char*** argv) : launcher_(detect_launcher()) {
  // Every thread started from here on (MPI's own included) inherits the mask; the signal thread
  // below is the one place these signals are handled.
  const sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A launcher that is going away closes the pipes of the ranks' output first: a rank printing a
  // step line then must get EPIPE, not die of SIGPIPE before its failure hooks have recorded
  // what it measured.
  ::signal(SIGPIPE, SIG_IGN);
  int provided = 0;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "init");
  } else {
    MPI_Query_thread(&provided);
  }
  multiple_ = provided >= MPI_THREAD_MULTIPLE;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
        "comm_split_type");
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  hosts_ = all_gather(name);
  // Test-only (SXB_FAKE_HOSTS): each rank's host name given by rank, comma-separated, so one
  // machine can stand for several nodes in tests of per-node logic. Ranks keep their real local
  // rank and devices.
  if (const auto fake = environment_knob("SXB_FAKE_HOSTS")) {
    std::vector<std::string> names;
    size_t start = 0;
    for (;;) {
      const size_t comma = fake->find(',', start);
      names.push_back(fake->substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (const auto& n : names) {
      if (n.empty()) throw usage_error("SXB_FAKE_HOSTS: an empty host name");
    }
    if (names.size() != static_cast<size_t>(world_)) {
      throw usage_error(fmt::format("SXB_FAKE_HOSTS names {} host(s) for {} rank(s)", names.size(),
                                    world_));
    }
    hosts_ = names;
  }
  for (const auto& p : all_gather(std::to_string(::getpid()))) pids_.push_back(std::stol(p));
  node_count_ = static_cast<int>(std::set<std::string>(hosts_.begin(), hosts_.end()).size());

  watchdog_ = std::make_unique<Watchdog>([this](const std::string& expired) {
    const auto peers = unresponsive_local_peers();
    std::string cause = expired + "; ";
    if (!peers.empty()) {
      for (size_t i = 0; i < peers.size(); ++i) cause += (i ? ", " : "") + peers[i];
    } else {
      cause += world_ > 1 ? "a peer rank stopped answering or the fabric hung"
                          : "the work stopped making progress";
    }
    fail_job(*this, cause, ExitCode::runtime);
  });

  g_signal_context = this;
  std::thread([signals] {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) return;
    if (const MpiContext* mpi = g_signal_context.load()) end_on_termination_signal(*mpi, sig);
    std::_Exit(128 + sig);
  }).detach();

  listener_ = std::make_unique<FailureListener>();
  if (world_ > 1 && multiple_) {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &listener_->comm), "comm_dup");
    if (rank_ == 0) {
      listener_->thread = std::thread([this] {
        std::string buf(kMaxFailureLine + 16, '\0');
        MPI_Request req;
        MPI_Irecv(buf.data(), static_cast<int>(buf.size()), MPI_CHAR, MPI_ANY_SOURCE, kFailureTag,
                  listener_->comm, &req);
        while (!listener_->stop.load()) {
          int done = 0;
          MPI_Status st;
          MPI_Test(&req, &done, &st);
          if (!done) {
            std::this_thread::sleep_for(kPoll);
            continue;
          }
          int n = 0;
          MPI_Get_count(&st, MPI_CHAR, &n);
          const std::string msg = buf.substr(0, static_cast<size_t>(n));
          // "<exit code>\n<line>"
          const auto nl = msg.find('\n');
          const int code = nl == std::string::npos ? 3 : std::atoi(msg.substr(0, nl).c_str());
          const std::string line = nl == std::string::npos ? msg : msg.substr(nl + 1);
          run_failure_hooks(line);
          int recorded = 1;
          MPI_Send(&recorded, 1, MPI_INT, st.MPI_SOURCE, kAckTag, listener_->comm);
          // The reporting rank now ends the job; should its MPI_Abort never come, end it here.
          for (int i = 0; i < 1000 && !listener_->stop.load(); ++i) std::this_thread::sleep_for(kPoll);
          if (!listener_->stop.load()) abort(code > 0 ? code : 3);
          return;
        }
        MPI_Cancel(&req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
      });
    }
  }
}

MpiContext::~MpiContext() {
  g_signal_context = nullptr;
  if (listener_) {
    listener_->stop = true;
    if (listener_->thread.joinable()) listener_->thread.join();
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    if (listener_ && listener_->comm != MPI_COMM_NULL) MPI_Comm_free(&listener_->comm);
    MPI_Finalize();
  }
}

bool MpiContext::report_failure_to_root(const std::string& line, int code, double wait_s) const {
  if (!listener_ || listener_->comm == MPI_COMM_NULL || rank_ == 0) return false;
  std::string msg = fmt::format("{}\n{}", code, line);
  if (msg.size() > kMaxFailureLine) msg.resize(kMaxFailureLine);
  MPI_Request send = MPI_REQUEST_NULL, ack = MPI_REQUEST_NULL;
  int recorded = 0;
  if (MPI_Isend(msg.data(), static_cast<int>(msg.size()), MPI_CHAR, 0, kFailureTag,
                listener_->comm, &send) != MPI_SUCCESS) {
    return false;
  }
  if (MPI_Irecv(&recorded, 1, MPI_INT, 0, kAckTag, listener_->comm, &ack) != MPI_SUCCESS) {
    return false;
  }
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(wait_s));
  while (std::chrono::steady_clock::now() < until) {
    int done = 0;
    MPI_Test(&ack, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    std::this_thread::sleep_for(kPoll);
  }
  return false;  // the requests stay pending: the job is about to be aborted
}

std::vector<std::string> MpiContext::unresponsive_local_peers() const {
  std::vector<std::string> out;
  for (int r = 0; r < world_ && r < static_cast<int>(pids_.size()); ++r) {
    if (r == rank_ || hosts_[r] != host()) continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pids_[r]));
    std::string state;
    if (stat) {
      // pid (comm) state ...: comm may hold spaces, so the state follows the last ')'.
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      const auto close = text.rfind(')');
      if (close != std::string::npos && close + 2 < text.size()) state = text.substr(close + 2, 1);
    }
    const char* what = state.empty() || state == "X" ? "has exited"
                       : state == "Z"                ? "has exited (zombie)"
                       : state == "T" || state == "t" ? "is stopped (SIGSTOP or a debugger)"
                                                      : nullptr;
    if (what) out.push_back(fmt::format("rank {} on host {} (pid {}) {}", r, hosts_[r], pids_[r], what));
  }
  return out;
}

std::string MpiContext::library_version() const {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, len);
  if (auto nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
  if (auto comma = s.find(", package"); comma != std::string::npos) s.resize(comma);
  return s;
}

void MpiContext::barrier() const {
  const auto g = guard("MPI barrier");
  check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

void MpiContext::quiet_barrier() const {
  const auto g = guard("MPI barrier");
  MPI_Request req = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "ibarrier");
  for (;;) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

double MpiContext::max(double v) const {
  const auto g = guard("MPI all_reduce (max)");
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "allreduce");
  return out;
}
double MpiContext::min(double v) const {
  const auto g = guard("MPI all_reduce (min)");
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD), "allreduce");
  return out;
}
double MpiContext::sum(double v) const {
  const auto g = guard("MPI all_reduce (sum)");
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return out;
}
int64_t MpiContext::sum(int64_t v) const {
  const auto g = guard("MPI all_reduce (sum)");
  int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return out;
}

std::vector<double> MpiContext::gather_to_root(double v) const {
  const auto g = guard("MPI gather");
  std::vector<double> all(rank_ == 0 ? world_ : 0);
  check(MPI_Gather(&v, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD), "gather");
  return all;
}

std::vector<std::string> MpiContext::all_gather(const std::string& s) const {
  const auto g = guard("MPI all_gather");
  int len = static_cast<int>(s.size());
  std::vector<int> lens(world_);
  check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "allgather");
  std::vector<int> displs(world_, 0);
  int total = 0;
  for (int r = 0; r < world_; ++r) {
    displs[r] = total;
    total += lens[r];
  }
  std::string buf(static_cast<size_t>(total), '\0');
  check(MPI_Allgatherv(s.data(), len, MPI_CHAR, buf.data(), lens.data(), displs.data(), MPI_CHAR,
                       MPI_COMM_WORLD),
        "allgatherv");
  std::vector<std::string> out(world_);
  for (int r = 0; r < world_; ++r) out[r] = buf.substr(displs[r], lens[r]);
  return out;
}

void MpiContext::broadcast(void* data, size_t bytes, int root) const {
  const auto g = guard("MPI broadcast");
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
}

void MpiContext::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace sxb
