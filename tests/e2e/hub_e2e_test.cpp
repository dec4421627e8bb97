// `sxbench hub download` and model resolution against a Hugging Face hub on loopback
// (tests/e2e/fake_hub.py): the hub's resolve endpoint, its CDN redirect under another host name,
// gated repositories, 401/403/404, an interrupted transfer, offline mode. No internet needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "e2e_util.hpp"

namespace sxb::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";
const std::string kGatedCommit = "89abcdef0123456789abcdef0123456789abcdef";
const std::string kToken = "hf_e2eSecretTokenValue123";
const std::string kOtherToken = "hf_e2eNoAccessToken456";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The config.json of a tiny Llama shape (the built-in "tiny": 119104 parameters).
std::string tiny_config() {
  return json{{"model_type", "llama"},       {"hidden_size", 64},
              {"num_hidden_layers", 2},      {"num_attention_heads", 4},
              {"num_key_value_heads", 2},    {"intermediate_size", 160},
              {"vocab_size", 256},           {"max_position_embeddings", 512},
              {"rms_norm_eps", 1e-5},        {"architectures", {"LlamaForCausalLM"}}}
      .dump(2);
}

std::string big_file() {
  std::string s;
  for (int i = 0; s.size() < 200000; ++i) s += "weights " + std::to_string(i) + "\n";
  return s;
}

// The git blob hash the hub sends as a small file's ETag, computed by python3's hashlib.
std::string git_blob_sha1(const fs::path& file) {
  const auto r = run_command(
      "python3 -c \"import hashlib,sys; d=open(sys.argv[1],'rb').read(); "
      "print(hashlib.sha1(b'blob %d\\0' % len(d) + d).hexdigest())\" " +
      file.string());
  return r.output.substr(0, r.output.find('\n'));
}

// A file of its own content (the CDN finds files by their sha256).
std::string shard_file() { return big_file() + "shard 1\n"; }

// The loopback hub: started with the repositories of `config`, stopped by the destructor.
class FakeHub {
 public:
  FakeHub(const fs::path& dir, const json& config) : log_(dir / "requests.jsonl") {
    const fs::path cfg = dir / "hub.json";
    std::ofstream(cfg) << config.dump();
    const std::string script = std::string(SXB_TEST_SOURCE_DIR) + "/tests/e2e/fake_hub.py";
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execlp("python3", "python3", script.c_str(), cfg.c_str(), log_.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    // The server prints "ready HUB CDN" once both ports listen: wait for that line, bounded.
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd p{fds[0], POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, int(left)) <= 0) break;
      char buf[256];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, size_t(n));
    }
    ::close(fds[0]);
    std::istringstream in(line);
    std::string word;
    in >> word >> hub_port_ >> cdn_port_;
    if (word != "ready" || hub_port_ <= 0) {
      throw std::runtime_error("fake hub did not start: '" + line + "'");
    }
  }
  ~FakeHub() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }
  // Every request the hub and its CDN answered so far, in order.
  std::vector<json> requests() const {
    std::vector<json> out;
    std::ifstream in(log_);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) out.push_back(json::parse(l));
    }
    return out;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int hub_port_ = 0;
  int cdn_port_ = 0;
};

