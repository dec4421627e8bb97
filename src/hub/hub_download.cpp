#include "hub/hub_download.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace sxb::hub {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxRedirects = 10;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw runtime_error("hub: libcurl could not be initialised");
    }
  });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string encode(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* v = nullptr;
  if (curl_url_get(u, part, &v, flags) != CURLUE_OK || !v) return {};
  std::string s(v);
  curl_free(v);
  return s;
}

// scheme://host:port of a URL, the unit HF_TOKEN is bound to; empty when it does not parse.
std::string origin_of(const std::string& url) {
  UrlHandle u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
  return lower(url_part(u.get(), CURLUPART_SCHEME)) + "://" +
         lower(url_part(u.get(), CURLUPART_HOST)) + ":" +
         url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

// scheme://host[:port] as the user wrote it, for messages (never a path or query: a CDN's
// signed URL carries its signature there).
std::string display_origin(const std::string& url) {
  UrlHandle u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "?";
  const std::string port = url_part(u.get(), CURLUPART_PORT);
  return url_part(u.get(), CURLUPART_SCHEME) + "://" + url_part(u.get(), CURLUPART_HOST) +
         (port.empty() ? "" : ":" + port);
}

// A Location header resolved against the URL it came from (it may be relative).
std::optional<std::string> resolve_location(const std::string& base, const std::string& location) {
  UrlHandle u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return std::nullopt;
  }
  const std::string scheme = lower(url_part(u.get(), CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  return url_part(u.get(), CURLUPART_URL);
}

// The etag as a file name: quotes and a weak validator's W/ removed; letters, digits, '-', '_'.
std::optional<std::string> blob_name(std::string etag) {
  etag = trim(etag);
  if (etag.starts_with("W/")) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.empty() || etag.size() > 128 ||
      !std::all_of(etag.begin(), etag.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return std::nullopt;
  }
  return etag;
}

std::optional<int64_t> parse_count(const std::string& s) {
  const std::string t = trim(s);
  if (t.empty() || t.size() > 18 ||
      !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoll(t);
}

std::string mb(int64_t bytes) { return fmt::format("{:.1f} MB", double(bytes) / 1e6); }

// One HTTP exchange, redirects not followed (the caller decides where a redirect may take the
// token). A 200 or 206 body goes to `sink`; any other body is discarded.
struct Transfer {
  CURL* curl = nullptr;
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-case, of the last response
  CURLcode code = CURLE_OK;
  std::string curl_error;
  std::FILE* sink = nullptr;
  int64_t offset = 0;   // bytes the sink held before this request (the Range start)
  int64_t written = 0;  // bytes written to the sink by this request
  bool first_chunk = true;
  bool write_failed = false;
  bool range_mismatch = false;
  // Progress bar.
  bool progress = false;
  std::string label;
  std::chrono::steady_clock::time_point last_draw{};
  bool drew = false;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  const std::string line(data, bytes);
  if (line.starts_with("HTTP/")) {
    t->headers.clear();
  } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
    t->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return bytes;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (!t->sink || (status != 200 && status != 206)) return bytes;  // not the file's bytes
  if (t->first_chunk) {
    t->first_chunk = false;
    if (status == 200 && t->offset > 0) {
      // The server sent the whole file instead of the rest: start the file over.
      if (std::fflush(t->sink) != 0 || ::ftruncate(::fileno(t->sink), 0) != 0 ||
          std::fseek(t->sink, 0, SEEK_SET) != 0) {
        t->write_failed = true;
        return 0;
      }
      t->offset = 0;
    } else if (status == 206) {
      // "bytes START-END/TOTAL": the rest must start where the file ends.
      const std::string range = t->header("content-range");
      const size_t sp = range.find(' '), dash = range.find('-');
      const auto start = sp != std::string::npos && dash != std::string::npos && dash > sp
                             ? parse_count(range.substr(sp + 1, dash - sp - 1))
                             : std::nullopt;
      if (!start || *start != t->offset) {
        t->range_mismatch = true;
        return 0;
      }
    }
  }
  if (std::fwrite(data, 1, bytes, t->sink) != bytes) {
    t->write_failed = true;
    return 0;
  }
  t->written += static_cast<int64_t>(bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->progress || total <= 0) return 0;
  const auto clock = std::chrono::steady_clock::now();
  if (now < total && clock - t->last_draw < std::chrono::milliseconds(200)) return 0;
  t->last_draw = clock;
  const int64_t done = t->offset + static_cast<int64_t>(now);
  const int64_t all = t->offset + static_cast<int64_t>(total);
  const int pct = static_cast<int>(100.0 * double(done) / double(all));
  constexpr int kWidth = 30;
  const int fill = pct * kWidth / 100;
  std::fprintf(stderr, "\r%s [%s%s] %3d%% %s / %s", t->label.c_str(),
               std::string(size_t(fill), '#').c_str(), std::string(size_t(kWidth - fill), ' ').c_str(),
               pct, mb(done).c_str(), mb(all).c_str());
  t->drew = true;
  return 0;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Runs one request. `auth`: send HF_TOKEN (only ever true for the endpoint's origin).
void perform(const HubSettings& s, const std::string& url, bool head, bool auth, Transfer& t) {
  global_init();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw runtime_error("hub: libcurl could not create a handle");
  t.curl = curl.get();
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* list = nullptr;
  if (auth) list = curl_slist_append(list, ("Authorization: Bearer " + s.token).c_str());
  if (t.offset > 0) {
    list = curl_slist_append(list, fmt::format("Range: bytes={}-", t.offset).c_str());
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers(list);
  const long timeout_ms = std::max(1L, static_cast<long>(s.timeout_s * 1000));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sxbench/" SXB_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  // A transfer that moves nothing for the timeout (at least a second) has stalled.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, (timeout_ms + 999) / 1000));
  if (head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (t.progress && !head) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  }
  t.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.status);
  t.curl_error = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(t.code));
  while (!t.curl_error.empty() && t.curl_error.back() == '\n') t.curl_error.pop_back();
  if (t.drew) std::fputc('\n', stderr);
  t.drew = false;
  t.curl = nullptr;
}

std::string reason(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "HTTP error";
  }
}

struct Request {
  const HubSettings& s;
  const std::string& repo;
  const std::string& file;
  const std::string& revision;
  std::string endpoint_origin;

  Error fail(const std::string& cause, ExitCode code) const {
    return Error(fmt::format("hub: {}: {}", repo, cause), code);
  }

  bool on_endpoint(const std::string& url) const {
    return !endpoint_origin.empty() && origin_of(url) == endpoint_origin;
  }

  Error network_error(const std::string& url, const Transfer& t) const {
    const std::string where = on_endpoint(url) ? s.endpoint : display_origin(url);
    if (t.code == CURLE_OPERATION_TIMEDOUT) {
      return fail(fmt::format("no answer from {} within {} s (HF_HUB_DOWNLOAD_TIMEOUT): {}", where,
                              s.timeout_s, t.curl_error),
                  ExitCode::environment);
    }
    return fail(fmt::format("cannot reach {}: {}", where, t.curl_error), ExitCode::environment);
  }

  Error http_error(const std::string& url, const Transfer& t) const {
    const std::string status = fmt::format("{} {}", t.status, reason(t.status));
    if (!on_endpoint(url)) {
      return fail(fmt::format("{} from {} while downloading {}", status, display_origin(url), file),
                  ExitCode::runtime);
    }
    const std::string code = t.header("x-error-code");
    if (t.status == 401 || t.status == 403) {
      if (s.token.empty()) {
        const std::string what = code == "RepoNotFound"
                                     ? "the repository does not exist, or it is gated or private"
                                     : "the repository is gated or private";
        return fail(fmt::format("{}: {} and HF_TOKEN is missing (set it in .env or the "
                                "environment)",
                                status, what),
                    ExitCode::usage);
      }
      return fail(fmt::format("{}: HF_TOKEN was rejected by {} (the token is not valid, or it has "
                              "no access to this gated or private repository)",
                              status, s.endpoint),
                  ExitCode::usage);
    }
    if (t.status == 404) {
      if (code == "RepoNotFound") {
        return fail(fmt::format("{}: repository not found on {}", status, s.endpoint),
                    ExitCode::usage);
      }
      if (code == "RevisionNotFound") {
        return fail(fmt::format("{}: revision {} not found", status, revision), ExitCode::usage);
      }
      return fail(fmt::format("{}: file {} not found at revision {}", status, file, revision),
                  ExitCode::usage);
    }
    return fail(fmt::format("{} from {} for {} at revision {}", status, s.endpoint, file, revision),
                ExitCode::runtime);
  }
};

struct Metadata {
  std::string commit;
  std::string etag;
  std::optional<int64_t> size;
  std::string download_url;
};

// HEAD requests on the endpoint: commit, etag and size, and where the bytes are.
Metadata fetch_metadata(const Request& r, const std::string& url) {
  Metadata m;
  std::string raw_etag;
  std::string current = url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    Transfer t;
    perform(r.s, current, /*head=*/true, !r.s.token.empty() && r.on_endpoint(current), t);
    if (t.code != CURLE_OK) throw r.network_error(current, t);
    if (const std::string c = t.header("x-repo-commit"); !c.empty()) m.commit = c;
    if (const std::string e = t.header("x-linked-etag"); !e.empty()) {
      raw_etag = e;
    } else if (const std::string e2 = t.header("etag"); !e2.empty()) {
      raw_etag = e2;
    }
    if (const auto n = parse_count(t.header("x-linked-size"))) {
      m.size = n;
    } else if (t.status >= 200 && t.status < 300) {
      if (const auto n2 = parse_count(t.header("content-length"))) m.size = n2;
    }
    if (t.status >= 300 && t.status < 400 && !t.header("location").empty()) {
      const auto next = resolve_location(current, t.header("location"));
      if (!next) {
        throw r.fail(fmt::format("{} redirected {} to a location that is not an http(s) URL",
                                 r.s.endpoint, r.file),
                     ExitCode::runtime);
      }
      if (r.on_endpoint(*next)) {
        current = *next;
        continue;
      }
      m.download_url = *next;  // another host (the CDN): the bytes come from there
      break;
    }
    if (t.status < 200 || t.status >= 300) {
      const std::string code = t.header("x-error-code");
      if (t.status == 404 && r.on_endpoint(current) && code != "RepoNotFound" &&
          code != "RevisionNotFound") {
        throw FileNotOnHub(r.http_error(current, t).what());
      }
      throw r.http_error(current, t);
    }
    m.download_url = current;
    break;
  }
  if (m.download_url.empty()) {
    throw r.fail(fmt::format("more than {} redirects for {}", kMaxRedirects, r.file),
                 ExitCode::runtime);
  }
  if (!is_commit_hash(m.commit)) {
    throw r.fail(fmt::format("{} sent no commit hash (X-Repo-Commit) for {}; is HF_ENDPOINT a "
                             "Hugging Face hub?",
                             r.s.endpoint, r.file),
                 ExitCode::runtime);
  }
  const auto etag = blob_name(raw_etag);
  if (!etag) {
    throw r.fail(fmt::format("{} sent no usable ETag for {}; is HF_ENDPOINT a Hugging Face hub?",
                             r.s.endpoint, r.file),
                 ExitCode::runtime);
  }
  m.etag = *etag;
  return m;
}

// An exclusive flock(2) on a lock file, held while one process writes one blob.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw runtime_error(fmt::format("hub: cannot open lock file {}: {}", path.string(),
                                      std::strerror(errno)));
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        throw runtime_error(
            fmt::format("hub: cannot lock {}: {}", path.string(), std::strerror(err)));
      }
    }
  }
  ~BlobLock() { ::close(fd_); }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// GET of the blob's bytes into blobs/{etag}.incomplete (resuming what it holds), renamed to
