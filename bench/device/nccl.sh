#!/usr/bin/env bash
# On the GPU machine: build sxbench (CUDA, sm_90a), run every test including the gpu-labelled
# ones, then measure all collectives with the nccl backend on every GPU next to the PyTorch
# reference (torch.distributed) in the same call. Logs go to $OUT; a short table prints last.
# Usage (from the repository root): bash bench/device/nccl.sh [MAX_BYTES]
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/sxb-out}; mkdir -p "$OUT"
MAX=${1:-8G}
ROOT=$(pwd)
NGPU=$(nvidia-smi -L | wc -l)
nvidia-smi -L; nproc
{ dpkg -l | grep -E "openmpi|nlohmann|cli11|libfmt|gtest" | awk '{print $2, $3}'; nvcc --version | tail -1; } > "$OUT/env.txt" 2>&1

cmake -S . -B build-dev -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90a -DSXB_CUDA=ON > "$OUT/build.log" 2>&1 &&
  ninja -C build-dev >> "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -30; exit 1; }
(cd build-dev && ctest --output-on-failure -j8) > "$OUT/ctest.log" 2>&1
grep -E "tests passed|tests failed|Failed|Not Run|\*\*\*Skipped" "$OUT/ctest.log" | head -20

mpirun -np "$NGPU" --bind-to none -x NCCL_NVLS_ENABLE ./build-dev/sxbench nccl --backend nccl \
  -b 8 -e "$MAX" -f 2 -w 5 -n 20 --out "$OUT/nccl" > "$OUT/sxbench_nccl.txt" 2>&1
echo "sxbench nccl exit: $?"
PYTHONUNBUFFERED=1 torchrun --standalone --nproc_per_node "$NGPU" .ref/torch_collectives.py \
  --min-bytes 8 --max-bytes "$MAX" --factor 2 > "$OUT/torch_collectives.txt" 2>&1
echo "torch reference exit: $?"
python3 bench/device/compare_collectives.py "$OUT/nccl/nccl.json" "$OUT/torch_collectives.txt"
