#!/usr/bin/env bash
# Device-machine driver for `sxbench compute`: build, tests (unit, e2e, gpu), PyTorch reference
# figures before and after, the full default run, a bf16 nn-layout run (torch's A @ B layout),
# and the same-call comparison table. Logs and compute.json files land in $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/compute-out}
mkdir -p "$OUT"
B=/tmp/build-compute
here=$(pwd)

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv
cmake -S . -B $B -G Ninja -DSXB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a >"$OUT/build.log" 2>&1 &&
  ninja -C $B -j16 >>"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
echo "== build ok"
# GPU tests one at a time (they time the GPU); the rest in parallel.
(cd $B && timeout 100 ctest --output-on-failure -j8 -LE gpu && timeout 150 ctest --output-on-failure -L gpu) >"$OUT/ctest.log" 2>&1
echo "== ctest rc=$?"; grep -E "tests passed|tests failed|Failed|SKIPPED|\*\*\*" "$OUT/ctest.log" | head -30

nvcc -O2 -gencode=arch=compute_90a,code=sm_90a bench/device/fp8_probe.cu -lcublasLt -o /tmp/fp8_probe && /tmp/fp8_probe
PY="python3 $here/bench/device/compute_torch.py"
$PY >"$OUT/torch_before.log" 2>&1; tail -1 "$OUT/torch_before.log"
$B/sxbench compute --out "$OUT/run" ${SXB_COMPUTE_ARGS:-} 2>&1 | tee "$OUT/compute.log" | tail -45
echo "== sxbench compute rc=${PIPESTATUS[0]}"
$B/sxbench compute --tests gemm --dtypes bf16 --shapes square --square-min 8192 --square-max 8192 \
  --layout nn --out "$OUT/nn" 2>&1 | tail -4
$PY >"$OUT/torch_after.log" 2>&1; tail -1 "$OUT/torch_after.log"
echo "== same-call comparison (torch before sxbench)"
$PY --compare "$OUT/run/compute.json" "$OUT/torch_before.log"
python3 - "$OUT/nn/compute.json" "$OUT/run/compute.json" <<'PYEOF'
import json, sys
nn = json.load(open(sys.argv[1])); run = json.load(open(sys.argv[2]))
run["gemm"] += nn["gemm"]; json.dump(run, open("/tmp/merged.json", "w"))
PYEOF
echo "== with the nn run, against torch before and after"
$PY --compare /tmp/merged.json "$OUT/torch_before.log" | grep -E "figure|bf16|fp8"
$PY --compare /tmp/merged.json "$OUT/torch_after.log" | grep -E "bf16|fp8|copy"
