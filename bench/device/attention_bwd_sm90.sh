#!/usr/bin/env bash
# On the GPU machine, in one call, with binaries built elsewhere and carried in .dev/ (sxbench,
# sxb_gpu_tests, .dev/bundle for libraries the machine lacks): the Hopper attention kernels
# (src/train/gpu_attention_sm90.cu, with and without a sliding window) against the mma.sync ones
# and the CPU reference, the whole model's loss and gradients with the default kernels; both
# backward kernels timed at the issue's shapes and at the Llama-2-7B shape; `sxbench compute
# --tests attention` at its default shapes; PyTorch SDPA (cuDNN and flash backends) at the
# issue's shapes; then Llama-2-7B on the engine (seq 4096, micro-batch 1, no recomputation, the
# reference optimizer settings) with the Hopper backward and with SXB_ATTENTION_BACKWARD=mma, and
# PyTorch eager on the same model (ENGINE=0 skips the training runs, TORCH_LLAMA=0 PyTorch's).
# FLOPs as FlashAttention counts them: causal forward 4*B*H*T^2*d/2, backward 2.5x that. Logs
# under $OUT; a table last. Reference scripts: .ref/torch_attention.py and .ref/torch_llama.py.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT" .dev/lib
start=$SECONDS
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,power.draw,temperature.gpu \
  --format=csv,noheader | tee "$OUT/gpu.txt"
source bench/device/carried_libs.sh
BIN=$PWD/.dev/sxbench
TESTS=$PWD/.dev/sxb_gpu_tests
"$BIN" --version || { ldd "$BIN" | grep "not found"; exit 1; }

CUOBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null || true)
if [ -n "$CUOBJDUMP" ]; then
  "$CUOBJDUMP" -sass "$TESTS" 2>/dev/null |
    awk '/Function : .*flash_backward_sm90/{f=1} /Function : / && !/flash_backward_sm90/{f=0} f' \
      >"$OUT/bwd_sm90.sass"
  echo "sass flash_backward_sm90: $(grep -c HGMMA "$OUT/bwd_sm90.sass") HGMMA," \
    "$(grep -cE 'STL|LDL' "$OUT/bwd_sm90.sass") local loads/stores"
fi

# Correctness first; a hang (a barrier never completing) ends at the timeout and the script goes on.
timeout 150 "$TESTS" \
  --gtest_filter='TrainGpuOps.HopperAttention*:TrainGpuOps.FlashAttention*:TrainGpuOps.Deterministic*:ComputeGpu.Attention*' \
  >"$OUT/tests.log" 2>&1
echo "attention tests exit $?"
grep -hE "hopper attention|^\[  FAILED  \]|Failure|Expected|Which is|error" "$OUT/tests.log" | head -30
timeout 150 "$TESTS" --gtest_filter='TrainGpuModel.*' >"$OUT/model_tests.log" 2>&1
echo "model tests exit $?"
grep -hE "^\[  FAILED  \]|^\[  PASSED  \]|Failure" "$OUT/model_tests.log" | head -10

timeout 120 "$TESTS" --gtest_filter='TrainGpuPerf.AttentionKernels*' >"$OUT/perf.log" 2>&1
echo "perf test exit $?"
for mode in mma sm90; do
  SXB_ATTENTION_BACKWARD=$mode timeout 60 "$TESTS" \
    --gtest_filter='TrainGpuPerf.AttentionAtTheLlama7b*' >"$OUT/perf7b_$mode.log" 2>&1
  echo "SXB_ATTENTION_BACKWARD=$mode: $(grep -E '^attention T=' "$OUT/perf7b_$mode.log")"
done
# The engine's kernels at the default shapes (published pair, every built-in model's shape, both
# kernels where the Hopper one applies), each checked against float64 first.
timeout 150 "$BIN" compute --tests attention --out "$OUT/compute_attention" \
  >"$OUT/compute_attention.log" 2>&1
echo "sxbench compute --tests attention exit $?"
for shape in "1 32 32 4096 128" "1 32 8 8192 128"; do
  timeout 120 python3 .ref/torch_attention.py $shape >>"$OUT/torch.log" 2>&1
done
echo "attention part: $((SECONDS - start)) s"

if [ "${ENGINE:-1}" = 1 ]; then
  for mode in sm90 mma; do
    SXB_ATTENTION_BACKWARD=$mode timeout 100 "$BIN" train --device cuda \
      --model meta-llama/Llama-2-7b-hf --seq-len 4096 --micro-batch 1 --steps 10 \
      --warmup-steps 3 --ds-config bench/device/ds_config_torch_reference.json \
      --out "/tmp/engine_$mode" >"$OUT/engine_$mode.log" 2>&1
    echo "engine (backward $mode) exit $?: $(grep -E '^step time' "$OUT/engine_$mode.log")"
  done
fi
if [ "${TORCH_LLAMA:-1}" = 1 ]; then
  timeout 200 python3 -m torch.distributed.run --standalone --nproc_per_node 1 .ref/torch_llama.py --seq 4096 --mb 1 \
    --ac 0 --tag eager >"$OUT/torch_llama.log" 2>&1
  echo "torch_llama eager exit $?: $(grep RESULT "$OUT/torch_llama.log" || tail -3 "$OUT/torch_llama.log")"
fi

echo "== $((SECONDS - start)) s; table (causal, bf16, FA FLOP count)"
grep -E "attention check|^  gpu|^  \(\*" "$OUT/compute_attention.log"
grep -E "^ATTN(FWD|BWD)" "$OUT/perf.log"
grep -E "^ATTN " "$OUT/torch.log" | grep -E "cudnn|flash"
for mode in mma sm90; do
  echo "7B shape, backward $mode: $(grep -E '^attention T=' "$OUT/perf7b_$mode.log")"
done
for mode in sm90 mma; do
  m=/tmp/engine_$mode/sft_metrics.json
  [ -f "$m" ] && python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"engine 7B backward $mode: {m['tokens_per_s_per_device']:.1f} tokens/s/GPU, MFU {100*m['mfu']:.1f}%, loss {m['initial_loss']:.4f} -> {m['final_loss']:.4f}\")" "$m"
done
[ -f "$OUT/torch_llama.log" ] && grep RESULT "$OUT/torch_llama.log"
grep -hE "\[  (PASSED|FAILED) " "$OUT"/tests.log "$OUT"/model_tests.log "$OUT"/perf*.log
