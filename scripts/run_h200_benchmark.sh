#!/usr/bin/env bash
# The benchmark in one command:
#
#   scripts/run_h200_benchmark.sh [MODEL NODES MODE [sxbench run flags...]]
#
#   MODEL  Hugging Face id, built-in name or directory with config.json
#   NODES  number of nodes (one process per GPU on each)
#   MODE   full | sft | nccl | compute | quick
#
# Without arguments it runs the embedded default that fits this machine: with GPUs, a quick run
# of meta-llama/Llama-2-7b-hf on this node; without GPUs, a quick run of the `tiny` model on the
# CPU with the mpi backend (two ranks). Processes start through Slurm (srun) inside an
# allocation, through mpirun with HOSTFILE, or locally (scripts/lib/launch.sh). Results:
# $RESULTS_DIR/h200_benchmark_<UTC time>_<model>_<N>n/ (run.json, summary_report.md, ...).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/launch.sh
source "$ROOT/scripts/lib/launch.sh"
BIN=${SXB_BIN:-$ROOT/build/sxbench}

die() {
  echo "run_h200_benchmark: error: $2" >&2
  exit "$1"
}

[ -x "$BIN" ] || die 2 "$BIN is not built; run setup/install_all.sh first"
GPUS=$(sxb_launch_gpus_per_node) || exit
EXTRA=()
if [ $# -eq 0 ]; then
  NODES=1
  MODE=quick
  if [ "$GPUS" -gt 0 ]; then
    MODEL=meta-llama/Llama-2-7b-hf
  else
    MODEL=tiny
    EXTRA=(--seq-len 128)
  fi
  echo "run_h200_benchmark: no arguments: embedded default $MODEL, $NODES node, mode $MODE" >&2
else
  [ $# -ge 3 ] || die 2 "usage: run_h200_benchmark.sh [MODEL NODES MODE [sxbench run flags...]]"
  MODEL=$1 NODES=$2 MODE=$3
  shift 3
  EXTRA=("$@")
fi
case "$MODE" in
  full | sft | nccl | compute | quick) ;;
  *) die 2 "unknown mode '$MODE' (known: full, sft, nccl, compute, quick)" ;;
esac
[[ $NODES =~ ^[1-9][0-9]*$ ]] || die 2 "NODES must be a positive integer, got '$NODES'"
BACKEND=mpi
[ "$GPUS" -gt 0 ] && BACKEND=nccl

sxb_launch "$NODES" -- "$BIN" run --model "$MODEL" --nodes "$NODES" --mode "$MODE" \
  --backend "$BACKEND" ${EXTRA[@]+"${EXTRA[@]}"}
