#!/usr/bin/env bash
# Device-machine driver for `sxbench compute`: build, tests (unit, e2e, gpu), a cuBLASLt fp8
# probe, PyTorch reference figures, the full default run, then three interleaved rounds of
# PyTorch's bf16 `A @ B` and sxbench's bf16 8192^3 (nn = torch's layout, tn = the default) so
# that clock and power drift hits both alike, and the same-call comparison tables.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/compute-out}
mkdir -p "$OUT"
B=/tmp/build-compute
here=$(pwd)
PY="python3 $here/bench/device/compute_torch.py"

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv
cmake -S . -B $B -G Ninja -DSXB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a >"$OUT/build.log" 2>&1 &&
  ninja -C $B -j16 >>"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
echo "== build ok"
# GPU tests one at a time (they time the GPU); the rest in parallel.
(cd $B && timeout 100 ctest --output-on-failure -j8 -LE gpu; timeout 150 ctest --output-on-failure -L gpu) >"$OUT/ctest.log" 2>&1
grep -E "tests passed|tests failed|\(Failed\)|\*\*\*Failed|Skipped" "$OUT/ctest.log" | head -20
nvcc -O2 -gencode=arch=compute_90a,code=sm_90a bench/device/fp8_probe.cu -lcublasLt -o /tmp/fp8_probe && /tmp/fp8_probe

$PY >"$OUT/torch_before.log" 2>&1; tail -1 "$OUT/torch_before.log"
$B/sxbench compute --out "$OUT/run" 2>&1 | tee "$OUT/compute.log" | tail -32
echo "== sxbench compute rc=${PIPESTATUS[0]}"

one() {  # $1 layout -> TFLOP/s of sxbench's bf16 8192^3
  $B/sxbench compute --tests gemm --dtypes bf16 --shapes square --square-min 8192 --square-max 8192 \
    --layout "$1" --out "/tmp/sxb_round_$1" >/dev/null 2>&1
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['gemm'][0]['tflop_per_s'])" "/tmp/sxb_round_$1/compute.json"
  rm -rf "/tmp/sxb_round_$1"
}
for i in 1 2 3; do
  t=$($PY --matmul-only 2>&1 | sed -n 's/^RESULT //p' | python3 -c "import json,sys; print(json.load(sys.stdin)['bf16_matmul']['tflop_per_s'])")
  echo "ROUND $i torch_A@B $t" >>"$OUT/rounds.log"
  echo "ROUND $i sxbench_nn $(one nn)" >>"$OUT/rounds.log"
  echo "ROUND $i sxbench_tn $(one tn)" >>"$OUT/rounds.log"
done
echo "== same-call comparison: full run against torch measured just before it"
$PY --compare "$OUT/run/compute.json" "$OUT/torch_before.log"
echo "== interleaved rounds (TFLOP/s)"
$PY --rounds "$OUT/rounds.log"
