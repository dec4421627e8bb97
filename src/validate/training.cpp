#include <cmath>
#include <fmt/format.h>

#include "validate/findings.hpp"

namespace sxb {

std::vector<Finding> validate_training(const nlohmann::json& m, const JobLimits& limits) {
  std::vector<Finding> out;
  const std::string model = m.contains("model") && m["model"].contains("name")
                                ? m["model"]["name"].get<std::string>()
                                : "model";
  {
    Finding f;
    f.check = "train.loss_finite";
    f.subject = model;
    int non_finite = 0, steps = 0;
    for (const auto& s : m.value("loss_curve", nlohmann::json::array())) {
      ++steps;
      const auto& loss = s.contains("loss") ? s["loss"] : nlohmann::json();
      if (!loss.is_number() || !std::isfinite(loss.get<double>())) ++non_finite;
    }
    f.measured = non_finite;
    f.limit = 0;
    f.unit = "steps";
    f.verdict = steps > 0 && non_finite == 0 ? Verdict::ok : Verdict::failed;
    f.arithmetic = steps == 0 ? "no loss curve recorded"
                              : fmt::format("{} of {} steps had a non-finite loss (must be 0)",
                                            non_finite, steps);
    out.push_back(f);
  }
  if (m.contains("initial_loss") && m.contains("final_loss") && m["initial_loss"].is_number() &&
      m["final_loss"].is_number()) {
    const double a = m["initial_loss"].get<double>(), b = m["final_loss"].get<double>();
    Finding f;
    f.check = "train.loss_decreasing";
    f.subject = model;
    f.measured = b;
    f.limit = a;
    f.unit = "nats";
    f.verdict = b < a ? Verdict::ok : Verdict::warning;
    f.arithmetic = fmt::format("final loss {:.4f} {} initial loss {:.4f}", b, b < a ? "<" : ">=", a);
    out.push_back(f);
  }
  if (m.contains("replicas_identical") && m["replicas_identical"].is_boolean()) {
    Finding f;
    f.check = "train.replicas_identical";
    f.subject = model;
    f.verdict = m["replicas_identical"].get<bool>() ? Verdict::ok : Verdict::failed;
    f.arithmetic = "parameter checksums after the run equal on every rank";
    out.push_back(f);
  }
  const auto tflops = m.value("model_tflops_per_s_per_device", nlohmann::json());
  if (tflops.is_number() && limits.gpu) {
    const double peak = limits.gpu->figure("dense_bf16_tflops").value;
    Finding f;
    f.check = "train.tflops_vs_peak";
    f.subject = model;
    f.measured = tflops.get<double>();
    f.limit = peak;
    f.unit = "TFLOP/s";
    f.verdict = *f.measured <= peak ? Verdict::ok : Verdict::impossible;
    f.arithmetic = fmt::format("{:.1f} model TFLOP/s per GPU {} {:.1f} dense bf16 peak ({}): MFU {:.1f}%",
                               *f.measured, *f.measured <= peak ? "<=" : ">", peak, limits.gpu->id,
                               100.0 * *f.measured / peak);
    out.push_back(f);
  }
  return out;
}

}  // namespace sxb
