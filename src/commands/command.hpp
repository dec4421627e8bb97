#pragma once
// How commands plug into the CLI: each command file defines add_<name>_command(), which adds its
// CLI11 subcommand (flags bound to its own options struct) and returns the function to run once
// the command line is parsed and .env is loaded. Adding a command = one file + one line in
// cli/main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/env_config.hpp"

namespace sxb {

struct CommandContext {
  EnvConfig env;
  std::vector<std::string> argv;  // the full command line, for run records
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int(const CommandContext&)> run;
};

Command add_nccl_command(CLI::App& root);
Command add_info_command(CLI::App& root);
Command add_run_command(CLI::App& root);
Command add_validate_command(CLI::App& root);
Command add_train_command(CLI::App& root);
Command add_data_command(CLI::App& root);
Command add_monitor_command(CLI::App& root);
Command add_compute_command(CLI::App& root);
Command add_plan_command(CLI::App& root);
Command add_report_command(CLI::App& root);
Command add_preflight_command(CLI::App& root);
Command add_diagnose_command(CLI::App& root);
Command add_hub_command(CLI::App& root);

}  // namespace sxb
