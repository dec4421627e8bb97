#!/usr/bin/env bash
# On one H200 (binaries in .dev/, .ref/torch_llama.py): the engine against PyTorch eager on the
# grouped-query models of the registry, seq 4096, micro-batch 1, the reference optimizer settings,
# in one call: Mistral-7B (8 kv heads, FFN 14336; its 4096-key window covers a 4096-token
# sequence, so it masks nothing here) and Llama-3-8B (8 kv heads, FFN 14336, vocabulary 128256).
# No recomputation where the engine's planner says it fits (else full recomputation), PyTorch with
# the matching activation checkpointing (--ac 0 or 1). MODELS picks them (default
# "mistral llama3"). Where the GPU has under 100 GiB (an H100: an 8B model with AdamW does not fit)
# LAYERS of the 32 layers (default 12), the same shapes otherwise, on both sides. Logs under $L
# (default $OUT), figures appended to $S and printed.
set -uo pipefail
source bench/device/train_setup.sh
for m in ${MODELS:-mistral llama3}; do
  case $m in
    mistral) model=mistralai/Mistral-7B-v0.1; vocab=32000; theta=10000.0
      extra='"architectures": ["MistralForCausalLM"], "model_type": "mistral", "sliding_window": 4096, "max_position_embeddings": 32768' ;;
    llama3) model=meta-llama/Meta-Llama-3-8B; vocab=128256; theta=500000.0
      extra='"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 8192' ;;
    *) echo "unknown model $m"; exit 2 ;;
  esac
  if [ "$layers" != 32 ]; then  # the model's shape with fewer layers
    model=/tmp/${m}_shape_$layers
    mkdir -p "$model"
    cat >"$model/config.json" <<JSON
{$extra, "hidden_size": 4096,
 "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
 "num_hidden_layers": $layers, "vocab_size": $vocab, "rms_norm_eps": 1e-05,
 "rope_theta": $theta, "tie_word_embeddings": false}
JSON
  fi
  mode=none
  for r in none full; do
    mode=$r
    timeout 180 "$BIN" train --device cuda --model "$model" --seq-len 4096 --micro-batch 1 \
      --steps 10 --warmup-steps 3 --recompute "$r" \
      --ds-config bench/device/ds_config_torch_reference.json --out "/tmp/engine_${m}_$r" \
      >"$L/engine_${m}_$r.log" 2>&1
    rc=$?
    note "engine $m --recompute $r exit $rc"
    [ $rc = 0 ] && break
    grep -m1 -iE "does not fit|error" "$L/engine_${m}_$r.log" | tee -a "$S"
  done
  ac=0; [ "$mode" = full ] && ac=1
  timeout 240 python3 -m torch.distributed.run --standalone --nproc_per_node 1 \
    .ref/torch_llama.py --layers "$layers" --kv_heads 8 --ffn 14336 --vocab "$vocab" --seq 4096 --mb 1 \
    --ac "$ac" --compile 0 --tag "$m" >"$L/torch_$m.log" 2>&1
  note "torch_llama $m --ac $ac exit $?"
  engine_figures "$m, $layers layers (recompute $mode)" "/tmp/engine_${m}_$mode/sft_metrics.json" \
    "engine_${m}_sft_metrics.json"
  torch_figures "$m, $layers layers, eager (ac $ac)" "$L/torch_$m.log"
done
