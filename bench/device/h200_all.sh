#!/usr/bin/env bash
# On the GPU machine (one H200 for the issues' figures), in one call (binaries in .dev/, reference
# scripts in .ref/), most important first, each part bounded by a timeout:
#   1. the Hopper attention backward's variants (bench/device/attention_variants.sh: the
#      attention and whole-model GPU tests, `compute --tests attention`, for the default, the
#      consumers' atomics instead of the dQ writer, the GQA split);
#   2. PyTorch SDPA (cuDNN and flash backends) at the issue's two shapes, same call;
#   3. preflight and diagnose on the real GPU (bench/device/preflight.sh);
#   4. the whole Llama-2-7B on the engine (no recomputation, full recomputation, a profiled step)
#      against PyTorch eager and torch.compile (bench/device/engine_vs_torch.sh);
#   5. with GQA=1, Mistral-7B and Llama-3-8B against PyTorch eager (bench/device/gqa_models.sh).
# On a GPU under 100 GiB (an H100) parts 4 and 5 run 12 of the models' 32 layers. PREFLIGHT=0
# leaves part 3 out, ENGINE=0 parts 4 and 5, PROFILE=0 the profiled step; VARIANTS and SHAPES
# (extra attention shapes, BxHxKVxTxD[xW], comma-separated; PyTorch runs those without a window
# too) go to attention_variants.sh.
# Logs into $OUT/*.tgz; the summary ($OUT/summary.txt) is printed last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
L=$OUT/logs
S=$OUT/summary.txt
mkdir -p "$L"
: >"$S"
start=$SECONDS
note() { echo "$*" | tee -a "$S"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,temperature.gpu \
  --format=csv,noheader | tee -a "$S"
source bench/device/carried_libs.sh

OUT=$OUT/variants timeout 240 bash bench/device/attention_variants.sh >"$L/variants.txt" 2>&1
note "attention_variants.sh exit $?"
grep -E "^tests|^\[  FAILED|^== backward|backward sm90|^deterministic|^hopper" "$L/variants.txt" |
  tee -a "$S"
# The engine runs below use the default kernels only where their tests passed.
if ! grep -q "^tests (default) exit 0" "$L/variants.txt"; then
  export SXB_ATTENTION_BACKWARD=mma
  note "the default kernels' tests did not pass: the engine runs use SXB_ATTENTION_BACKWARD=mma"
fi
[ -f "$OUT/variants/logs.tgz" ] && mv "$OUT/variants/logs.tgz" "$OUT/variants_logs.tgz" &&
  rmdir "$OUT/variants"

# The issue's two shapes and SHAPES' ones without a window (torch_attention.py takes none).
extra=$(echo "${SHAPES:-}" | tr ',' '\n' | awk -F x 'NF == 5 { print $1 "x" $2 "x" $3 "x" $4 "x" $5 }')
for shape in 1x32x32x4096x128 1x32x8x8192x128 $extra; do
  timeout 60 python3 .ref/torch_attention.py ${shape//x/ } 2>&1 | grep -E "^ATTN (cudnn|flash)" |
    tee -a "$S"
done
note "== $((SECONDS - start)) s after the attention parts"

if [ "${PREFLIGHT:-1}" = 1 ]; then
  OUT=$L timeout 150 bash bench/device/preflight.sh >"$L/preflight_sh.txt" 2>&1
  note "preflight.sh exit $?: $(grep -E '^sxbench preflight exit|^diagnose \(' "$L/preflight_sh.txt" | tr '\n' ' ')"
  cp "$L/preflight_sh.txt" "$OUT/preflight_sh.txt"
fi
note "== $((SECONDS - start)) s before the training comparison"

if [ "${ENGINE:-1}" = 1 ]; then
  MODES=sm90 FULL=1 PROFILE=${PROFILE:-1} L=$L S=$S bash bench/device/engine_vs_torch.sh >/dev/null
  [ "${GQA:-0}" = 1 ] && L=$L S=$S bash bench/device/gqa_models.sh >/dev/null
fi
note "== $((SECONDS - start)) s in all"
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$L"
echo; cat "$S"
