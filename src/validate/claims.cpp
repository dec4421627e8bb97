#include "validate/claims.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "perfmodel/perf_model.hpp"  // palm_flops_per_token(ModelShape, seq_len)

namespace sxb {

namespace {

const HardwareSpec& spec_by_id(const std::vector<HardwareSpec>& specs, const std::string& id,
                               const char* what) {
  for (const auto& s : specs) {
    if (s.id == id) return s;
  }
  throw usage_error(fmt::format("claims: unknown {} '{}' (see configs/hardware)", what, id));
}

template <typename T>
T field(const nlohmann::json& c, const char* key, const std::string& id) {
  if (!c.contains(key)) throw usage_error(fmt::format("claims: claim '{}' lacks '{}'", id, key));
  try {
    return c[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw usage_error(fmt::format("claims: claim '{}' has a bad '{}'", id, key));
  }
}

Finding throughput_claim(const nlohmann::json& c, const std::string& id, double tokens_per_s,
                         int64_t seq_len, const std::string& as_stated, const HardwareSpec& gpu,
                         int gpus_per_node, const ModelResolver& resolve) {
  const auto model_name = field<std::string>(c, "model", id);
  const int nodes = field<int>(c, "nodes", id);
  const ModelShape m = resolve(model_name);
  const double flops_per_token = palm_flops_per_token(m, seq_len);
  const double needed_tflops = tokens_per_s * flops_per_token / 1e12;
  const int gpus = nodes * gpus_per_node;
  const double peak = gpu.figure("dense_bf16_tflops").value;
  const double available = gpus * peak;
  const double ratio = needed_tflops / available;
  Finding f;
  f.check = "claim.training_flops_vs_peak";
  f.subject = fmt::format("{}: {} for {} on {} node(s)", id, as_stated, model_name, nodes);
  f.measured = needed_tflops;
  f.limit = available;
  f.unit = "TFLOP/s";
  f.verdict = ratio <= 1.0 ? Verdict::ok : Verdict::impossible;
  f.arithmetic = fmt::format(
      "{:.4g} tokens/s x {:.4g} FLOP/token (6N + 12·L·d·T, N = {}, L = {}, d = {}, T = {}) = "
      "{:.4g} TFLOP/s needed; {} GPUs x {:.1f} TFLOP/s dense bf16 ({}) = {:.4g} TFLOP/s peak; "
      "ratio {:.2f}x peak{}",
      tokens_per_s, flops_per_token, m.params, m.layers, m.hidden, seq_len, needed_tflops, gpus,
      peak, gpu.id, available, ratio,
      ratio > 1 ? " — impossible" : fmt::format(" (MFU {:.0f}%)", ratio * 100));
  return f;
}

}  // namespace

std::vector<Finding> validate_claims(const nlohmann::json& j, const std::vector<HardwareSpec>& specs,
                                     const ModelResolver& resolve) {
  if (!j.is_object() || !j.contains("claims") || !j["claims"].is_array()) {
    throw usage_error("claims: expected an object with a 'claims' array");
  }
  const nlohmann::json cluster = j.value("cluster", nlohmann::json::object());
  const HardwareSpec& gpu = spec_by_id(specs, cluster.value("gpu", std::string("h200_sxm")), "gpu");
  const HardwareSpec& nic = spec_by_id(specs, cluster.value("nic", std::string("nic_400gbe")), "nic");
  const int gpus_per_node = cluster.value("gpus_per_node", 8);
  const double ports = cluster.value("nic_ports_per_node", nic.figure("ports_per_node").value);
  std::vector<Finding> out;
  int index = 0;
  for (const auto& c : j["claims"]) {
    const std::string id = c.value("id", fmt::format("claim {}", index++));
    const auto kind = field<std::string>(c, "kind", id);
    const double value = field<double>(c, "value", id);
    if (kind == "training_samples_per_s") {
      const auto tokens = field<int64_t>(c, "tokens_per_sample", id);
      out.push_back(throughput_claim(c, id, value * static_cast<double>(tokens), tokens,
                                     fmt::format("{:g} samples/s of {} tokens", value, tokens), gpu,
                                     gpus_per_node, resolve));
    } else if (kind == "training_tokens_per_s") {
      const auto seq = field<int64_t>(c, "seq_len", id);
      out.push_back(throughput_claim(c, id, value, seq, fmt::format("{:g} tokens/s", value), gpu,
                                     gpus_per_node, resolve));
    } else if (kind == "node_network_gbit_per_s") {
      const double line = nic.figure("line_rate_gbit_per_s").value;
      const double limit = ports * line;
      Finding f;
      f.check = "claim.node_bandwidth_vs_line_rate";
      f.subject = fmt::format("{}: {:g} Gbit/s per node", id, value);
      f.measured = value;
      f.limit = limit;
      f.unit = "Gbit/s";
      f.verdict = value <= limit ? Verdict::ok : Verdict::impossible;
      f.arithmetic = fmt::format("{:g} Gbit/s claimed {} {:g} ports x {:g} Gbit/s line rate ({}) = "
                                 "{:g} Gbit/s per node{}",
                                 value, value <= limit ? "<=" : ">", ports, line, nic.id, limit,
                                 value <= limit ? "" : " — impossible");
      out.push_back(f);
    } else if (kind == "gpu_utilization_percent") {
      Finding f;
      f.check = "claim.percent_range";
      f.subject = fmt::format("{}: GPU utilisation {:g}%", id, value);
      f.measured = value;
      f.limit = 100;
      f.unit = "%";
      f.verdict = value >= 0 && value <= 100 ? Verdict::ok : Verdict::impossible;
      f.arithmetic = fmt::format("{:g}% must lie in 0..100% (note: NVML utilization.gpu only says "
                                 "a kernel ran; SM activity is the stronger figure)", value);
      out.push_back(f);
    } else if (kind == "scaling_efficiency_percent") {
      Finding f;
      f.check = "claim.scaling_efficiency";
      f.subject = fmt::format("{}: {:g}% at {} node(s)", id, value, field<int>(c, "nodes", id));
      f.measured = value;
      f.limit = 100;
      f.unit = "%";
      f.verdict = value <= 0 ? Verdict::impossible : (value <= 100 ? Verdict::ok : Verdict::warning);
      f.arithmetic = fmt::format(
          "{:g}%: per-GPU throughput at N nodes / at 1 node; above 100% is superlinear and "
          "needs an explanation (e.g. a changed batch)", value);
      out.push_back(f);
    } else {
      throw usage_error(fmt::format("claims: claim '{}' has unknown kind '{}'", id, kind));
    }
  }
  return out;
}

}  // namespace sxb
