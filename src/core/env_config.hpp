#pragma once
// .env handling. Every key sxbench reads is declared in known_env_keys() with its type, default
// and meaning; .env.example lists the same keys. Precedence for a key:
//   command-line flag > process environment > .env file > built-in default.
// Tuning and test knobs (SXB_*, EnvKey::environment_only) are read deep inside the engines and
// benchmarks, where no EnvConfig is at hand: they come from the process environment only, through
// environment_knob(), and a .env file that sets one is an error rather than silently ignored.
// NCCL_* keys are a passthrough family: they are exported to the process environment (unless the
// environment already sets them) before NCCL starts, so RoCE settings live in one file.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sxb {

enum class EnvKind { string, integer, number, boolean, choice, size };

struct EnvKey {
  std::string name;
  EnvKind kind = EnvKind::string;
  std::string default_value;  // empty: no default
  std::string description;
  std::vector<std::string> choices;  // for EnvKind::choice
  double min_value = -1e300;         // for integer / number
  double max_value = 1e300;
  bool environment_only = false;  // a tuning/test knob: process environment, never the file
};

const std::vector<EnvKey>& known_env_keys();
const EnvKey* find_env_key(std::string_view name);
bool is_passthrough_env_key(std::string_view name);  // NCCL_*
// The one rule for secrets: HF_TOKEN, TOKEN, KEY, SECRET, PASSWORD and any key ending in _TOKEN,
// _KEY, _SECRET or _PASSWORD (case-insensitive). A secret's value is never printed or recorded:
// settings show it as <redacted>, errors leave it out, recorded command lines replace it.
bool is_secret_env_key(std::string_view name);
std::string redact_env_value(std::string_view name, std::string_view value);
// A command line as it may be recorded (run.json, compute.json, gpu_metrics_summary.json): an
// argument KEY=VALUE or --key=VALUE whose key is secret by the rule above keeps its key and gets
// <redacted> for its value, and so does the argument after a flag such as --hf-token or
// --api-key (flag names compare as settings do: dashes as underscores, case-insensitive).
std::vector<std::string> redact_command_line(const std::vector<std::string>& args);

struct EnvEntry {
  std::string value;
  int line = 0;
};

class EnvConfig {
 public:
  EnvConfig() = default;
  // Parses and validates a .env file. Malformed lines, unknown keys and bad values throw a
  // one-line sxb::Error with "file:line".
  static EnvConfig from_file(const std::filesystem::path& path);
  static EnvConfig from_string(std::string_view text, const std::string& source_name);
  // --env FILE when given (must exist), else ./.env when present, else empty.
  static EnvConfig load(const std::optional<std::filesystem::path>& explicit_path);

  // Value by precedence environment > file > default; nullopt when none. Validated. An empty
  // value (KEY= in the file, or KEY set to "" in the environment) counts as not set.
  std::optional<std::string> lookup(std::string_view key) const;
  // Where the value comes from: "environment", "FILE:LINE", "default" or "unset".
  std::string source(std::string_view key) const;

  std::string get_string(std::string_view key) const;  // "" when unset
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_number(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;

  // Exports NCCL_* keys from the file that the process environment does not already set.
  void export_passthrough() const;

  // Every known key with its resolved value and source; secrets shown as <redacted>.
  nlohmann::json resolved_redacted() const;

  const std::string& source_name() const { return source_name_; }
  const std::map<std::string, EnvEntry>& file_entries() const { return entries_; }

 private:
  std::string source_name_;
  std::map<std::string, EnvEntry> entries_;
};

// A registered tuning/test knob's value in the process environment, validated against its entry;
// nullopt when unset or empty (the caller's built-in default applies, which the entry's
// description states). Throws sxb::Error for a bad value, and for a name that is not registered
// as environment_only, so that every knob is listed in known_env_keys() and .env.example.
std::optional<std::string> environment_knob(std::string_view name);
std::optional<int64_t> environment_knob_int(std::string_view name);
std::optional<bool> environment_knob_bool(std::string_view name);

// Validates a value for a known key; throws sxb::Error("<where>: ...") when it is bad.
void validate_env_value(const EnvKey& key, std::string_view value, const std::string& where);

}  // namespace sxb
