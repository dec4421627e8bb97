#include "train/gpu_trainer.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace sxb {

std::string check_recompute_setting(const std::string& value) {
  if (value == "auto" || value == "none" || value == "selective" || value == "full") return value;
  throw usage_error("--recompute must be auto, none, selective or full (got '" + value + "')");
}

std::string check_grad_dtype_setting(const std::string& value) {
  if (value == "auto" || value == "fp32" || value == "bf16") return value;
  throw usage_error("--grad-dtype must be auto, fp32 or bf16 (got '" + value + "')");
}

GradStorage resolve_grad_storage(const std::string& setting, int64_t accumulation_steps,
                                 bool exchange, std::string* reason) {
  const std::string g = check_grad_dtype_setting(setting);
  std::string why;
  GradStorage out = GradStorage::fp32;
  if (g == "bf16") {
    if (exchange) {
      throw usage_error(
          "--grad-dtype bf16: the gradient exchange between ranks sums fp32 gradients; use fp32 "
          "or auto");
    }
    if (accumulation_steps > 1) {
      throw usage_error(fmt::format(
          "--grad-dtype bf16 needs gradient_accumulation_steps 1 (the plan has {}): bf16 cannot "
          "carry the running sum; use fp32 or auto",
          accumulation_steps));
    }
    out = GradStorage::bf16;
    why = "--grad-dtype bf16";
  } else if (g == "fp32") {
    why = "--grad-dtype fp32";
  } else if (exchange) {
    why = "auto: gradients are summed over ranks in fp32";
  } else if (accumulation_steps > 1) {
    why = fmt::format("auto: {} micro-batches per step are summed (fp32)", accumulation_steps);
  } else {
    out = GradStorage::bf16;
    why = "auto: one micro-batch per step, each gradient is written once (bf16)";
  }
  if (reason) *reason = why;
  return out;
}

GpuMemoryChoice choose_gpu_memory(const ModelConfig& m, int64_t micro_batch, int64_t seq_len,
                                  int64_t accumulation_steps, bool ds_activation_checkpointing,
                                  const std::string& recompute_setting,
                                  const std::string& grad_setting, bool exchange,
                                  const ZeroLayout& zero, const GpuCapacity& capacity,
                                  uint64_t workspace_bytes) {
  GpuMemoryChoice c;
  const std::string setting = check_recompute_setting(recompute_setting);
  c.grads = resolve_grad_storage(grad_setting, accumulation_steps, exchange, &c.grads_reason);
  auto judge = [&](Recompute r) {
    c.recompute = r;
    c.plan = plan_gpu_memory(m, micro_batch, seq_len, r, c.grads, workspace_bytes, zero);
    c.verdict = judge_gpu_memory(c.plan, capacity);
    return c.verdict.fits;
  };
  const char* where =
      capacity.kind == CapacityKind::free_after_context ? "free" : "of the GPU";
  if (setting != "auto") {
    judge(setting == "none"        ? Recompute::none
          : setting == "selective" ? Recompute::selective
                                   : Recompute::full);
    c.recompute_reason = "--recompute " + setting;
  } else if (ds_activation_checkpointing) {
    judge(Recompute::full);
    c.recompute_reason = "ds_config activation_checkpointing (every layer's input kept)";
  } else {
    bool found = false;
    for (Recompute r : {Recompute::none, Recompute::selective, Recompute::full}) {
      if ((found = judge(r))) break;
    }
    if (found) {
      c.recompute_reason = fmt::format(
          "auto: the lightest recomputation whose memory plan ({:.2f} GiB + {:.2f} GiB reserve) "
          "fits the {:.2f} GiB {}",
          double(c.verdict.plan_bytes) / double(1ull << 30),
          double(c.verdict.reserve_bytes) / double(1ull << 30),
          double(c.verdict.capacity_bytes) / double(1ull << 30), where);
    } else {
      c.auto_found_none = true;
      c.recompute_reason = "auto: no recomputation mode fits, not even full";
    }
  }
  return c;
}

}  // namespace sxb
