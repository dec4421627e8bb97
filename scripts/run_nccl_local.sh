#!/usr/bin/env bash
# The collective benchmark on this machine with its embedded default: one rank per local GPU on
# the nccl backend, or, without GPUs, two ranks on the mpi backend (host memory). Any sxbench
# nccl flags may follow (e.g. -b 8 -e 8G). Results: results/nccl_<UTC time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SXB_BIN:-build/sxbench}
[ -x "$BIN" ] || { echo "run_nccl_local: $BIN not built; run setup/install_all.sh" >&2; exit 2; }
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
GPUS=0
command -v nvidia-smi >/dev/null 2>&1 && GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
MPI_ARGS=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && MPI_ARGS+=(--allow-run-as-root)
if [ "$GPUS" -gt 0 ]; then
  exec mpirun -np "$GPUS" "${MPI_ARGS[@]}" --bind-to none -x NCCL_NVLS_ENABLE "$BIN" nccl --backend nccl "$@"
fi
echo "run_nccl_local: no GPU found; running 2 ranks on the mpi backend (host memory)" >&2
exec mpirun -np 2 "${MPI_ARGS[@]}" --mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none \
  "$BIN" nccl --backend mpi -e 16M "$@"
