// `sxbench plan`: the benchmark execution plan from the performance model, calibrated by the
// measured runs under results/ where they exist. Writes docs/benchmark_execution_plan.md (English
// or Japanese) and docs/plan.json.
#include "report/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>

#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "perfmodel/model_shape.hpp"
#include "report/plan_inputs.hpp"
#include "report/plan_markdown.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;
using report::PlanRequest;

struct PlanOptions {
  std::string models = "7b,13b,70b";
  std::string nodes = "1,2,4,8";
  int gpus_per_node = 0;  // 0: GPUS_PER_NODE, else 8
  int64_t seq_len = 0;    // 0: SEQ_LEN
  int64_t steps = 20;
  std::string ds_config;  // directory or comma-separated files; empty: configs/
  std::string results;    // empty: RESULTS_DIR
  std::string out = "docs";
  std::string lang;  // empty: REPORT_LANG
  std::string gpu = "H200";
};

std::vector<std::string> split_list(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) throw usage_error(fmt::format("{} '{}': empty item", what, text));
    out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

// The seed's shorthand for its three models; anything else goes to the model registry.
std::string model_alias(const std::string& name) {
  std::string l = name;
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "7b") return "meta-llama/Llama-2-7b-hf";
  if (l == "13b") return "meta-llama/Llama-2-13b-hf";
  if (l == "70b") return "meta-llama/Llama-2-70b-hf";
  return name;
}

std::vector<int> parse_nodes(const std::string& text) {
  std::vector<int> nodes;
  for (const auto& item : split_list(text, "--nodes")) {
    int64_t n = 0;
    try {
      n = parse_int(item, "node count");
    } catch (const Error&) {
      throw usage_error(fmt::format("--nodes '{}': '{}' is not a whole number", text, item));
    }
    if (n < 1 || n > 1024) {
      throw usage_error(fmt::format("--nodes '{}': {} is outside 1..1024", text, n));
    }
    if (std::find(nodes.begin(), nodes.end(), n) != nodes.end()) {
      throw usage_error(fmt::format("--nodes '{}': {} is given twice", text, n));
    }
    nodes.push_back(static_cast<int>(n));
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

// A ds_config file and the model size its name states ("ds_config_13b.json" -> 13e9).
struct DsFile {
  fs::path path;
  std::optional<double> size_params;
  DsConfig config;
};

std::optional<double> size_from_name(const fs::path& p) {
  static const std::regex re(R"(_(\d+(?:\.\d+)?)b$)", std::regex::icase);
  std::smatch m;
  const std::string stem = p.stem().string();
  if (std::regex_search(stem, m, re)) return std::stod(m[1].str()) * 1e9;
  return std::nullopt;
}

std::vector<DsFile> load_ds_files(const std::string& spec, const fs::path& config_dir) {
  std::vector<DsFile> files;
  if (spec.empty() || fs::is_directory(spec)) {
    const fs::path dir = spec.empty() ? config_dir : fs::path(spec);
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("ds_config_", 0) == 0 && e.path().extension() == ".json" &&
          size_from_name(e.path())) {
        found.push_back(e.path());
      }
    }
    std::sort(found.begin(), found.end());
    if (found.empty()) {
      throw usage_error(fmt::format("--ds-config {}: no ds_config_<N>b.json files", dir.string()));
    }
    for (const auto& f : found) files.push_back({f, size_from_name(f), load_ds_config(f)});
    return files;
  }
  for (const auto& item : split_list(spec, "--ds-config")) {
    if (!fs::exists(item)) throw usage_error(fmt::format("--ds-config {}: no such file", item));
    files.push_back({item, size_from_name(item), load_ds_config(item)});
  }
  if (files.size() > 1) {
    for (const auto& f : files) {
      if (!f.size_params) {
        throw usage_error(
            fmt::format("--ds-config {}: with several files each name must end in "
                        "_<N>b.json (the model size it is for)",
                        f.path.string()));
      }
    }
  }
  return files;
}