// `env` without the caller's hub settings and proxies (loopback must not go through a proxy).
std::string clean_env() {
  std::string e = "env";
  for (const char* k : {"HF_TOKEN", "HF_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HUB_CACHE",
                        "HF_HUB_DOWNLOAD_TIMEOUT", "PROGRESS", "http_proxy", "HTTP_PROXY",
                        "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    e += std::string(" -u ") + k;
  }
  return e;
}

class HubE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir(std::string("hub_") +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    cache_ = dir_ / "cache";
    std::ofstream(dir_ / "empty.env") << "";
    json cfg;
    cfg["tokens"] = {{kToken, {"acme/gated"}}, {kOtherToken, json::array()}};
    cfg["repos"]["acme/tiny-llama"] = {
        {"commit", kCommit},
        {"files",
         {{"config.json", {{"content", tiny_config()}}},
          {"model.safetensors", {{"content", big_file()}, {"lfs", true}}},
          {"shards/part-1.bin", {{"content", shard_file()}, {"lfs", true}, {"interrupt", 1}}}}}};
    cfg["repos"]["acme/gated"] = {
        {"commit", kGatedCommit},
        {"gated", true},
        {"files",
         {{"config.json", {{"content", tiny_config()}}},
          {"model.safetensors", {{"content", big_file() + "gated"}, {"lfs", true}}}}}};
    // A tokenizer repository without tokenizer.model: data pack takes its tokenizer.json.
    const fs::path tok = fs::path(SXB_TEST_SOURCE_DIR) / "tests/fixtures/tokenizer/llama3";
    cfg["repos"]["acme/tok-bpe"] = {
        {"commit", kCommit},
        {"files",
         {{"tokenizer.json", {{"content", slurp(tok / "tokenizer.json")}, {"lfs", true}}},
          {"tokenizer_config.json", {{"content", slurp(tok / "tokenizer_config.json")}}}}}};
    hub_ = std::make_unique<FakeHub>(dir_, cfg);
  }
  void TearDown() override {
    hub_.reset();
    fs::remove_all(dir_);
  }

  // Runs sxbench with the hub settings in the environment (and nothing from the caller's).
  RunResult run(const std::string& args, const std::string& extra_env = "") {
    const std::string env = clean_env() + " HF_ENDPOINT=" + hub_->endpoint() +
                            " HF_HUB_CACHE=" + cache_.string() + " HF_HUB_DOWNLOAD_TIMEOUT=20 " +
                            extra_env + " ";
    RunResult r = run_command(env + binary_path() + " --env " + (dir_ / "empty.env").string() +
                              " " + args);
    EXPECT_EQ(r.output.find(kToken), std::string::npos) << "token in the output: " << r.output;
    EXPECT_EQ(r.output.find(kOtherToken), std::string::npos) << r.output;
    return r;
  }

  fs::path repo_dir(const std::string& folder) const { return cache_ / folder; }

  // No file under the cache holds a token, and no blob or snapshot is partial.
  void expect_no_token_in_cache() const {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(cache_, ec)) {
      if (!e.is_regular_file() || e.is_symlink()) continue;
      const std::string text = slurp(e.path());
      EXPECT_EQ(text.find(kToken), std::string::npos) << e.path();
      EXPECT_EQ(text.find(kOtherToken), std::string::npos) << e.path();
    }
  }

  fs::path dir_, cache_;
  std::unique_ptr<FakeHub> hub_;
};

