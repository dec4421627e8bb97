#!/usr/bin/env bash
# Device run for `sxbench monitor` (one H200): build, all tests (gpu label included), a 60 s bf16
# GEMM load under the monitor at 100 ms (utilisation, energy counter vs integral of power), then
# the load alone and under the monitor, alternating, twice each (throughput overhead).
# Usage: bash bench/device/monitor.sh   (from the tree root; logs under $OUT)
#   PHASES (default build,tests,idle,main,alt) picks steps; ALT_ROUNDS (default 2) the number of
#   without/with pairs; MAIN_S and ALT_S the load durations in seconds.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/monitor-out}
mkdir -p "$OUT"
SRC=$(pwd)
BUILD=/tmp/build-monitor
MAIN_S=${MAIN_S:-60}
ALT_S=${ALT_S:-30}
ALT_ROUNDS=${ALT_ROUNDS:-2}
PHASES=${PHASES:-build,tests,idle,main,alt}
has() { [[ ",$PHASES," == *",$1,"* ]]; }

nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,power.draw,power.limit,temperature.gpu,clocks.sm,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max --format=csv 2>&1 | tee "$OUT/nvidia_smi.txt"

if has build; then
echo "=== build"
( cmake -S "$SRC" -B "$BUILD" -G Ninja -DSXB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DCMAKE_BUILD_TYPE=Release >/dev/null && ninja -C "$BUILD" -j16 ) > "$OUT/build.log" 2>&1
echo "build rc=$?"; tail -3 "$OUT/build.log"
fi
SXB=$BUILD/sxbench

if has tests; then
echo "=== tests"
( cd "$BUILD" && timeout 150 ctest --output-on-failure -j4 ) > "$OUT/ctest.log" 2>&1
echo "ctest rc=$?"; grep -E "tests passed|Skipped|Failed|\*\*\*" "$OUT/ctest.log" | head -20
( cd "$BUILD" && ctest -L gpu -V ) > "$OUT/ctest_gpu.log" 2>&1
grep -E "Test #|Passed|Failed|Skipped|\"(gpm|xid_events)\"|driver_version" "$OUT/ctest_gpu.log" | head -20
fi

if has idle; then
echo "=== idle cross-check with nvidia-smi"
$SXB monitor --require-gpu --interval 0.2 --out /tmp/idle/gpu_metrics.csv -- sleep 1
python3 - <<'PY'
import csv
r = list(csv.DictReader(open('/tmp/idle/gpu_metrics.csv')))[-1]
print({k: r[k] for k in ['gpu_name','mem_total_mib','power_w','power_instant_w','temperature_c','sm_clock_mhz','pcie_link_gen','pcie_link_gen_max','pcie_link_width','pcie_link_width_max','throttle_reasons','ecc_uncorrected','xid_count','remapped_rows_uncorrectable','nvlink_crc_errors','gpm_sm_activity_pct']})
PY
fi

echo "=== load runs"
LOADS=$OUT/loads.jsonl
: > "$LOADS"
RUN=/tmp/monitor-run
rm -rf "$RUN"
if has main; then
$SXB monitor --require-gpu --interval 0.1 --out "$RUN/gpu_metrics.csv" -- \
  python3 "$SRC/bench/device/gemm_load.py" --seconds "$MAIN_S" --label M60 | tee -a "$LOADS"
echo "monitor rc=$?"
cp "$RUN/gpu_metrics.csv" "$OUT/gpu_metrics.csv"
cp "$RUN/gpu_metrics_summary.json" "$OUT/gpu_metrics_summary.json"
fi
if has alt; then
for i in $(seq 1 "$ALT_ROUNDS"); do
  python3 "$SRC/bench/device/gemm_load.py" --seconds "$ALT_S" --label "B$i" | tee -a "$LOADS"
  $SXB monitor --require-gpu --interval 0.1 --out "/tmp/monitor-alt$i/gpu_metrics.csv" -- \
    python3 "$SRC/bench/device/gemm_load.py" --seconds "$ALT_S" --label "M$i" | tee -a "$LOADS"
done
fi
python3 "$SRC/bench/device/monitor_analyze.py" "$RUN" "$LOADS" "$OUT/monitor_results.json"
