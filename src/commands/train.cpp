// `sxbench train`: supervised fine-tuning throughput of a Llama-architecture model with
// sxbench's own engine. --device cpu runs the fp32 CPU reference, data parallel over MPI (the
// mpi Communicator); --device cuda runs the CUDA engine (bf16, one GPU per process). Either
// writes sft_metrics.json in the output directory (rank 0). This file is the command line; the
// job itself is commands/train_job.cpp (shared with `sxbench run`'s sft phase).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "comm/job_abort.hpp"
#include "comm/mpi_context.hpp"
#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "commands/train_job.hpp"
#include "commands/train_plan.hpp"
#include "core/atomic_file.hpp"
#include "core/dir_lock.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "model/model_config.hpp"

namespace sxb {

namespace {

struct TrainCliOptions : TrainJobRequest {
  std::string out_dir;
  bool list_models = false;
  bool device_set = false;  // --device given on the command line
  TrainPlanOptions plan;
  std::vector<std::string> plan_flags_given;  // planning flags seen (they need --plan-only)
};

void print_models() {
  std::printf("%-28s %15s %6s %6s %5s %5s %6s %7s %9s %8s\n", "model", "parameters", "hidden",
              "layers", "heads", "kv", "ffn", "vocab", "rope_theta", "max_pos");
  for (const auto& m : builtin_models()) {
    std::printf("%-28s %15lld %6lld %6lld %5lld %5lld %6lld %7lld %9g %8lld\n", m.name.c_str(),
                (long long)m.param_count(), (long long)m.hidden_size, (long long)m.num_layers,
                (long long)m.num_heads, (long long)m.num_kv_heads, (long long)m.intermediate_size,
                (long long)m.vocab_size, m.rope_theta, (long long)m.max_position_embeddings);
  }
}

// --plan-only: the CUDA engine's settings resolved as a run resolves them, the plan printed by
// rank 0 and written to plan.json; nothing is allocated and no GPU is needed.
int run_train_plan_only(const TrainCliOptions& o, const CommandContext& ctx) {
  if (o.device_set && o.device != "cuda") {
    throw usage_error(
        "--plan-only plans the CUDA engine's GPU memory; leave out --device or use "
        "--device cuda");
  }
  TrainJobRequest request = o;
  request.device = "cuda";
  request.plan_only = true;
  TrainJob job = prepare_train_job(request, ctx.env);
  MpiContext mpi(nullptr, nullptr);
  const bool root = mpi.rank() == 0;
  std::filesystem::path out_dir;
  if (root) {
    out_dir =
        o.out_dir.empty()
            ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                      ("train_plan_" + utc_compact_now()))
            : std::filesystem::path(o.out_dir);
  }
  try {
    run_train_plan(job, o.plan, mpi.world_size(), out_dir, root);
  } catch (const Error& e) {
    if (!root) return static_cast<int>(e.code());  // rank 0 reports
    throw;
  }
  return 0;
}

int run_train(const TrainCliOptions& o, const CommandContext& ctx) {
  if (o.list_models) {
    print_models();
    return 0;
  }
  if (!o.plan_only && !o.plan_flags_given.empty()) {
    throw usage_error(o.plan_flags_given.front() + " applies to --plan-only");
  }
  if (o.plan_only) return run_train_plan_only(o, ctx);
  TrainJob job = prepare_train_job(o, ctx.env);
  MpiContext mpi(nullptr, nullptr);
  // Every collective of training, and each training step, ends within COMM_TIMEOUT (the first
  // step within three times it); any error on any rank ends the job (comm/job_abort.hpp).
  mpi.set_timeout(*ctx.env.get_number("COMM_TIMEOUT"));
  return run_as_job(mpi, [&]() -> int {
    // The output directory is rank 0's alone: created and locked (one writer) before training;
    // what fails here every rank learns, and rank 0 reports.
    std::filesystem::path out_dir;
    DirectoryLock out_lock;
    on_root_then_agree(mpi, [&] {
      out_dir =
          o.out_dir.empty()
              ? create_unique_directory(std::filesystem::path(ctx.env.get_string("RESULTS_DIR")) /
                                        ("train_" + utc_compact_now()))
              : std::filesystem::path(o.out_dir);
      std::filesystem::create_directories(out_dir);
      out_lock = DirectoryLock(out_dir, "train");
    });
    run_train_job(job, mpi, out_dir);
    return 0;
  });
}

}  // namespace