TEST_F(HubE2E, DownloadsIntoTheHubCacheLayoutAndReusesIt) {
  const auto r = run("hub download acme/tiny-llama");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path repo = repo_dir("models--acme--tiny-llama");
  const fs::path snapshot = repo / "snapshots" / kCommit / "config.json";
  EXPECT_EQ(r.output, snapshot.string() + "\n");
  // snapshots/{commit}/config.json -> ../../blobs/{etag} (the git blob sha1 the ETag names)
  ASSERT_TRUE(fs::is_symlink(snapshot));
  std::ofstream(dir_ / "expected.json") << tiny_config();
  const std::string sha1 = git_blob_sha1(dir_ / "expected.json");
  EXPECT_EQ(sha1.size(), 40u) << sha1;
  EXPECT_EQ(fs::read_symlink(snapshot).string(), "../../blobs/" + sha1);
  EXPECT_EQ(slurp(snapshot), tiny_config());
  EXPECT_EQ(slurp(repo / "refs" / "main"), kCommit);
  EXPECT_EQ(hub_->requests().size(), 2u);  // HEAD, GET

  // The second time the cache answers: no request at all.
  const auto again = run("hub download acme/tiny-llama config.json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output, snapshot.string() + "\n");
  EXPECT_EQ(hub_->requests().size(), 2u);

  // A commit hash as the revision: the same snapshot, no refs/{commit} file.
  const auto by_commit = run("hub download acme/tiny-llama --revision " + kCommit);
  ASSERT_EQ(by_commit.exit_code, 0) << by_commit.output;
  EXPECT_EQ(by_commit.output, snapshot.string() + "\n");
  EXPECT_FALSE(fs::exists(repo / "refs" / kCommit));
  EXPECT_EQ(hub_->requests().size(), 2u);
}

TEST_F(HubE2E, RedirectToTheCdnNeverCarriesTheToken) {
  const auto r = run("hub download acme/gated model.safetensors", "HF_TOKEN=" + kToken);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path snapshot =
      repo_dir("models--acme--gated") / "snapshots" / kGatedCommit / "model.safetensors";
  EXPECT_EQ(r.output, snapshot.string() + "\n");
  EXPECT_EQ(slurp(snapshot), big_file() + "gated");
  // The blob is named by X-Linked-Etag (the sha256), not by the redirect's own ETag.
  const std::string target = fs::read_symlink(snapshot).string();
  EXPECT_EQ(target.size(), std::string("../../blobs/").size() + 64) << target;
  int hub_requests = 0, cdn_requests = 0;
  for (const auto& q : hub_->requests()) {
    if (q["server"] == "hub") {
      ++hub_requests;
      EXPECT_EQ(q["authorization"], "Bearer " + kToken) << q.dump();
    } else {
      ++cdn_requests;
      EXPECT_TRUE(q["authorization"].is_null()) << "token sent to the CDN: " << q.dump();
    }
  }
  EXPECT_EQ(hub_requests, 1);  // HEAD: 302 to the CDN
  EXPECT_EQ(cdn_requests, 1);  // GET of the bytes
  expect_no_token_in_cache();
}

TEST_F(HubE2E, GatedRepositoryNeedsTheToken) {
  const auto missing = run("hub download acme/gated");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_EQ(count_lines(missing.output), 1) << missing.output;
  EXPECT_NE(missing.output.find("hub: acme/gated: 401 Unauthorized"), std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find("HF_TOKEN is missing"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(repo_dir("models--acme--gated") / "snapshots"));

  // The token from the settings file works as well as from the environment.
  std::ofstream(dir_ / "token.env") << "HF_TOKEN=" << kToken << "\n";
  const auto ok = run_command(clean_env() + " HF_ENDPOINT=" + hub_->endpoint() +
                              " HF_HUB_CACHE=" + cache_.string() + " " + binary_path() +
                              " --env " + (dir_ / "token.env").string() +
                              " hub download acme/gated");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output.find(kToken), std::string::npos) << ok.output;
  EXPECT_EQ(slurp(repo_dir("models--acme--gated") / "snapshots" / kGatedCommit / "config.json"),
            tiny_config());
  expect_no_token_in_cache();
}

TEST_F(HubE2E, RejectedTokensAreNamedNotShown) {
  const auto invalid = run("hub download acme/gated", "HF_TOKEN=hf_e2eSecretTokenValue999");
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;
  EXPECT_EQ(count_lines(invalid.output), 1) << invalid.output;
  EXPECT_NE(invalid.output.find("401 Unauthorized: HF_TOKEN was rejected"), std::string::npos)
      << invalid.output;
  EXPECT_EQ(invalid.output.find("hf_e2eSecretTokenValue999"), std::string::npos)
      << invalid.output;

  const auto no_access = run("hub download acme/gated", "HF_TOKEN=" + kOtherToken);
  EXPECT_EQ(no_access.exit_code, 2) << no_access.output;
  EXPECT_EQ(count_lines(no_access.output), 1) << no_access.output;
  EXPECT_NE(no_access.output.find("hub: acme/gated: 403 Forbidden: HF_TOKEN was rejected"),
            std::string::npos)
      << no_access.output;
  EXPECT_FALSE(fs::exists(repo_dir("models--acme--gated") / "snapshots"));
}

TEST_F(HubE2E, NotFoundNamesRepositoryFileOrRevision) {
  const auto repo = run("hub download acme/missing");
  EXPECT_EQ(repo.exit_code, 2) << repo.output;
  EXPECT_EQ(count_lines(repo.output), 1) << repo.output;
  EXPECT_NE(repo.output.find("hub: acme/missing: 404 Not Found: repository not found on " +
                             hub_->endpoint()),
            std::string::npos)
      << repo.output;

  const auto file = run("hub download acme/tiny-llama tokenizer.model");
  EXPECT_EQ(file.exit_code, 2) << file.output;
  EXPECT_NE(file.output.find("hub: acme/tiny-llama: 404 Not Found: file tokenizer.model not "
                             "found at revision main"),
            std::string::npos)
      << file.output;

  const auto revision = run("hub download acme/tiny-llama --revision v2.0");
  EXPECT_EQ(revision.exit_code, 2) << revision.output;
  EXPECT_NE(revision.output.find("hub: acme/tiny-llama: 404 Not Found: revision v2.0 not found"),
            std::string::npos)
      << revision.output;
  EXPECT_FALSE(fs::exists(repo_dir("models--acme--missing")));
  EXPECT_FALSE(fs::exists(repo_dir("models--acme--tiny-llama") / "snapshots"));

  const auto bad_id = run("hub download acme/../etc");
  EXPECT_EQ(bad_id.exit_code, 2) << bad_id.output;
  EXPECT_EQ(count_lines(bad_id.output), 1) << bad_id.output;
}

TEST_F(HubE2E, InterruptedTransferResumesWithRange) {
  const std::string file = "shards/part-1.bin";
  const size_t size = shard_file().size(), half = size / 2;
  const auto first = run("hub download acme/tiny-llama " + file);
  EXPECT_EQ(first.exit_code, 3) << first.output;
  EXPECT_EQ(count_lines(first.output), 1) << first.output;
  EXPECT_NE(first.output.find("hub: acme/tiny-llama: download of shards/part-1.bin was "
                              "interrupted after " +
                              std::to_string(half) + " of " + std::to_string(size) + " bytes"),
            std::string::npos)
      << first.output;
  const fs::path repo = repo_dir("models--acme--tiny-llama");
  std::vector<fs::path> blobs;
  for (const auto& e : fs::directory_iterator(repo / "blobs")) blobs.push_back(e.path());
  ASSERT_EQ(blobs.size(), 1u);
  EXPECT_EQ(blobs[0].extension(), ".incomplete");
  EXPECT_EQ(fs::file_size(blobs[0]), half);
  EXPECT_FALSE(fs::exists(repo / "snapshots"));

  const auto second = run("hub download acme/tiny-llama " + file);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const fs::path snapshot = repo / "snapshots" / kCommit / "shards" / "part-1.bin";
  EXPECT_EQ(second.output, snapshot.string() + "\n");
  EXPECT_EQ(slurp(snapshot), shard_file());
  EXPECT_EQ(fs::read_symlink(snapshot).string().rfind("../../../blobs/", 0), 0u);
  EXPECT_FALSE(fs::exists(blobs[0]));
  const auto requests = hub_->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back()["server"], "cdn");
  EXPECT_EQ(requests.back()["range"], "bytes=" + std::to_string(half) + "-");
}

