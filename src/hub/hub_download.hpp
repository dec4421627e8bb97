#pragma once
// Files of a Hugging Face hub repository, downloaded into the hub cache (hub_cache.hpp) over
// HTTP(S) with libcurl, the way huggingface_hub does it:
//  - a file whose revision the cache already resolves (refs/{revision} or a commit hash, and the
//    snapshot's file) is returned without any request;
//  - otherwise HEAD {endpoint}/{repo}/resolve/{revision}/{file} gives the commit (X-Repo-Commit)
//    and the blob's etag (X-Linked-Etag, else ETag); a redirect on the endpoint's own host is
//    followed, one to another host (the hub's CDN for large files) is where the bytes come from;
//  - the bytes go to blobs/{etag}.incomplete (a later attempt resumes it with an HTTP Range
//    request), which is renamed to blobs/{etag} once complete; snapshots/{commit}/{file} becomes
//    a relative symlink to it and refs/{revision} holds the commit;
//  - HF_TOKEN is sent as "Authorization: Bearer" to the endpoint's host (scheme, host and port)
//    only, never on a redirect to another one.
// Concurrent downloads of one blob (ranks of one job on one host) take turns on a lock file
// under {cache}/.locks. Every failure is one sxb::Error line "hub: {repo}: {cause}".
#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "hub/hub_cache.hpp"

namespace sxb::hub {

struct HubFile {
  std::filesystem::path path;  // snapshots/{commit}/{file}
  std::string commit;
  bool downloaded = false;  // false: the cache had it
};

// The repository and revision exist on the hub but the file does not (404 EntryNotFound): a
// caller looking for one of several files (tokenizer.model or tokenizer.json) tries the next.
class FileNotOnHub : public Error {
 public:
  explicit FileNotOnHub(const std::string& m) : Error(m, ExitCode::usage) {}
};

// `file` of `repo` at `revision` in the cache, downloaded when it is not there. With
// settings.offline, a file the cache does not hold is an error (environment class). A file the
// repository does not have throws FileNotOnHub.
HubFile hub_download(const HubSettings& settings, const std::string& repo, const std::string& file,
                     const std::string& revision = "main");

}  // namespace sxb::hub
