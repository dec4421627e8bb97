#!/usr/bin/env bash
# On the GPU machine, with binaries carried in .dev/ (as verify.sh): which learning rate makes
# the quick run's loss fall on Llama-2-7B from random weights in its 6 steps (1 warm-up), and
# what validate's train.loss_decreasing says about each. AdamW, betas 0.9/0.95, clipping 1.0,
# seq 4096, micro-batch 1; one train run per rate (LRS), then every GPU test. A table last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PROGRESS=off
OUT=${OUT:-/tmp/sxb-out}
W=/tmp/sxb-lr
rm -rf "$W" && mkdir -p "$W" .dev/lib
source bench/device/carried_libs.sh
BIN=$PWD/.dev/sxbench
if [ -n "${BUILD_PATH:-}" ]; then mkdir -p "$BUILD_PATH" && ln -sf "$BIN" "$BUILD_PATH/sxbench"; fi
export SXB_TEST_BINARY=$BIN
for lr in ${LRS:-1e-4 3e-4 1e-3}; do
  cat >"$W/ds_$lr.json" <<JSON
{"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1, "gradient_clipping": 1.0,
 "bf16": {"enabled": true},
 "optimizer": {"type": "AdamW", "params": {"lr": $lr, "betas": [0.9, 0.95], "eps": 1e-8,
                                           "weight_decay": 0.0}}}
JSON
  timeout 90 "$BIN" train --device cuda --model meta-llama/Llama-2-7b-hf --seq-len 4096 \
    --micro-batch 1 --steps ${STEPS:-6} --warmup-steps 1 --ds-config "$W/ds_$lr.json" \
    --out "$W/lr_$lr" >"$W/lr_$lr.log" 2>&1
  echo "lr $lr train exit $?"
  "$BIN" validate "$W/lr_$lr" >"$W/lr_$lr.validate.log" 2>&1
done
timeout 200 .dev/sxb_gpu_tests --gtest_filter='-TrainGpuPerf.*' >"$W/gpu_tests.log" 2>&1
echo "gpu tests exit $?"
grep -E "^\[  FAILED  \]|^\[  PASSED  \]|^\[  SKIPPED \]" "$W/gpu_tests.log" | head
tar -C /tmp -czf "$OUT/quick_lr_logs.tgz" sxb-lr
python3 - "$W" <<'PY'
import glob, json, os, sys
for d in sorted(glob.glob(os.path.join(sys.argv[1], "lr_*"))):
    p = os.path.join(d, "sft_metrics.json")
    if not os.path.isdir(d) or not os.path.exists(p):
        continue
    m = json.load(open(p))
    curve = " ".join(f"{s['loss']:.3f}" for s in m["loss_curve"])
    v = json.load(open(os.path.join(d, "validation.json"))) if os.path.exists(os.path.join(d, "validation.json")) else None
    print(f"{os.path.basename(d)}: {m['tokens_per_s_per_device']:.1f} tokens/s/GPU; loss {curve}")
    log = open(d + ".validate.log").read()
    at = log.find("train.loss_decreasing")
    print("   " + " ".join(log[max(0, log.rfind("\n", 0, at)):log.find("\n", log.find("\n", at) + 1)].split()))
PY