TEST_F(HubE2E, ConcurrentDownloadsOfOneBlobTakeTurns) {
  // Two processes at once (the ranks of a job on one host): one downloads, the other finds the
  // blob complete once it gets the blob's lock; the CDN serves the bytes once.
  const std::string one = binary_path() + " --env " + (dir_ / "empty.env").string() +
                          " hub download acme/tiny-llama model.safetensors";
  const auto r = run_command(clean_env() + " HF_ENDPOINT=" + hub_->endpoint() +
                             " HF_HUB_CACHE=" + cache_.string() + " sh -c '" + one + " >" +
                             (dir_ / "a.out").string() + " 2>&1 & a=$!; " + one + " >" +
                             (dir_ / "b.out").string() + " 2>&1 & b=$!; wait $a && wait $b'");
  EXPECT_EQ(r.exit_code, 0) << slurp(dir_ / "a.out") << slurp(dir_ / "b.out");
  const fs::path snapshot =
      repo_dir("models--acme--tiny-llama") / "snapshots" / kCommit / "model.safetensors";
  EXPECT_EQ(slurp(dir_ / "a.out"), snapshot.string() + "\n");
  EXPECT_EQ(slurp(dir_ / "b.out"), snapshot.string() + "\n");
  EXPECT_EQ(slurp(snapshot), big_file());
  int cdn_gets = 0;
  for (const auto& q : hub_->requests()) cdn_gets += q["server"] == "cdn";
  EXPECT_EQ(cdn_gets, 1);
}

TEST_F(HubE2E, OfflineUsesTheCacheOnly) {
  const auto missing = run("hub download acme/tiny-llama", "HF_HUB_OFFLINE=1");
  EXPECT_EQ(missing.exit_code, 4) << missing.output;
  EXPECT_EQ(count_lines(missing.output), 1) << missing.output;
  EXPECT_NE(missing.output.find("hub: acme/tiny-llama: config.json at revision main is not in "
                                "the cache"),
            std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find("HF_HUB_OFFLINE"), std::string::npos) << missing.output;
  EXPECT_TRUE(hub_->requests().empty());

  ASSERT_EQ(run("hub download acme/tiny-llama").exit_code, 0);
  const size_t online_requests = hub_->requests().size();
  const auto cached = run("hub download acme/tiny-llama", "HF_HUB_OFFLINE=1");
  ASSERT_EQ(cached.exit_code, 0) << cached.output;
  EXPECT_NE(cached.output.find("snapshots/" + kCommit + "/config.json"), std::string::npos);
  EXPECT_EQ(hub_->requests().size(), online_requests);
}

TEST_F(HubE2E, UnreachableEndpointIsNamed) {
  // A port that was free a moment ago and has no listener now.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(s);
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
  const auto r = run("hub download acme/tiny-llama",
                     "HF_ENDPOINT=" + endpoint + " HF_TOKEN=" + kToken);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("hub: acme/tiny-llama: cannot reach " + endpoint), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(repo_dir("models--acme--tiny-llama") / "snapshots"));
}

