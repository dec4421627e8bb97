#!/usr/bin/env bash
# On the GPU machine, in one short call, with binaries built elsewhere and carried in .dev/
# (sxbench, sxb_gpu_tests, and .dev/bundle: shared libraries to use only where the machine lacks
# them): every GPU test, then Llama-2-7B on the CUDA engine (seq 4096, micro-batch 1, no
# recomputation, the reference optimizer settings), the Hopper attention forward's tests and
# timing (SXB_ATTENTION_FORWARD=sm90), the benchmark's embedded default run and its full mode
# for Llama-2-7B, whose run directories come back as the GPU fixtures of tests/fixtures/gpu
# (run_dir.tgz, run_dir_full.tgz; FULL_RUN=0 skips the second), read back by report, plan and
# validate (skipped directories, warnings, the GPU-utilisation target on the training window,
# each prediction's error). Then what the performance model
# is checked against (tests/unit/perf_model_test.cpp, SHAPES=0 skips it): Llama-2-7B with full
# recomputation, and a second model shape, Mistral-7B (GQA, F 14336) at seq 4096, each as a
# train run directory with its node's compute.json beside it (bf16 products at the model's
# forward and backward shapes, HBM), packed as run_dir_<name>.tgz: unpacked under
# tests/fixtures/gpu/ they become test cases of the model without further edits. Phases that
# would start after BUDGET_S seconds are skipped and say so. Logs: $OUT/verify_logs.tgz; a short
# table last.
#   BUILD_PATH  the absolute build directory the binaries were built in (the tests run the
#               sxbench binary by that path)
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PYTHONUNBUFFERED=1 PROGRESS=off
OUT=${OUT:-/tmp/sxb-out}
W=/tmp/sxb-verify
rm -rf "$W"
mkdir -p "$W" .dev/lib
# The logs so far, after every phase: a call cut short still brings back what it measured.
save() { tar -C "$(dirname "$W")" -czf "$OUT/verify_logs.tgz" "$(basename "$W")"; }
BUDGET_S=${BUDGET_S:-200}
want() {
  if [ "$SECONDS" -lt "$BUDGET_S" ]; then return 0; fi
  echo "$1: skipped, ${SECONDS}s used of the ${BUDGET_S}s budget"
  return 1
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,power.draw,temperature.gpu \
  --format=csv,noheader | tee "$W/gpu.txt"
# Libraries the binaries need that this machine does not have come from the bundle.
source bench/device/carried_libs.sh
echo "bundled: $(ls .dev/lib | tr '\n' ' ')"
BIN=$PWD/.dev/sxbench
"$BIN" --version || { ldd "$BIN" | grep "not found"; exit 1; }
if [ -n "${BUILD_PATH:-}" ]; then
  mkdir -p "$BUILD_PATH" && ln -sf "$BIN" "$BUILD_PATH/sxbench"
fi
export SXB_TEST_BINARY=$BIN

if want gpu_tests; then
  timeout 150 .dev/sxb_gpu_tests --gtest_filter='-TrainGpuOps.HopperAttention*:TrainGpuPerf.*' \
    >"$W/gpu_tests.log" 2>&1
  echo "gpu tests exit $?"
  grep -E "^\[  FAILED  \]|^\[  PASSED  \]|tests ran" "$W/gpu_tests.log" | head -20
  save
fi

if want engine_7b; then
  timeout 100 "$BIN" train --device cuda --model meta-llama/Llama-2-7b-hf --seq-len 4096 \
    --micro-batch 1 --steps 10 --warmup-steps 3 \
    --ds-config bench/device/ds_config_torch_reference.json --out "$W/engine" \
    >"$W/engine.log" 2>&1
  echo "engine_7b exit $?"
  grep -E "^step time" "$W/engine.log"
  save
fi

if want hopper_attention; then
  SXB_ATTENTION_FORWARD=sm90 timeout 60 .dev/sxb_gpu_tests \
    --gtest_filter='TrainGpuOps.HopperAttention*:TrainGpuOps.FlashAttention*' >"$W/hopper_tests.log" 2>&1
  echo "hopper attention tests exit $?"
  grep -E "hopper attention|^\[  FAILED  \]|^\[  PASSED  \]|Failure" "$W/hopper_tests.log" | head -12
  timeout 60 .dev/sxb_gpu_tests --gtest_filter='TrainGpuPerf.AttentionKernels*' \
    >"$W/hopper_perf.log" 2>&1
  echo "hopper attention timing exit $?"
  grep -E "^ATTNFWD" "$W/hopper_perf.log"
  save
fi

if want default_run; then
  SXB_BIN=$BIN RESULTS_DIR=$W/results timeout 100 scripts/run_h200_benchmark.sh \
    >"$W/run_default.log" 2>&1
  echo "run_h200_benchmark.sh (default) exit $?"
  grep -E "^sxbench run" "$W/run_default.log" | tail -8
  RUN=$(ls -d "$W"/results/h200_benchmark_* 2>/dev/null | head -1)
  [ -n "$RUN" ] && tar -C "$(dirname "$RUN")" -czf "$OUT/run_dir.tgz" "$(basename "$RUN")"
  [ -n "$RUN" ] && mkdir -p "$W/fixtures" && mv "$RUN" "$W/fixtures/h200_quick_7b"
  rm -rf "$W/results"
fi

# The full mode of the same model: the second GPU fixture (run_dir_full.tgz).
if [ "${FULL_RUN:-1}" = 1 ] && want full_run; then
  SXB_BIN=$BIN RESULTS_DIR=$W/results_full timeout 120 scripts/run_h200_benchmark.sh \
    meta-llama/Llama-2-7b-hf 1 full >"$W/run_full.log" 2>&1
  echo "run_h200_benchmark.sh meta-llama/Llama-2-7b-hf 1 full exit $?"
  RUN=$(ls -d "$W"/results_full/h200_benchmark_* 2>/dev/null | head -1)
  [ -n "$RUN" ] && tar -C "$(dirname "$RUN")" -czf "$OUT/run_dir_full.tgz" "$(basename "$RUN")"
  [ -n "$RUN" ] && mkdir -p "$W/fixtures" && mv "$RUN" "$W/fixtures/h200_full_7b"
  rm -rf "$W/results_full"
fi

# The two runs through every reader, as a user would: report, plan and validate must skip
# nothing and warn about nothing; the GPU-utilisation target is judged on the training window.
if [ -d "$W/fixtures" ] && want readers; then
  "$BIN" report --results "$W/fixtures" --out "$W/docs" --lang en >"$W/readers.log" 2>&1
  echo "report exit $?: $(grep -E ' skipped' "$W/readers.log" | tail -1)"
  "$BIN" plan --results "$W/fixtures" --out "$W/plan" >>"$W/readers.log" 2>&1
  echo "plan exit $?"
  for d in "$W"/fixtures/*; do
    "$BIN" validate "$d" >>"$W/readers.log" 2>&1
    echo "validate $(basename "$d") exit $?: $(grep -E 'warning\(s\)' "$W/readers.log" | tail -1)"
  done
  python3 - "$W/docs/report.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"report: {len(j['runs'])} run(s), {len(j['skipped'])} skipped")
for t in j["targets"]:
    if t["id"] == "gpu_utilization":
        print(f"target gpu_utilization: {t['verdict']} {t['value']}")
        for c in t["contributions"]:
            print(f"  {c['subject']}: {c['value']:.1f}%")
for g in j["figures"]["gpu"]:
    w = g.get("training_window") or {}
    print(f"{g['run']}: whole run {g['util_mean_pct']}% (SM {g['sm_activity_mean_pct']}), "
          f"window {w.get('name')} {w.get('samples')} samples: util {w.get('util_mean_pct')}%, "
          f"SM {w.get('sm_activity_mean_pct')}%")
for p in j["figures"].get("predictions", []):
    if p.get("error_fraction") is not None:
        print(f"prediction {p.get('model')}: {p['predicted_tokens_per_s_per_gpu']:.1f} vs measured "
              f"{p['measured_tokens_per_s_per_gpu']:.1f} tokens/s/GPU ({100*p['error_fraction']:+.1f}%), "
              f"memory {100*p.get('memory_error_fraction', 0):+.1f}%")
PY
  save
fi

# Performance-model cases: one train run per shape, with the node's ceilings at that shape.
shape_case() {  # name model recompute
  local name=$1 model=$2 recompute=$3 dir=$W/h200_$1
  mkdir -p "$dir"
  timeout 120 "$BIN" train --device cuda --model "$model" --seq-len 4096 --micro-batch 1 \
    --steps 10 --warmup-steps 3 --recompute "$recompute" \
    --ds-config bench/device/ds_config_torch_reference.json --out "$dir/train" \
    >"$W/$name.log" 2>&1
  echo "$name train exit $?"
  timeout 90 "$BIN" compute --tests gemm,hbm --dtypes bf16 --shapes "$model" --backward \
    --out "$dir/compute" >>"$W/$name.log" 2>&1
  echo "$name compute exit $?"
  # One directory as the fixtures hold it: sft_metrics.json and compute.json side by side.
  if [ -f "$dir/train/sft_metrics.json" ] && [ -f "$dir/compute/compute.json" ]; then
    cp "$dir/compute/compute.json" "$dir/train/compute.json"
    tar -C "$dir" -czf "$OUT/run_dir_$name.tgz" --transform "s|^train|h200_$name|" train
  fi
  save
}
if [ "${SHAPES:-1}" = 1 ]; then
  want full_recompute_7b && shape_case full_recompute_7b meta-llama/Llama-2-7b-hf full
  want mistral_7b && shape_case mistral_7b mistralai/Mistral-7B-v0.1 auto
fi

# The Hopper attention forward (the default on sm_90) in the whole model: loss and gradients
# against the CPU reference in every recomputation mode, the twenty-step loss curve, the train
# command's tests, with the forward named explicitly; then the 7B engine with the mma.sync
# forward (SXB_ATTENTION_FORWARD=mma), against the engine above (the default) and PyTorch eager
# (no checkpointing, .ref/torch_llama.py) in the same call. SM90=0 skips these.
if [ "${SM90:-1}" = 1 ] && want sm90_model; then
  SXB_ATTENTION_FORWARD=sm90 timeout 200 .dev/sxb_gpu_tests \
    --gtest_filter='TrainGpuModel.*:TrainGpuCli.*' >"$W/sm90_model.log" 2>&1
  echo "whole-model tests with the Hopper forward exit $?"
  grep -E "^\[  FAILED  \]|^\[  PASSED  \]|Failure" "$W/sm90_model.log" | head -12
  save
fi
if [ "${SM90:-1}" = 1 ] && want engine_7b_mma; then
  SXB_ATTENTION_FORWARD=mma timeout 100 "$BIN" train --device cuda \
    --model meta-llama/Llama-2-7b-hf --seq-len 4096 --micro-batch 1 --steps 10 --warmup-steps 3 \
    --ds-config bench/device/ds_config_torch_reference.json --out "$W/engine_mma" \
    >"$W/engine_mma.log" 2>&1
  echo "engine_7b_mma exit $?"
  save
fi
if [ "${REFERENCE:-1}" = 1 ] && [ -f .ref/torch_llama.py ] && want torch_reference; then
  timeout 150 torchrun --standalone --nproc_per_node 1 .ref/torch_llama.py --ac 0 --seq 4096 \
    --mb 1 >"$W/torch_llama.log" 2>&1
  echo "torch_llama.py --ac 0 exit $?: $(grep -E '^RESULT' "$W/torch_llama.log")"
  save
fi

echo "== ${SECONDS}s"
python3 - "$W" <<'EOF'
import json, os, sys
w = sys.argv[1]
for label, sub in [("engine 7B", "engine"), ("engine 7B, mma.sync forward", "engine_mma"),
                   ("7B full recomputation", "h200_full_recompute_7b/train"),
                   ("Mistral-7B", "h200_mistral_7b/train")]:
    p = os.path.join(w, sub, "sft_metrics.json")
    if not os.path.exists(p):
        continue
    m = json.load(open(p))
    print(f"{label}: {m['tokens_per_s_per_device']:.1f} tokens/s/GPU, MFU {100*m['mfu']:.1f}%, "
          f"recomputation {m['activation_recomputation']['mode']}, "
          f"step median {m['step_time_s']['median']:.4f} s, loss {m['initial_loss']:.4f} -> "
          f"{m['final_loss']:.4f}, peak {m['peak_memory_bytes']['device_used_peak_bytes']/2**30:.1f} GiB")
EOF
save
