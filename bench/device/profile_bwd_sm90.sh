#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/): Nsight Compute on the Hopper attention backward, one
# launch per shape (SHAPES, default the issue's two), run by `sxbench compute --tests attention`:
# speed of light, warp states and issue-stall reasons, scheduler, memory and pipe use. Clocks are
# left alone (--clock-control none). Text reports under $OUT; the headline lines and the largest
# stall reasons printed. SOURCE=1 instead samples where the warps wait, by instruction
# (SourceCounters) over one launch at the first shape, and prints the SASS lines with the most
# stall samples and their reasons.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
source bench/device/carried_libs.sh
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "ncu not found"; exit 1; }
if [ "${SOURCE:-0}" = 1 ]; then
shape=$(echo ${SHAPES:-1x32x8x8192x128} | cut -d' ' -f1)
"$NCU" --clock-control none --kernel-name regex:flash_backward_sm90 --launch-skip 2 --launch-count 1 \
  --section SourceCounters --section WarpStateStats -o "$OUT/src" -f .dev/sxbench compute --tests \
  attention --attention-shapes "$shape" --out /tmp/prof_src >"$OUT/ncu_src.log" 2>&1
echo "ncu exit $?"
"$NCU" --import "$OUT/src.ncu-rep" --page source --csv --print-source sass >"$OUT/src_sass.csv" 2>&1
python3 - "$OUT/src_sass.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
try:
    hi = next(i for i, r in enumerate(rows) if "Source" in r and "Address" in r)
except StopIteration:
    print("no source table; the file begins:"); [print(",".join(r)[:300]) for r in rows[:15]]; sys.exit(0)
hdr = rows[hi]; body = [r for r in rows[hi + 1:] if len(r) == len(hdr)]
col = {h: i for i, h in enumerate(hdr)}
samp = next(h for h in hdr if h.startswith("Warp Stall Sampling (All"))
def num(x):
    try: return float(x.replace(",", ""))
    except ValueError: return 0.0
total = sum(num(r[col[samp]]) for r in body) or 1
reasons = [h for h in hdr if "stall" in h.lower() and "Sampling" not in h]
print("columns:", "; ".join(hdr)[:1500])
print(f"{len(body)} SASS lines, {total:.0f} samples; the top 40:")
for r in sorted(body, key=lambda r: -num(r[col[samp]]))[:40]:
    rs = sorted(((num(r[col[h]]), h) for h in reasons), reverse=True)[:2]
    why = ", ".join(f"{h} {v:.0f}" for v, h in rs if v > 0)
    print(f"{100*num(r[col[samp]])/total:5.1f}% {r[col['Address']]:>6} {r[col['Source']][:70]:70s} {why}")
PY
exit 0
fi
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
