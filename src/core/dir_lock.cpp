#include "core/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
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

DirectoryLock::DirectoryLock(const std::filesystem::path& dir, const std::string& command) {
  const std::filesystem::path path = dir / kDirLockName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("cannot lock output directory {}: {}", dir.string(),
                            std::strerror(errno)),
                ExitCode::runtime);
  }
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
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

}  // namespace sxb
