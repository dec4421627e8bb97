#!/usr/bin/env bash
# Slurm batch template for the H200 benchmark: one task per GPU on 8-GPU nodes.
#
#   sbatch --nodes=2 scripts/sbatch_h200_benchmark.sh [MODEL] [MODE]
#   MODEL=meta-llama/Llama-2-7b-hf MODE=full sbatch --nodes=4 scripts/sbatch_h200_benchmark.sh
#
# Submit from the repository root (results/ must exist: mkdir -p results); the job runs there.
# The node count comes from the allocation (SLURM_JOB_NUM_NODES), so --nodes on the sbatch
# command line overrides the default below. Edit --time, and add --partition/--account as your
# site requires. RoCE settings (NCCL_IB_HCA, NCCL_IB_GID_INDEX, NCCL_SOCKET_IFNAME, ...) come
# from ./.env or the submitting shell's environment, which sbatch passes on.
#SBATCH --job-name=sxbench-h200
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --time=02:00:00
#SBATCH --output=results/slurm-%j.out
set -euo pipefail

[ -n "${SLURM_JOB_ID:-}" ] || {
  echo "sbatch_h200_benchmark: not inside a Slurm job; submit with sbatch (see the top of this file)" >&2
  exit 2
}
MODEL=${1:-${MODEL:-meta-llama/Llama-2-7b-hf}}
MODE=${2:-${MODE:-full}}
# sbatch runs a copy of this file from Slurm's spool; the job's working directory is the
# submission directory.
cd "${SLURM_SUBMIT_DIR:-.}"
[ -x scripts/run_h200_benchmark.sh ] || {
  echo "sbatch_h200_benchmark: scripts/run_h200_benchmark.sh not found in $(pwd); submit from the repository root" >&2
  exit 2
}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
echo "sbatch_h200_benchmark: job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NUM_NODES:-?} nodes (${SLURM_JOB_NODELIST:-?}): $MODEL $MODE"
exec scripts/run_h200_benchmark.sh "$MODEL" "$SLURM_JOB_NUM_NODES" "$MODE"
