#!/usr/bin/env bash
# On one H200 (binaries in .dev/, .ref/torch_llama.py), in one call: preflight and diagnose on the
# real GPU (bench/device/preflight.sh), then the whole Llama-2-7B on the engine against PyTorch
# eager and torch.compile (bench/device/engine_vs_torch.sh). Logs into $OUT/logs.tgz; the summary
# ($OUT/summary.txt) and preflight's own output are printed last.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
L=$OUT/logs
S=$OUT/summary.txt
mkdir -p "$L"
: >"$S"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$S"
OUT=$L timeout 240 bash bench/device/preflight.sh >"$L/preflight_sh.txt" 2>&1
echo "preflight.sh exit $?: $(grep -E '^sxbench preflight exit|^diagnose \(' "$L/preflight_sh.txt" | tr '\n' ' ')" | tee -a "$S"
L=$L S=$S bash bench/device/engine_vs_torch.sh
cp "$L/preflight_sh.txt" "$OUT/preflight_sh.txt"
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$L"
