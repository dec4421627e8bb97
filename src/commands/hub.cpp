// `sxbench hub download REPO [FILE...]`: files of a Hugging Face hub repository into the hub
// cache (HF_HUB_CACHE / HF_HOME), each snapshot path printed on its own line.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands/command.hpp"
#include "hub/hub_download.hpp"

namespace sxb {

namespace {
struct HubOptions {
  std::string repo;
  std::vector<std::string> files;
  std::string revision = "main";
};
}  // namespace

Command add_hub_command(CLI::App& root) {
  auto o = std::make_shared<HubOptions>();
  CLI::App* app = root.add_subcommand(
      "hub", "Hugging Face hub files in the shared hub cache (HF_ENDPOINT, HF_TOKEN, HF_HOME, "
             "HF_HUB_CACHE, HF_HUB_OFFLINE)");
  app->require_subcommand(1);
  CLI::App* download = app->add_subcommand(
      "download",
      "Download files of a repository (default: config.json) into the hub cache, or find them "
      "there, and print each one's snapshot path");
  download->add_option("repo", o->repo, "Repository id, org/name")->required();
  download->add_option("files", o->files, "Files of the repository (default: config.json)");
  download->add_option("--revision", o->revision, "Branch, tag or commit hash (default: main)");

  return {app, [o](const CommandContext& ctx) {
            const hub::HubSettings settings = hub::hub_settings(ctx.env);
            const std::vector<std::string> files =
                o->files.empty() ? std::vector<std::string>{"config.json"} : o->files;
            for (const auto& f : files) hub::check_repo_file(o->repo, f);
            for (const auto& f : files) {
              const hub::HubFile got = hub::hub_download(settings, o->repo, f, o->revision);
              std::printf("%s\n", got.path.c_str());
              std::fflush(stdout);
            }
            return 0;
          }};
}

}  // namespace sxb
