#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for a bounded time, starting from its committed seed
# corpus (tests/fuzz/corpus/<target>/), and fails when any input crashes a target, breaks the
# parse-or-sxb::Error contract, leaks, trips ASan/UBSan or runs longer than FUZZ_INPUT_TIMEOUT.
# The failing input is kept under $FUZZ_ARTIFACTS (default build-asan/fuzz-artifacts); fix the
# library, then commit the input to the target's corpus as a regression case.
#
#   scripts/fuzz.sh                 build build-asan (clang, ASan+UBSan, SXB_FUZZ=ON) and fuzz
#   FUZZ_SECONDS=300 scripts/fuzz.sh fuzz_claims   one target, longer
#
# New inputs the fuzzer finds go to a scratch corpus, never into the committed one.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SXB_ASAN_BUILD_DIR:-build-asan}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}
ARTIFACTS=${FUZZ_ARTIFACTS:-$BUILD_DIR/fuzz-artifacts}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_env fuzz_ds_config fuzz_model_config fuzz_claims
                                     fuzz_run_dir fuzz_jsonl fuzz_safetensors fuzz_tokenizer)

if [ "${SXB_FUZZ_SKIP_BUILD:-0}" != "1" ]; then
  ./scripts/configure_asan.sh "$BUILD_DIR"
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"
fi

mkdir -p "$ARTIFACTS"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Leaks are findings here too (the targets do not start MPI; tests/sanitizers/lsan.supp is
# there for any OpenMPI state a reader pulls in).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
failed=()
for t in "${TARGETS[@]}"; do
  corpus=tests/fuzz/corpus/${t#fuzz_}
  [ -d "$corpus" ] || { echo "fuzz: $t: no seed corpus at $corpus" >&2; exit 2; }
  mkdir -p "$scratch/$t"
  log="$ARTIFACTS/$t.log"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s (seeds: $corpus, $(ls "$corpus" | wc -l) files)"
  if "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout="$INPUT_TIMEOUT" \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-" \
       "$scratch/$t" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -2 | sed 's/^/  /'
  else
    echo "fuzz: $t FAILED; the log is $log, the input:" >&2
    grep -E 'Test unit written to|fuzz contract broken|ERROR: (Address|Leak|libFuzzer)|runtime error' \
      "$log" | head -5 | sed 's/^/  /' >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} target(s) ran ${SECONDS_PER_TARGET}s each without a finding"
