#!/usr/bin/env bash
# Runs the test suites (unit, e2e under mpirun, gpu — the gpu ones skip without a GPU) on the
# build made by setup/install_all.sh. When that build has the CUDA parts, the CPU-only
# configuration is built and tested too (build-cpu), so both builds stay working; when it is
# CPU-only already, that second build would repeat it and is skipped. SXB_SKIP_CPU_ONLY=1 skips
# it always.
# Then the sanitizer tree (scripts/configure_asan.sh: build-asan, CPU-only, clang, ASan+UBSan):
# the unit and e2e tests run there under the sanitizers (SXB_SKIP_SANITIZERS=1 skips them;
# SXB_SANITIZE_E2E=0 keeps to the unit tests and builds only them and the fuzz targets, about 8
# minutes less on two cores), and scripts/fuzz.sh runs every fuzz target for FUZZ_SECONDS (20)
# each (SXB_SKIP_FUZZ=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
BUILD=${SXB_BUILD_DIR:-build}
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")
if [ "${SXB_SKIP_CPU_ONLY:-0}" != "1" ]; then
  if grep -q '^SXB_CUDA_BUILT:INTERNAL=ON' "$BUILD/CMakeCache.txt"; then
    cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSXB_CUDA=OFF >/dev/null
    cmake --build build-cpu -j "$JOBS"
    (cd build-cpu && ctest --output-on-failure -j "$JOBS")
  else
    echo "run_tests: $BUILD is the CPU-only build already; no second CPU-only build"
  fi
fi
sanitize_e2e=${SXB_SANITIZE_E2E:-1}
if [ "${SXB_SKIP_SANITIZERS:-0}" != "1" ] || [ "${SXB_SKIP_FUZZ:-0}" != "1" ]; then
  ./scripts/configure_asan.sh build-asan
  if [ "$sanitize_e2e" = "1" ]; then
    cmake --build build-asan -j "$JOBS"
  else
    cmake --build build-asan -j "$JOBS" --target sxb_unit_tests sxb_fuzz
  fi
fi
if [ "${SXB_SKIP_SANITIZERS:-0}" != "1" ]; then
  # halt_on_error: the first finding fails the test. Leak detection stays on; the suppressions
  # file names only OpenMPI's and the text renderer's libraries, whose process-wide state is
  # never freed. A suppression matches a whole allocation stack, so stacks are unwound in full
  # (fast_unwind_on_malloc=0: OpenMPI is built without frame pointers) and OpenMPI keeps its
  # components loaded (dlclose'd ones leave frames without a library name).
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1:detect_stack_use_after_return=1"
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
  labels=unit
  [ "$sanitize_e2e" = "1" ] && labels='unit|e2e'
  (cd build-asan && ctest --output-on-failure -j "$JOBS" -L "$labels" -LE slurm)
fi
if [ "${SXB_SKIP_FUZZ:-0}" != "1" ]; then
  SXB_FUZZ_SKIP_BUILD=1 ./scripts/fuzz.sh
fi
