#pragma once
// A deadline for blocking work that may never return (a collective whose peer died or was
// stopped, a hung fabric, a training step that never ends). When an armed deadline passes, the
// watchdog hands one line naming the work and the limit to its expiry action: for the job's
// watchdog (MpiContext::watchdog) that is fail_job (comm/job_abort.hpp), which records the
// failure on rank 0 and ends every rank. Deadlines nest: an inner scope (one MPI collective) may
// be armed inside an outer one (one collective size of a sweep); the earliest deadline counts.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sxb {

class Watchdog {
 public:
  // on_expire gets "<what> did not finish within <S> s (timeout)" and must not return; when it
  // does, the process ends with ExitCode::runtime.
  explicit Watchdog(std::function<void(const std::string& cause)> on_expire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Pushes a deadline `seconds` from now; seconds <= 0 pushes none (the matching disarm still
  // pops nothing). Pairs with disarm in LIFO order (WatchdogScope keeps the pairing).
  void arm(double seconds, std::string what);
  void disarm();

 private:
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    double seconds;
    std::string what;
    bool active;
  };
  void loop();
  std::function<void(const std::string&)> on_expire_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<Deadline> stack_;
  // What the thread waits for: arming a later deadline or disarming need not wake it (it
  // re-checks when its wait ends), which keeps a deadline per collective cheap.
  std::chrono::steady_clock::time_point waiting_until_ = std::chrono::steady_clock::time_point::max();
  std::thread thread_;
};

// Arms a watchdog for the lifetime of a scope; a null watchdog or seconds <= 0 arms nothing.
class WatchdogScope {
 public:
  WatchdogScope(Watchdog& w, double seconds, std::string what) : w_(&w) {
    w_->arm(seconds, std::move(what));
  }
  WatchdogScope(Watchdog* w, double seconds, std::string what) : w_(w) {
    if (w_) w_->arm(seconds, std::move(what));
  }
  ~WatchdogScope() {
    if (w_) w_->disarm();
  }
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;

 private:
  Watchdog* w_;
};

}  // namespace sxb
