// The hub cache's layout and names (hub/hub_cache), the hub settings from .env, and model
// resolution from the cache without any request (the loopback hub tests are in
// tests/e2e/hub_e2e_test.cpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/env_config.hpp"
#include "core/error.hpp"
#include "hub/hub_cache.hpp"
#include "hub/hub_download.hpp"
#include "model/model_config.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HubNames, RepositoryIds) {
  EXPECT_NO_THROW(hub::check_repo_id("meta-llama/Llama-2-7b-hf"));
  EXPECT_NO_THROW(hub::check_repo_id("gpt2"));
  EXPECT_NO_THROW(hub::check_repo_id("acme/tiny_llama.v2"));
  for (const std::string& bad : std::vector<std::string>{"", "a/b/c", "/name", "org/", "acme/../x", "acme/a--b",
                                "acme/na me", "-acme/x", "acme/x.", std::string(97, 'a')}) {
    const std::string m = error_of([&] { hub::check_repo_id(bad); });
    EXPECT_NE(m.find("is not valid"), std::string::npos) << bad << ": " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(HubNames, FilesAndRevisions) {
  EXPECT_NO_THROW(hub::check_repo_file("a/b", "config.json"));
  EXPECT_NO_THROW(hub::check_repo_file("a/b", "shards/model-00001-of-00002.safetensors"));
  for (const std::string& bad : std::vector<std::string>{"", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "x.incomplete",
                                std::string("a\nb")}) {
    EXPECT_THROW(hub::check_repo_file("a/b", bad), Error) << bad;
  }
  EXPECT_NO_THROW(hub::check_revision("a/b", "main"));
  EXPECT_NO_THROW(hub::check_revision("a/b", "refs/pr/1"));
  EXPECT_NO_THROW(hub::check_revision("a/b", kCommit));
  for (const std::string bad : {"", "..", "refs/../../x", "a b", "/main"}) {
    EXPECT_THROW(hub::check_revision("a/b", bad), Error) << bad;
  }
  EXPECT_TRUE(hub::is_commit_hash(kCommit));
  EXPECT_FALSE(hub::is_commit_hash("main"));
  EXPECT_FALSE(hub::is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

class HubCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sxb_hub_unit_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    repo_ = hub::repo_cache_dir(root_, "Acme/Tiny-Llama");
  }
  void TearDown() override { fs::remove_all(root_); }
  // A file as huggingface_hub leaves it: the blob, the snapshot link, refs/main.
  void put(const std::string& file, const std::string& content, const std::string& etag) {
    fs::create_directories(repo_ / "blobs");
    std::ofstream(repo_ / "blobs" / etag) << content;
    const fs::path link = repo_ / "snapshots" / kCommit / file;
    fs::create_directories(link.parent_path());
    fs::create_symlink((repo_ / "blobs" / etag).lexically_relative(link.parent_path()), link);
    fs::create_directories(repo_ / "refs");
    std::ofstream(repo_ / "refs" / "main") << kCommit << "\n";
  }
  fs::path root_, repo_;
};

TEST_F(HubCacheTest, LayoutAndLookup) {
  EXPECT_EQ(repo_.filename(), "models--Acme--Tiny-Llama");
  EXPECT_FALSE(hub::cached_file(root_, "Acme/Tiny-Llama", "config.json", "main"));
  put("config.json", "{}", "abc123");
  const auto by_ref = hub::cached_file(root_, "Acme/Tiny-Llama", "config.json", "main");
  ASSERT_TRUE(by_ref);
  EXPECT_EQ(*by_ref, repo_ / "snapshots" / kCommit / "config.json");
  EXPECT_TRUE(hub::cached_file(root_, "Acme/Tiny-Llama", "config.json", kCommit));
  EXPECT_FALSE(hub::cached_file(root_, "Acme/Tiny-Llama", "config.json", "v1"));
  EXPECT_FALSE(hub::cached_file(root_, "Acme/Tiny-Llama", "tokenizer.json", "main"));
  // A snapshot link whose blob is gone is not a cached file.
  fs::remove(repo_ / "blobs" / "abc123");
  EXPECT_FALSE(hub::cached_file(root_, "Acme/Tiny-Llama", "config.json", "main"));
}

TEST_F(HubCacheTest, OfflineDownloadIsTheCacheOrOneLine) {
  hub::HubSettings s;
  s.cache_dir = root_;
  s.offline = true;
  s.endpoint = "http://127.0.0.1:1";  // never contacted
  put("config.json", "{}", "abc123");
  const auto f = hub::hub_download(s, "Acme/Tiny-Llama", "config.json");
  EXPECT_EQ(f.commit, kCommit);
  EXPECT_FALSE(f.downloaded);
  try {
    hub::hub_download(s, "Acme/Tiny-Llama", "model.safetensors");
    FAIL() << "offline download of a file the cache lacks";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("hub: Acme/Tiny-Llama: model.safetensors at revision main is not in the "
                      "cache", 0),
              0u)
        << m;
    EXPECT_NE(m.find("HF_HUB_OFFLINE"), std::string::npos) << m;
    EXPECT_EQ(e.code(), ExitCode::environment);
  }
}

