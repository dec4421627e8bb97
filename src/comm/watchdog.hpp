#pragma once
// A deadline for blocking work that may never return (a collective whose peer died, a hung
// fabric). When an armed deadline passes, the watchdog prints one line naming this rank, its
// host and the work, and ends the process with ExitCode::runtime; the launcher (mpirun/srun)
// then stops the other ranks. Results already written stay on disk (files are written whole).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace sxb {

class Watchdog {
 public:
  Watchdog(int rank, std::string host);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(double seconds, std::string what);
  void disarm();

 private:
  void loop();
  int rank_;
  std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  double seconds_ = 0;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

// Arms a watchdog for the lifetime of a scope.
class WatchdogScope {
 public:
  WatchdogScope(Watchdog& w, double seconds, std::string what) : w_(w) {
    w_.arm(seconds, std::move(what));
  }
  ~WatchdogScope() { w_.disarm(); }

 private:
  Watchdog& w_;
};

}  // namespace sxb
