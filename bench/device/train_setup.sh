# Sourced by the device scripts that train on the engine and PyTorch side by side
# (engine_vs_torch.sh, gqa_models.sh): multicast off, unbuffered Python, logs under $L (default
# $OUT), the summary file $S, the carried libraries, the carried binary as $BIN, note() to print a
# line and append it to the summary, and $layers: 32, or LAYERS (default 12) where the GPU has
# under 100 GiB (the 7-8B models with AdamW do not fit it).
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
