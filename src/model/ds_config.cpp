#include "model/ds_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"

namespace sxb {

namespace {

// Keys DeepSpeed accepts that do not change what sxbench measures; accepted without a warning.
const std::set<std::string>& ignored_top_level_keys() {
  static const std::set<std::string> keys = {"steps_per_print",
                                             "wall_clock_breakdown",
                                             "dump_state",
                                             "prescale_gradients",
                                             "gradient_predivide_factor",
                                             "sparse_gradients",
                                             "zero_allow_untested_optimizer",
                                             "communication_data_type",
                                             "flops_profiler",
                                             "tensorboard",
                                             "wandb",
                                             "csv_monitor",
                                             "comms_logger",
                                             "memory_breakdown",
                                             "data_types",
                                             "zero_force_ds_cpu_optimizer",
                                             "checkpoint",
                                             "elasticity",
                                             "amp",
                                             "gradient_accumulation_dtype",
                                             "train_micro_batch_size",
                                             "seed"};
  return keys;
}

const std::set<std::string>& zero_keys() {
  static const std::set<std::string> keys = {"stage",
                                             "overlap_comm",
                                             "contiguous_gradients",
                                             "reduce_bucket_size",
                                             "allgather_bucket_size",
                                             "allgather_partitions",
                                             "reduce_scatter",
                                             "round_robin_gradients",
                                             "offload_optimizer",
                                             "offload_param",
                                             "sub_group_size",
                                             "stage3_prefetch_bucket_size",
                                             "stage3_param_persistence_threshold",
                                             "stage3_max_live_parameters",
                                             "stage3_max_reuse_distance",
                                             "stage3_gather_16bit_weights_on_model_save",
                                             "stage3_gather_fp16_weights_on_model_save",
                                             "elastic_checkpoint",
                                             "ignore_unused_parameters",
                                             "load_from_fp32_weights",
                                             "zero_hpz_partition_size",
                                             "zero_quantized_weights",
                                             "zero_quantized_gradients",
                                             "mics_shard_size",
                                             "use_multi_rank_bucket_allreduce",
                                             "stage3_model_persistence_threshold",
                                             "stage3_module_granularity_threshold",
                                             "stage3_use_all_reduce_for_fetch_params",
                                             "cpu_offload_param",
                                             "cpu_offload_use_pin_memory",
                                             "legacy_stage1",
                                             "zero_quantized_nontrainable_weights",
                                             "zeropp_loco_param",
                                             "mics_hierarchical_params_gather",
                                             "pipeline_loading_checkpoint",
                                             "override_module_apply",
                                             "memory_efficient_linear",
                                             "cpu_offload"};
  return keys;
}

const std::set<std::string>& activation_checkpointing_keys() {
  static const std::set<std::string> keys = {
      "partition_activations", "contiguous_memory_optimization",  "cpu_checkpointing",
      "number_checkpoints",    "synchronize_checkpoint_boundary", "profile"};
  return keys;
}

const std::set<std::string>& fp16_keys() {
  static const std::set<std::string> keys = {"enabled",
                                             "auto_cast",
                                             "loss_scale",
                                             "initial_scale_power",
                                             "loss_scale_window",
                                             "hysteresis",
                                             "consecutive_hysteresis",
                                             "min_loss_scale",
                                             "fp16_master_weights_and_grads"};
  return keys;
}

bool is_auto(const nlohmann::json& v) {
  return v.is_string() && v.get<std::string>() == "auto";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}
  Error error(const std::string& key, const std::string& what) const {
    return usage_error(fmt::format("{}: key \"{}\": {}", source_, key, what));
  }
  void warn_unknown(const nlohmann::json& obj, const std::string& prefix,
                    const std::set<std::string>& known, std::vector<std::string>& warnings) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!known.count(it.key())) {
        warnings.push_back(
            fmt::format("{}: unknown key \"{}{}\" ignored", source_, prefix, it.key()));
      }
    }
  }
  // Batch sizes and bucket sizes: integers from 1; the ceilings keep every product of them
  // (sequences x tokens x bytes) inside 64 bits.
  int64_t positive_int(const nlohmann::json& v, const std::string& key,
                       int64_t max = 10'000'000) const {
    return json_int(v, json_key_name(source_, key), 1, max);
  }
  double number(const nlohmann::json& v, const std::string& key) const {
    return json_number(v, json_key_name(source_, key), -1e12, 1e12);
  }
  bool boolean(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_boolean()) throw error(key, "must be true or false");
    return v.get<bool>();
  }
  const nlohmann::json& object(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_object()) throw error(key, "must be an object");
    return v;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace

