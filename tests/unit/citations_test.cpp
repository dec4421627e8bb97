// Every source a configuration cites can be opened by the documents' reader: each `source`
// string anywhere in configs/**/*.json names a file of this repository that exists, a public
// reference (an http(s) URL or a named publication: a datasheet, a product brief, an IEEE
// standard), or a derivation from another figure of the same file ("Derived from <key>: ...").
// A file path it names must be relative, inside the repository and present, so a citation of a
// file that only one machine has fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kRoot = SXB_TEST_SOURCE_DIR;

struct Cited {
  std::string file;     // the configuration, relative to the repository root
  std::string pointer;  // where in it, as a JSON pointer
  std::string source;
  const json* object;  // the object holding `source` (for "Derived from <key>")
  const json* parent;  // the object holding that object (its sibling figures)
};

void collect(const json& j, const json* parent, const std::string& file, const std::string& ptr,
             std::vector<Cited>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "source" && it.value().is_string()) {
        out.push_back({file, ptr + "/source", it.value().get<std::string>(), &j, parent});
      } else {
        collect(it.value(), &j, file, ptr + "/" + it.key(), out);
      }
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      collect(j[i], &j, file, ptr + "/" + std::to_string(i), out);
  }
}

std::vector<Cited> all_sources(std::vector<json>& docs) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "configs"))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  docs.reserve(files.size());  // `Cited` points into these
  std::vector<Cited> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    docs.push_back(json::parse(in));
    collect(docs.back(), nullptr, fs::relative(f, kRoot).generic_string(), "", out);
  }
  return out;
}

// File paths named in a citation: a token with a '/' that ends in a file extension
// ("docs/requirements.md", "/home/x/deliverables_ja.md"); units such as "Gbit/s" are no paths.
std::vector<std::string> named_files(const std::string& s) {
  static const std::regex path(
      R"((^|[\s(`'"])(/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)+\.[A-Za-z]{1,5})\b)");
  std::vector<std::string> out;
  for (std::sregex_iterator it(s.begin(), s.end(), path), end; it != end; ++it)
    out.push_back((*it)[2].str());
  return out;
}

bool public_reference(const std::string& s) {
  static const std::regex url(R"(https?://\S+)");
  static const std::regex publication(R"(datasheet|product briefs?|IEEE \d{3}\.\d+)",
                                      std::regex::icase);
  return std::regex_search(s, url) || std::regex_search(s, publication);
}

TEST(Citations, EverySourceNamesARepositoryFileAPublicReferenceOrADerivation) {
  std::vector<json> docs;
  const auto cited = all_sources(docs);
  ASSERT_GE(cited.size(), 3u);  // targets.json, claims, hardware at least
  bool targets_seen = false;
  for (const auto& c : cited) {
    SCOPED_TRACE(c.file + "#" + c.pointer + ": " + c.source);
    targets_seen |= c.file == "configs/targets.json";
    const auto files = named_files(c.source);
    for (const auto& f : files) {
      EXPECT_NE(f.front(), '/') << "absolute path " << f;
      EXPECT_EQ(f.rfind("shared/", 0), std::string::npos) << f << " is outside the repository";
      EXPECT_EQ(f.find(".."), std::string::npos) << f;
      EXPECT_TRUE(fs::is_regular_file(kRoot / f)) << f << " is not a file of the repository";
    }
    static const std::regex derived(R"(^Derived from ([A-Za-z0-9_]+):)");
    std::smatch m;
    if (std::regex_search(c.source, m, derived)) {
      // The figure it is derived from is a sibling in the same object of figures.
      ASSERT_NE(c.parent, nullptr);
      EXPECT_TRUE(c.parent->contains(m[1].str())) << m[1].str() << " is no figure of this file";
      continue;
    }
    EXPECT_TRUE(!files.empty() || public_reference(c.source))
        << "cites neither a repository file nor a public reference";
  }
  EXPECT_TRUE(targets_seen);
}

TEST(Citations, PathsInCitationsAreRecognised) {
  // The check above relies on these: a missing file must be seen as a path to fail.
  EXPECT_EQ(named_files("Seed list (shared/seed/deliverables_ja.md), table"),
            std::vector<std::string>{"shared/seed/deliverables_ja.md"});
  EXPECT_EQ(named_files("from /home/u/targets.json"),
            std::vector<std::string>{"/home/u/targets.json"});
  EXPECT_TRUE(named_files("400 Gbit/s / 8 bits per byte").empty());
  EXPECT_TRUE(public_reference("NVIDIA H200 datasheet: 4.8 TB/s"));
  EXPECT_TRUE(public_reference("IEEE 802.3 400GBASE line rate"));
  EXPECT_FALSE(public_reference("Seed deployment: 2 x 400GbE per node"));
}

}  // namespace
