#include "validate/claims.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "model/flops.hpp"

namespace sxb {

namespace {

const HardwareSpec& spec_by_id(const std::vector<HardwareSpec>& specs, const std::string& id,
                               const char* what, std::string_view source) {
  for (const auto& s : specs) {
    if (s.id == id) return s;
  }
  throw usage_error(fmt::format("{}: unknown {} '{}' (see configs/hardware)", source, what, id));
}

// The bounds of a claim's fields: counts that keep every product (nodes x GPUs x TFLOP/s)
// finite, and figures that are finite and not negative.
constexpr int64_t kMaxClaimNodes = 100000;
constexpr int64_t kMaxClaimTokens = int64_t(1) << 24;
constexpr double kMaxClaimValue = 1e18;

// One field of a claim, through the strict JSON helpers: "<file>: claim '<id>' key "k": ...".
struct ClaimFields {
  const nlohmann::json& c;
  std::string where;  // "<file>: claim '<id>'"
  std::string id;
  std::string_view source;

  const nlohmann::json& require(const char* key) const {
    if (!c.contains(key) || c[key].is_null()) {
      throw usage_error(fmt::format("{}: claim '{}' lacks '{}'", source, id, key));
    }
    return c[key];
  }
  std::string text(const char* key) const {
    return json_string(require(key), json_key_name(where, key));
  }
  int64_t integer(const char* key, int64_t min, int64_t max) const {
    return json_int(require(key), json_key_name(where, key), min, max);
  }
  double number(const char* key, double min, double max) const {
    return json_number(require(key), json_key_name(where, key), min, max);
  }
};

Finding throughput_claim(const ClaimFields& c, const std::string& id, double tokens_per_s,
                         int64_t seq_len, const std::string& as_stated, const HardwareSpec& gpu,
                         int gpus_per_node, const ModelResolver& resolve) {
  const auto model_name = c.text("model");
  const int nodes = static_cast<int>(c.integer("nodes", 1, kMaxClaimNodes));
  const ModelShape m = resolve(model_name);
  const double flops_per_token = palm_flops_per_token(m, seq_len);
  const double needed_tflops = tokens_per_s * flops_per_token / 1e12;
  const int64_t gpus = int64_t(nodes) * gpus_per_node;
  const double peak = gpu.figure("dense_bf16_tflops").value;
  const double available = double(gpus) * peak;
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
                                     const ModelResolver& resolve, std::string_view source) {
  if (!j.is_object() || !j.contains("claims") || !j["claims"].is_array()) {
    throw usage_error(fmt::format("{}: expected an object with a 'claims' array", source));
  }
  nlohmann::json cluster = nlohmann::json::object();
  if (j.contains("cluster") && !j["cluster"].is_null()) {
    cluster = j["cluster"];
    if (!cluster.is_object()) {
      throw usage_error(fmt::format("{}: key \"cluster\" must be an object", source));
    }
  }
  const std::string cw = fmt::format("{}: cluster", source);
  const HardwareSpec& gpu = spec_by_id(
      specs, json_string_member(cluster, "gpu", cw).value_or("h200_sxm"), "gpu", source);
  const HardwareSpec& nic = spec_by_id(
      specs, json_string_member(cluster, "nic", cw).value_or("nic_400gbe"), "nic", source);
  const int gpus_per_node =
      static_cast<int>(json_int_member(cluster, "gpus_per_node", cw, 1, 64).value_or(8));
  const double ports = json_number_member(cluster, "nic_ports_per_node", cw, 1, 64)
                           .value_or(nic.figure("ports_per_node").value);
  std::vector<Finding> out;
  int index = 0;
  for (const auto& claim : j["claims"]) {
    const std::string fallback_id = fmt::format("claim {}", index++);
    if (!claim.is_object()) {
      throw usage_error(fmt::format("{}: {} is not an object", source, fallback_id));
    }
    // "id" is optional, but when present it is a string: null is refused like any other type.
    const std::string id_where = fmt::format("{}: {}", source, fallback_id);
    const std::string id = claim.contains("id")
                               ? json_string(claim["id"], json_key_name(id_where, "id"))
                               : fallback_id;
    const ClaimFields c{claim, fmt::format("{}: claim '{}'", source, id), id, source};
    const auto kind = c.text("kind");
    // Rates and bandwidths cannot be negative; percentages are judged by their finding.
    const bool percent = kind == "gpu_utilization_percent" || kind == "scaling_efficiency_percent";
    const double value = c.number("value", percent ? -kMaxClaimValue : 0, kMaxClaimValue);
    if (kind == "training_samples_per_s") {
      const auto tokens = c.integer("tokens_per_sample", 1, kMaxClaimTokens);
      out.push_back(throughput_claim(c, id, value * static_cast<double>(tokens), tokens,
                                     fmt::format("{:g} samples/s of {} tokens", value, tokens), gpu,
                                     gpus_per_node, resolve));
    } else if (kind == "training_tokens_per_s") {
      const auto seq = c.integer("seq_len", 1, kMaxClaimTokens);
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
      f.subject =
          fmt::format("{}: {:g}% at {} node(s)", id, value, c.integer("nodes", 1, kMaxClaimNodes));
      f.measured = value;
      f.limit = 100;
      f.unit = "%";
      f.verdict = value <= 0 ? Verdict::impossible : (value <= 100 ? Verdict::ok : Verdict::warning);
      f.arithmetic = fmt::format(
          "{:g}%: per-GPU throughput at N nodes / at 1 node; above 100% is superlinear and "
          "needs an explanation (e.g. a changed batch)", value);
      out.push_back(f);
    } else {
      throw usage_error(fmt::format("{}: claim '{}' has unknown kind '{}'", source, id, kind));
    }
  }
  return out;
}

}  // namespace sxb
