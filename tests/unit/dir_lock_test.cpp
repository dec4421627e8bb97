// One writer per output directory (DirectoryLock) and files that belong together moved into
// place together (StagedOutput).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <string>

#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("sxb_dirlock_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(DirectoryLock, ASecondWriterIsRefusedNamingTheFirst) {
  const fs::path d = fresh_dir("refuse");
  const DirectoryLock first(d, "run");
  try {
    const DirectoryLock second(d, "nccl");  // a second open file description: refused
    FAIL() << "two writers held one directory";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_EQ(what.find('\n'), std::string::npos);
    EXPECT_NE(what.find(d.string() + " is in use by another sxbench (pid " +
                        std::to_string(::getpid()) + ": run)"),
              std::string::npos)
        << what;
  }
  fs::remove_all(d);
}

TEST(DirectoryLock, ReleasedWhenItsHolderEnds) {
  const fs::path d = fresh_dir("release");
  { const DirectoryLock first(d, "run"); }
  DirectoryLock again(d, "run");
  EXPECT_TRUE(again.held());
  DirectoryLock moved = std::move(again);
  EXPECT_TRUE(moved.held());
  EXPECT_FALSE(again.held());  // NOLINT(bugprone-use-after-move): the moved-from state is empty
  fs::remove_all(d);
}

TEST(DirectoryLock, AnUnusableDirectoryIsARuntimeError) {
  try {
    const DirectoryLock lock("/proc/sxb_no_such_dir", "run");
    FAIL() << "locked a directory that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::runtime);
    EXPECT_NE(std::string(e.what()).find("cannot lock output directory"), std::string::npos);
  }
}

TEST(StagedOutput, CommitMovesFilesAndReplacesDirectoriesWhole) {
  const fs::path out = fresh_dir("commit");
  write_file_atomic(out / "report.md", "old report\n");
  write_file_atomic(out / "charts" / "old_chart.png", "old chart");
  write_file_atomic(out / "unrelated.md", "not the report's\n");
  {
    StagedOutput staged(out, "report");
    EXPECT_EQ(staged.dir().parent_path(), out);
    write_file_atomic(staged.dir() / "report.md", "new report\n");
    write_file_atomic(staged.dir() / "charts" / "new_chart.png", "new chart");
    // Nothing is visible before the commit.
    EXPECT_EQ(read_file(out / "report.md"), "old report\n");
    const auto placed = staged.commit();
    ASSERT_EQ(placed.size(), 2u);
    EXPECT_EQ(placed[0], out / "charts");
    EXPECT_EQ(placed[1], out / "report.md");
  }
  EXPECT_EQ(read_file(out / "report.md"), "new report\n");
  EXPECT_EQ(read_file(out / "charts" / "new_chart.png"), "new chart");
  EXPECT_FALSE(fs::exists(out / "charts" / "old_chart.png"));  // the old set went as a whole
  EXPECT_EQ(read_file(out / "unrelated.md"), "not the report's\n");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(out)) entries += e.path().filename() != kDirLockName;
  EXPECT_EQ(entries, 3);  // no staging directory left behind
  fs::remove_all(out);
}

TEST(StagedOutput, AWriterThatFailsBeforeCommitLeavesThePreviousSetWhole) {
  const fs::path out = fresh_dir("abandon");
  write_file_atomic(out / "plan.json", "{}\n");
  fs::path staging;
  {
    StagedOutput staged(out, "plan");
    staging = staged.dir();
    write_file_atomic(staged.dir() / "plan.json", "{\"new\": true}\n");
    // ... the writer fails here: no commit
  }
  EXPECT_EQ(read_file(out / "plan.json"), "{}\n");
  EXPECT_FALSE(fs::exists(staging));
  fs::remove_all(out);
}

TEST(DirectoryLock, WaitsForAHolderThatFinishes) {
  const fs::path d = fresh_dir("wait");
  auto first = std::make_unique<DirectoryLock>(d, "report");
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first.reset();
  });
  // Waits (up to 30 s) instead of refusing, and gets the lock once the first holder is done.
  const DirectoryLock second(d, "report", 30);
  EXPECT_TRUE(second.held());
  release.join();
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb
