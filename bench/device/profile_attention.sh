#!/usr/bin/env bash
# On the GPU machine: Nsight Compute on the attention kernels at the Llama-2-7B shape (the
# TrainGpuPerf test): issue-stall reasons, pipe utilisation, shared-memory traffic, occupancy.
#   KERNEL  kernel-name regex (default flash_: the forward's first launches; flash_backward for
#           the backward)   COUNT  launches profiled (default 1)
# Report under $OUT/attention.ncu-rep and a text summary.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
BUILD=/tmp/build-sxb  # shared with train.sh
start=$SECONDS
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DSXB_CUDA=ON -DSXB_CHARTS=OFF >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" sxb_gpu_tests >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "build $((SECONDS - start)) s"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || true)
[ -n "$NCU" ] || { echo "ncu not found"; exit 1; }
"$NCU" --version | tail -1
"$NCU" --kernel-name "regex:${KERNEL:-flash_}" --launch-skip 0 --launch-count "${COUNT:-1}" \
  --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy \
  --section InstructionStats \
  --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,regex:sm__pipe_.*_cycles_active\.avg\.pct_of_peak_sustained_active,regex:sm__inst_executed_pipe_.*\.avg\.pct_of_peak_sustained_active" \
  -o "$OUT/attention" -f \
  "$BUILD/tests/sxb_gpu_tests" --gtest_filter='TrainGpuPerf*' >"$OUT/ncu.log" 2>&1
echo "ncu exit $?"
tail -5 "$OUT/ncu.log"
"$NCU" --import "$OUT/attention.ncu-rep" --print-summary none --page details >"$OUT/details.txt" 2>&1
"$NCU" --import "$OUT/attention.ncu-rep" --page raw --csv >"$OUT/raw.csv" 2>&1
python3 - "$OUT/raw.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, units, data = rows[0], rows[1], rows[2:]
name_col = head.index("Kernel Name")
for r in data:
    print("==", r[name_col][:90])
    vals = []
    for h, v in zip(head, r):
        if ("issue_stalled" in h or "pipe_" in h) and v not in ("", "0", "0.00"):
            try:
                f = float(v.replace(",", ""))
            except ValueError:
                continue
            if f >= 0.05:
                vals.append((f, h))
    for f, h in sorted(vals, reverse=True)[:28]:
        print(f"  {f:10.2f}  {h}")
PY
grep -E "flash_|Duration|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy|Issued Ipc|Executed Ipc|No Eligible|Warp Cycles Per Issued|Stall|Registers Per|Achieved Occupancy|Shared Memory|L1/TEX Hit|Pipe|Tensor|Executed Instructions " \
  "$OUT/details.txt" | head -150