DsConfig default_ds_config() {
  DsConfig c;
  c.source = "built-in defaults";
  c.built_in = true;
  return c;
}

DsConfig quick_run_ds_config() {
  DsConfig c = default_ds_config();
  c.source = "built-in quick-run defaults";
  c.optimizer.lr = 1e-4;
  c.optimizer.beta2 = 0.95;
  c.gradient_clipping = 1.0;
  return c;
}

DsConfig parse_ds_config(const nlohmann::json& j, const std::string& source) {
  Reader r(source);
  DsConfig c;
  c.source = source;
  if (!j.is_object()) throw usage_error(fmt::format("{}: not a JSON object", source));
  std::set<std::string> known = {"train_batch_size",
                                 "train_micro_batch_size_per_gpu",
                                 "gradient_accumulation_steps",
                                 "bf16",
                                 "fp16",
                                 "zero_optimization",
                                 "optimizer",
                                 "gradient_clipping",
                                 "activation_checkpointing",
                                 "scheduler"};
  known.insert(ignored_top_level_keys().begin(), ignored_top_level_keys().end());
  r.warn_unknown(j, "", known, c.warnings);

  auto batch_key = [&](const char* key, std::optional<int64_t>& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (is_auto(j[key])) {
      c.resolved_auto.push_back(fmt::format("{}: derived by DeepSpeed's batch rule", key));
      return;
    }
    out = r.positive_int(j[key], key);
  };
  batch_key("train_batch_size", c.train_batch_size);
  batch_key("train_micro_batch_size_per_gpu", c.micro_batch_per_gpu);
  batch_key("gradient_accumulation_steps", c.gradient_accumulation_steps);

  auto precision = [&](const char* key, bool& out, bool auto_value) {
    if (!j.contains(key)) return;
    const auto& s = r.object(j[key], key);
    r.warn_unknown(s, std::string(key) + ".",
                   std::string(key) == "bf16"
                       ? std::set<std::string>{"enabled", "immediate_grad_update"}
                       : fp16_keys(),
                   c.warnings);
    if (!s.contains("enabled")) return;
    const std::string k = std::string(key) + ".enabled";
    if (is_auto(s["enabled"])) {
      out = auto_value;
      c.resolved_auto.push_back(fmt::format("{}: {}", k, auto_value));
    } else {
      out = r.boolean(s["enabled"], k);
    }
  };
  // "auto" precision resolves to the engine's native mode: bf16 compute, fp32 master weights.
  precision("bf16", c.bf16, true);
  precision("fp16", c.fp16, false);
  if (c.bf16 && c.fp16) {
    throw r.error("fp16.enabled", "contradicts bf16.enabled (both true; choose one)");
  }

  if (j.contains("zero_optimization")) {
    const auto& z = r.object(j["zero_optimization"], "zero_optimization");
    r.warn_unknown(z, "zero_optimization.", zero_keys(), c.warnings);
    if (z.contains("stage")) {
      c.zero_stage = static_cast<int>(
          json_int(z["stage"], json_key_name(source, "zero_optimization.stage"), 0, 3));
    }
    if (z.contains("reduce_bucket_size")) {
      const auto& v = z["reduce_bucket_size"];
      if (is_auto(v)) {
        c.reduce_bucket_size_auto = true;
        c.resolved_auto.push_back("zero_optimization.reduce_bucket_size: hidden_size^2");
      } else {
        c.reduce_bucket_size =
            r.positive_int(v, "zero_optimization.reduce_bucket_size", 1'000'000'000'000);
      }
    }
    if (z.contains("allgather_bucket_size")) {
      c.allgather_bucket_size =
          r.positive_int(z["allgather_bucket_size"], "zero_optimization.allgather_bucket_size",
                         1'000'000'000'000);
    }
    for (const char* off : {"offload_optimizer", "offload_param"}) {
      if (z.contains(off) && z[off].is_object()) {
        const std::string dev = z[off].value("device", std::string("none"));
        if (dev != "none") {
          c.warnings.push_back(fmt::format(
              "{}: zero_optimization.{}.device \"{}\" is not modelled: state stays on the device",
              source, off, dev));
        }
      }
    }
  }

  if (j.contains("optimizer")) {
    const auto& o = r.object(j["optimizer"], "optimizer");
    r.warn_unknown(o, "optimizer.", {"type", "params"}, c.warnings);
    if (!o.contains("type") || !o["type"].is_string()) {
      throw r.error("optimizer.type", "must be a string (AdamW or Adam)");
    }
    const std::string type = o["type"].get<std::string>();
    c.optimizer_source = "config";
    bool adam_w_mode = true;  // DeepSpeed's default for Adam
    if (lower(type) == "adamw") {
      c.optimizer_type = "AdamW";
    } else if (lower(type) == "adam") {
      c.optimizer_type = "Adam";
    } else {
      throw r.error(
          "optimizer.type",
          fmt::format("\"{}\" is not supported by the sxbench engine (AdamW, Adam)", type));
    }
    if (o.contains("params")) {
      const auto& p = r.object(o["params"], "optimizer.params");
      r.warn_unknown(p, "optimizer.params.",
                     {"lr", "betas", "eps", "weight_decay", "adam_w_mode", "torch_adam", "fused",
                      "bias_correction", "amsgrad"},
                     c.warnings);
      auto num = [&](const char* key, double& out, double auto_value) {
        if (!p.contains(key)) return;
        const std::string k = std::string("optimizer.params.") + key;
        if (is_auto(p[key])) {
          out = auto_value;
          c.resolved_auto.push_back(fmt::format("{}: {:g}", k, auto_value));
        } else {
          out = r.number(p[key], k);
        }
      };
      num("lr", c.optimizer.lr, c.optimizer.lr);
      num("eps", c.optimizer.eps, c.optimizer.eps);
      num("weight_decay", c.optimizer.weight_decay, c.optimizer.weight_decay);
      if (p.contains("betas")) {
        const auto& b = p["betas"];
        if (is_auto(b)) {
          c.resolved_auto.push_back(fmt::format("optimizer.params.betas: [{:g}, {:g}]",
                                                c.optimizer.beta1, c.optimizer.beta2));
        } else {
          if (!b.is_array() || b.size() != 2) {
            throw r.error("optimizer.params.betas", "must be two numbers");
          }
          c.optimizer.beta1 = r.number(b[0], "optimizer.params.betas[0]");
          c.optimizer.beta2 = r.number(b[1], "optimizer.params.betas[1]");
        }
      }
      if (p.contains("adam_w_mode"))
        adam_w_mode = r.boolean(p["adam_w_mode"], "optimizer.params.adam_w_mode");
      if (p.contains("bias_correction") &&
          !r.boolean(p["bias_correction"], "optimizer.params.bias_correction")) {
        throw r.error("optimizer.params.bias_correction", "false is not supported");
      }
      if (p.contains("amsgrad") && r.boolean(p["amsgrad"], "optimizer.params.amsgrad")) {
        throw r.error("optimizer.params.amsgrad", "true is not supported");
      }
    }
    if (c.optimizer_type == "AdamW" && !adam_w_mode) {
      throw r.error("optimizer.params.adam_w_mode", "false contradicts optimizer.type AdamW");
    }
    c.optimizer.decoupled_weight_decay = adam_w_mode;
    const auto& hp = c.optimizer;
    if (!(hp.lr > 0)) throw r.error("optimizer.params.lr", "must be positive");
    if (!(hp.eps > 0)) throw r.error("optimizer.params.eps", "must be positive");
    if (hp.weight_decay < 0) throw r.error("optimizer.params.weight_decay", "must be >= 0");
    if (!(hp.beta1 >= 0 && hp.beta1 < 1 && hp.beta2 >= 0 && hp.beta2 < 1)) {
      throw r.error("optimizer.params.betas", "each must be in [0, 1)");
    }
  }

  if (j.contains("gradient_clipping")) {
    if (is_auto(j["gradient_clipping"])) {
      c.gradient_clipping = 1.0;  // Hugging Face's max_grad_norm default
      c.resolved_auto.push_back("gradient_clipping: 1");
    } else {
      c.gradient_clipping = r.number(j["gradient_clipping"], "gradient_clipping");
      if (c.gradient_clipping < 0) throw r.error("gradient_clipping", "must be >= 0");
    }
  }
  if (j.contains("activation_checkpointing")) {
    const auto& a = r.object(j["activation_checkpointing"], "activation_checkpointing");
    r.warn_unknown(a, "activation_checkpointing.", activation_checkpointing_keys(), c.warnings);
    c.activation_checkpointing = true;
  }
  if (j.contains("scheduler")) {
    c.warnings.push_back(fmt::format(
        "{}: scheduler is not applied: the learning rate stays at optimizer.params.lr", source));
  }
  return c;
}

