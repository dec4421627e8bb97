// plan.json: the ExecutionPlan for machines, every figure unrounded and labelled a prediction.
#include <nlohmann/json.hpp>

#include "report/plan/plan.hpp"

namespace sxb::report {

namespace {

nlohmann::json to_json(const Assumption& a) {
  return {{"name", a.name}, {"value", a.value}, {"unit", a.unit}, {"source", a.source}};
}

nlohmann::json to_json(const MeasuredFigure& m) {
  return {{"name", m.name},
          {"value", m.value},
          {"unit", m.unit},
          {"source", m.source},
          {"run_dir", m.run_dir}};
}

nlohmann::json to_json(const MemoryPlan& p) {
  return {{"weights_bytes", p.weights_bytes},
          {"gradients_bytes", p.gradients_bytes},
          {"optimizer_bytes", p.optimizer_bytes},
          {"activations_bytes", p.activations_bytes},
          {"logits_bytes", p.logits_bytes},
          {"buffers_bytes", p.buffers_bytes},
          {"total_bytes", p.total_bytes},
          {"capacity_bytes", p.capacity_bytes},
          {"fits", p.fits},
          {"verdict", p.verdict}};
}

nlohmann::json to_json(const StepPrediction& p) {
  return {{"recompute_flops_counted", "executed_flops_per_token includes recomputation"},
          {"flops_per_token", p.flops_per_token},
          {"executed_flops_per_token", p.executed_flops_per_token},
          {"tokens_per_step", p.tokens_per_step},
          {"compute_s", p.compute_s},
          {"communication_s", p.comm_s},
          {"exposed_communication_s", p.exposed_comm_s},
          {"optimizer_s", p.optimizer_s},
          {"step_s", p.step_s},
          {"tokens_per_s", p.tokens_per_s},
          {"tokens_per_s_per_gpu", p.tokens_per_s_per_gpu},
          {"samples_per_s", p.samples_per_s},
          {"mfu", p.mfu}};
}

nlohmann::json to_json(const FitAlternative& a) {
  const char* kind = a.kind == FitAlternative::Kind::zero3        ? "zero3"
                     : a.kind == FitAlternative::Kind::more_nodes ? "more_nodes"
                                                                  : "micro_batch_one";
  return {{"kind", kind},
          {"nodes", a.nodes},
          {"gradient_accumulation_steps", a.grad_accum},
          {"recompute", recompute_name(a.recompute)}};
}

template <typename T>
nlohmann::json list(const std::vector<T>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& x : v) out.push_back(to_json(x));
  return out;
}

}  // namespace

nlohmann::json plan_to_json(const ExecutionPlan& plan) {
  const PlanRequest& r = plan.request;
  nlohmann::json j;
  j["schema"] = "sxbench.plan/1";
  j["tool_version"] = SXB_VERSION;
  j["kind"] = "prediction";
  j["note"] =
      "every figure is a prediction of the performance model (perfmodel/perf_model.hpp); inputs "
      "are listed under measured (with the run directory) and assumptions (with their source)";
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : r.models) {
    models.push_back({{"name", m.shape.name},
                      {"params", m.shape.params},
                      {"hidden", m.shape.hidden},
                      {"layers", m.shape.layers},
                      {"heads", m.shape.heads},
                      {"kv_heads", m.shape.kv_heads},
                      {"ffn", m.shape.ffn},
                      {"vocab", m.shape.vocab},
                      {"ds_config", m.ds_path}});
  }
  j["request"] = {{"models", models},
                  {"nodes", r.nodes},
                  {"gpus_per_node", r.gpus_per_node},
                  {"seq_len", r.seq_len},
                  {"seq_len_source", r.seq_len_source},
                  {"steps", r.steps},
                  {"warmup_steps", r.warmup_steps},
                  {"gpu", r.hardware.gpu_name},
                  {"nic", r.hardware.nic_name}};
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : plan.entries) {
    nlohmann::json x = {
        {"model", e.model},
        {"params", e.params},
        {"nodes", e.nodes},
        {"gpus", e.gpus},
        {"ds_config", e.ds_path},
        {"zero_stage", e.setup.zero_stage},
        {"micro_batch_per_gpu", e.setup.micro_batch},
        {"gradient_accumulation_steps", e.setup.grad_accum},
        {"global_batch_sequences", e.global_batch_sequences},
        {"global_batch_tokens", e.global_batch_tokens},
        {"seq_len", e.setup.seq_len},
        {"recompute", recompute_name(e.setup.recompute)},
        {"ds_config_activation_checkpointing", e.ds_requests_recompute},
        {"fits", e.fits},
        {"memory_per_gpu", to_json(e.memory)},
        {"why_not", e.why_not.empty() ? nlohmann::json() : nlohmann::json(e.why_not)},
        {"fits_with", list(e.alternatives)},
        {"calibration", list(e.calibration)},
        {"command", e.command}};
    if (e.prediction) {
      x["predicted"] = to_json(*e.prediction);
      x["predicted"]["scaling_efficiency"] =
          e.scaling_efficiency ? nlohmann::json(*e.scaling_efficiency) : nlohmann::json();
      x["predicted"]["scaling_reference_nodes"] = e.scaling_reference_nodes;
      x["predicted"]["run_duration_s"] = e.run_duration_s;
    } else {
      x["predicted"] = nullptr;
    }
    x["predicted_as_configured"] = e.as_configured ? to_json(*e.as_configured) : nlohmann::json();
    entries.push_back(std::move(x));
  }
  j["entries"] = entries;
  nlohmann::json schedule = nlohmann::json::array();
  for (const auto& p : plan.schedule) {
    schedule.push_back({{"index", p.index},
                        {"kind", phase_kind_name(p.kind)},
                        {"name", p.name},
                        {"nodes", p.nodes},
                        {"command", p.command},
                        {"duration_s", p.duration_s},
                        {"duration_basis", p.duration_basis},
                        {"cumulative_s", p.cumulative_s}});
  }
  j["schedule"] = schedule;
  j["not_scheduled"] = plan.not_scheduled;
  j["total_s"] = plan.total_s;
  j["assumptions"] = list(plan.assumptions);
  j["measured"] = list(plan.measured);
  j["calibration_notes"] = plan.calibration_notes;
  return j;
}

}  // namespace sxb::report
