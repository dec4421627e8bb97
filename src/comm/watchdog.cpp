#include "comm/watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

#include "core/error.hpp"

namespace sxb {

Watchdog::Watchdog(std::function<void(const std::string& cause)> on_expire)
    : on_expire_(std::move(on_expire)) {
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(double seconds, std::string what) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool active = seconds > 0;
    const auto at = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(active ? seconds : 0.0));
    stack_.push_back({at, seconds, std::move(what), active});
    wake = active && at < waiting_until_;
  }
  if (wake) cv_.notify_all();
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!stack_.empty()) stack_.pop_back();
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const Deadline* first = nullptr;
    for (const auto& d : stack_) {
      if (d.active && (!first || d.at < first->at)) first = &d;
    }
    if (!first) {
      waiting_until_ = std::chrono::steady_clock::time_point::max();
      cv_.wait(lock);
      continue;
    }
    waiting_until_ = first->at;
    cv_.wait_until(lock, waiting_until_);
    if (stop_) break;
    // Re-read: the deadline may have been disarmed or replaced while waiting.
    const Deadline* expired = nullptr;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& d : stack_) {
      if (d.active && d.at <= now && (!expired || d.at < expired->at)) expired = &d;
    }
    if (!expired) continue;
    const std::string cause =
        fmt::format("{} did not finish within {:g} s (timeout)", expired->what, expired->seconds);
    lock.unlock();
    on_expire_(cause);
    std::fflush(stdout);
    std::_Exit(static_cast<int>(ExitCode::runtime));
  }
}

}  // namespace sxb
