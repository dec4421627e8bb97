#!/usr/bin/env bash
# Installs every Debian/Ubuntu package sxbench needs, then configures and builds it into build/.
# Idempotent: packages already present are not reinstalled; the build is incremental.
# Run as root or with sudo on Debian 12 or Ubuntu 24.04. The CUDA parts are built when the CUDA
# toolkit is at /usr/local/cuda (nvcc, NCCL); otherwise the CPU-only binary is built.
# Extra CMake arguments: SXB_CMAKE_ARGS="-DSXB_CUDA=OFF" ./setup/install_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build git pkg-config ca-certificates
  libopenmpi-dev openmpi-bin          # MPI bootstrap, host-side gathering, mpi backend
  nlohmann-json3-dev                  # JSON results and configs
  libcli11-dev                        # command line
  libfmt-dev                          # formatting
  libcurl4-openssl-dev                # Hugging Face hub downloads (HTTPS, resumable)
  libsentencepiece-dev                # SentencePiece tokenizers (Llama-2, Mistral) for data pack
  libpcre2-dev                        # byte-level BPE tokenizers' pre-tokenizer regex (Llama-3)
  libgtest-dev                        # tests
  libcairo2-dev                       # chart drawing: PNG and SVG surfaces (report charts)
  libpango1.0-dev                     # chart text layout through pangocairo (UTF-8, Japanese)
  fonts-noto-cjk                      # Japanese glyphs for REPORT_LANG=ja chart titles and labels
  fonts-dejavu-core                   # Latin fallback font for charts
  python3                             # scripts/generate_comprehensive_report.py (the seed's entry)
  libpng-dev                          # tests: decode the report's PNGs and Chromium's screenshot
  python3-jsonschema                  # tests: result files against schemas/*.schema.json
  clang                               # tests: the sanitizer and fuzzing tree (build-asan)
  libclang-rt-dev                     # tests: clang's ASan, UBSan and libFuzzer runtimes
)
# Chromium renders the report's HTML page headless in the e2e tests. Debian packages it as
# chromium; Ubuntu ships it only as a snap, which this script does not install (the test then
# reports skipped, saying why). SXB_CHROMIUM_TEST_PACKAGE=0 skips it.
if [ "${SXB_CHROMIUM_TEST_PACKAGE:-1}" != "0" ] && ! command -v chromium >/dev/null 2>&1 &&
   grep -qs '^ID=debian' /etc/os-release; then
  PACKAGES+=(chromium)
fi
# Optional: Slurm and munge for the launch tests' single-host cluster (tests/slurm/, ctest label
# slurm). Only where no Slurm is installed, so a site's own Slurm is left alone; the packaged
# services stay idle without /etc/slurm/slurm.conf. SXB_SLURM_TEST_PACKAGES=0 skips them (the
# slurm tests then report skipped).
if [ "${SXB_SLURM_TEST_PACKAGES:-1}" != "0" ] && ! command -v srun >/dev/null 2>&1; then
  PACKAGES+=(slurmctld slurmd slurm-client munge)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  case "$p" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install_all: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${SXB_BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SXB_CMAKE_ARGS:-} >/dev/null
build_start=$SECONDS
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "install_all: building $BUILD_DIR took $((SECONDS - build_start)) s"
echo "install_all: built $BUILD_DIR/sxbench ($("$BUILD_DIR"/sxbench --version))"
