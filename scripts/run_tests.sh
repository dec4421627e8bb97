#!/usr/bin/env bash
# Runs the test suites (unit, e2e under mpirun, gpu — the gpu ones skip without a GPU) on the
# build made by setup/install_all.sh, then the sanitizer tree (scripts/configure_asan.sh:
# build-asan, the CPU-only configuration built with clang, ASan+UBSan): the unit and e2e tests
# run there under the sanitizers, and scripts/fuzz.sh runs every fuzz target for FUZZ_SECONDS
# (20) each.
# The CPU-only configuration must build and pass everywhere. When the main build has the CUDA
# parts, build-asan is that configuration's build and test run; only when the sanitizer stage
# leaves something out (SXB_SKIP_SANITIZERS=1, or SXB_SANITIZE_E2E=0, which builds only the unit
# tests and the fuzz targets there) is a separate Release CPU-only tree built and tested
# (build-cpu). SXB_SKIP_CPU_ONLY=1 skips that tree always; SXB_SKIP_FUZZ=1 skips the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
BUILD=${SXB_BUILD_DIR:-build}
# Each stage's wall time, so the slow one is known from the log alone.
stage_start=$SECONDS
stage_done() {
  echo "run_tests: $1 took $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
}
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")
stage_done "the $BUILD tests"
sanitize_e2e=${SXB_SANITIZE_E2E:-1}
if [ "${SXB_SKIP_CPU_ONLY:-0}" != "1" ]; then
  if ! grep -q '^SXB_CUDA_BUILT:INTERNAL=ON' "$BUILD/CMakeCache.txt"; then
    echo "run_tests: $BUILD is the CPU-only build already; no second CPU-only build"
  elif [ "${SXB_SKIP_SANITIZERS:-0}" != "1" ] && [ "$sanitize_e2e" = "1" ]; then
    echo "run_tests: the CPU-only configuration is built and tested in build-asan (unit and e2e)"
  else
    cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSXB_CUDA=OFF >/dev/null
    cmake --build build-cpu -j "$JOBS"
    (cd build-cpu && ctest --output-on-failure -j "$JOBS")
    stage_done "the CPU-only build and tests (build-cpu)"
  fi
fi
if [ "${SXB_SKIP_SANITIZERS:-0}" != "1" ] || [ "${SXB_SKIP_FUZZ:-0}" != "1" ]; then
  ./scripts/configure_asan.sh build-asan
  if [ "$sanitize_e2e" = "1" ]; then
    cmake --build build-asan -j "$JOBS"
  else
    cmake --build build-asan -j "$JOBS" --target sxb_unit_tests sxb_fuzz
  fi
  stage_done "the sanitizer build (build-asan)"
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
  stage_done "the sanitizer tests ($labels)"
fi
if [ "${SXB_SKIP_FUZZ:-0}" != "1" ]; then
  SXB_FUZZ_SKIP_BUILD=1 ./scripts/fuzz.sh
  stage_done "fuzzing"
fi