Command add_train_command(CLI::App& root) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* app = root.add_subcommand(
      "train",
      "LLM supervised fine-tuning throughput with sxbench's engine (Llama architecture, "
      "AdamW, data parallel); writes sft_metrics.json");
  app->add_option("--device", o->device,
                  "cpu (fp32 reference, data parallel over MPI) or cuda (bf16 engine, one GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app->add_option("--model", o->model,
                  "Hugging Face id, built-in test shape, or directory with config.json "
                  "[MODEL_NAME]");
  app->add_option("--ds-config", o->ds_config, "DeepSpeed config JSON (configs/ds_config_*.json)");
  app->add_option("--steps", o->steps, "Optimizer steps")
      ->check(int_in(1, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--warmup-steps", o->warmup_steps,
                  "Leading steps excluded from the timing statistics")
      ->check(int_in(0, kMaxRepetitions))
      ->capture_default_str();
  app->add_option("--seq-len", o->seq_len, "Tokens per sequence [SEQ_LEN; or the data file's]")
      ->check(int_in(2, 1 << 20));
  app->add_option("--micro-batch", o->micro_batch,
                  "Sequences per rank per micro-step [BATCH_SIZE_PER_GPU; or the ds_config's]")
      ->check(int_in(1, 1000000));
  app->add_option("--data", o->data, "Token file from `sxbench data pack` (default: synthetic)");
  app->add_option("--out", o->out_dir, "Output directory (default: $RESULTS_DIR/train_<UTC time>)");
  app->add_option("--seed", o->seed, "Seed of weights and synthetic data")
      ->check(int_in(0, kInt64Max))
      ->capture_default_str();
  app->add_option("--init", o->init,
                  "Starting weights: random (seeded) or pretrained (the safetensors weights of "
                  "the --model directory, checked against its config.json)")
      ->check(CLI::IsMember({"random", "pretrained"}))
      ->capture_default_str();
  app->add_option("--save-weights", o->save_weights,
                  "--device cpu: write the trained weights to this directory (config.json and "
                  "model.safetensors, Hugging Face names)");
  app->add_option("--save-dtype", o->save_dtype, "Storage of --save-weights: fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app->add_option("--recompute", o->recompute,
                  "CUDA engine activation recomputation: auto (ds_config, else what fits), none, "
                  "selective or full")
      ->capture_default_str();
  app->add_option("--comm-backend", o->comm_backend,
                  "CUDA engine gradient exchange: auto (nccl with several ranks), nccl, or mpi "
                  "(host-staged; ranks may share a GPU); an explicit one runs with one rank too")
      ->capture_default_str();
  app->add_option("--grad-dtype", o->grad_dtype,
                  "CUDA engine gradient storage: auto (bf16 without gradient accumulation, else "
                  "fp32), fp32 or bf16")
      ->capture_default_str();
  app->add_flag("--profile", o->profile,
                "CUDA engine: time every operation of the last step by category (CUDA events)");
  app->add_flag("--list-models", o->list_models, "List the built-in models and exit");
  app->add_flag("--plan-only", o->plan_only,
                "Print the CUDA engine's per-GPU memory plan and its verdict, write plan.json; "
                "allocate nothing (no GPU needed). Exit 0 fits, 4 does not fit");
  app->add_option("--nodes", o->plan.nodes,
                  "--plan-only: node counts to plan, comma-separated (the first is the job; "
                  "default: the launch's own world)");
  app->add_option("--gpus-per-node", o->plan.gpus_per_node, "--plan-only: GPUs per node")
      ->check(int_in(1, 64))
      ->capture_default_str();
  app->add_option("--gpu-memory-gib", o->plan.gpu_memory_gib,
                  "--plan-only: memory of one GPU in GiB, 1 to 65536 (default: configs/hardware)")
      ->check(number_in(1, 65536));
  app->add_option("--gpu", o->plan.gpu, "--plan-only: GPU to plan for (a configs/hardware match)")
      ->capture_default_str();
  return {app, [o, app](const CommandContext& ctx) {
            o->device_set = app->count("--device") > 0;
            o->plan.gpu_memory_set = app->count("--gpu-memory-gib") > 0;
            o->plan_flags_given.clear();
            for (const char* f : {"--nodes", "--gpus-per-node", "--gpu-memory-gib", "--gpu"}) {
              if (app->count(f) > 0) o->plan_flags_given.push_back(f);
            }
            return run_train(*o, ctx);
          }};
}

}  // namespace sxb