// blobs/{etag} once complete.
void download_blob(const Request& r, const Metadata& m, const fs::path& blob) {
  const fs::path incomplete = blob.string() + ".incomplete";
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::error_code ec;
    const auto have = fs::is_regular_file(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
    const int64_t offset = ec ? 0 : static_cast<int64_t>(have);
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(incomplete.c_str(), "ab"));
    if (!f) {
      throw runtime_error(fmt::format("hub: {}: cannot write {}: {}", r.repo, incomplete.string(),
                                      std::strerror(errno)));
    }
    Transfer t;
    std::string current = m.download_url;
    for (int hop = 0;; ++hop) {
      t = Transfer{};
      t.sink = f.get();
      t.offset = offset;
      t.progress = r.s.progress;
      t.label = r.file;
      perform(r.s, current, /*head=*/false, !r.s.token.empty() && r.on_endpoint(current), t);
      const bool redirect = t.code == CURLE_OK && t.status >= 300 && t.status < 400 &&
                            !t.header("location").empty();
      if (!redirect) break;
      if (hop == kMaxRedirects) {
        throw r.fail(fmt::format("more than {} redirects for {}", kMaxRedirects, r.file),
                     ExitCode::runtime);
      }
      const auto next = resolve_location(current, t.header("location"));
      if (!next) {
        throw r.fail(fmt::format("{} redirected {} to a location that is not an http(s) URL",
                                 display_origin(current), r.file),
                     ExitCode::runtime);
      }
      current = *next;
    }
    if (std::fflush(f.get()) != 0) t.write_failed = true;
    if (t.write_failed) {
      throw runtime_error(fmt::format("hub: {}: cannot write {}: {}", r.repo, incomplete.string(),
                                      std::strerror(errno)));
    }
    if (t.range_mismatch) {
      f.reset();
      fs::remove(incomplete, ec);
      throw r.fail(fmt::format("{} did not resume {} at byte {} (Content-Range {}); the partial "
                               "file was removed, the next attempt starts over",
                               display_origin(current), r.file, offset,
                               t.header("content-range")),
                   ExitCode::runtime);
    }
    if (t.code == CURLE_OK && t.status == 416 && offset > 0 && attempt == 0) {
      // The partial file is not a prefix the server recognises: start over once.
      f.reset();
      fs::remove(incomplete, ec);
      continue;
    }
    const int64_t size_now = t.offset + t.written;
    if (t.code != CURLE_OK) {
      if (t.written > 0 || t.code == CURLE_PARTIAL_FILE || t.code == CURLE_RECV_ERROR ||
          t.code == CURLE_GOT_NOTHING) {
        throw r.fail(fmt::format("download of {} was interrupted after {} of {} bytes ({}); {} "
                                 "is kept and the next attempt resumes it",
                                 r.file, size_now,
                                 m.size ? std::to_string(*m.size) : std::string("?"),
                                 t.curl_error, incomplete.filename().string()),
                     ExitCode::runtime);
      }
      throw r.network_error(current, t);
    }
    if (t.status != 200 && t.status != 206) throw r.http_error(current, t);
    if (m.size && size_now != *m.size) {
      f.reset();
      if (size_now > *m.size) fs::remove(incomplete, ec);
      throw r.fail(fmt::format("download of {} ended after {} of the {} bytes the hub announced; {}",
                               r.file, size_now, *m.size,
                               size_now > *m.size ? "the file was removed"
                                                  : incomplete.filename().string() +
                                                        " is kept and the next attempt resumes it"),
                   ExitCode::runtime);
    }
    if (::fsync(::fileno(f.get())) != 0) {
      throw runtime_error(fmt::format("hub: {}: cannot write {}: {}", r.repo, incomplete.string(),
                                      std::strerror(errno)));
    }
    f.reset();
    fs::rename(incomplete, blob, ec);
    if (ec) {
      throw runtime_error(fmt::format("hub: {}: cannot rename {} to {}: {}", r.repo,
                                      incomplete.string(), blob.string(), ec.message()));
    }
    return;
  }
  throw r.fail(fmt::format("{} refused to resume {} twice (416)", r.s.endpoint, r.file),
               ExitCode::runtime);
}

