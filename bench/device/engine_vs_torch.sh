#!/usr/bin/env bash
# On the GPU machine (binaries in .dev/, .ref/torch_llama.py): the CUDA engine against PyTorch
# eager and torch.compile on the Llama-2-7B shape (seq 4096, micro-batch 1, no recomputation, the
# reference optimizer settings), in one call: the whole model where the GPU holds it (32 layers
# need about 91 GiB with AdamW: an H200), else LAYERS of its layers (default 12); the engine with
# the Hopper attention backward (the default) and with SXB_ATTENTION_BACKWARD=mma. Logs under $L
# (default $OUT), the figures appended to $S (default $OUT/summary.txt) and printed. MODES (default
# "sm90 mma") and COMPILES (default "0 1") pick the runs where device time is short; FULL=1 adds
# the engine with full recomputation (`--recompute full`, default backward); PROFILE=1 a short run
# with `--profile` (where each millisecond of a step goes), its lines into the summary.
set -uo pipefail
source bench/device/train_setup.sh
start=$SECONDS
M=/tmp/llama2_7b_shape_$layers
llama2_7b_config "$M"
for mode in ${MODES:-sm90 mma}; do
  SXB_ATTENTION_BACKWARD=$mode timeout 150 "$BIN" train --device cuda --model "$M" \
    --seq-len 4096 --micro-batch 1 --steps 10 --warmup-steps 3 \
    --ds-config bench/device/ds_config_torch_reference.json --out "/tmp/engine_$mode" \
    >"$L/engine_$mode.log" 2>&1
  note "engine (backward $mode) exit $?"
done
if [ "${FULL:-0}" = 1 ]; then
  timeout 150 "$BIN" train --device cuda --model "$M" --seq-len 4096 --micro-batch 1 --steps 10 \
    --warmup-steps 3 --recompute full --ds-config bench/device/ds_config_torch_reference.json \
    --out /tmp/engine_full >"$L/engine_full.log" 2>&1
  note "engine (full recomputation) exit $?"
fi
if [ "${PROFILE:-0}" = 1 ]; then
  timeout 150 "$BIN" train --device cuda --model "$M" --seq-len 4096 --micro-batch 1 --steps 5 \
    --warmup-steps 2 --profile --ds-config bench/device/ds_config_torch_reference.json \
    --out /tmp/engine_profile >"$L/engine_profile.log" 2>&1
  note "engine (--profile) exit $?"
  grep -E "^profile of the last step|^per decoder layer" "$L/engine_profile.log" | tee -a "$S"
fi
for c in ${COMPILES:-0 1}; do
  timeout 240 python3 -m torch.distributed.run --standalone --nproc_per_node 1 \
    .ref/torch_llama.py --layers "$layers" --seq 4096 --mb 1 --ac 0 --compile $c \
    --tag "compile$c" >"$L/torch_compile$c.log" 2>&1
  note "torch_llama --compile $c exit $?"
done

note "== $((SECONDS - start)) s; Llama-2-7B shape, $layers layers, seq 4096, micro-batch 1, no recomputation unless named"
for mode in sm90 mma full; do
  label="backward $mode"; [ "$mode" = full ] && label="full recomputation"
  engine_figures "$label" "/tmp/engine_$mode/sft_metrics.json" "engine_${mode}_sft_metrics.json"
done
for c in 0 1; do
  torch_figures "compile=$c" "$L/torch_compile$c.log"
done
