#!/usr/bin/env bash
# On the GPU machine: build sxbench (CUDA, sm_90a) and run every test (gpu-labelled included),
# then the benchmark's embedded default (scripts/run_h200_benchmark.sh with no arguments) and
# `sxbench info`. Logs and the run directory (as run_dir.tgz) go to $OUT; a short table last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT"
BUILD=/tmp/build-run
nvidia-smi -L
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90a -DSXB_CUDA=ON >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" >>"$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
(cd "$BUILD" && ctest --output-on-failure -j4) >"$OUT/ctest.log" 2>&1
grep -E "tests passed|tests failed|\*\*\*Failed|Not Run" "$OUT/ctest.log" | head -20

export SXB_BIN=$BUILD/sxbench RESULTS_DIR=$OUT/results
scripts/run_h200_benchmark.sh >"$OUT/run_default.log" 2>&1
echo "run_h200_benchmark.sh exit: $?"
"$BUILD/sxbench" info >"$OUT/info.txt" 2>&1
RUN=$(ls -d "$OUT"/results/h200_benchmark_* | head -1)
tar -C "$(dirname "$RUN")" -czf "$OUT/run_dir.tgz" "$(basename "$RUN")"
grep -E "^sxbench run" "$OUT/run_default.log"
sed -n '/^## Collectives/,/^Measured/p' "$RUN/summary_report.md" 2>/dev/null | head -12
sed -n '/^## GPU metrics/,/^Measured/p' "$RUN/summary_report.md" 2>/dev/null | head -6
sed -n '/^## Validation/,$p' "$RUN/summary_report.md" 2>/dev/null | head -4
rm -rf "$OUT/results"