// snapshots/{commit}/{file} -> ../../blobs/{etag}, created under a temporary name and renamed.
void link_snapshot(const Request& r, const fs::path& snapshot, const fs::path& blob) {
  std::error_code ec;
  fs::create_directories(snapshot.parent_path(), ec);
  const fs::path target = blob.lexically_relative(snapshot.parent_path());
  const fs::path tmp = snapshot.parent_path() /
                       fmt::format(".{}.{}.tmp", snapshot.filename().string(), ::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, snapshot, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw runtime_error(fmt::format("hub: {}: cannot link {} to {}: {}", r.repo,
                                    snapshot.string(), target.string(), ec.message()));
  }
}

void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit) {
  if (revision == commit) return;
  const fs::path ref = repo_dir / "refs" / revision;
  std::error_code ec;
  fs::create_directories(ref.parent_path(), ec);
  write_file_atomic(ref, commit);
}

}  // namespace

HubFile hub_download(const HubSettings& s, const std::string& repo, const std::string& file,
                     const std::string& revision) {
  check_repo_id(repo);
  check_repo_file(repo, file);
  check_revision(repo, revision);
  if (s.cache_dir.empty()) {
    throw usage_error(fmt::format("hub: {}: no hub cache directory: set HF_HUB_CACHE or HF_HOME "
                                  "(HOME is not set either)",
                                  repo));
  }
  if (const auto p = cached_file(s.cache_dir, repo, file, revision)) {
    // snapshots/{commit}/{file...}: the commit is the folder under snapshots/.
    fs::path rel = p->lexically_relative(repo_cache_dir(s.cache_dir, repo) / "snapshots");
    return {*p, rel.begin()->string(), false};
  }
  if (s.offline) {
    throw environment_error(fmt::format(
        "hub: {}: {} at revision {} is not in the cache {} and HF_HUB_OFFLINE is set, so nothing "
        "is downloaded",
        repo, file, revision, s.cache_dir.string()));
  }
  const Request r{s, repo, file, revision, origin_of(s.endpoint)};
  if (r.endpoint_origin.empty()) {
    throw usage_error(fmt::format("HF_ENDPOINT={}: not a URL", s.endpoint));
  }
  const std::string url = fmt::format("{}/{}/resolve/{}/{}", s.endpoint, repo,
                                      encode(revision, false), encode(file, true));
  const Metadata m = fetch_metadata(r, url);

  const fs::path dir = repo_cache_dir(s.cache_dir, repo);
  const fs::path blob = dir / "blobs" / m.etag;
  const fs::path snapshot = dir / "snapshots" / m.commit / file;
  std::error_code ec;
  bool downloaded = false;
  if (!fs::is_regular_file(snapshot, ec)) {
    fs::create_directories(blob.parent_path(), ec);
    if (ec) {
      throw runtime_error(fmt::format("hub: {}: cannot create {}: {}", repo,
                                      blob.parent_path().string(), ec.message()));
    }
    const BlobLock lock(s.cache_dir / ".locks" / dir.filename() / (m.etag + ".lock"));
    if (!fs::is_regular_file(blob, ec)) {
      download_blob(r, m, blob);
      downloaded = true;
    }
    link_snapshot(r, snapshot, blob);
  }
  write_ref(dir, revision, m.commit);
  return {snapshot, m.commit, downloaded};
}

}  // namespace sxb::hub
