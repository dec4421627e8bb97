#pragma once
// MPI bootstrap: rank, world size, node-local rank and host names. Works under mpirun (OpenMPI),
// srun (Slurm with PMIx) and as a singleton when started directly. MPI carries bootstrap and
// host-side gathering only; GPU traffic goes through NCCL.
//
// The context is also where a job's failure path starts (comm/job_abort.hpp): it blocks
// SIGTERM/SIGINT/SIGHUP in every thread and handles them on one thread, owns the job's watchdog
// (every blocking MPI call of this class and of the mpi Communicator runs under the timeout set
// with set_timeout), and on rank 0 listens for failures that other ranks report, so the real
// cause of a failure is recorded on rank 0 before the job ends.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/watchdog.hpp"

namespace sxb {

class MpiContext {
 public:
  // Initialises MPI (thread level MULTIPLE when the library offers it, else FUNNELED).
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int node_count() const { return node_count_; }
  const std::string& host() const { return hosts_[rank_]; }
  const std::vector<std::string>& hosts() const { return hosts_; }  // by rank
  const std::vector<long>& pids() const { return pids_; }           // by rank
  const std::string& launcher() const { return launcher_; }  // mpirun, srun, pmi or singleton
  std::string library_version() const;  // MPI_Get_library_version, first line

  void barrier() const;
  // A barrier whose waiting ranks sleep between polls (200 us) instead of spinning: for ranks
  // that take turns measuring on cores they share, so the waiting ones leave the cores free.
  void quiet_barrier() const;
  double max(double v) const;
  double min(double v) const;
  double sum(double v) const;
  int64_t sum(int64_t v) const;
  std::vector<double> gather_to_root(double v) const;  // full vector on rank 0, empty elsewhere
  std::vector<std::string> all_gather(const std::string& s) const;
  void broadcast(void* data, size_t bytes, int root) const;
  // Ends every rank of the job (used after an unrecoverable error on one rank).
  [[noreturn]] void abort(int code) const;

  // The job's watchdog. Every blocking call above and every operation of the mpi Communicator
  // is armed with timeout() (0: none) and named; callers arm wider scopes of their own.
  Watchdog& watchdog() const { return *watchdog_; }
  double timeout() const { return timeout_s_; }
  void set_timeout(double seconds) const { timeout_s_ = seconds; }
  // A deadline scope for one blocking MPI operation named `what`, under timeout().
  WatchdogScope guard(std::string what) const {
    return WatchdogScope(watchdog_.get(), timeout_s_, std::move(what));
  }

  // Whether threads other than the main one may call MPI (thread level MULTIPLE): needed to
  // report a failure from the watchdog or signal thread, and for rank 0's failure listener.
  bool threads_may_call_mpi() const { return multiple_; }
  // Sends a failure line to rank 0's listener and waits up to wait_s for rank 0 to confirm that
  // it recorded it. False when it could not be delivered (rank 0 stopped or gone).
  bool report_failure_to_root(const std::string& line, int code, double wait_s) const;
  // Ranks of this host whose process is stopped, a zombie or gone, in words ("rank 1 on host h
  // (pid 42) is stopped"); the likely reason a collective stopped answering.
  std::vector<std::string> unresponsive_local_peers() const;

 private:
  struct FailureListener;
  std::string launcher_;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_size_ = 1, node_count_ = 1;
  bool multiple_ = false;
  std::vector<std::string> hosts_;
  std::vector<long> pids_;
  mutable double timeout_s_ = 0;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<FailureListener> listener_;
};

// Sets the job's timeout for the lifetime of a scope, then restores the previous one (a phase
// where one rank works alone while the others wait for it needs a wider limit).
class TimeoutScope {
 public:
  TimeoutScope(const MpiContext& mpi, double seconds) : mpi_(mpi), saved_(mpi.timeout()) {
    mpi_.set_timeout(seconds);
  }
  ~TimeoutScope() { mpi_.set_timeout(saved_); }
  TimeoutScope(const TimeoutScope&) = delete;
  TimeoutScope& operator=(const TimeoutScope&) = delete;

 private:
  const MpiContext& mpi_;
  double saved_;
};

}  // namespace sxb
