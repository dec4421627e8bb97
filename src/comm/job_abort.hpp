#pragma once
// The one failure path of every command that runs under MPI (nccl, run, train): whatever goes
// wrong on whichever rank (an exception of any type, an I/O error, bad input only one rank sees,
// a watchdog deadline, a terminating signal) ends every rank of the job, and rank 0 records the
// real cause, naming the rank and host where it happened, before the job ends.
//
//   rank R fails   -> prints "sxbench: error: rank R on host H: <cause>"
//                  -> R = 0: runs the failure hooks itself; R > 0: sends the line to rank 0,
//                     whose listener runs the hooks and confirms (bounded wait)
//                  -> MPI_Abort: the launcher ends every rank with the error's exit code.
//
// Failure hooks are how commands record a failure: run.json's status and error, the partial
// sft_metrics.json of an interrupted training. They run once per process (the first failure is
// the cause; later ones, such as the SIGTERM the launcher sends after MPI_Abort, find it
// recorded), and never on a rank that has nothing to record.
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "comm/mpi_context.hpp"
#include "core/error.hpp"

namespace sxb {

// An error every rank of the job knows about, so each rank ends on its own without aborting the
// job: rank 0 carries the message and exit code and reports it; the other ranks carry
// ExitCode::ok and end quietly (commands return 0 for it; the launcher's exit status is rank
// 0's).
class JobWideError : public Error {
 public:
  using Error::Error;
};

// Runs `work` on rank 0 while the other ranks wait, and makes its outcome every rank's: what
// work throws becomes a JobWideError (see above). For rank-0-only set-up before the job's
// collective work: creating the output directory and locking it.
void on_root_then_agree(const MpiContext& mpi, const std::function<void()>& work);

// Ends the job as described above. Never returns.
[[noreturn]] void fail_job(const MpiContext& mpi, const std::string& cause, ExitCode code);

// For a command's catch (...) around its multi-rank work, then rethrow. Errors of class ok (a
// refusal rank 0 reports) and failure (a verdict every rank reaches through the same collectives)
// return at once, and so does a JobWideError (after the hooks on rank 0); in a one-rank job the hooks run and the function returns, so the CLI prints the
// one-line error; otherwise fail_job.
void handle_job_exception(const MpiContext& mpi, std::exception_ptr error);

// A command's multi-rank work: returns body()'s exit code; an sxb::Error of class ok (another
// rank reports it) returns 0; anything else goes through handle_job_exception and is rethrown.
int run_as_job(const MpiContext& mpi, const std::function<int()>& body);

// One line and an exit code for any exception: sxb::Error keeps its own; filesystem errors and
// other I/O errors are runtime errors; std::bad_alloc says the memory ran out.
std::pair<std::string, ExitCode> describe_exception(std::exception_ptr error);

// Registers a failure hook for the lifetime of the object. The hook gets the failure line
// ("rank R on host H: <cause>") and may run on any thread; exceptions it throws are reported and
// ignored. Unregistering waits for a hook that is running.
class FailureHook {
 public:
  explicit FailureHook(std::function<void(const std::string& line)> hook);
  ~FailureHook();
  FailureHook(const FailureHook&) = delete;
  FailureHook& operator=(const FailureHook&) = delete;

 private:
  int id_;
};

// Runs every registered hook, newest first, once per process; a second call waits until the
// first has finished and returns. True for the call that ran them.
bool run_failure_hooks(const std::string& line);

// What the signal thread of MpiContext does with SIGTERM, SIGINT or SIGHUP: records "terminated
// by signal N" (naming ranks of this host that are gone or stopped) through the hooks, prints it
// and ends the process with 128 + N.
[[noreturn]] void end_on_termination_signal(const MpiContext& mpi, int sig);

}  // namespace sxb
