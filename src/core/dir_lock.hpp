#pragma once
// One writer per output directory. A command that writes into a directory (run, train, nccl,
// monitor) holds an exclusive flock(2) on <dir>/.sxbench.lock for as long as it writes; a second
// writer is refused at once with one line naming the holder. The kernel drops the lock when the
// holder ends, however it ends, so a crashed run never leaves a directory locked; the file stays
// behind (empty of meaning without the lock) and is reused by the next writer.
#include <filesystem>
#include <string>

namespace sxb {

inline constexpr const char* kDirLockName = ".sxbench.lock";

class DirectoryLock {
 public:
  DirectoryLock() = default;
  // Locks `dir` (which must exist) for `command`; throws sxb::Error (usage) naming the directory
  // and the holder's pid and command when another process holds it, runtime when the lock file
  // cannot be opened.
  DirectoryLock(const std::filesystem::path& dir, const std::string& command);
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&& o) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace sxb