TEST(HubSettings, FromEnvFile) {
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HF_HOME");
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HF_HUB_OFFLINE");
  auto s = hub::hub_settings(EnvConfig::from_string(
      "HF_ENDPOINT=https://hub.example.com/\nHF_HOME=/data/hf\nHF_TOKEN=hf_abc\n"
      "HF_HUB_OFFLINE=1\nHF_HUB_DOWNLOAD_TIMEOUT=2.5\n",
      "t.env"));
  EXPECT_EQ(s.endpoint, "https://hub.example.com");
  EXPECT_EQ(s.cache_dir, fs::path("/data/hf/hub"));
  EXPECT_EQ(s.token, "hf_abc");
  EXPECT_TRUE(s.offline);
  EXPECT_DOUBLE_EQ(s.timeout_s, 2.5);
  s = hub::hub_settings(EnvConfig::from_string("HF_HOME=/data/hf\nHF_HUB_CACHE=/fast/hub\n", "t"));
  EXPECT_EQ(s.cache_dir, fs::path("/fast/hub"));
  EXPECT_EQ(s.endpoint, "https://huggingface.co");
  EXPECT_FALSE(s.offline);

  const std::string bad =
      error_of([] { hub::hub_settings(EnvConfig::from_string("HF_ENDPOINT=ftp://x\n", "t")); });
  EXPECT_NE(bad.find("HF_ENDPOINT=ftp://x: expected an http:// or https:// URL"),
            std::string::npos)
      << bad;
  // Settings are shown with the token redacted.
  const auto shown =
      EnvConfig::from_string("HF_TOKEN=hf_secret_value\n", "t").resolved_redacted().dump();
  EXPECT_EQ(shown.find("hf_secret_value"), std::string::npos) << shown;
}

TEST_F(HubCacheTest, ModelResolutionReadsTheCacheOffline) {
  put("config.json",
      R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 160,
          "vocab_size": 256, "max_position_embeddings": 512})",
      "abc123");
  hub::HubSettings s;
  s.cache_dir = root_;
  s.offline = true;
  EXPECT_EQ(resolve_model("Acme/Tiny-Llama", s).param_count(), 119104);
  const std::string m = error_of([&] { resolve_model("acme/other", s); });
  EXPECT_NE(m.find("unknown model \"acme/other\""), std::string::npos) << m;
  EXPECT_NE(m.find("HF_HUB_OFFLINE"), std::string::npos) << m;
  // Neither a directory nor a hub id: the list of built-in names, whatever the hub settings.
  s.offline = false;
  s.endpoint = "http://127.0.0.1:1";  // never contacted
  for (const std::string& name : {std::string("no/such/dir"), std::string("./missing"),
                                  std::string("tiny2")}) {
    const std::string e = error_of([&] { resolve_model(name, s); });
    EXPECT_NE(e.find("not a hub id org/name); built-in models: "), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace sxb
