#!/usr/bin/env bash
# On the GPU machine (binary in .dev/): where each millisecond of an engine step goes on the
# Llama-2-7B shape (seq 4096, micro-batch 1, no recomputation; the whole model on an H200, LAYERS
# of its layers, default 12, under 100 GiB), once per case, in one call. CASES: cases separated
# by ';', each a space-separated list of environment assignments, "-" for none (default
# "-;SXB_OVERLAP_OPTIMIZER=0": with and without AdamW overlapping the next forward). Each case
# runs `sxbench train --profile` for 5 steps (2 warm-up) and adds its tokens/s and the profile's
# lines to the summary ($S, default $OUT/summary.txt).
set -uo pipefail
source bench/device/train_setup.sh
M=/tmp/llama2_7b_shape_$layers
llama2_7b_config "$M"
IFS=';' read -r -a cases <<<"${CASES:--;SXB_OVERLAP_OPTIMIZER=0}"
i=0
for c in "${cases[@]}"; do
  envs=()
  [ "$c" != "-" ] && read -r -a envs <<<"$c"
  i=$((i + 1))
  env "${envs[@]}" timeout 150 "$BIN" train --device cuda --model "$M" --seq-len 4096 \
    --micro-batch 1 --steps 5 --warmup-steps 2 --profile \
    --ds-config bench/device/ds_config_torch_reference.json --out "/tmp/profile_$i" \
    >"$L/profile_$i.log" 2>&1
  note "== profile ($c), $layers layers: exit $?"
  engine_figures "($c)" "/tmp/profile_$i/sft_metrics.json" "profile_${i}_sft_metrics.json"
  grep -E "^profile of the last step|^per decoder layer" "$L/profile_$i.log" | tee -a "$S"
done
