#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/result_schema.hpp"

namespace sxb {

namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view content) {
  static std::atomic<unsigned> counter{0};
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path tmp = dir / fmt::format(".{}.tmp.{}.{}", path.filename().string(), ::getpid(),
                                         counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)),
                ExitCode::runtime);
  }
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(e)),
                  ExitCode::runtime);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // A full disk may only show at fsync or close (delayed allocation, network file systems): the
  // file is not renamed into place unless both succeed.
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL;  // EINVAL: a file that cannot sync
  const int sync_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    const int e = !synced ? sync_errno : errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(e)),
                ExitCode::runtime);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot rename into {}: {}", path.string(), std::strerror(e)),
                ExitCode::runtime);
  }
}

void write_json_atomic(const fs::path& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json read_json_file(const fs::path& path) {
  return parse_json_text(read_file(path), path.string());
}

nlohmann::json parse_json_text(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw usage_error(fmt::format("{}: malformed JSON at byte {}: {}", source, e.byte,
                                  json_error_text(e)));
  } catch (const nlohmann::json::exception& e) {
    // A number too large for a double (1e999) is an out_of_range error, without a position.
    throw usage_error(fmt::format("{}: malformed JSON: {}", source, json_error_text(e)));
  }
}

std::vector<fs::path> json_files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  if (ec) throw usage_error(fmt::format("cannot read {}: {}", dir.string(), ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

fs::path create_unique_directory(const fs::path& base) {
  std::error_code ec;
  if (base.has_parent_path()) fs::create_directories(base.parent_path(), ec);
  for (int i = 1; i < 10000; ++i) {
    fs::path candidate = i == 1 ? base : fs::path(fmt::format("{}-{}", base.string(), i));
    if (fs::create_directory(candidate, ec)) return candidate;
    if (ec) {
      throw Error(fmt::format("cannot create directory {}: {}", candidate.string(), ec.message()),
                  ExitCode::runtime);
    }
  }
  throw Error(fmt::format("cannot create a unique directory at {}", base.string()),
              ExitCode::runtime);
}

}  // namespace sxb
