#include <fmt/format.h>

#include <cmath>

#include "validate/findings.hpp"

namespace sxb {

namespace {

// train.loss_decreasing: does the loss curve show learning beyond its own step-to-step noise?
//
// Rule (deterministic; every number is printed in the finding):
//   points (x_i, y_i) = (step, loss) of every measured step, n of them.
//   1. any loss not finite                     -> warning (train.loss_finite fails the run).
//   2. n < kMinTrendSteps (4)                  -> not applicable (ok): the residual standard
//      deviation needs n - 2 >= 2 degrees of freedom.
//   3. least squares y = a + b x; residual sd s = sqrt(sum r_i^2 / (n - 2)); standard error of
//      the slope se = s / sqrt(Sxx), Sxx = sum (x_i - mean x)^2; t = b / se. The fitted change
//      over the run is D = b (x_n - x_1) with standard error se (x_n - x_1).
//   4. t <= -kTrendSigmas (3)                  -> ok: the loss falls beyond the noise.
//   5. S = sum of the per-step learning rates (lr x steps, warm-up included; the optimizer's lr x
//      steps when the curve carries no lr). S <= 0, or S < kMinLrSteps (1e-3)
//                                              -> not applicable (ok). Why 1e-3: an Adam step
//      moves each weight by about lr at most (|m_hat / sqrt(v_hat)| <= ~1), so the run moves each
//      weight by at most S; below 1e-3 that is under 5 % of the 0.02 standard deviation weights
//      start with, too little for the loss to be expected to leave its noise band.
//   6. t >= +kTrendSigmas                      -> warning: the loss rises beyond the noise.
//   7. otherwise                               -> not applicable (ok): the change is within the
//      noise band (|t| < 3).
// "Not applicable" uses Verdict::ok (the run cannot show learning, which is not a fault) with the
// reason and the arithmetic in the message.
constexpr int kMinTrendSteps = 4;
constexpr double kTrendSigmas = 3.0;
constexpr double kMinLrSteps = 1e-3;

Finding loss_trend_finding(const nlohmann::json& m, const std::string& model) {
  Finding f;
  f.check = "train.loss_decreasing";
  f.subject = model;
  f.unit = "nats";
  std::vector<double> x, y;
  double lr_sum = 0.0;
  bool lr_from_curve = true;
  int index = 0;
  for (const auto& s : m["loss_curve"]) {
    ++index;
    const auto loss = s.contains("loss") ? s["loss"] : nlohmann::json();
    const double l = loss.is_number() ? loss.get<double>() : std::nan("");
    if (!std::isfinite(l)) {
      f.verdict = Verdict::warning;
      f.arithmetic = fmt::format("loss at step {} is not finite: no trend can be judged", index);
      return f;
    }
    x.push_back(s.contains("step") && s["step"].is_number() ? s["step"].get<double>() : index);
    y.push_back(l);
    if (s.contains("lr") && s["lr"].is_number()) {
      lr_sum += s["lr"].get<double>();
    } else {
      lr_from_curve = false;
    }
  }
  const int n = static_cast<int>(x.size());
  if (!lr_from_curve) {
    const nlohmann::json opt = m.contains("ds_config") && m["ds_config"].is_object()
                                   ? m["ds_config"].value("optimizer", nlohmann::json::object())
                                   : nlohmann::json::object();
    const double lr = opt.contains("lr") && opt["lr"].is_number() ? opt["lr"].get<double>() : 0.0;
    lr_sum = lr * n;
  }
  f.measured = y.back() - y.front();
  if (n < kMinTrendSteps) {
    f.verdict = Verdict::ok;
    f.arithmetic = fmt::format(
        "not applicable: {} measured step(s) < {} needed for a trend against the noise "
        "(loss {:.4f} -> {:.4f})",
        n, kMinTrendSteps, y.front(), y.back());
    return f;
  }
  double mx = 0, my = 0;
  for (int i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxx = 0, sxy = 0;
  for (int i = 0; i < n; ++i) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
  const double b = sxx > 0 ? sxy / sxx : 0.0;
  double ssr = 0;
  for (int i = 0; i < n; ++i) {
    const double r = y[i] - (my + b * (x[i] - mx));
    ssr += r * r;
  }
  const double sd = std::sqrt(ssr / (n - 2));
  const double se = sxx > 0 ? sd / std::sqrt(sxx) : 0.0;
  const double span = x.back() - x.front();
  // A noise-free curve (se 0) has an infinite |t| unless it is exactly flat.
  const double t = se > 0 ? b / se : (b == 0 ? 0.0 : std::copysign(INFINITY, b));
  const double change = b * span, band = kTrendSigmas * se * span;
  f.measured = change;
  f.limit = -band;
  const std::string fit = fmt::format(
      "loss {:.4f} -> {:.4f} over {} steps; least-squares change {:+.4f} (slope {:+.5f}/step), "
      "residual sd {:.4f}, noise band +/-{:.4f} ({} x slope standard error {:.5f} x {} steps), "
      "t = {:+.2f}",
      y.front(), y.back(), n, change, b, sd, band, kTrendSigmas, se, span, t);
  const std::string lr_text =
      fmt::format("learning rate x steps {:.3g}{}", lr_sum,
                  lr_from_curve ? " (sum of per-step lr)" : " (optimizer lr x steps)");
  if (t <= -kTrendSigmas) {
    f.verdict = Verdict::ok;
    f.arithmetic = fmt::format("falls beyond the noise: {} <= -{}; {}", fit, kTrendSigmas, lr_text);
  } else if (lr_sum < kMinLrSteps) {
    f.verdict = Verdict::ok;
    f.arithmetic = fmt::format(
        "not applicable: {} < {} (Adam moves each weight by at most about lr per step), too small "
        "for the loss to leave its noise; {}",
        lr_text, kMinLrSteps, fit);
  } else if (t >= kTrendSigmas) {
    f.verdict = Verdict::warning;
    f.arithmetic = fmt::format("rises beyond the noise: {} >= +{}; {}", fit, kTrendSigmas, lr_text);
  } else {
    f.verdict = Verdict::ok;
    f.arithmetic = fmt::format("not applicable: change within the noise band, |t| < {}: {}; {}",
                               kTrendSigmas, fit, lr_text);
  }
  return f;
}

}  // namespace

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
  if (m.contains("loss_curve") && m["loss_curve"].is_array() && !m["loss_curve"].empty()) {
    out.push_back(loss_trend_finding(m, model));
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
    f.arithmetic = fmt::format(
        "{:.1f} model TFLOP/s per GPU {} {:.1f} dense bf16 peak ({}): MFU {:.1f}%", *f.measured,
        *f.measured <= peak ? "<=" : ">", peak, limits.gpu->id, 100.0 * *f.measured / peak);
    compare_with_record(f, *f.measured, peak, best_record(limits.records, "training_mfu", "bf16"));
    out.push_back(f);
  }
  return out;
}

}  // namespace sxb
