#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/): the Hopper attention backward's variants in one call.
#   default   the dQ writer warp (TMA reductions), a group's query heads split over blocks
#             where the grid is small
#   atomic    SXB_ATTENTION_SM90_DQ_WRITER=0: the consumers add dQ with atomics
#   nosplit   SXB_ATTENTION_GQA_SPLIT=0: one block runs every query head of its group
# Each is tested against the mma.sync backward and float64 (the attention GPU tests; the whole
# model's loss and gradients with the default), then timed by `sxbench compute --tests attention`
# at the default shapes, and with SHAPES (BxHxKVxTxD[xW], comma-separated) at those as well.
# VARIANTS picks them (default "default atomic nosplit"). Logs into $OUT/logs.tgz; the backward
# lines of each variant last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
L=$OUT/logs
mkdir -p "$L" .dev/lib
source bench/device/carried_libs.sh
export SXB_TEST_BINARY=$PWD/.dev/sxbench
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
variant_env() {
  case $1 in
    default) echo "SXB_ATTENTION_SM90_DQ_WRITER=1" ;;
    atomic) echo "SXB_ATTENTION_SM90_DQ_WRITER=0" ;;
    nosplit) echo "SXB_ATTENTION_GQA_SPLIT=0" ;;
  esac
}
for v in ${VARIANTS:-default atomic nosplit}; do
  filter='TrainGpuOps.HopperAttentionBackward*:TrainGpuOps.Deterministic*'
  [ "$v" = default ] && filter="$filter:TrainGpuOps.HopperAttention*:TrainGpuModel.*:ComputeGpu.Attention*"
  env $(variant_env "$v") timeout 150 .dev/sxb_gpu_tests --gtest_filter="$filter" \
    >"$L/tests_$v.log" 2>&1
  echo "tests ($v) exit $?: $(grep -E '^\[  PASSED  \]' "$L/tests_$v.log")"
  grep -E "^\[  FAILED  \]" "$L/tests_$v.log" | head -8
  grep -E "^deterministic hopper|^hopper attention backward" "$L/tests_$v.log" | head -4
  env $(variant_env "$v") timeout 150 .dev/sxbench compute --tests attention \
    --attention-shapes "default${SHAPES:+,$SHAPES}" --out "$L/compute_$v" >"$L/compute_$v.log" 2>&1
  echo "compute --tests attention ($v): exit $?"
done
for v in ${VARIANTS:-default atomic nosplit}; do
  echo "== backward sm90, $v (time us, TFLOP/s)"
  grep -E "backward sm90" "$L/compute_$v.log"
done
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$L"
