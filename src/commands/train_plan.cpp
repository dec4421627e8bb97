#include "commands/train_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hardware.hpp"
#include "core/units.hpp"
#include "report/plan/request.hpp"
#include "perfmodel/gpu_memory.hpp"
#include "train/gpu_trainer.hpp"

namespace sxb {

namespace {

using json = nlohmann::json;

double gib(uint64_t b) {
  return double(b) / double(1ull << 30);
}

struct PlanGpu {
  std::string name;
  GpuCapacity capacity;
};

PlanGpu plan_gpu(const TrainPlanOptions& o) {
  PlanGpu g;
  if (o.gpu_memory_set) {
    g.name = o.gpu;
    g.capacity.bytes = uint64_t(std::llround(o.gpu_memory_gib * double(1ull << 30)));
    g.capacity.kind = CapacityKind::device_total;
    g.capacity.source =
        fmt::format("--gpu-memory-gib {:g} (the memory of one GPU, as a device total)",
                    o.gpu_memory_gib);
    return g;
  }
  const auto specs = load_hardware_specs(find_config_dir() / "hardware");
  const auto spec = find_gpu_spec(specs, o.gpu);
  if (!spec) {
    throw usage_error(fmt::format("--gpu '{}': no GPU in configs/hardware matches", o.gpu));
  }
  const HardwareFigure& f = spec->figure("hbm_capacity_gb");
  g.name = spec->name;
  g.capacity.bytes = uint64_t(std::llround(f.value * 1e9));
  g.capacity.kind = CapacityKind::device_total;
  g.capacity.source = fmt::format("configs/hardware/{}.json hbm_capacity_gb {:g} {} read as {} "
                                  "bytes ({})",
                                  spec->id, f.value, f.unit, g.capacity.bytes, f.source);
  return g;
}

// One planned job shape: a node count (0: the launch's world) and its world size.
struct PlanCase {
  int nodes = 0;
  int world = 1;
  std::string error;  // set when the shape cannot be planned (batch or gradient settings)
  BatchPlan batch;
  GpuMemoryChoice choice;
};

PlanCase plan_case(const TrainJob& job, int nodes, int world, const GpuCapacity& cap) {
  PlanCase c;
  c.nodes = nodes;
  c.world = world;
  c.batch = resolve_batch(job.ds, world, job.micro_override, job.micro_source);
  micro_step_tokens(c.batch.micro_batch_per_gpu, job.seq_len, c.batch.micro_batch_source);
  // Gradients are exchanged (summed in fp32) with more than one GPU, or with an explicit
  // --comm-backend, as the engine does.
  const bool exchange = world > 1 || job.comm_backend != "auto";
  c.choice = choose_gpu_memory(job.model, c.batch.micro_batch_per_gpu, job.seq_len,
                               c.batch.gradient_accumulation_steps,
                               job.ds.activation_checkpointing, job.recompute, job.grad_dtype,
                               exchange, zero_layout(job.ds, job.model, world), cap);
  return c;
}

std::string unit_name(const ModelConfig& m, int64_t elements) {
  if (elements == m.params_per_layer()) return "a decoder layer";
  if (elements == m.vocab_size * m.hidden_size) return "the embedding";
  return "the final norm with the output head";
}

std::string shape_text(const PlanCase& c, int gpus_per_node, const std::string& gpu) {
  if (c.nodes > 0) {
    return fmt::format("{} node{} x {} {} GPU{} (world {})", c.nodes, c.nodes == 1 ? "" : "s",
                       gpus_per_node, gpu, gpus_per_node == 1 ? "" : "s", c.world);
  }
  return fmt::format("{} {} GPU{} (world {})", c.world, gpu, c.world == 1 ? "" : "s", c.world);
}

std::string stage_text(const TrainJob& job, const GpuMemoryPlan& p) {
  if (p.zero_stage == job.ds.zero_stage) return fmt::format("ZeRO stage {}", p.zero_stage);
  return fmt::format("ZeRO stage {} applied (stage {} requested: with one GPU every stage is "
                     "stage 0)",
                     p.zero_stage, job.ds.zero_stage);
}

json verdict_json(const MemoryVerdict& v) {
  json reserve = json::array(), largest = json::array();
  for (const auto& r : v.reserve) {
    reserve.push_back({{"name", r.name}, {"bytes", r.bytes}, {"assumption", r.assumption}});
  }
  for (const auto& [cat, bytes] : v.largest) {
    largest.push_back({{"category", cat}, {"bytes", bytes}});
  }
  return {{"fits", v.fits},
          {"plan_bytes", v.plan_bytes},
          {"reserve_bytes", v.reserve_bytes},
          {"needed_bytes", v.needed_bytes},
          {"capacity_bytes", v.capacity_bytes},
          {"free_bytes", v.free_bytes},
          {"shortfall_bytes", v.shortfall_bytes},
          {"reserve", reserve},
          {"largest_categories", largest},
          {"line", v.line}};
}

json case_json(const TrainJob& job, const PlanCase& c, int gpus_per_node) {
  json j = {{"nodes", c.nodes > 0 ? json(c.nodes) : json(nullptr)},
            {"gpus_per_node", c.nodes > 0 ? json(gpus_per_node) : json(nullptr)},
            {"world_size", c.world}};
  if (!c.error.empty()) {
    j["error"] = c.error;
    return j;
  }
  const GpuMemoryPlan& p = c.choice.plan;
  json buffers = json::array(), cats = json::object();
  for (const auto& b : p.buffers) {
    buffers.push_back({{"name", b.name},
                       {"category", b.category},
                       {"bytes", b.bytes},
                       {"count", b.count},
                       {"total_bytes", aligned_bytes(b.bytes) * uint64_t(b.count)}});
  }
  for (const auto& [cat, bytes] : p.bytes_by_category()) cats[cat] = bytes;
  j["batch"] = c.batch.to_json();
  j["zero_stage"] = {{"requested", job.ds.zero_stage},
                     {"applied", p.zero_stage},
                     {"engine_runs", p.zero_stage},
                     {"note", "the CUDA engine's own allocation"}};
  j["shard_elements"] = p.shard_elements;
  j["largest_unit_elements"] = p.largest_unit_elements;
  j["recompute"] = recompute_name(c.choice.recompute);
  j["recompute_reason"] = c.choice.recompute_reason;
  j["gradients"] = grad_storage_name(c.choice.grads);
  j["gradients_reason"] = c.choice.grads_reason;
  j["buffers"] = buffers;
  j["bytes_by_category"] = cats;
  j["total_bytes"] = p.total_bytes();
  j["alignment_bytes"] = GpuMemoryPlan::kAlignment;
  j["verdict"] = verdict_json(c.choice.verdict);
  return j;
}

void print_plan(const TrainJob& job, const PlanCase& c, const PlanGpu& gpu,
                const TrainPlanOptions& o) {
  const GpuMemoryPlan& p = c.choice.plan;
  const ModelConfig& m = job.model;
  std::printf("sxbench train --plan-only: %s (%lld parameters), CUDA engine (bf16), per-GPU "
              "memory plan; nothing is allocated\n",
              m.name.c_str(), (long long)m.param_count());
  std::printf("job: %s, %s (%s); micro-batch %lld x accumulation %lld x world %d = %lld "
              "sequences of %lld tokens per step\n",
              shape_text(c, o.gpus_per_node, gpu.name).c_str(), stage_text(job, p).c_str(),
              job.ds.source.c_str(), (long long)c.batch.micro_batch_per_gpu,
              (long long)c.batch.gradient_accumulation_steps, c.world,
              (long long)c.batch.train_batch_size, (long long)job.seq_len);
  std::printf("recomputation: %s - %s; gradients: %s - %s\n",
              recompute_name(c.choice.recompute).c_str(), c.choice.recompute_reason.c_str(),
              grad_storage_name(c.choice.grads).c_str(), c.choice.grads_reason.c_str());
  if (c.world > 1) {
    std::printf("sharding: P = %lld parameters over %d GPUs, shard S = ceil(P / %d) = %lld; "
                "largest unit U = %lld (%s)\n",
                (long long)m.param_count(), c.world, c.world, (long long)p.shard_elements,
                (long long)p.largest_unit_elements,
                unit_name(m, p.largest_unit_elements).c_str());
  }
  std::printf("capacity: %.2f GiB per GPU: %s\n", gib(gpu.capacity.bytes),
              gpu.capacity.source.c_str());
  std::printf("\n%-20s %-12s %16s %6s %16s %9s\n", "buffer", "category", "bytes", "count",
              "total bytes", "GiB");
  for (const auto& b : p.buffers) {
    const uint64_t total = aligned_bytes(b.bytes) * uint64_t(b.count);
    std::printf("%-20s %-12s %16llu %6lld %16llu %9.3f\n", b.name.c_str(), b.category.c_str(),
                (unsigned long long)b.bytes, (long long)b.count, (unsigned long long)total,
                gib(total));
  }
  std::printf("%-20s %-12s %16s %6s %16llu %9.3f\n", "total", "", "", "",
              (unsigned long long)p.total_bytes(), gib(p.total_bytes()));
  std::printf("(each instance starts on a %llu-byte boundary; totals are of aligned sizes)\n",
              (unsigned long long)GpuMemoryPlan::kAlignment);
  std::string cats;
  const auto by_cat = p.bytes_by_category();
  for (const char* cat : {"weights", "master", "gradients", "optimizer", "activations", "scratch",
                          "workspace", "buffers"}) {
    auto it = by_cat.find(cat);
    if (it == by_cat.end()) continue;
    cats += fmt::format("{}{} {:.2f}", cats.empty() ? "" : ", ", cat, gib(it->second));
  }
  std::printf("by category (GiB): %s\n", cats.c_str());
  for (const auto& r : c.choice.verdict.reserve) {
    std::printf("reserve (assumed, not allocated by the engine): %s %.2f GiB - %s\n",
                r.name.c_str(), gib(r.bytes), r.assumption.c_str());
  }
  std::printf("verdict: %s\n", c.choice.verdict.line.c_str());
}

void print_node_table(const std::vector<PlanCase>& cases, const TrainPlanOptions& o,
                      const PlanGpu& gpu) {
  std::printf("\nper node count (%d %s GPU%s per node, %.2f GiB each; recomputation and "
              "gradients resolved per node count):\n",
              o.gpus_per_node, gpu.name.c_str(), o.gpus_per_node == 1 ? "" : "s",
              gib(gpu.capacity.bytes));
  std::printf("%5s %6s %5s %-9s %-5s %10s %10s  %s\n", "nodes", "world", "stage", "recompute",
              "grads", "plan GiB", "need GiB", "verdict; largest categories (GiB)");
  for (const auto& c : cases) {
    if (!c.error.empty()) {
      std::printf("%5d %6d %5s %-9s %-5s %10s %10s  not planned: %s\n", c.nodes, c.world, "-",
                  "-", "-", "-", "-", c.error.c_str());
      continue;
    }
    const MemoryVerdict& v = c.choice.verdict;
    std::string top;
    for (const auto& [cat, bytes] : v.largest) {
      top += fmt::format("{}{} {:.2f}", top.empty() ? "" : ", ", cat, gib(bytes));
    }
    const std::string verdict =
        v.fits ? fmt::format("fits, {:.2f} GiB free", gib(v.free_bytes))
               : fmt::format("does not fit, short by {:.2f} GiB", gib(v.shortfall_bytes));
    std::printf("%5d %6d %5d %-9s %-5s %10.2f %10.2f  %s; %s\n", c.nodes, c.world,
                c.choice.plan.zero_stage, recompute_name(c.choice.recompute).c_str(),
                grad_storage_name(c.choice.grads).c_str(), gib(v.plan_bytes),
                gib(v.needed_bytes), verdict.c_str(), top.c_str());
  }
}

}  // namespace

json run_train_plan(const TrainJob& job, const TrainPlanOptions& o, int launch_world,
                    const std::filesystem::path& out_dir, bool print) {
  if (o.gpus_per_node < 1 || o.gpus_per_node > 64) {
    throw usage_error(fmt::format("--gpus-per-node {}: expected 1..64", o.gpus_per_node));
  }
  if (o.gpu_memory_set &&
      (!(o.gpu_memory_gib > 0) || !std::isfinite(o.gpu_memory_gib) || o.gpu_memory_gib > 65536)) {
    throw usage_error(
        fmt::format("--gpu-memory-gib {}: expected a positive number of GiB", o.gpu_memory_gib));
  }
  std::vector<int> nodes;
  if (!o.nodes.empty()) nodes = report::parse_node_counts(o.nodes);
  const PlanGpu gpu = plan_gpu(o);

  // The job's own shape first: any error in it (batch, gradient settings) is the command's.
  const int job_nodes = nodes.empty() ? 0 : nodes.front();
  const int job_world = nodes.empty() ? launch_world : nodes.front() * o.gpus_per_node;
  const PlanCase job_case = plan_case(job, job_nodes, job_world, gpu.capacity);
  std::vector<PlanCase> scan;
  for (int n : nodes) {
    if (n == job_nodes) {
      scan.push_back(job_case);
      continue;
    }
    try {
      scan.push_back(plan_case(job, n, n * o.gpus_per_node, gpu.capacity));
    } catch (const Error& e) {
      PlanCase c;
      c.nodes = n;
      c.world = n * o.gpus_per_node;
      c.error = e.what();
      scan.push_back(c);
    }
  }

  if (print) {
    print_plan(job, job_case, gpu, o);
    if (!scan.empty()) print_node_table(scan, o, gpu);
    std::fflush(stdout);
  }

  json node_counts = json::array();
  for (const auto& c : scan) node_counts.push_back(case_json(job, c, o.gpus_per_node));
  const json j = {{"schema", "sxbench.train_plan/1"},
                  {"tool_version", SXB_VERSION},
                  {"created_utc", utc_iso8601_now()},
                  {"engine", "sxbench-cuda-bf16"},
                  {"model", job.model.to_json()},
                  {"ds_config", job.ds.to_json()},
                  {"seq_len", job.seq_len},
                  {"seq_len_source", job.seq_len_source},
                  {"settings", {{"recompute", job.recompute}, {"grad_dtype", job.grad_dtype}}},
                  {"gpu",
                   {{"name", gpu.name},
                    {"capacity_bytes", gpu.capacity.bytes},
                    {"capacity_kind", gpu.capacity.kind == CapacityKind::device_total
                                          ? "device_total"
                                          : "free_after_context"},
                    {"source", gpu.capacity.source}}},
                  {"gpus_per_node", nodes.empty() ? json(nullptr) : json(o.gpus_per_node)},
                  {"job", case_json(job, job_case, o.gpus_per_node)},
                  {"node_counts", node_counts},
                  {"fits", job_case.choice.verdict.fits}};
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    const auto path = out_dir / "plan.json";
    write_json_atomic(path, j);
    if (print) std::fprintf(stderr, "sxbench: wrote %s\n", path.c_str());
  }
  if (!job_case.choice.verdict.fits) {
    throw environment_error(fmt::format(
        "{} does not fit on {} with {}, {} recomputation: {}", job.model.name,
        shape_text(job_case, o.gpus_per_node, gpu.name), stage_text(job, job_case.choice.plan),
        recompute_name(job_case.choice.recompute), job_case.choice.verdict.detail));
  }
  return j;
}

}  // namespace sxb