TEST_F(HubE2E, SilentEndpointTimesOut) {
  // A listening socket that never answers: the connection opens, no response comes.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  const auto r = run("hub download acme/tiny-llama",
                     "HF_ENDPOINT=" + endpoint + " HF_HUB_DOWNLOAD_TIMEOUT=1");
  ::close(s);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("hub: acme/tiny-llama: no answer from " + endpoint +
                          " within 1 s (HF_HUB_DOWNLOAD_TIMEOUT)"),
            std::string::npos)
      << r.output;
}

TEST_F(HubE2E, ProgressBarWhenAskedFor) {
  // PROGRESS=auto draws only on a terminal (the tests' stderr is not one; the other tests see
  // nothing but the paths); PROGRESS=on draws on any stderr.
  const auto r = run("hub download acme/tiny-llama model.safetensors", "PROGRESS=on");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("model.safetensors ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("100%"), std::string::npos) << r.output;
}

TEST_F(HubE2E, UnknownModelIdResolvesThroughTheHub) {
  const auto r = run("train --plan-only --model acme/tiny-llama --seq-len 128");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("acme/tiny-llama (119104 parameters)"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_symlink(repo_dir("models--acme--tiny-llama") / "snapshots" / kCommit /
                             "config.json"));
  // From the cache now, offline too.
  const size_t requests = hub_->requests().size();
  const auto offline = run("train --plan-only --model acme/tiny-llama --seq-len 128",
                           "HF_HUB_OFFLINE=1");
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  EXPECT_NE(offline.output.find("acme/tiny-llama (119104 parameters)"), std::string::npos);
  EXPECT_EQ(hub_->requests().size(), requests);

  // Offline and not cached: one line, no request.
  const auto unknown = run("train --plan-only --model acme/other --seq-len 128",
                           "HF_HUB_OFFLINE=1");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_EQ(count_lines(unknown.output), 1) << unknown.output;
  EXPECT_NE(unknown.output.find("HF_HUB_OFFLINE"), std::string::npos) << unknown.output;
  EXPECT_EQ(hub_->requests().size(), requests);

  // A gated model without the token: the hub's line, naming the repository and the cause.
  const auto gated = run("train --plan-only --model acme/gated --seq-len 128");
  EXPECT_EQ(gated.exit_code, 2) << gated.output;
  EXPECT_EQ(count_lines(gated.output), 1) << gated.output;
  EXPECT_NE(gated.output.find("hub: acme/gated: 401 Unauthorized"), std::string::npos)
      << gated.output;
}

TEST_F(HubE2E, DataPackFetchesTheTokenizerFiles) {
  std::ofstream(dir_ / "chat.jsonl")
      << "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
         "{\"role\": \"assistant\", \"content\": \"Hello\"}]}\n";
  const std::string args = "data pack --in " + (dir_ / "chat.jsonl").string() + " --out " +
                           (dir_ / "c.bin").string() + " --seq-len 64 --tokenizer acme/tok-bpe";
  const auto r = run(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("chat template llama3"), std::string::npos) << r.output;
  const fs::path snap = repo_dir("models--acme--tok-bpe") / "snapshots" / kCommit;
  EXPECT_TRUE(fs::is_symlink(snap / "tokenizer.json"));
  EXPECT_TRUE(fs::is_symlink(snap / "tokenizer_config.json"));
  EXPECT_NE(r.output.find(snap.string() + "/tokenizer.json (byte-level BPE"), std::string::npos)
      << r.output;
  bool asked_for_model = false;
  for (const auto& q : hub_->requests()) {
    asked_for_model |= q["path"].get<std::string>().find("/tokenizer.model") != std::string::npos;
  }
  EXPECT_TRUE(asked_for_model);  // tokenizer.model first: the hub answered 404, then .json

  // From the cache offline, without a request.
  const size_t requests = hub_->requests().size();
  fs::remove(dir_ / "c.bin");
  const auto offline = run(args, "HF_HUB_OFFLINE=1");
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  EXPECT_EQ(hub_->requests().size(), requests);

  // A repository with no tokenizer file: one line naming it.
  const auto none = run("data pack --in " + (dir_ / "chat.jsonl").string() + " --out " +
                        (dir_ / "d.bin").string() + " --seq-len 64 --tokenizer acme/tiny-llama");
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(none.output.find("hub: acme/tiny-llama: the repository has neither tokenizer.model "
                             "nor tokenizer.json"),
            std::string::npos)
      << none.output;
  EXPECT_FALSE(fs::exists(dir_ / "d.bin"));
}

}  // namespace
}  // namespace sxb::e2e
