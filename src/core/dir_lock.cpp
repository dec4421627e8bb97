#include "core/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <stdio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <cstring>
#include <fmt/format.h>
#include <string>

#include "core/error.hpp"

namespace sxb {

namespace {

std::string read_holder(int fd) {
  char buf[512] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

DirectoryLock::DirectoryLock(const std::filesystem::path& dir, const std::string& command,
                             double wait_s) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(wait_s));
  const std::filesystem::path path = dir / kDirLockName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("cannot lock output directory {}: {}", dir.string(),
                            std::strerror(errno)),
                ExitCode::runtime);
  }
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the holder is finishing
      continue;
    }
    const int e = errno;
    std::string holder = e == EWOULDBLOCK ? read_holder(fd) : std::string();
    ::close(fd);
    if (e != EWOULDBLOCK) {
      throw Error(fmt::format("cannot lock output directory {}: {}", dir.string(),
                              std::strerror(e)),
                  ExitCode::runtime);
    }
    throw usage_error(fmt::format(
        "output directory {} is in use by another sxbench ({}); give this one another --out",
        dir.string(), holder.empty() ? "holder unknown" : holder));
  }
  // Who holds it, for the message a second writer gets. Best effort: the lock is what counts.
  const std::string holder = fmt::format("pid {}: {}", ::getpid(), command);
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd, holder.data(), holder.size(), 0);
  }
  fd_ = fd;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

StagedOutput::StagedOutput(std::filesystem::path out, std::string command)
    : out_(std::move(out)), command_(std::move(command)) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::create_directories(out_);
  staging_ = out_ / fmt::format(".{}.tmp.{}.{}", command_, ::getpid(), counter.fetch_add(1));
  std::filesystem::remove_all(staging_);
  std::filesystem::create_directory(staging_);
}

StagedOutput::~StagedOutput() {
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

std::vector<std::filesystem::path> StagedOutput::commit() {
  namespace fs = std::filesystem;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(staging_)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  const DirectoryLock lock(out_, command_, 60);
  std::vector<fs::path> placed;
  for (const fs::path& from : entries) {
    const fs::path to = out_ / from.filename();
    std::error_code ec;
    if (fs::is_directory(from) && fs::is_directory(to, ec)) {
      // One step for readers: the new directory takes the old one's name, the old one lands in
      // the staging directory and goes with it.
      if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) != 0) {
        // A file system without exchange: the old directory steps aside first.
        const fs::path aside = staging_ / (".old." + from.filename().string());
        if (::rename(to.c_str(), aside.c_str()) != 0 || ::rename(from.c_str(), to.c_str()) != 0) {
          throw Error(fmt::format("cannot move {} into place: {}", to.string(),
                                  std::strerror(errno)),
                      ExitCode::runtime);
        }
      }
    } else if (::rename(from.c_str(), to.c_str()) != 0) {
      throw Error(fmt::format("cannot move {} into place: {}", to.string(), std::strerror(errno)),
                  ExitCode::runtime);
    }
    placed.push_back(to);
  }
  return placed;
}

}  // namespace sxb