// The config whose stated size is nearest the model's parameter count (by ratio); a single
// unlabelled file applies to every model.
const DsFile& ds_for(const std::vector<DsFile>& files, int64_t params) {
  const DsFile* best = &files.front();
  double best_d = 1e300;
  for (const auto& f : files) {
    if (!f.size_params) return f;
    const double d = std::abs(std::log(*f.size_params / static_cast<double>(params)));
    if (d < best_d) {
      best_d = d;
      best = &f;
    }
  }
  return *best;
}

// As it goes on a command line run from the repository root.
std::string display_path(const fs::path& p, const fs::path& config_dir) {
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(p, ec);
  const fs::path cfg = fs::weakly_canonical(config_dir, ec);
  if (abs.parent_path() == cfg) return (fs::path("configs") / abs.filename()).string();
  return p.string();
}

Assumption hardware_assumption(const HardwareSpec& spec, const std::string& key,
                               const std::string& name) {
  const HardwareFigure& f = spec.figure(key);
  return {name, f.value, f.unit,
          fmt::format("configs/hardware/{}.json {}: {}", spec.id, key, f.source)};
}

int run_plan(const PlanOptions& o, const CommandContext& ctx) {
  const std::string lang = o.lang.empty() ? ctx.env.get_string("REPORT_LANG") : o.lang;
  if (lang != "en" && lang != "ja") {
    throw usage_error(fmt::format("--lang '{}': expected en or ja", lang));
  }
  PlanRequest req;
  req.nodes = parse_nodes(o.nodes);
  if (o.gpus_per_node < 0 || o.gpus_per_node > 64) {
    throw usage_error(fmt::format("--gpus-per-node {}: expected 1..64", o.gpus_per_node));
  }
  const auto env_gpus = ctx.env.get_int("GPUS_PER_NODE");
  req.gpus_per_node = o.gpus_per_node > 0
                          ? o.gpus_per_node
                          : (env_gpus && *env_gpus > 0 ? static_cast<int>(*env_gpus) : 8);
  if (o.seq_len < 0) throw usage_error(fmt::format("--seq-len {}: must be positive", o.seq_len));
  if (o.seq_len > 0) {
    req.seq_len = o.seq_len;
    req.seq_len_source = "--seq-len";
  } else {
    req.seq_len = *ctx.env.get_int("SEQ_LEN");
    const std::string src = ctx.env.source("SEQ_LEN");
    req.seq_len_source = src == "default" ? "SEQ_LEN default" : "SEQ_LEN from " + src;
  }
  if (o.steps < 2)
    throw usage_error(fmt::format("--steps {}: need at least 2 (1 is warm-up)", o.steps));
  req.steps = o.steps;
  req.warmup_steps = 1;  // as `sxbench run` (run.cpp sft_phase)

  const fs::path config_dir = find_config_dir();
  const auto specs = load_hardware_specs(config_dir / "hardware");
  const auto gpu = find_gpu_spec(specs, o.gpu);
  if (!gpu) throw usage_error(fmt::format("--gpu '{}': no GPU in configs/hardware matches", o.gpu));
  const HardwareSpec* nic = nullptr;
  for (const auto& s : specs) {
    if (s.kind == "nic" && !nic) nic = &s;
  }
  if (!nic) throw usage_error("configs/hardware has no NIC spec (kind \"nic\")");
  auto& hw = req.hardware;
  hw.gpu_name = gpu->name;
  hw.gpu_match = o.gpu;
  hw.nic_name = nic->name;
  hw.gpu_memory_gb = hardware_assumption(*gpu, "hbm_capacity_gb", "gpu_memory");
  hw.peak_bf16_tflops = hardware_assumption(*gpu, "dense_bf16_tflops", "peak_dense_bf16");
  hw.hbm_gb_per_s = hardware_assumption(*gpu, "hbm_bandwidth_gb_per_s", "hbm_bandwidth");
  hw.nvlink_gb_per_s =
      hardware_assumption(*gpu, "nvlink_bandwidth_per_direction_gb_per_s", "nvlink_per_direction");
  hw.nic_gb_per_s_per_port =
      hardware_assumption(*nic, "bandwidth_per_direction_gb_per_s", "nic_per_direction_per_port");
  hw.nic_ports_per_node = hardware_assumption(*nic, "ports_per_node", "nic_ports_per_node");

  const auto ds_files = load_ds_files(o.ds_config, config_dir);
  const std::string hf_home = ctx.env.get_string("HF_HOME");
  for (const auto& name : split_list(o.models, "--models")) {
    report::PlanModel pm;
    const ModelConfig config = resolve_model(model_alias(name), hf_home);
    if (config.max_position_embeddings > 0 && req.seq_len > config.max_position_embeddings) {
      throw usage_error(fmt::format("sequence length {} exceeds {}'s max_position_embeddings {}",
                                    req.seq_len, config.name, config.max_position_embeddings));
    }
    pm.shape = model_shape(config);
    const DsFile& ds = ds_for(ds_files, pm.shape.params);
    pm.ds = ds.config;
    pm.ds_path = display_path(ds.path, config_dir);
    req.models.push_back(std::move(pm));
  }
  req.launcher_model = req.models.front().shape.name;

  const fs::path results =
      o.results.empty() ? fs::path(ctx.env.get_string("RESULTS_DIR")) : fs::path(o.results);
  if (!o.results.empty() && !fs::is_directory(results)) {
    throw usage_error(fmt::format("--results {}: no such directory", o.results));
  }
  const report::Measurements measured = report::read_measurements(results);
  const report::ExecutionPlan plan = report::build_plan(req, measured);

  const fs::path out(o.out);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) {
    throw usage_error(fmt::format("--out {}: cannot create the directory", o.out));
  }
  nlohmann::json j = report::plan_to_json(plan);
  j["generated_utc"] = utc_iso8601_now();
  j["results_dir"] = results.string();
  j["unused_runs"] = measured.notes;
  write_file_atomic(out / "benchmark_execution_plan.md",
                    report::render_plan_markdown(plan, lang == "ja", j["generated_utc"]));
  write_json_atomic(out / "plan.json", j);
  int scheduled = 0;
  for (const auto& p : plan.schedule) scheduled += p.kind == report::PhaseKind::training;
  std::printf(
      "sxbench plan: %zu model(s) x %zu node count(s): %d training run(s) scheduled, %zu "
      "do not fit; predicted campaign %.1f h; %zu measured figure(s) used\n",
      req.models.size(), req.nodes.size(), scheduled, plan.not_scheduled.size(),
      plan.total_s / 3600.0, plan.measured.size());
  std::printf("sxbench plan: wrote %s and %s\n", (out / "benchmark_execution_plan.md").c_str(),
              (out / "plan.json").c_str());
  return 0;
}

}  // namespace

