// The layer order of src/ is written once, in docs/ARCHITECTURE.md (the fenced block under
// "## Layers": one line per layer, top to bottom, each starting with its folder). These tests
// read that block and every file under src/, and fail when an #include "dir/..." points to a
// layer above the including file's, or when a folder of src/ is missing from the order.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace sxb {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = SXB_TEST_SOURCE_DIR;

// Layer folders relative to src/ ("report/plan"), top first.
std::vector<std::string> layers_from_architecture(const std::string& markdown) {
  std::istringstream in(markdown);
  std::string line;
  bool in_section = false, in_block = false;
  std::vector<std::string> layers;
  while (std::getline(in, line)) {
    if (!in_block && line.rfind("## ", 0) == 0) in_section = line == "## Layers";
    if (!in_section) continue;
    if (line.rfind("```", 0) == 0) {
      if (in_block) break;  // the first block of the section is the order
      in_block = true;
      continue;
    }
    if (!in_block || line.rfind("src/", 0) != 0) continue;
    std::string folder = line.substr(4, line.find_first_of(" \t") - 4);
    while (!folder.empty() && folder.back() == '/') folder.pop_back();
    layers.push_back(folder);
  }
  return layers;
}

// Index of the layer holding `path` (relative to src/, e.g. "report/plan/plan.cpp"): the longest
// layer folder that is a prefix; -1 when none is.
int layer_of(const std::vector<std::string>& layers, const std::string& path) {
  int best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string prefix = layers[i] + "/";
    if (path.rfind(prefix, 0) == 0 && prefix.size() > best_len) {
      best = static_cast<int>(i);
      best_len = prefix.size();
    }
  }
  return best;
}

struct Violation {
  std::string file;  // relative to src/
  int line = 0;
  std::string target;
  std::string message() const {
    return "src/" + file + ":" + std::to_string(line) + " includes \"" + target + "\"";
  }
};

// Checks one file's text: every #include "x/..." must name the file's own layer or one below.
std::vector<Violation> check_file(const std::vector<std::string>& layers, const std::string& file,
                                  const std::string& text) {
  static const std::regex kInclude(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<Violation> out;
  const int own = layer_of(layers, file);
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::smatch m;
    if (!std::regex_search(line, m, kInclude)) continue;
    const std::string target = m[1];
    if (target.find('/') == std::string::npos) continue;  // a sibling header by bare name
    const int to = layer_of(layers, target);
    if (to < 0 || to < own) out.push_back({file, number, target});
  }
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> architecture_layers() {
  return layers_from_architecture(read(kRoot / "docs" / "ARCHITECTURE.md"));
}

TEST(Layering, ArchitectureDocNamesTheLayers) {
  const auto layers = architecture_layers();
  ASSERT_GE(layers.size(), 8u) << "docs/ARCHITECTURE.md has no '## Layers' block of src/ folders";
  for (const auto& l : layers) EXPECT_TRUE(fs::is_directory(kRoot / "src" / l)) << "src/" << l;
  EXPECT_EQ(layers.front(), "cli");
  EXPECT_EQ(layers.back(), "core");
}

TEST(Layering, EverySourceFolderHasALayer) {
  const auto layers = architecture_layers();
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src")) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), kRoot / "src").generic_string();
    EXPECT_GE(layer_of(layers, rel), 0)
        << "src/" << rel << " is in no layer of docs/ARCHITECTURE.md's order";
  }
}

TEST(Layering, NoIncludePointsUp) {
  const auto layers = architecture_layers();
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src")) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), kRoot / "src").generic_string();
    for (const auto& v : check_file(layers, rel, read(e.path()))) found.push_back(v.message());
  }
  std::sort(found.begin(), found.end());
  std::string list;
  for (const auto& f : found) list += "\n  " + f;
  EXPECT_TRUE(found.empty()) << found.size()
                             << " include(s) against the layer order of docs/ARCHITECTURE.md:"
                             << list;
}

// The checker itself, on made-up files, so the tree test above cannot pass by reading nothing.
TEST(Layering, CheckerFlagsUpwardAndUnknownIncludes) {
  const std::string doc =
      "# A\n## Layers\n```\nsrc/cli/     top\nsrc/report/  docs\nsrc/report/plan/ plan\n"
      "src/train/    engine\nsrc/core/    base\n```\n## Other\n```\nsrc/nope/\n```\n";
  const auto layers = layers_from_architecture(doc);
  ASSERT_EQ(layers, (std::vector<std::string>{"cli", "report", "report/plan", "train", "core"}));
  EXPECT_EQ(layer_of(layers, "report/plan/a.cpp"), 2);
  EXPECT_EQ(layer_of(layers, "report/x.cpp"), 1);
  EXPECT_EQ(layer_of(layers, "reporting/x.cpp"), -1);

  const auto ok = check_file(layers, "train/a.cpp",
                             "#include <vector>\n#include \"train/b.hpp\"\n#include \"core/e.hpp\"\n"
                             "#include \"local.hpp\"\n");
  EXPECT_TRUE(ok.empty());
  const auto up = check_file(layers, "train/a.cpp",
                             "#include \"core/e.hpp\"\n  #  include \"report/plan/p.hpp\"\n");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].message(), "src/train/a.cpp:2 includes \"report/plan/p.hpp\"");
  // A room may not include the room above it in the same folder.
  EXPECT_EQ(check_file(layers, "report/plan/p.cpp", "#include \"report/r.hpp\"\n").size(), 1u);
  EXPECT_TRUE(check_file(layers, "report/r.cpp", "#include \"report/plan/p.hpp\"\n").empty());
  // An include into no layer is a violation too (a folder outside the order).
  EXPECT_EQ(check_file(layers, "core/e.cpp", "#include \"nope/x.hpp\"\n").size(), 1u);
}

}  // namespace
}  // namespace sxb
