#!/usr/bin/env bash
# Configures the sanitizer tree (default build-asan): CPU-only, clang, AddressSanitizer and
# UndefinedBehaviorSanitizer on every target, -O1 with line tables, and the libFuzzer targets
# (SXB_FUZZ=ON). scripts/run_tests.sh tests it and scripts/fuzz.sh fuzzes with it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-asan}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER="${SXB_ASAN_CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DSXB_CUDA=OFF -DSXB_SANITIZE=address,undefined -DSXB_FUZZ=ON >/dev/null
