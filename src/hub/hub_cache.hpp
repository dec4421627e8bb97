#pragma once
// The Hugging Face hub's settings and its local cache, laid out as huggingface_hub lays it out,
// so files other tools downloaded are reused and the files sxbench downloads are theirs too:
//   {cache}/models--{org}--{name}/blobs/{etag}              the file's bytes
//   {cache}/models--{org}--{name}/blobs/{etag}.incomplete   a download in progress (resumed)
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file}  relative symlink to the blob
//   {cache}/models--{org}--{name}/refs/{revision}           the commit hash the revision names
// The token in HubSettings is never printed, logged or written to a file.
#include <filesystem>
#include <optional>
#include <string>

namespace sxb {
class EnvConfig;
}

namespace sxb::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT, without a trailing slash
  std::string token;                                // HF_TOKEN; empty: none
  std::filesystem::path cache_dir;                  // HF_HUB_CACHE, else HF_HOME/hub, ...; empty:
                                                    // none can be named (no HOME)
  bool offline = false;                             // HF_HUB_OFFLINE
  bool progress = false;                            // a progress bar on stderr
  double timeout_s = 10;                            // HF_HUB_DOWNLOAD_TIMEOUT
};

// Settings from .env and the process environment (environment first): HF_ENDPOINT, HF_TOKEN,
// HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE, HF_HUB_DOWNLOAD_TIMEOUT, PROGRESS (auto: a progress bar
// only when stderr is a terminal). A bad HF_ENDPOINT or a token with a line break is a one-line
// usage error that does not repeat the token.
HubSettings hub_settings(const EnvConfig& env);

// The hub cache named by the process environment alone: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; empty when none can be named.
std::filesystem::path default_cache_dir();

// Checks a repository id ("org/name" or "name": letters, digits, '-', '_', '.', no "--" or "..",
// at most 96 characters), a file path inside a repository (relative, no "." or ".." parts) and a
// revision (a branch, tag or commit; no ".." part). Throw a one-line usage error naming the value.
void check_repo_id(const std::string& repo);
void check_repo_file(const std::string& repo, const std::string& file);
void check_revision(const std::string& repo, const std::string& revision);
bool is_commit_hash(const std::string& s);  // 40 lowercase hex digits
// An id with an organisation ("org/name") that check_repo_id accepts: what a name must look like
// to be asked of the hub rather than taken for a mistyped local name or path.
bool is_org_repo_id(const std::string& name);

// {cache}/models--{org}--{name}
std::filesystem::path repo_cache_dir(const std::filesystem::path& cache, const std::string& repo);

// The snapshot path of `file` at `revision` when the cache holds it (the revision a commit hash,
// or refs/{revision} naming one, and snapshots/{commit}/{file} resolving to a file).
std::optional<std::filesystem::path> cached_file(const std::filesystem::path& cache,
                                                 const std::string& repo, const std::string& file,
                                                 const std::string& revision);

}  // namespace sxb::hub
