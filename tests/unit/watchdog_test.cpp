// The job's watchdog: nested deadlines, the earliest one counts, and what expires is named.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/watchdog.hpp"

namespace sxb {
namespace {

// The expiry action ends the process (as fail_job does); these tests run it in a child.
void report_and_exit(const std::string& cause) {
  std::fprintf(stderr, "expired: %s\n", cause.c_str());
  std::fflush(stderr);
  std::_Exit(7);
}

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(WatchdogTest, AnInnerDeadlineInsideALongerOneExpiresFirstAndIsNamed) {
  EXPECT_EXIT(
      {
        Watchdog w(report_and_exit);
        WatchdogScope outer(w, 600, "collective size");
        WatchdogScope inner(w, 0.05, "MPI all_reduce of 8 bytes");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(7), "expired: MPI all_reduce of 8 bytes did not finish within 0.05 s");
}

TEST_F(WatchdogTest, AnOuterDeadlineStillCountsInsideALongerInnerOne) {
  EXPECT_EXIT(
      {
        Watchdog w(report_and_exit);
        WatchdogScope outer(w, 0.05, "training step 4");
        WatchdogScope inner(w, 600, "MPI barrier");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(7), "expired: training step 4 did not finish within 0.05 s");
}

TEST_F(WatchdogTest, DisarmedAndZeroDeadlinesNeverExpire) {
  bool expired = false;
  {
    Watchdog w([&](const std::string&) { expired = true; });
    { WatchdogScope done(w, 0.01, "finished in time"); }
    WatchdogScope none(w, 0, "no timeout");
    WatchdogScope null_watchdog(static_cast<Watchdog*>(nullptr), 0.01, "no watchdog");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(expired);
}

}  // namespace
}  // namespace sxb
