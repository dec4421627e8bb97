#!/usr/bin/env bash
# Configures the sanitizer tree (default build-asan): CPU-only, clang, AddressSanitizer and
# UndefinedBehaviorSanitizer on every target, -O1 with line tables, and the libFuzzer targets
# (SXB_FUZZ=ON). scripts/run_tests.sh tests it and scripts/fuzz.sh fuzzes with it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-asan}
# The compiler is chosen once, when the tree is created (naming it again, even as the same
# program by another path, would make CMake start the tree over).
compiler=()
[ -f "$BUILD_DIR/CMakeCache.txt" ] || compiler=(-DCMAKE_CXX_COMPILER="${SXB_ASAN_CXX:-clang++}")
cmake -S . -B "$BUILD_DIR" -G Ninja "${compiler[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DSXB_CUDA=OFF -DSXB_SANITIZE=address,undefined -DSXB_FUZZ=ON >/dev/null
