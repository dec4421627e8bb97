#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/): the Hopper attention backward with the query heads of a
# group split over blocks (SXB_ATTENTION_GQA_SPLIT=1) against the mma.sync backward and float64
# (the attention and whole-model GPU tests), then `sxbench compute --tests attention` at the
# default shapes without and with the split in the same call. Logs into $OUT/logs.tgz; a table
# last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
L=$OUT/logs
mkdir -p "$L" .dev/lib
source bench/device/carried_libs.sh
export SXB_TEST_BINARY=$PWD/.dev/sxbench
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SXB_ATTENTION_GQA_SPLIT=1 timeout 150 .dev/sxb_gpu_tests \
  --gtest_filter='TrainGpuOps.HopperAttention*:TrainGpuOps.Deterministic*:TrainGpuModel.*:ComputeGpu.Attention*' \
  >"$L/tests_split.log" 2>&1
echo "tests with the split exit $?: $(grep -E '^\[  PASSED  \]' "$L/tests_split.log")"
grep -E "^\[  FAILED  \]|hopper attention backward" "$L/tests_split.log" | head -16
for split in 0 1; do
  SXB_ATTENTION_GQA_SPLIT=$split timeout 120 .dev/sxbench compute --tests attention \
    --out "$L/compute_split$split" >"$L/compute_split$split.log" 2>&1
  echo "compute --tests attention, split $split: exit $?"
done
for split in 0 1; do
  echo "== backward with SXB_ATTENTION_GQA_SPLIT=$split (time us, TFLOP/s)"
  grep -E "backward sm90" "$L/compute_split$split.log"
done
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$L"
