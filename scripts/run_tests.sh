#!/usr/bin/env bash
# Runs the test suites (unit, e2e under mpirun, gpu — the gpu ones skip without a GPU) on the
# build made by setup/install_all.sh, then builds and tests the CPU-only configuration too, so
# both builds stay working. Set SXB_SKIP_CPU_ONLY=1 to skip the second build.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
(cd "${SXB_BUILD_DIR:-build}" && ctest --output-on-failure -j "$JOBS")
if [ "${SXB_SKIP_CPU_ONLY:-0}" != "1" ]; then
  cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSXB_CUDA=OFF >/dev/null
  cmake --build build-cpu -j "$JOBS"
  (cd build-cpu && ctest --output-on-failure -j "$JOBS")
fi