DsConfig load_ds_config(const std::filesystem::path& path) {
  return parse_ds_config(read_json_file(path), path.string());
}

nlohmann::json DsConfig::to_json() const {
  return {{"source", source},
          {"train_batch_size", train_batch_size ? nlohmann::json(*train_batch_size) : nullptr},
          {"train_micro_batch_size_per_gpu",
           micro_batch_per_gpu ? nlohmann::json(*micro_batch_per_gpu) : nullptr},
          {"gradient_accumulation_steps",
           gradient_accumulation_steps ? nlohmann::json(*gradient_accumulation_steps) : nullptr},
          {"precision", precision()},
          {"zero_stage", zero_stage},
          {"reduce_bucket_size",
           reduce_bucket_size_auto ? nlohmann::json("auto") : nlohmann::json(reduce_bucket_size)},
          {"allgather_bucket_size", allgather_bucket_size},
          {"optimizer",
           {{"type", optimizer_type},
            {"source", optimizer_source},
            {"lr", optimizer.lr},
            {"betas", {optimizer.beta1, optimizer.beta2}},
            {"eps", optimizer.eps},
            {"weight_decay", optimizer.weight_decay},
            {"decoupled_weight_decay", optimizer.decoupled_weight_decay}}},
          {"gradient_clipping", gradient_clipping},
          {"activation_checkpointing", activation_checkpointing},
          {"resolved_auto", resolved_auto},
          {"warnings", warnings}};
}

