// The sales summary: ROI arithmetic against hand-computed cases, the inputs and where each came
// from, measured versus projected cases, and the document without any measured run.
#include "report/sales/roi.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "model/flops.hpp"
#include "model/model_shape.hpp"
#include "report/plan/request.hpp"
#include "report/sales/sales.hpp"
#include "report_fixtures.hpp"

namespace sxb::report {
namespace {

namespace fs = std::filesystem;

// Every ROI key out of the process environment, so defaults and .env lines are what count.
void clear_roi_environment() {
  for (const auto& k : roi_env_keys()) ::unsetenv(k.c_str());
}

RoiSettings settings(const std::string& env_text = "") {
  clear_roi_environment();
  return roi_settings_from_env(EnvConfig::from_string(env_text, "t.env"));
}

ThroughputCase job(double tokens_per_s, int gpus, std::optional<double> power_w) {
  ThroughputCase c;
  c.model = "meta-llama/Llama-2-7b-hf";
  c.nodes = gpus / 8;
  c.gpus = gpus;
  c.seq_len = 4096;
  c.tokens_per_s = tokens_per_s;
  const ModelShape m = model_shape(c.model);
  c.flops_per_token = palm_flops_per_token(m, 4096);
  c.mean_gpu_power_w = power_w;
  c.source = "results/run";
  return c;
}

TEST(RoiArithmetic, HandComputedCostTimeAndEnergy) {
  // 8 GPUs at 4 USD per GPU-hour, 80,000 tokens/s, 700 W per GPU, the defaults for the rest.
  const RoiSettings s = settings();
  ASSERT_DOUBLE_EQ(s.gpu_hour_price, 4.0);
  const RoiFigures f = compute_roi(job(80000, 8, 700), s);
  EXPECT_DOUBLE_EQ(f.tokens_per_s_per_gpu, 10000);
  EXPECT_DOUBLE_EQ(f.job_price_per_hour, 32);
  // 32 USD/h / (80,000 x 3600 tokens/h) x 1e6 = 0.11111 USD per million tokens.
  EXPECT_NEAR(f.cost_per_million_tokens, 32.0 / 288e6 * 1e6, 1e-12);
  EXPECT_NEAR(f.cost_per_million_tokens, 0.111111, 1e-6);
  // 1e9 tokens / 80,000 tokens/s = 12,500 s = 3.4722 h; x 32 USD/h = 111.11 USD.
  EXPECT_NEAR(f.budget_hours, 12500.0 / 3600, 1e-12);
  EXPECT_NEAR(f.budget_cost, 111.111111, 1e-5);
  // 700 W x 8 / 80,000 tokens/s = 0.07 J/token on the GPU boards; x 1.82 x 1.58 = 0.201292.
  EXPECT_NEAR(*f.gpu_energy_j_per_token, 0.07, 1e-15);
  EXPECT_NEAR(*f.facility_energy_j_per_token, 0.07 * 1.82 * 1.58, 1e-12);
  EXPECT_NEAR(*f.facility_kwh_per_million_tokens, 0.201292 / 3.6, 1e-9);
  EXPECT_NEAR(*f.energy_cost_per_million_tokens, 0.201292 / 3.6 * 0.0806, 1e-9);
  EXPECT_NEAR(*f.budget_facility_kwh, 0.201292e9 / 3.6e6, 1e-6);
  EXPECT_NEAR(*f.budget_energy_cost, 0.201292e9 / 3.6e6 * 0.0806, 1e-6);
}

TEST(RoiArithmetic, BaselineAtEqualModelFlopsPerGpu) {
  const RoiSettings s = settings();
  // The baseline model itself at its own sequence length: the stated rate, unchanged.
  const RoiFigures f = compute_roi(job(80000, 8, std::nullopt), s);
  EXPECT_NEAR(f.baseline_tokens_per_s_per_gpu, 8611, 1e-9);
  // 3 USD / (8611 x 3600) x 1e6 = 0.096776 USD per million tokens on the baseline.
  EXPECT_NEAR(f.baseline_cost_per_million_tokens, 3.0 / (8611 * 3600.0) * 1e6, 1e-12);
  EXPECT_NEAR(f.speedup_per_gpu, 10000.0 / 8611, 1e-12);
  EXPECT_NEAR(f.cost_saving_fraction, 1 - (4.0 / 36e6 * 1e6) / (3.0 / (8611 * 3600.0) * 1e6),
              1e-12);
  EXPECT_LT(f.cost_saving_fraction, 0);  // dearer per token at these prices
  EXPECT_NEAR(f.baseline_budget_hours, 1e9 / (8611.0 * 8) / 3600, 1e-9);
  EXPECT_NEAR(f.baseline_budget_cost, f.baseline_budget_hours * 3 * 8, 1e-9);
  EXPECT_FALSE(f.gpu_energy_j_per_token.has_value());  // no measured power, no energy figure
  // A model with twice the FLOPs per token gets half the baseline rate.
  ThroughputCase big = job(80000, 8, std::nullopt);
  big.flops_per_token *= 2;
  EXPECT_NEAR(baseline_rate_per_gpu(s, big.flops_per_token), 8611 / 2.0, 1e-9);
}

TEST(RoiArithmetic, NoThroughputIsAnError) {
  const RoiSettings s = settings();
  try {
    compute_roi(job(0, 8, 700), s);
    ADD_FAILURE() << "priced a job without throughput";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(RoiInputs, EveryInputListedWithItsOrigin) {
  const RoiSettings d = settings();
  ASSERT_EQ(d.inputs.size(), roi_env_keys().size());
  for (size_t i = 0; i < d.inputs.size(); ++i) {
    EXPECT_EQ(d.inputs[i].key, roi_env_keys()[i]);
    EXPECT_EQ(d.inputs[i].origin, "default") << d.inputs[i].key;
    EXPECT_FALSE(d.inputs[i].basis.empty()) << d.inputs[i].key;
    EXPECT_FALSE(d.inputs[i].value.empty()) << d.inputs[i].key;
  }
  const RoiSettings f = settings("GPU_HOUR_PRICE=3.2\nPUE=1.2\n");
  EXPECT_DOUBLE_EQ(f.gpu_hour_price, 3.2);
  EXPECT_DOUBLE_EQ(f.pue, 1.2);
  for (const auto& in : f.inputs) {
    if (in.key == "GPU_HOUR_PRICE") {
      EXPECT_EQ(in.origin, "t.env:1");
      EXPECT_EQ(in.value, "3.2");
      EXPECT_EQ(in.unit, "USD per GPU-hour");
    }
    if (in.key == "PUE") EXPECT_EQ(in.origin, "t.env:2");
  }
  ::setenv("PUE", "1.1", 1);
  const RoiSettings e = roi_settings_from_env(EnvConfig::from_string("PUE=1.2\n", "t.env"));
  EXPECT_DOUBLE_EQ(e.pue, 1.1);
  for (const auto& in : e.inputs) {
    if (in.key == "PUE") EXPECT_EQ(in.origin, "environment");
  }
  ::unsetenv("PUE");
}

TEST(RoiInputs, AnotherCurrencyNeedsItsOwnPrices) {
  try {
    settings("CURRENCY=JPY\nGPU_HOUR_PRICE=600\n");
    ADD_FAILURE() << "accepted USD default prices under JPY";
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("CURRENCY is JPY but ELECTRICITY_PRICE_PER_KWH is the built-in USD default"),
              std::string::npos)
        << w;
    EXPECT_EQ(w.find('\n'), std::string::npos);
  }
  const RoiSettings s = settings(
      "CURRENCY=JPY\nGPU_HOUR_PRICE=600\nELECTRICITY_PRICE_PER_KWH=20\nBASELINE_GPU_HOUR_PRICE="
      "450\n");
  EXPECT_EQ(s.currency, "JPY");
  for (const auto& in : s.inputs) {
    if (in.key == "BASELINE_GPU_HOUR_PRICE") EXPECT_EQ(in.unit, "JPY per GPU-hour");
  }
}

TrainingMeasurement run(const std::string& dir, int nodes, const std::string& kind,
                        double tokens_per_s, std::optional<double> power) {
  const ModelShape m = model_shape("meta-llama/Llama-2-7b-hf");
  TrainingMeasurement t;
  t.run_dir = dir;
  t.model = m.name;
  t.params = m.params;
  t.layers = m.layers;
  t.hidden = m.hidden;
  t.seq_len = 4096;
  t.nodes = nodes;
  t.world = nodes * 8;
  t.device_kind = kind;
  t.device_name = kind == "cpu" ? "CPU: test" : "NVIDIA H200";
  t.engine = kind == "cpu" ? "cpu-reference-fp32" : "cuda-bf16";
  t.zero_stage = 2;
  t.recompute = true;
  t.model_tflops_per_device = 380;
  t.tokens_per_s = tokens_per_s;
  t.mean_gpu_power_w = power;
  t.power_source = power ? "measured: test" : "";
  return t;
}

PlanRequestFor request_for() {
  return [](const std::string& model, int64_t seq, int gpus_per_node) {
    PlanRequestOptions o;
    o.models = model;
    o.seq_len = seq;
    o.gpus_per_node = gpus_per_node;
    return make_plan_request(o, EnvConfig{});
  };
}

TEST(SalesInputs, GpuRunsMeasuredCpuRunsExcludedOtherNodeCountsProjected) {
  Measurements m;
  m.training.push_back(run("results/a_cpu", 1, "cpu", 50000, std::nullopt));
  m.training.push_back(run("results/b_gpu1", 1, "gpu", 64000, 640.0));
  m.training.push_back(run("results/a_gpu1", 1, "gpu", 60000, 600.0));  // older, same job
  const SalesInputs in = sales_inputs(m, settings(), request_for());
  ASSERT_EQ(in.measured.size(), 1u);
  EXPECT_EQ(in.measured[0].source, "results/b_gpu1/sft_metrics.json");
  EXPECT_FALSE(in.measured[0].projected);
  EXPECT_DOUBLE_EQ(in.measured[0].tokens_per_s, 64000);
  ASSERT_EQ(in.excluded.size(), 2u);
  EXPECT_NE(in.excluded[0].find("results/a_cpu"), std::string::npos);
  EXPECT_NE(in.excluded[0].find("not a GPU throughput"), std::string::npos);
  EXPECT_NE(in.excluded[1].find("results/a_gpu1: superseded by the later run results/b_gpu1"),
            std::string::npos);
  // 2, 4 and 8 nodes were not measured: projections, calibrated by the GPU run, at its power.
  ASSERT_EQ(in.projections.size(), 3u);
  for (const auto& p : in.projections) {
    EXPECT_TRUE(p.projected);
    EXPECT_GT(p.tokens_per_s, 0);
    ASSERT_TRUE(p.projection.has_value());
    EXPECT_EQ(p.projection->anchor_nodes, 1);
    EXPECT_EQ(p.projection->anchor_source, "results/b_gpu1/sft_metrics.json");
    EXPECT_NE(p.projection->calibrated_by.find("results/b_gpu1"), std::string::npos);
    // Anchored to the measurement: the measured rate times the model's ratio.
    EXPECT_NEAR(p.tokens_per_s, 64000 * p.projection->model_ratio, 1e-6);
    EXPECT_GT(p.projection->model_ratio, 1.0);
    EXPECT_NE(p.source.find("projection: "), std::string::npos);
    EXPECT_DOUBLE_EQ(*p.mean_gpu_power_w, 640.0);
  }
  EXPECT_EQ(in.projections[0].nodes, 2);
  EXPECT_EQ(in.projections[2].gpus, 64);
}

TEST(SalesMarkdown, WithoutMeasuredRunsNoFigureIsShown) {
  Measurements m;
  m.training.push_back(run("results/a_cpu", 1, "cpu", 50000, std::nullopt));
  SalesInputs in = sales_inputs(m, settings(), request_for());
  in.gpu_name = "NVIDIA H200 SXM";
  EXPECT_TRUE(in.measured.empty());
  EXPECT_TRUE(in.projections.empty());
  const std::string en = render_sales_markdown(in, ReportLang::en, "2026-01-01T00:00:00Z");
  EXPECT_NE(en.find("no measured figure and no projection"), std::string::npos);
  EXPECT_EQ(en.find("## Measured"), std::string::npos);
  EXPECT_EQ(en.find("## Projections"), std::string::npos);
  EXPECT_NE(en.find("results/a_cpu"), std::string::npos);  // listed as not priced
  for (const auto& k : roi_env_keys()) EXPECT_NE(en.find("| " + k + " |"), std::string::npos) << k;
  const std::string ja = render_sales_markdown(in, ReportLang::ja, "2026-01-01T00:00:00Z");
  EXPECT_NE(ja.find("測定値も予測値も記載しない"), std::string::npos);
  EXPECT_NE(ja.find("組み込みの既定値"), std::string::npos);
}

TEST(SalesMarkdown, MeasuredAndProjectedRowsAreLabelledAndInputsListed) {
  Measurements m;
  m.training.push_back(run("results/b_gpu1", 1, "gpu", 64000, 640.0));
  SalesInputs in = sales_inputs(m, settings("GPU_HOUR_PRICE=3.5\n"), request_for());
  in.gpu_name = "NVIDIA H200 SXM";
  const std::string en = render_sales_markdown(in, ReportLang::en, "2026-01-01T00:00:00Z");
  EXPECT_NE(en.find("## Measured: cost, time and energy"), std::string::npos);
  EXPECT_NE(en.find("`results/b_gpu1/sft_metrics.json`"), std::string::npos);
  EXPECT_NE(en.find("**Projections, not measurements**"), std::string::npos);
  EXPECT_NE(en.find("GPU board power only"), std::string::npos);
  EXPECT_NE(en.find("| GPU_HOUR_PRICE | 3.5 | USD per GPU-hour | t.env line 1 |"),
            std::string::npos);
  EXPECT_NE(en.find("| PUE | 1.58 | facility power / IT power | built-in default |"),
            std::string::npos);
  // 3.5 USD x 8 / (64,000 x 3600) x 1e6 = 0.122 USD per million tokens.
  EXPECT_NE(en.find("| 0.122 USD |"), std::string::npos) << en;
  const std::string ja = render_sales_markdown(in, ReportLang::ja, "2026-01-01T00:00:00Z");
  EXPECT_NE(ja.find("予測値であり測定値ではない"), std::string::npos);
  EXPECT_NE(ja.find("GPU ボードの電力のみ"), std::string::npos);
  EXPECT_NE(ja.find("t.env の 1 行目"), std::string::npos);
}

TEST(SalesDocument, WrittenFromAggregatedRunDirectories) {
  const fs::path results = testing::fresh_dir("sales_results");
  const fs::path out = testing::fresh_dir("sales_docs");
  testing::SyntheticRun one;
  one.tokens_per_s_per_gpu = 3000;
  one.power_w = 650;
  testing::write_synthetic_run(results, "h200_benchmark_20261130T100000Z_7b_1n", one);
  testing::SyntheticRun failed = one;
  failed.status = "failed";
  testing::write_synthetic_run(results, "h200_benchmark_20261130T110000Z_7b_2n", failed);
  clear_roi_environment();
  const fs::path doc = write_sales_presentation(results, out, EnvConfig{}, ReportLang::en);
  EXPECT_EQ(doc, out / "sales_presentation_h200_spectrumx.md");
  const std::string md = read_file(doc);
  EXPECT_NE(md.find("## Measured: cost, time and energy"), std::string::npos);
  EXPECT_NE(md.find("h200_benchmark_20261130T100000Z_7b_1n/sft_metrics.json"), std::string::npos);
  // 4 USD x 8 / (24,000 tokens/s x 3600) x 1e6 = 0.370 USD per million tokens.
  EXPECT_NE(md.find("| 0.370 USD |"), std::string::npos) << md;
  // The failed run is named as not priced.
  EXPECT_NE(md.find("h200_benchmark_20261130T110000Z_7b_2n: the run failed"), std::string::npos);
  const std::string ja =
      read_file(write_sales_presentation(results, out, EnvConfig{}, ReportLang::ja));
  EXPECT_NE(ja.find("## 測定値: コスト・時間・エネルギー"), std::string::npos);
  fs::remove_all(results);
  fs::remove_all(out);
}

}  // namespace
}  // namespace sxb::report
