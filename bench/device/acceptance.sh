#!/usr/bin/env bash
# On the GPU machine, in one call, with binaries built elsewhere (sm_90a) and carried in .dev/
# (sxbench, sxb_gpu_tests, .dev/bundle for libraries the machine lacks) and the reference scripts
# in .ref/: everything the open issues need a GPU for, most important first, each part bounded by
# a timeout so one that hangs cannot take the rest with it.
#   1. every GPU test but the timing ones (the whole model's loss and gradients with the default
#      kernels, the Hopper attention kernels against mma.sync and float64, the CLI and
#      data-parallel tests, the CUDA engine's straggler);
#      then the attention kernels' timings (TrainGpuPerf.AttentionKernels*);
#   2. the tokenizer reference ids from the `tokenizers` package (CPU, alongside 1);
#   3. bench/device/pretrained.sh: PyTorch's first-step loss against the engine's;
#   4. bench/device/preflight.sh: preflight and diagnose on the real GPU;
#   5. the engine against PyTorch eager and torch.compile on the Llama-2-7B shape (seq 4096,
#      micro-batch 1, no recomputation), the whole model where the GPU holds it (32 layers need
#      about 91 GiB with AdamW), else LAYERS layers of it (default 12); the engine with the
#      Hopper backward (default) and with SXB_ATTENTION_BACKWARD=mma.
# Logs go into $OUT/logs.tgz (the device returns 8 files at most); a summary table is printed
# last and kept in $OUT/summary.txt.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
L=$OUT/logs
mkdir -p "$L" .dev/lib
start=$SECONDS
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,power.draw,temperature.gpu \
  --format=csv,noheader | tee "$OUT/gpu.txt"
source bench/device/carried_libs.sh
export SXB_TEST_BINARY=$PWD/.dev/sxbench
BIN=$PWD/.dev/sxbench
"$BIN" --version || { ldd "$BIN" | grep "not found"; exit 1; }
S=$OUT/summary.txt
: >"$S"
note() { echo "$*" | tee -a "$S"; }

# 2 runs on the CPU while 1 uses the GPU.
OUT=$L bash bench/device/tokenizer_reference.sh >"$L/tokenizer.txt" 2>&1 &
tok_pid=$!

timeout 300 .dev/sxb_gpu_tests --gtest_filter='-TrainGpuPerf.*' >"$L/gpu_tests.log" 2>&1
note "gpu tests (all but TrainGpuPerf) exit $?: $(grep -E '^\[  PASSED  \]|tests ran' "$L/gpu_tests.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \]|^\[  SKIPPED \]" "$L/gpu_tests.log" | sort -u | tee -a "$S"
grep -hE "hopper attention backward" "$L/gpu_tests.log" | head -3 | tee -a "$S"
timeout 90 .dev/sxb_gpu_tests --gtest_filter='TrainGpuPerf.AttentionKernels*' >"$L/attention_perf.log" 2>&1
note "attention timings exit $?"
grep -E "^ATTN(FWD|BWD)" "$L/attention_perf.log" | tee -a "$S"
wait "$tok_pid"
note "tokenizer reference exit $?: $(grep -E '^tokenizers|cross_check|DIFFERENT' "$L/tokenizer.txt" | tr '\n' ' ')"

OUT=$L timeout 200 bash bench/device/pretrained.sh >"$L/pretrained.txt" 2>&1
note "pretrained exit $?: $(grep -E 'first-step loss' "$L/pretrained.txt")"
OUT=$L timeout 240 bash bench/device/preflight.sh >"$L/preflight_sh.txt" 2>&1
note "preflight.sh exit $?: $(grep -E '^sxbench preflight exit|^diagnose \(' "$L/preflight_sh.txt" | tr '\n' ' ')"
note "== $((SECONDS - start)) s before the training comparison"

# 5. The engine against PyTorch (bench/device/engine_vs_torch.sh), its lines into the summary.
L=$L S=$S bash bench/device/engine_vs_torch.sh
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$L"