nlohmann::json BatchPlan::to_json() const {
  return {{"train_micro_batch_size_per_gpu", micro_batch_per_gpu},
          {"micro_batch_source", micro_batch_source},
          {"gradient_accumulation_steps", gradient_accumulation_steps},
          {"world_size", world_size},
          {"train_batch_size", train_batch_size},
          {"notes", notes}};
}

BatchPlan resolve_batch(const DsConfig& c, int64_t world, std::optional<int64_t> micro_override,
                        const std::string& override_source) {
  if (world <= 0) throw usage_error("world size must be positive");
  Reader r(c.source);
  BatchPlan p;
  p.world_size = world;
  std::optional<int64_t> tb = c.train_batch_size, mb = c.micro_batch_per_gpu,
                         ga = c.gradient_accumulation_steps;
  p.micro_batch_source = mb ? "ds_config" : "default";
  if (micro_override) {
    if (*micro_override <= 0) {
      throw usage_error(fmt::format("{} must be a positive integer", override_source));
    }
    if (mb && *mb != *micro_override) {
      p.notes.push_back(fmt::format("{}={} replaces train_micro_batch_size_per_gpu {}",
                                    override_source, *micro_override, *mb));
    }
    mb = micro_override;
    p.micro_batch_source = override_source;
    if (tb && ga) {
      p.notes.push_back(
          fmt::format("train_batch_size {} re-derived from the overridden micro-batch", *tb));
      tb.reset();
    }
  }
  if (tb && mb && ga) {
    if (*tb != *mb * *ga * world) {
      throw r.error("train_batch_size",
                    fmt::format("{} != train_micro_batch_size_per_gpu {} x "
                                "gradient_accumulation_steps {} x world size {} (= {})",
                                *tb, *mb, *ga, world, *mb * *ga * world));
    }
  } else if (tb && mb) {
    if (*tb % (*mb * world) != 0) {
      throw r.error("train_batch_size",
                    fmt::format("{} is not a multiple of train_micro_batch_size_per_gpu {} x "
                                "world size {}",
                                *tb, *mb, world));
    }
    ga = *tb / (*mb * world);
  } else if (tb && ga) {
    if (*tb % (*ga * world) != 0) {
      throw r.error("train_batch_size",
                    fmt::format("{} is not a multiple of gradient_accumulation_steps {} x world "
                                "size {}",
                                *tb, *ga, world));
    }
    mb = *tb / (*ga * world);
    p.micro_batch_source = "train_batch_size / (gradient_accumulation_steps x world size)";
  } else if (mb && ga) {
    tb = *mb * *ga * world;
  } else if (tb) {
    ga = 1;
    if (*tb % world != 0) {
      throw r.error("train_batch_size",
                    fmt::format("{} is not a multiple of the world size {}", *tb, world));
    }
    mb = *tb / world;
    p.micro_batch_source = "train_batch_size / world size";
  } else if (mb) {
    ga = 1;
    tb = *mb * world;
  } else if (!c.built_in) {
    // DeepSpeed refuses a config that states neither.
    throw r.error("train_micro_batch_size_per_gpu",
                  "missing: a DeepSpeed config needs train_batch_size or "
                  "train_micro_batch_size_per_gpu (or set BATCH_SIZE_PER_GPU / --micro-batch)");
  } else {
    mb = 1;
    ga = ga.value_or(1);
    tb = *mb * *ga * world;
  }
  p.micro_batch_per_gpu = *mb;
  p.gradient_accumulation_steps = *ga;
  p.train_batch_size = *tb;
  return p;
}

}  // namespace sxb
