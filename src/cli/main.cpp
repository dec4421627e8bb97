// sxbench: parses flags and .env, runs one command, prints a one-line error on failure.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "commands/command.hpp"
#include "core/env_config.hpp"
#include "core/error.hpp"

namespace {
// CLI11's messages quote arguments ("The following arguments were not expected: ..."): a value
// the secrets rule redacts in the recorded command line is cut from the message too.
std::string without_secrets(std::string message, int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const std::vector<std::string> redacted = sxb::redact_command_line(args);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == redacted[i]) continue;
    const size_t eq = args[i].find('=');
    const std::string secret = redacted[i] == "<redacted>" || eq == std::string::npos
                                   ? args[i]
                                   : args[i].substr(eq + 1);
    for (size_t p; !secret.empty() && (p = message.find(secret)) != std::string::npos;) {
      message.replace(p, secret.size(), "<redacted>");
    }
  }
  return message;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace sxb;
  CLI::App app{
      "sxbench: benchmark and acceptance suite for NVIDIA H200 GPU clusters on Spectrum-X "
      "Ethernet: NCCL collectives, GPU ceilings, LLM fine-tuning throughput, GPU metrics, "
      "reports.",
      "sxbench"};
  app.set_version_flag("-V,--version", std::string("sxbench ") + SXB_VERSION);
  std::string env_file;
  app.add_option("--env", env_file, "Settings file (default: ./.env when present)");
  app.require_subcommand(1);

  std::vector<Command> commands;
  commands.push_back(add_nccl_command(app));
  commands.push_back(add_info_command(app));
  commands.push_back(add_run_command(app));
  commands.push_back(add_validate_command(app));
  commands.push_back(add_train_command(app));
  commands.push_back(add_data_command(app));
  commands.push_back(add_monitor_command(app));
  commands.push_back(add_compute_command(app));
  commands.push_back(add_plan_command(app));
  commands.push_back(add_report_command(app));
  commands.push_back(add_preflight_command(app));
  commands.push_back(add_diagnose_command(app));
  commands.push_back(add_hub_command(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Name a mistyped command instead of CLI11's "A subcommand is required".
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--env") {
        ++i;
        continue;
      }
      if (a.empty() || a[0] == '-') continue;
      std::string known;
      bool found = false;
      for (const auto& c : commands) {
        found = found || c.app->get_name() == a;
        known += (known.empty() ? "" : ", ") + c.app->get_name();
      }
      if (!found) {
        std::fprintf(stderr, "sxbench: error: unknown command '%s' (known: %s)\n",
                     without_secrets(a, argc, argv).c_str(),
                     known.c_str());
        return static_cast<int>(ExitCode::usage);
      }
      break;
    }
    std::fprintf(stderr, "sxbench: error: %s (see sxbench --help)\n",
                 without_secrets(e.what(), argc, argv).c_str());
    return static_cast<int>(ExitCode::usage);
  }

  try {
    CommandContext ctx;
    // Recorded in run.json, compute.json and gpu_metrics_summary.json: secrets redacted.
    ctx.argv = redact_command_line(std::vector<std::string>(argv, argv + argc));
    ctx.env = EnvConfig::load(env_file.empty() ? std::nullopt
                                               : std::optional<std::filesystem::path>(env_file));
    for (const auto& c : commands) {
      if (c.app->parsed()) return c.run(ctx);
    }
    std::fprintf(stderr, "sxbench: error: no command given (see sxbench --help)\n");
    return static_cast<int>(ExitCode::usage);
  } catch (const Error& e) {
    std::fprintf(stderr, "sxbench: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sxbench: error: %s\n", e.what());
    return static_cast<int>(ExitCode::runtime);
  }
}
