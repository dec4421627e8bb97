# Sourced by the device scripts that train on the engine (engine_vs_torch.sh, gqa_models.sh,
# profile_step.sh): multicast off, unbuffered Python, logs under $L (default
# $OUT), the summary file $S, the carried libraries, the carried binary as $BIN, note() to print a
# line and append it to the summary, engine_figures, torch_figures and llama2_7b_config (below),
# and $layers: 32, or LAYERS (default 12) where the GPU has under 100 GiB (the 7-8B models with
# AdamW do not fit it).
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/sxb-out}
L=${L:-$OUT}
S=${S:-$OUT/summary.txt}
mkdir -p "$L" .dev/lib
source bench/device/carried_libs.sh
BIN=$PWD/.dev/sxbench
note() { echo "$*" | tee -a "$S"; }
mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
layers=32
[ "$mem_mib" -lt 100000 ] && layers=${LAYERS:-12}
# engine_figures LABEL FILE NAME: the engine's tokens/s, MFU and loss from its sft_metrics.json
# (kept under $L as NAME) into the summary; torch_figures LABEL LOG: the PyTorch reference's
# tokens/s and peak memory from its RESULT line, likewise.
engine_figures() {
  [ -f "$2" ] || return 0
  cp "$2" "$L/$3"
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"engine $1: {m['tokens_per_s_per_device']:.1f} tokens/s/GPU, MFU {100*m['mfu']:.1f}%, loss {m['initial_loss']:.4f} -> {m['final_loss']:.4f}\")" "$2" | tee -a "$S"
}
torch_figures() {
  grep -h RESULT "$2" | python3 -c "import json,sys; r=json.loads(sys.stdin.read().split('RESULT ',1)[1]); print(f\"torch $1: {r['tokens_per_s_per_gpu']:.1f} tokens/s/GPU, peak {r['peak_mem_gib']:.1f} GiB\")" 2>/dev/null | tee -a "$S"
}
# llama2_7b_config DIR: the Llama-2-7B shape's config.json with $layers layers, written into DIR.
llama2_7b_config() {
  mkdir -p "$1"
  cat >"$1/config.json" <<EOF
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
 "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
 "num_hidden_layers": $layers, "vocab_size": 32000, "max_position_embeddings": 4096,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false}
EOF
}
