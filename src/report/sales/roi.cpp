#include "report/sales/roi.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "model/flops.hpp"
#include "hub/hub_cache.hpp"
#include "model/model_shape.hpp"

namespace sxb::report {

namespace {

struct KeyUnit {
  const char* key;
  const char* unit;  // "{currency}" is replaced by the currency
};

// The order the document lists them in: prices, energy, the job, the baseline.
constexpr KeyUnit kKeys[] = {
    {"CURRENCY", ""},
    {"GPU_HOUR_PRICE", "{currency} per GPU-hour"},
    {"ELECTRICITY_PRICE_PER_KWH", "{currency} per kWh"},
    {"PUE", "facility power / IT power"},
    {"NODE_POWER_OVERHEAD", "node power / GPU board power"},
    {"FINE_TUNE_TOKEN_BUDGET", "tokens"},
    {"BASELINE_NAME", ""},
    {"BASELINE_TOKENS_PER_S_PER_GPU", "tokens/s per GPU"},
    {"BASELINE_MODEL", ""},
    {"BASELINE_SEQ_LEN", "tokens"},
    {"BASELINE_GPU_HOUR_PRICE", "{currency} per GPU-hour"},
};

std::string unit_for(const char* unit, const std::string& currency) {
  std::string u = unit;
  const std::string tag = "{currency}";
  if (auto p = u.find(tag); p != std::string::npos) u.replace(p, tag.size(), currency);
  return u;
}

}  // namespace

const std::vector<std::string>& roi_env_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& e : kKeys) k.emplace_back(e.key);
    return k;
  }();
  return keys;
}

RoiSettings roi_settings_from_env(const EnvConfig& env) {
  RoiSettings s;
  auto number = [&](const char* key) {
    const auto v = env.get_number(key);
    if (!v) throw usage_error(fmt::format("{} is not set and has no default", key));
    return *v;
  };
  s.currency = env.get_string("CURRENCY");
  if (s.currency.empty()) throw usage_error("CURRENCY is empty");
  s.gpu_hour_price = number("GPU_HOUR_PRICE");
  s.electricity_price_per_kwh = number("ELECTRICITY_PRICE_PER_KWH");
  s.pue = number("PUE");
  s.node_power_overhead = number("NODE_POWER_OVERHEAD");
  s.fine_tune_token_budget = number("FINE_TUNE_TOKEN_BUDGET");
  s.baseline_name = env.get_string("BASELINE_NAME");
  s.baseline_tokens_per_s_per_gpu = number("BASELINE_TOKENS_PER_S_PER_GPU");
  s.baseline_model = env.get_string("BASELINE_MODEL");
  s.baseline_seq_len = static_cast<int64_t>(number("BASELINE_SEQ_LEN"));
  s.baseline_gpu_hour_price = number("BASELINE_GPU_HOUR_PRICE");
  // The built-in prices are USD figures: under another currency they would carry a wrong unit.
  if (s.currency != "USD") {
    for (const char* key :
         {"GPU_HOUR_PRICE", "ELECTRICITY_PRICE_PER_KWH", "BASELINE_GPU_HOUR_PRICE"}) {
      if (env.source(key) == "default") {
        throw usage_error(
            fmt::format("CURRENCY is {} but {} is the built-in USD default: set {} "
                        "in .env or the environment",
                        s.currency, key, key));
      }
    }
  }
  const ModelShape baseline = model_shape(s.baseline_model, hub::hub_settings(env));
  s.baseline_flops_per_token = palm_flops_per_token(baseline, s.baseline_seq_len);
  for (const auto& k : kKeys) {
    const EnvKey* known = find_env_key(k.key);
    RoiInput in;
    in.key = k.key;
    in.value = env.get_string(k.key);
    in.unit = unit_for(k.unit, s.currency);
    in.origin = env.source(k.key);
    in.basis = known ? known->description : "";
    s.inputs.push_back(std::move(in));
  }
  return s;
}

double cost_per_million_tokens(double gpu_hour_price, int gpus, double tokens_per_s) {
  return gpu_hour_price * gpus / (tokens_per_s * 3600.0) * 1e6;
}

double baseline_rate_per_gpu(const RoiSettings& s, double model_flops_per_token) {
  return s.baseline_tokens_per_s_per_gpu * s.baseline_flops_per_token / model_flops_per_token;
}

RoiFigures compute_roi(const ThroughputCase& c, const RoiSettings& s) {
  if (!(c.tokens_per_s > 0) || c.gpus < 1) {
    throw usage_error(
        fmt::format("ROI of {} on {} node(s): no positive throughput", c.model, c.nodes));
  }
  if (!(c.flops_per_token > 0)) {
    throw usage_error(fmt::format("ROI of {}: model FLOPs per token unknown", c.model));
  }
  RoiFigures f;
  const double gpus = c.gpus;
  f.tokens_per_s_per_gpu = c.tokens_per_s / gpus;
  f.job_price_per_hour = s.gpu_hour_price * gpus;
  f.cost_per_million_tokens = cost_per_million_tokens(s.gpu_hour_price, c.gpus, c.tokens_per_s);
  f.budget_hours = s.fine_tune_token_budget / c.tokens_per_s / 3600.0;
  f.budget_cost = f.budget_hours * f.job_price_per_hour;
  if (c.mean_gpu_power_w && *c.mean_gpu_power_w > 0) {
    f.gpu_energy_j_per_token = *c.mean_gpu_power_w * gpus / c.tokens_per_s;
    f.facility_energy_j_per_token = *f.gpu_energy_j_per_token * s.node_power_overhead * s.pue;
    f.facility_kwh_per_million_tokens = *f.facility_energy_j_per_token * 1e6 / 3.6e6;
    f.energy_cost_per_million_tokens =
        *f.facility_kwh_per_million_tokens * s.electricity_price_per_kwh;
    f.budget_facility_kwh = *f.facility_energy_j_per_token * s.fine_tune_token_budget / 3.6e6;
    f.budget_energy_cost = *f.budget_facility_kwh * s.electricity_price_per_kwh;
  }
  f.baseline_tokens_per_s_per_gpu = baseline_rate_per_gpu(s, c.flops_per_token);
  const double baseline_rate = f.baseline_tokens_per_s_per_gpu * gpus;
  f.baseline_cost_per_million_tokens =
      cost_per_million_tokens(s.baseline_gpu_hour_price, c.gpus, baseline_rate);
  f.baseline_budget_hours = s.fine_tune_token_budget / baseline_rate / 3600.0;
  f.baseline_budget_cost = f.baseline_budget_hours * s.baseline_gpu_hour_price * gpus;
  f.speedup_per_gpu = f.tokens_per_s_per_gpu / f.baseline_tokens_per_s_per_gpu;
  f.cost_saving_fraction = 1.0 - f.cost_per_million_tokens / f.baseline_cost_per_million_tokens;
  return f;
}

}  // namespace sxb::report
