#include <fmt/format.h>

#include "validate/findings.hpp"

namespace sxb {

std::vector<Finding> validate_compute(const nlohmann::json& c, const std::vector<Record>& records) {
  std::vector<Finding> out;
  auto against_spec = [&](const nlohmann::json& row, const char* value_key, const std::string& check,
                          const std::string& subject, const char* unit, const Record* record,
                          const std::string& missing_scope = {}) {
    if (!row.contains("spec") || !row["spec"].is_object() || !row.contains(value_key)) return;
    const double v = row[value_key].get<double>();
    const double limit = row["spec"].value("value", 0.0);
    if (!(limit > 0)) return;
    Finding f;
    f.check = check;
    f.subject = subject;
    f.measured = v;
    f.limit = limit;
    f.unit = unit;
    f.verdict = v <= limit ? Verdict::ok : Verdict::impossible;
    f.arithmetic = fmt::format("{:.1f} {} {} {:.1f} {} ({}, datasheet): {:.1f}% of it", v, unit,
                               v <= limit ? "<=" : ">", limit, unit,
                               row["spec"].value("key", std::string()), 100 * v / limit);
    compare_with_record(f, v, limit, record, !missing_scope.empty(), missing_scope);
    out.push_back(f);
  };
  for (const auto& g : c.value("gemm", nlohmann::json::array())) {
    const std::string dtype = g.value("dtype", "");
    // compute.json states no fp8 scaling because it has one: cuBLASLt with one scalar scale per
    // matrix (scale_pointers true) or unit scales (false), per-tensor either way. A record set
    // with fine-grained (block) scaling does more work per product and does not bound it.
    const std::string scaling = precision_class(dtype) == "fp8" ? "tensor" : "";
    against_spec(g, "tflop_per_s", "compute.gemm_vs_peak",
                 fmt::format("gpu{} {} {}x{}x{} ({})", g.value("device", 0), dtype,
                             g.value("m", 0), g.value("n", 0), g.value("k", 0), g.value("name", "")),
                 "TFLOP/s", best_record(records, "gemm_tflops", dtype, {}, scaling),
                 record_scope("gemm_tflops", dtype, {}, scaling));
  }
  for (const auto& b : c.value("bandwidth", nlohmann::json::array())) {
    against_spec(b, "gb_per_s", "compute.bandwidth_vs_spec",
                 fmt::format("{} {} gpu{}->gpu{}", b.value("test", ""), b.value("variant", ""),
                             b.value("src_device", 0), b.value("dst_device", 0)),
                 "GB/s",
                 b.value("test", "") == "hbm" ? best_record(records, "hbm_bandwidth") : nullptr);
  }
  for (const auto& chk : c.value("gemm_checks", nlohmann::json::array())) {
    Finding f;
    f.check = "compute.gemm_check";
    f.subject = fmt::format("gpu{} {}", chk.value("device", 0), chk.value("dtype", ""));
    f.verdict = chk.value("passed", false) ? Verdict::ok : Verdict::failed;
    f.arithmetic = "GEMM result compared with a higher-precision reference on random inputs "
                   "(compute.json gemm_checks)";
    out.push_back(f);
  }
  for (const auto& chk : c.value("attention_checks", nlohmann::json::array())) {
    const auto shape = chk.value("shape", nlohmann::json::object());
    Finding f;
    f.check = "compute.attention_check";
    f.subject = fmt::format("gpu{} attention {} head_dim {}{}", chk.value("device", 0),
                            chk.value("kernel", ""), shape.value("head_dim", 0),
                            shape.value("window", 0) > 0
                                ? fmt::format(" window {}", shape.value("window", 0))
                                : std::string());
    f.verdict = chk.value("passed", false) ? Verdict::ok : Verdict::failed;
    f.arithmetic = "attention forward and backward compared with a float64 CPU reference on the "
                   "same bf16 inputs (compute.json attention_checks)";
    out.push_back(f);
  }
  return out;
}

}  // namespace sxb
