#!/usr/bin/env bash
# On the GPU machine: the Hopper attention forward (src/train/gpu_attention_sm90.cu) against the
# mma.sync forward and the CPU reference, both kernels timed at the issue's shapes, and PyTorch
# SDPA (cuDNN, flash and efficient backends) at the same shapes in the same call. FLOPs as
# FlashAttention counts them: causal forward 4*B*H*T^2*d/2. Logs under $OUT; a table last.
# Binaries: .dev/sxb_gpu_tests when it runs on this machine, else a build (sm_90a).
# Reference script: .ref/torch_attention.py (a copy of shared/reference/torch_attention.py).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
start=$SECONDS
nvidia-smi --query-gpu=name,memory.total,clocks.sm,power.draw,temperature.gpu --format=csv |
  tee "$OUT/gpu.txt"

TESTS=.dev/sxb_gpu_tests
if ! "$TESTS" --gtest_list_tests >/dev/null 2>&1; then
  echo "prebuilt tests do not run here; building (sm_90a)"
  BUILD=/tmp/build-sxb
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DSXB_CUDA=ON -DSXB_CHARTS=OFF >"$OUT/build.log" 2>&1 &&
    ninja -C "$BUILD" sxb_gpu_tests >>"$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
  TESTS=$BUILD/tests/sxb_gpu_tests
  echo "build $((SECONDS - start)) s"
fi

# The kernel's instructions: wgmma (HGMMA) present, no local-memory traffic.
CUOBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null || true)
if [ -n "$CUOBJDUMP" ]; then
  "$CUOBJDUMP" -sass "$TESTS" 2>/dev/null |
    awk '/Function : .*flash_forward_sm90/{f=1} /Function : / && !/flash_forward_sm90/{f=0} f' \
      >"$OUT/sm90.sass"
  echo "sass flash_forward_sm90: $(grep -c HGMMA "$OUT/sm90.sass") HGMMA," \
    "$(grep -cE 'STL|LDL' "$OUT/sm90.sass") local loads/stores," \
    "$(grep -c 'MUFU.EX2' "$OUT/sm90.sass") MUFU.EX2"
else
  echo "no cuobjdump on this machine"
fi

# Correctness: the Hopper forward against the mma.sync one and float64, the attention test of
# every head_dim (with SXB_ATTENTION_FORWARD=sm90, head_dim 128 without a window runs the Hopper forward), the whole model's
# loss and gradients; then the non-overlapped consumer loop (SXB_ATTENTION_SM90_OVERLAP=0).
# A hang (a barrier never completing) ends at the timeout; the script goes on.
SXB_ATTENTION_FORWARD=sm90 timeout 240 "$TESTS" --gtest_filter='TrainGpuOps.HopperAttention*:TrainGpuOps.FlashAttention*:TrainGpuModel.LossAndGradients*' \
  >"$OUT/tests.log" 2>&1
echo "correctness tests exit $?"
SXB_ATTENTION_SM90_OVERLAP=0 timeout 120 "$TESTS" --gtest_filter='TrainGpuOps.HopperAttention*' \
  >"$OUT/tests_nooverlap.log" 2>&1
echo "correctness tests (no overlap) exit $?"
grep -hE "hopper attention|OK \]|FAILED|Failure|error|Expected|Which is" "$OUT/tests.log" \
  "$OUT/tests_nooverlap.log" | head -40

timeout 120 "$TESTS" --gtest_filter='TrainGpuPerf.AttentionKernels*' >"$OUT/perf.log" 2>&1
echo "perf test exit $?"
SXB_ATTENTION_SM90_OVERLAP=0 timeout 120 "$TESTS" \
  --gtest_filter='TrainGpuPerf.AttentionKernels*' >"$OUT/perf_nooverlap.log" 2>&1
echo "perf test (no overlap) exit $?"
for mode in mma sm90; do
  SXB_ATTENTION_FORWARD=$mode timeout 60 "$TESTS" \
    --gtest_filter='TrainGpuPerf.AttentionAtTheLlama7b*' >"$OUT/perf7b_$mode.log" 2>&1
  echo "SXB_ATTENTION_FORWARD=$mode: $(grep -E '^attention T=' "$OUT/perf7b_$mode.log")"
done

for shape in "1 32 32 4096 128" "1 32 8 8192 128"; do
  timeout 120 python3 .ref/torch_attention.py $shape 2>&1 | tee -a "$OUT/torch.log"
done

echo "== $((SECONDS - start)) s; table (forward, causal, bf16, FA FLOP count)"
grep -E "^ATTNFWD" "$OUT/perf.log"
grep -E "^ATTNFWD sm90" "$OUT/perf_nooverlap.log" | sed 's/^ATTNFWD sm90/ATTNFWD sm90 (no overlap)/'
grep -E "^ATTN " "$OUT/torch.log" | grep -E "cudnn|flash"
grep -E "\[  (PASSED|FAILED) " "$OUT"/tests*.log "$OUT"/perf*.log
