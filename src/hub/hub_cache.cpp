#include "hub/hub_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"

namespace sxb::hub {

namespace fs = std::filesystem;

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

fs::path cache_from(const std::string& hub_cache, const std::string& hf_home) {
  if (!hub_cache.empty()) return hub_cache;
  if (!hf_home.empty()) return fs::path(hf_home) / "hub";
  if (const std::string xdg = env_or_empty("XDG_CACHE_HOME"); !xdg.empty()) {
    return fs::path(xdg) / "huggingface" / "hub";
  }
  if (const std::string home = env_or_empty("HOME"); !home.empty()) {
    return fs::path(home) / ".cache" / "huggingface" / "hub";
  }
  return {};
}

bool repo_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Parts of a '/'-separated path; empty parts included.
std::vector<std::string> parts_of(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f && c != '\\';
  });
}

}  // namespace

fs::path default_cache_dir() {
  return cache_from(env_or_empty("HF_HUB_CACHE"), env_or_empty("HF_HOME"));
}

HubSettings hub_settings(const EnvConfig& env) {
  HubSettings s;
  std::string endpoint = env.get_string("HF_ENDPOINT");
  while (endpoint.size() > 1 && endpoint.back() == '/') endpoint.pop_back();
  const bool http = endpoint.starts_with("http://") && endpoint.size() > 7;
  const bool https = endpoint.starts_with("https://") && endpoint.size() > 8;
  if ((!http && !https) || !printable(endpoint) ||
      endpoint.find_first_of(" \t") != std::string::npos) {
    throw usage_error(fmt::format("HF_ENDPOINT={}: expected an http:// or https:// URL such as "
                                  "https://huggingface.co",
                                  endpoint));
  }
  s.endpoint = endpoint;
  s.token = env.get_string("HF_TOKEN");
  if (s.token.find_first_of("\r\n") != std::string::npos || !printable(s.token)) {
    throw usage_error("HF_TOKEN: the value is not valid (it holds a line break or a control "
                      "character)");
  }
  // Empty when nothing names one: built-in models and local directories need no cache, and a
  // download says so (hub_download).
  s.cache_dir = cache_from(env.get_string("HF_HUB_CACHE"), env.get_string("HF_HOME"));
  s.offline = env.get_bool("HF_HUB_OFFLINE").value_or(false);
  s.timeout_s = env.get_number("HF_HUB_DOWNLOAD_TIMEOUT").value_or(10);
  const std::string p = env.get_string("PROGRESS");
  s.progress = p == "on" || (p != "off" && ::isatty(STDERR_FILENO) != 0);
  return s;
}

void check_repo_id(const std::string& repo) {
  auto bad = [&](const std::string& why) {
    return usage_error(fmt::format("hub: repository id \"{}\" is not valid: {}", repo, why));
  };
  if (repo.empty()) throw bad("empty");
  if (repo.size() > 96) throw bad("longer than 96 characters");
  const auto parts = parts_of(repo);
  if (parts.size() > 2) throw bad("expected org/name or name");
  for (const auto& p : parts) {
    if (p.empty()) throw bad("expected org/name or name");
    if (!std::all_of(p.begin(), p.end(), repo_char)) {
      throw bad("only letters, digits, '-', '_' and '.' are allowed");
    }
    if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') {
      throw bad("a part may not start or end with '-' or '.'");
    }
  }
  if (repo.find("--") != std::string::npos || repo.find("..") != std::string::npos) {
    throw bad("\"--\" and \"..\" are not allowed");
  }
}

bool is_org_repo_id(const std::string& name) {
  if (name.find('/') == std::string::npos) return false;
  try {
    check_repo_id(name);
  } catch (const Error&) {
    return false;
  }
  return true;
}

void check_repo_file(const std::string& repo, const std::string& file) {
  auto bad = [&](const std::string& why) {
    return usage_error(fmt::format("hub: {}: file name \"{}\" is not valid: {}", repo, file, why));
  };
  if (file.empty()) throw bad("empty");
  if (!printable(file)) throw bad("control characters and '\\' are not allowed");
  for (const auto& p : parts_of(file)) {
    if (p.empty() || p == "." || p == "..") {
      throw bad("expected a relative path without empty, \".\" or \"..\" parts");
    }
    if (p.ends_with(".incomplete")) throw bad("names ending in .incomplete are reserved");
  }
}

void check_revision(const std::string& repo, const std::string& revision) {
  auto bad = [&](const std::string& why) {
    return usage_error(
        fmt::format("hub: {}: revision \"{}\" is not valid: {}", repo, revision, why));
  };
  if (revision.empty()) throw bad("empty");
  if (!printable(revision) || revision.find_first_of(" \t") != std::string::npos) {
    throw bad("blanks, control characters and '\\' are not allowed");
  }
  for (const auto& p : parts_of(revision)) {
    if (p.empty() || p == "." || p == "..") {
      throw bad("expected a branch, tag or commit without empty, \".\" or \"..\" parts");
    }
  }
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

fs::path repo_cache_dir(const fs::path& cache, const std::string& repo) {
  std::string folder = "models--" + repo;
  for (size_t p = 0; (p = folder.find('/', p)) != std::string::npos;) folder.replace(p, 1, "--");
  return cache / folder;
}

std::optional<fs::path> cached_file(const fs::path& cache, const std::string& repo,
                                    const std::string& file, const std::string& revision) {
  const fs::path dir = repo_cache_dir(cache, repo);
  std::string commit = revision;
  std::error_code ec;
  if (!is_commit_hash(revision)) {
    const fs::path ref = dir / "refs" / revision;
    if (!fs::is_regular_file(ref, ec)) return std::nullopt;
    try {
      commit = read_file(ref);
    } catch (const Error&) {
      return std::nullopt;
    }
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) {
      commit.pop_back();
    }
    if (!is_commit_hash(commit)) return std::nullopt;
  }
  const fs::path snapshot = dir / "snapshots" / commit / file;
  // is_regular_file follows the link: a link whose blob is gone is not a cached file.
  if (fs::is_regular_file(snapshot, ec)) return snapshot;
  return std::nullopt;
}

}  // namespace sxb::hub