Command add_plan_command(CLI::App& root) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* app = root.add_subcommand(
      "plan",
      "Benchmark execution plan from the performance model: config, memory fit, predicted "
      "throughput and duration per model and node count, and the campaign schedule");
  app->add_option("--models", o->models,
                  "Models: 7b, 13b, 70b (Llama-2) or Hugging Face ids / "
                  "directories, comma-separated")
      ->capture_default_str();
  app->add_option("--nodes", o->nodes, "Node counts, comma-separated")->capture_default_str();
  app->add_option("--gpus-per-node", o->gpus_per_node, "GPUs per node [GPUS_PER_NODE, else 8]");
  app->add_option("--seq-len", o->seq_len, "Sequence length in tokens [SEQ_LEN]");
  app->add_option("--steps", o->steps, "Training steps per run, 1 of them warm-up")
      ->capture_default_str();
  app->add_option("--ds-config", o->ds_config,
                  "Directory with ds_config_<N>b.json files, or comma-separated files (default: "
                  "configs/); each model gets the one nearest its size");
  app->add_option("--results", o->results, "Run directories that calibrate the plan [RESULTS_DIR]");
  app->add_option("--out", o->out, "Output directory")->capture_default_str();
  app->add_option("--lang", o->lang, "Language: en or ja [REPORT_LANG]");
  app->add_option("--gpu", o->gpu, "GPU of the planned cluster (a configs/hardware match string)")
      ->capture_default_str();
  return {app, [o](const CommandContext& ctx) { return run_plan(*o, ctx); }};
}

}  // namespace sxb
