#!/usr/bin/env bash
# On the GPU machine, with the binary carried in .dev/ (as verify.sh): `sxbench preflight` on the
# real host (GPU checks through NVML, RDMA, interface and NCCL-setting checks) and `sxbench info`,
# so the record shows what a host without an RDMA NIC reports and why; then `sxbench diagnose` on
# the GPU (one rank: GEMM, HBM and host-link figures, no pair matrix), again against the first
# run's diagnose.json as --baseline, and on the mpi backend with 4 ranks sharing the host, clean
# and with rank 2 made slow by SXB_FAULT_INJECT (which must be named). Logs and JSON under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT" .dev/lib
source bench/device/carried_libs.sh
BIN=$PWD/.dev/sxbench
ls /sys/class/infiniband 2>&1 | head -3 | sed 's/^/sys\/class\/infiniband: /'
ls /sys/class/net | tr '\n' ' ' | sed 's/^/sys\/class\/net: /'; echo
"$BIN" preflight --json "$OUT/preflight.json" >"$OUT/preflight.txt" 2>&1
echo "sxbench preflight exit $?"
"$BIN" info >"$OUT/info.txt" 2>&1
echo "sxbench info exit $?"
cat "$OUT/preflight.txt"

D=$OUT/diagnose
timeout 120 "$BIN" diagnose --backend nccl --out "$D/gpu" >"$OUT/diagnose_gpu.txt" 2>&1
echo "diagnose (GPU, 1 rank) exit $?"
timeout 120 "$BIN" diagnose --backend nccl --baseline "$D/gpu/diagnose.json" --out "$D/gpu_baseline" \
  >"$OUT/diagnose_gpu_baseline.txt" 2>&1
echo "diagnose (GPU, 1 rank, --baseline) exit $?"
MPI="mpirun -np 4 --oversubscribe --bind-to none"
timeout 120 $MPI "$BIN" diagnose --backend mpi --out "$D/mpi4" >"$OUT/diagnose_mpi4.txt" 2>&1
echo "diagnose (mpi, 4 ranks, clean) exit $?"
SXB_FAULT_INJECT=slow:2:4 timeout 120 $MPI -x SXB_FAULT_INJECT "$BIN" diagnose --backend mpi \
  --threshold 20 --out "$D/mpi4_slow" >"$OUT/diagnose_mpi4_slow.txt" 2>&1
echo "diagnose (mpi, 4 ranks, rank 2 slowed 4x) exit $?"
for f in gpu gpu_baseline mpi4 mpi4_slow; do echo "== diagnose $f"; cat "$OUT/diagnose_$f.txt"; done
