#!/usr/bin/env bash
# On the GPU machine, with the binary carried in .dev/ (as verify.sh): `sxbench preflight` on the
# real host (its RDMA, interface and NCCL-setting checks; the GPU checks are not in it yet) and
# `sxbench info`, so the record shows what a host without an RDMA NIC reports and why. Logs and
# preflight.json under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT" .dev/lib
for lib in $(ls .dev/bundle); do
  ldconfig -p | grep -q "^\s*$lib " || ln -sf "$PWD/.dev/bundle/$lib" ".dev/lib/$lib"
done
export LD_LIBRARY_PATH="$PWD/.dev/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=$PWD/.dev/sxbench
ls /sys/class/infiniband 2>&1 | head -3 | sed 's/^/sys\/class\/infiniband: /'
ls /sys/class/net | tr '\n' ' ' | sed 's/^/sys\/class\/net: /'; echo
"$BIN" preflight --json "$OUT/preflight.json" >"$OUT/preflight.txt" 2>&1
echo "sxbench preflight exit $?"
"$BIN" info >"$OUT/info.txt" 2>&1
echo "sxbench info exit $?"
cat "$OUT/preflight.txt"
