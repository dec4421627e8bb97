#pragma once
// The sales summary's arithmetic (docs/sales_presentation_h200_spectrumx.md): cost per million
// training tokens, time and cost of a stated fine-tuning token budget, energy per token from
// measured GPU board power, and the comparison with a stated baseline. Pure functions of a
// throughput case and stated inputs; every input is a .env key (core/env_config.cpp) listed with
// its value and where it came from.
//
// Formulas (G = GPUs, R = tokens/s of the whole job, P = price of one GPU-hour):
//   cost per million tokens  = P x G / (R x 3600) x 1e6
//   time of a budget B       = B / R                        cost of B = time [h] x G x P
//   GPU energy per token     = mean board power per GPU [W] x G / R   (J/token)
//   facility energy per token = GPU energy per token x NODE_POWER_OVERHEAD x PUE
//   baseline rate per GPU for a model = BASELINE_TOKENS_PER_S_PER_GPU x F(baseline model) /
//   F(model)
//     (F = PaLM model FLOPs per token: the baseline is taken at equal model FLOP/s per GPU)
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/env_config.hpp"

namespace sxb::report {

// One stated input of the summary: the .env key, its value and where it came from.
struct RoiInput {
  std::string key;
  std::string value;  // as resolved
  std::string unit;
  std::string origin;  // "FILE:LINE" (a .env line), "environment" or "default"
  std::string basis;   // what it means and, for a default, its source
};

struct RoiSettings {
  std::string currency = "USD";
  double gpu_hour_price = 0;             // currency per GPU-hour
  double electricity_price_per_kwh = 0;  // currency per kWh
  double pue = 1;                        // facility power / IT power
  double node_power_overhead = 1;        // node power / GPU board power
  double fine_tune_token_budget = 0;     // tokens
  std::string baseline_name;
  double baseline_tokens_per_s_per_gpu = 0;  // for baseline_model at baseline_seq_len
  std::string baseline_model;
  int64_t baseline_seq_len = 0;
  double baseline_gpu_hour_price = 0;
  double baseline_flops_per_token = 0;  // PaLM, baseline_model at baseline_seq_len
  std::vector<RoiInput> inputs;         // every input, in a fixed order
};

// The .env keys the summary reads, in the order the document lists them.
const std::vector<std::string>& roi_env_keys();

// Reads every input from the settings. Prices left at their built-in USD defaults while CURRENCY
// names another currency are an error (the figures would carry the wrong unit). The baseline
// model is resolved through the model registry for its FLOPs per token.
RoiSettings roi_settings_from_env(const EnvConfig& env);

// How a projection was made: the measured rate of the nearest measured node count times the
// performance model's predicted ratio between the two node counts.
struct ProjectionBasis {
  int anchor_nodes = 0;
  double anchor_tokens_per_s = 0;
  std::string anchor_source;  // run file
  double model_ratio = 0;     // predicted tokens/s at nodes / at anchor_nodes
  std::string recompute;      // recomputation the prediction assumes
  std::string ds_config;
  std::string calibrated_by;  // run directories the model's calibration came from
};

// A throughput the summary prices: a measured training run, or a projection of the performance
// model for a node count that was not measured.
struct ThroughputCase {
  std::string model;
  int nodes = 1;
  int gpus = 1;
  int64_t seq_len = 0;
  double tokens_per_s = 0;     // the whole job
  double flops_per_token = 0;  // PaLM model FLOPs per token of this model at seq_len
  bool projected = false;
  std::string source;                         // run directory, or how the projection was made
  std::optional<ProjectionBasis> projection;  // set for projections
  std::optional<double> mean_gpu_power_w;     // measured board power per GPU, mean over the run
  std::string power_source;  // measured: how and where; projected: the measured run it copies
};

struct RoiFigures {
  double tokens_per_s_per_gpu = 0;
  double job_price_per_hour = 0;  // G x P
  double cost_per_million_tokens = 0;
  double budget_hours = 0;
  double budget_cost = 0;
  std::optional<double> gpu_energy_j_per_token;
  std::optional<double> facility_energy_j_per_token;
  std::optional<double> facility_kwh_per_million_tokens;
  std::optional<double> energy_cost_per_million_tokens;
  std::optional<double> budget_facility_kwh;
  std::optional<double> budget_energy_cost;
  double baseline_tokens_per_s_per_gpu = 0;
  double baseline_cost_per_million_tokens = 0;
  double baseline_budget_hours = 0;  // the same number of baseline GPUs
  double baseline_budget_cost = 0;
  double speedup_per_gpu = 0;       // tokens/s/GPU over the baseline's
  double cost_saving_fraction = 0;  // 1 - cost / baseline cost (negative: dearer)
};

double cost_per_million_tokens(double gpu_hour_price, int gpus, double tokens_per_s);
double baseline_rate_per_gpu(const RoiSettings& s, double model_flops_per_token);
// Throws sxb::Error when the case has no positive throughput or GPU count.
RoiFigures compute_roi(const ThroughputCase& c, const RoiSettings& s);

}  // namespace sxb::report
