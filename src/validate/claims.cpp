#include "validate/claims.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "bench/collectives.hpp"
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

// The datasheet figure of a GPU for a data type: "bf16" -> dense_bf16_tflops, "fp8_e4m3" ->
// dense_fp8_tflops, "fp32" -> fp32_tflops. Unknown types name the claim's key.
std::string peak_key(const ClaimFields& c, const std::string& dtype) {
  if (dtype == "bf16" || dtype == "fp16" || dtype == "tf32") return fmt::format("dense_{}_tflops", dtype);
  if (dtype.rfind("fp8", 0) == 0) return "dense_fp8_tflops";
  if (dtype == "fp32") return "fp32_tflops";
  throw usage_error(fmt::format("{}: key \"{}\": unknown data type '{}' (bf16, fp16, fp8, tf32, fp32)",
                                c.where, c.c.contains("dtype") ? "dtype" : "precision", dtype));
}

// tokens/s for a model on nodes x GPUs: PaLM FLOPs per token x tokens/s against the dense peak of
// the claim's precision (bf16 unless stated), then the best published training MFU of that
// precision. `derived` says how tokens/s follows from the claimed figure (energy, time).
Finding throughput_claim(const ClaimFields& c, const std::string& id, double tokens_per_s,
                         int64_t seq_len, const std::string& as_stated, const HardwareSpec& gpu,
                         int gpus_per_node, const ModelResolver& resolve,
                         const std::vector<Record>& records, const std::string& derived = {}) {
  const auto model_name = c.text("model");
  const int nodes = static_cast<int>(c.integer("nodes", 1, kMaxClaimNodes));
  const std::string precision = c.c.contains("precision") ? c.text("precision") : "bf16";
  const std::string key = peak_key(c, precision);
  const ModelShape m = resolve(model_name);
  const double flops_per_token = palm_flops_per_token(m, seq_len);
  const double needed_tflops = tokens_per_s * flops_per_token / 1e12;
  const int64_t gpus = int64_t(nodes) * gpus_per_node;
  const double peak = gpu.figure(key).value;
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
      "{}{:.4g} tokens/s x {:.4g} FLOP/token (6N + 12·L·d·T, N = {}, L = {}, d = {}, T = {}) = "
      "{:.4g} TFLOP/s needed; {} GPUs x {:.1f} TFLOP/s dense {} ({}) = {:.4g} TFLOP/s peak; "
      "ratio {:.2f}x peak{}",
      derived, tokens_per_s, flops_per_token, m.params, m.layers, m.hidden, seq_len, needed_tflops,
      gpus, peak, precision, gpu.id, available, ratio,
      ratio > 1 ? " — impossible" : fmt::format(" (MFU {:.0f}%)", ratio * 100));
  // Per GPU, so the record's MFU scales with this GPU's peak.
  f.unit = "TFLOP/s per GPU";
  compare_with_record(f, needed_tflops / double(gpus), peak,
                      best_record(records, "training_mfu", precision), /*note_missing=*/true,
                      record_scope("training_mfu", precision));
  f.unit = "TFLOP/s";
  return f;
}

// A figure against one datasheet figure of the GPU (impossible above it), then against the best
// published record of its kind and precision as a fraction of that figure.
Finding datasheet_claim(const std::string& check, const std::string& subject, double value,
                        const HardwareSpec& gpu, const std::string& key, const char* unit,
                        const Record* record, bool note_missing = true,
                        std::string_view scope = {}) {
  const HardwareFigure& fig = gpu.figure(key);
  Finding f;
  f.check = check;
  f.subject = subject;
  f.measured = value;
  f.limit = fig.value;
  f.unit = unit;
  f.verdict = value <= fig.value ? Verdict::ok : Verdict::impossible;
  f.arithmetic = fmt::format("{:g} {} {} {:g} {} ({} of {}: {}): {:.1f}% of it{}", value, unit,
                             value <= fig.value ? "<=" : ">", fig.value, unit, key, gpu.id,
                             fig.source, 100 * value / fig.value,
                             value <= fig.value ? "" : " — impossible");
  compare_with_record(f, value, fig.value, record, note_missing, scope);
  return f;
}

}  // namespace

