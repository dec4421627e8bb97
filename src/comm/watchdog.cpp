#include "comm/watchdog.hpp"

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

#include "core/error.hpp"

namespace sxb {

Watchdog::Watchdog(int rank, std::string host) : rank_(rank), host_(std::move(host)) {
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    seconds_ = seconds;
    what_ = std::move(what);
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(seconds));
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }
  cv_.notify_all();
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ && !stop_ &&
        std::chrono::steady_clock::now() >= deadline_) {
      const std::string line = fmt::format(
          "sxbench: error: rank {} on host {}: {} did not finish within {:g} s (timeout); a peer "
          "rank stopped answering or the fabric hung\n",
          rank_, host_, what_, seconds_);
      std::fputs(line.c_str(), stderr);
      std::fflush(stderr);
      std::fflush(stdout);
      std::_Exit(static_cast<int>(ExitCode::runtime));
    }
  }
}

}  // namespace sxb
