#pragma once
// One writer per output directory. A command that writes into a directory (run, train, nccl,
// monitor) holds an exclusive flock(2) on <dir>/.sxbench.lock for as long as it writes; a second
// writer is refused at once with one line naming the holder. The kernel drops the lock when the
// holder ends, however it ends, so a crashed run never leaves a directory locked; the file stays
// behind (empty of meaning without the lock) and is reused by the next writer.
#include <filesystem>
#include <string>
#include <vector>

namespace sxb {

inline constexpr const char* kDirLockName = ".sxbench.lock";

class DirectoryLock {
 public:
  DirectoryLock() = default;
  // Locks `dir` (which must exist) for `command`, waiting up to wait_s seconds for another holder
  // to finish (0: not at all); throws sxb::Error (usage) naming the directory and the holder's pid
  // and command when another process still holds it, runtime when the lock file cannot be opened.
  DirectoryLock(const std::filesystem::path& dir, const std::string& command, double wait_s = 0);
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&& o) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Several output files that belong together (a report's documents and charts, a plan's Markdown
// and JSON), written into a staging directory inside `out` and moved into place together under
// out's lock: a reader or a concurrent writer never sees one run's document beside another's
// charts, and a writer that fails part-way leaves the previous set whole.
class StagedOutput {
 public:
  // Creates out (when missing) and the staging directory out/.<command>.tmp.<pid>.
  StagedOutput(std::filesystem::path out, std::string command);
  ~StagedOutput();  // removes the staging directory (and whatever was not committed)
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const std::filesystem::path& dir() const { return staging_; }  // write here
  // Moves every entry of the staging directory into out: files by rename, directories by an
  // atomic exchange with the one already in out (whose old content is then removed). Waits up to
  // a minute for another writer of out to finish. Returns the final paths, in name order.
  std::vector<std::filesystem::path> commit();

 private:
  std::filesystem::path out_, staging_;
  std::string command_;
};

}  // namespace sxb