std::vector<Finding> validate_claims(const nlohmann::json& j, const std::vector<HardwareSpec>& specs,
                                     const ModelResolver& resolve, std::string_view source,
                                     const std::vector<Record>& records) {
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
    // An fp8 GEMM's scaling: "tensor" (one scalar per matrix, the cuBLAS / Transformer Engine
    // path; the default) or "block" (fine-grained per-block scales, as DeepGEMM). Records set
    // with one scaling do not bound the other. No other kind states one.
    const auto scaling = json_string_member(claim, "scaling", c.where);
    if (scaling && kind != "gemm_tflops") {
      throw usage_error(fmt::format("{}: only a gemm_tflops claim states an fp8 scaling",
                                    json_key_name(c.where, "scaling")));
    }
    if (kind == "training_samples_per_s") {
      const auto tokens = c.integer("tokens_per_sample", 1, kMaxClaimTokens);
      out.push_back(throughput_claim(c, id, value * static_cast<double>(tokens), tokens,
                                     fmt::format("{:g} samples/s of {} tokens", value, tokens), gpu,
                                     gpus_per_node, resolve, records));
    } else if (kind == "training_tokens_per_s") {
      const auto seq = c.integer("seq_len", 1, kMaxClaimTokens);
      out.push_back(throughput_claim(c, id, value, seq, fmt::format("{:g} tokens/s", value), gpu,
                                     gpus_per_node, resolve, records));
    } else if (kind == "energy_per_token_joules") {
      // Energy per token = the GPUs' power / tokens/s, so a claim with the power drawn states a
      // throughput: tokens/s = nodes x GPUs x W / (J/token). The power first: above the board
      // limit it cannot be drawn.
      const auto seq = c.integer("seq_len", 1, kMaxClaimTokens);
      const double watts = c.number("watts_per_gpu", 0, kMaxClaimValue);
      const int nodes = static_cast<int>(c.integer("nodes", 1, kMaxClaimNodes));
      const HardwareFigure& tdp = gpu.figure("tdp_watts");
      if (!(value > 0) || !(watts > 0)) {
        throw usage_error(fmt::format("{}: claim '{}': keys \"value\" and \"watts_per_gpu\" must be "
                                      "above 0", source, id));
      }
      if (watts > tdp.value) {
        out.push_back(datasheet_claim(
            "claim.energy_per_token", fmt::format("{}: {:g} J/token at {:g} W per GPU", id, value, watts),
            watts, gpu, "tdp_watts", "W", nullptr, false));
        continue;
      }
      const double gpus = double(nodes) * gpus_per_node;
      const double tokens_per_s = gpus * watts / value;
      Finding f = throughput_claim(
          c, id, tokens_per_s, seq,
          fmt::format("{:g} J/token at {:g} W per GPU", value, watts), gpu, gpus_per_node,
          resolve, records,
          fmt::format("{:g} GPUs x {:g} W (<= {:g} W board limit) / {:g} J/token = ", gpus, watts,
                      tdp.value, value));
      f.check = "claim.energy_per_token";
      out.push_back(f);
    } else if (kind == "time_to_train_hours") {
      // A training time for a token count states a throughput: tokens / (hours x 3600).
      const auto seq = c.integer("seq_len", 1, kMaxClaimTokens);
      const double tokens = c.number("tokens", 1, kMaxClaimValue);
      if (!(value > 0)) {
        throw usage_error(fmt::format("{}: claim '{}': key \"value\" must be above 0", source, id));
      }
      const double tokens_per_s = tokens / (value * 3600.0);
      Finding f = throughput_claim(
          c, id, tokens_per_s, seq, fmt::format("{:g} h for {:g} tokens", value, tokens), gpu,
          gpus_per_node, resolve, records,
          fmt::format("{:g} tokens / ({:g} h x 3600 s) = ", tokens, value));
      f.check = "claim.time_to_train";
      out.push_back(f);
    } else if (kind == "gemm_tflops" || kind == "attention_tflops") {
      const std::string dtype = c.text("dtype");
      const std::string key = peak_key(c, dtype);
      const bool fp8 = precision_class(dtype) == "fp8";
      if (scaling && !known_fp8_scaling(*scaling)) {
        throw usage_error(fmt::format("{}: unknown fp8 scaling '{}' (tensor, block)",
                                      json_key_name(c.where, "scaling"), *scaling));
      }
      if (scaling && !fp8) {
        throw usage_error(fmt::format("{}: only an fp8 GEMM has a scaling (dtype is '{}')",
                                      json_key_name(c.where, "scaling"), dtype));
      }
      const std::string gemm_scaling =
          kind == "gemm_tflops" && fp8 ? scaling.value_or("tensor") : std::string();
      out.push_back(datasheet_claim(
          kind == "gemm_tflops" ? "claim.gemm_vs_peak" : "claim.attention_vs_peak",
          fmt::format("{}: {} {:g} TFLOP/s per GPU", id,
                      kind == "gemm_tflops" ? "GEMM" : "attention", value),
          value, gpu, key, "TFLOP/s", best_record(records, kind, dtype, {}, gemm_scaling), true,
          record_scope(kind, dtype, {}, gemm_scaling)));
    } else if (kind == "hbm_bandwidth_gb_per_s") {
      out.push_back(datasheet_claim("claim.hbm_bandwidth_vs_spec",
                                    fmt::format("{}: HBM {:g} GB/s per GPU", id, value), value, gpu,
                                    "hbm_bandwidth_gb_per_s", "GB/s",
                                    best_record(records, "hbm_bandwidth"), true,
                                    record_scope("hbm_bandwidth")));
    } else if (kind == "gpu_power_watts") {
      out.push_back(datasheet_claim("claim.gpu_power_vs_board_limit",
                                    fmt::format("{}: {:g} W per GPU", id, value), value, gpu,
                                    "tdp_watts", "W", nullptr, false));
    } else if (kind == "collective_busbw_gb_per_s") {
      const std::string op = c.text("op");
      bool known = false;
      for (const auto& spec : collectives()) known = known || spec.name == op;
      if (!known) {
        throw usage_error(fmt::format("{}: key \"op\": unknown collective '{}'", c.where, op));
      }
      const int nodes = static_cast<int>(c.integer("nodes", 1, kMaxClaimNodes));
      const int ranks = static_cast<int>(std::min<int64_t>(int64_t(nodes) * gpus_per_node, 1 << 30));
      const double ceiling = busbw_ceiling_factor(op, ranks);
      Finding f;
      f.check = "claim.collective_busbw";
      f.subject = fmt::format("{}: {} busbw {:g} GB/s on {} node(s) x {} GPUs", id, op, value, nodes,
                              gpus_per_node);
      f.measured = value;
      f.unit = "GB/s";
      const std::string ceiling_text =
          ceiling == 1.0 ? std::string(" x 1 (each rank moves busbw over its link)")
                         : fmt::format(" x {:.4g} (2(n-1)/n, n = {} ranks: in-network reduction)",
                                       ceiling, ranks);
      if (nodes == 1) {
        const HardwareFigure& link = gpu.figure("nvlink_bandwidth_per_direction_gb_per_s");
        const double limit = link.value * ceiling;
        f.limit = limit;
        f.verdict = value <= limit ? Verdict::ok : Verdict::impossible;
        f.arithmetic = fmt::format("{:g} GB/s {} NVLink {:g} GB/s per direction ({}: {}){} = {:.4g} "
                                   "GB/s{}",
                                   value, value <= limit ? "<=" : ">", link.value, gpu.id, link.source,
                                   ceiling_text, limit, value <= limit ? "" : " — impossible");
        compare_with_record(f, value, link.value,
                            best_record(records, "collective_busbw_intra_node", {}, op), true,
                            record_scope("collective_busbw_intra_node", {}, op));
      } else {
        const double per_port = nic.figure("bandwidth_per_direction_gb_per_s").value;
        const double limit = ports * per_port * ceiling;
        f.limit = limit;
        f.verdict = value <= limit ? Verdict::ok : Verdict::impossible;
        f.arithmetic = fmt::format(
            "{:g} GB/s {} {:g} ports x {:g} GB/s per direction ({}){} = {:.4g} GB/s: the node's "
            "NICs carry every ring's crossing{}",
            value, value <= limit ? "<=" : ">", ports, per_port, nic.id, ceiling_text, limit,
            value <= limit ? "" : " — impossible");
        compare_inter_node_record(f, value, ports * per_port, nodes, records, op);
      }
      out.push_back(f);
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
