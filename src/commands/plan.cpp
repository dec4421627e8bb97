// `sxbench plan`: the benchmark execution plan from the performance model, calibrated by the
// measured runs under results/ where they exist. Writes docs/benchmark_execution_plan.md (English
// or Japanese) and docs/plan.json.
#include "report/plan/plan.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "report/doc/lang.hpp"
#include "report/plan/inputs.hpp"
#include "report/plan/markdown.hpp"
#include "report/plan/request.hpp"

namespace sxb {

namespace {

namespace fs = std::filesystem;

struct PlanOptions {
  report::PlanRequestOptions request;
  std::string results;  // empty: RESULTS_DIR
  std::string out = "docs";
  std::string lang;  // empty: REPORT_LANG
};

int run_plan(const PlanOptions& o, const CommandContext& ctx) {
  const report::ReportLang lang = report::resolve_report_lang(ctx.env, o.lang);
  const report::PlanRequest req = report::make_plan_request(o.request, ctx.env);
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
  if (!fs::is_directory(out, ec)) {
    throw usage_error(fmt::format("--out {}: cannot create the directory", o.out));
  }
  nlohmann::json j = report::plan_to_json(plan);
  j["generated_utc"] = utc_iso8601_now();
  j["results_dir"] = results.string();
  j["unused_runs"] = measured.notes;
  // The Markdown and the JSON are one plan: staged and moved into place together, so two plans
  // into one directory never leave one's Markdown beside the other's JSON.
  StagedOutput staged(out, "plan");
  write_file_atomic(staged.dir() / "benchmark_execution_plan.md",
                    report::render_plan_markdown(plan, lang, j["generated_utc"]));
  write_json_atomic(staged.dir() / "plan.json", j);
  staged.commit();
  int scheduled = 0;
  for (const auto& p : plan.schedule) scheduled += p.kind == report::PhaseKind::training;
  std::printf(
      "sxbench plan: %zu model(s) x %zu node count(s): %d training run(s) scheduled, %zu do not "
      "fit; predicted campaign %.1f h; %zu measured figure(s) from %s\n",
      req.models.size(), req.nodes.size(), scheduled, plan.not_scheduled.size(),
      plan.total_s / 3600.0, plan.measured.size(), results.c_str());
  std::printf("sxbench plan: wrote %s and %s\n", (out / "benchmark_execution_plan.md").c_str(),
              (out / "plan.json").c_str());
  return 0;
}

}  // namespace

Command add_plan_command(CLI::App& root) {
  auto o = std::make_shared<PlanOptions>();
  report::PlanRequestOptions& r = o->request;
  CLI::App* app = root.add_subcommand(
      "plan",
      "Benchmark execution plan from the performance model: config, memory fit, predicted "
      "throughput and duration per model and node count, and the campaign schedule");
  app->add_option("--models", r.models,
                  "Models: 7b, 13b, 70b (Llama-2) or Hugging Face ids / directories, "
                  "comma-separated")
      ->capture_default_str();
  app->add_option("--nodes", r.nodes, "Node counts, comma-separated")->capture_default_str();
  app->add_option("--gpus-per-node", r.gpus_per_node, "GPUs per node [GPUS_PER_NODE, else 8]")
      ->check(int_in(1, 64));
  app->add_option("--seq-len", r.seq_len, "Sequence length in tokens [SEQ_LEN]")
      ->check(int_in(2, 1 << 20));
  app->add_option("--steps", r.steps, "Training steps per run, 1 of them warm-up")
      ->check(int_in(2, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--ds-config", r.ds_config,
                  "Directory with ds_config_<N>b.json files, or comma-separated files (default: "
                  "configs/); each model gets the one nearest its size");
  app->add_option("--gpu", r.gpu, "GPU of the planned cluster (a configs/hardware match string)")
      ->capture_default_str();
  app->add_option("--results", o->results, "Run directories that calibrate the plan [RESULTS_DIR]");
  app->add_option("--out", o->out, "Output directory")->capture_default_str();
  app->add_option("--lang", o->lang, "Language: en or ja [REPORT_LANG]");
  return {app, [o](const CommandContext& ctx) { return run_plan(*o, ctx); }};
}

}  // namespace sxb
