#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/): where the Hopper attention backward's warps wait, by
# instruction: Nsight Compute's warp-state sampling (SourceCounters) over one launch at SHAPE
# (default 1x32x8x8192x128), clocks left alone; the SASS lines with the most stall samples and
# their reasons printed, the report under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
source bench/device/carried_libs.sh
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "ncu not found"; exit 1; }
shape=${SHAPE:-1x32x8x8192x128}
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
