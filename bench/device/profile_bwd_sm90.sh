#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/): Nsight Compute on the Hopper attention backward, one
# launch per shape (SHAPES, default the issue's two), run by `sxbench compute --tests attention`:
# speed of light, warp states and issue-stall reasons, scheduler, memory and pipe use. Clocks are
# left alone (--clock-control none). Text reports under $OUT; the headline lines and the largest
# stall reasons printed.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
source bench/device/carried_libs.sh
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "ncu not found"; exit 1; }
for shape in ${SHAPES:-1x32x32x4096x128 1x32x8x8192x128}; do
  "$NCU" --clock-control none --kernel-name regex:flash_backward_sm90 --launch-skip 2 \
    --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section Occupancy \
    -o "$OUT/bwd_$shape" -f .dev/sxbench compute --tests attention --attention-shapes "$shape" \
    --out "/tmp/prof_$shape" >"$OUT/ncu_$shape.log" 2>&1
  echo "ncu $shape exit $?"
  "$NCU" --import "$OUT/bwd_$shape.ncu-rep" --page details >"$OUT/bwd_$shape.txt" 2>&1
  "$NCU" --import "$OUT/bwd_$shape.ncu-rep" --page raw --csv >"$OUT/bwd_${shape}_raw.csv" 2>&1
  echo "== $shape"
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy|Issued Ipc|No Eligible|Warp Cycles Per Issued|Shared Memory|Bank|Tensor|Executed Ipc" \
    "$OUT/bwd_$shape.txt" | head -30
  python3 - "$OUT/bwd_${shape}_raw.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
hdr, vals = rows[0], rows[-1]
st = []
for h, v in zip(hdr, vals):
    if h.startswith("smsp__average_warps_issue_stalled_") and h.endswith("_per_issue_active.ratio"):
        try: st.append((float(v.replace(",", "")), h[len("smsp__average_warps_issue_stalled_"):-len("_per_issue_active.ratio")]))
        except ValueError: pass
for v, n in sorted(st, reverse=True)[:10]: print(f"  stall {n:24s} {v:.2f} warps per issue")
for h, v in zip(hdr, vals):
    if "pipe_tensor" in h and "pct" in h: print(f"  {h} {v}")
PY
done
