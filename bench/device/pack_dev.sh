#!/usr/bin/env bash
# On the development machine: fills .dev/ (git-ignored) with what the device scripts run on the
# GPU machine: sxbench and sxb_gpu_tests from BUILD_DIR (default build/, an sm_90a CUDA build),
# and in .dev/bundle the shared libraries they link, except the C library's and the CUDA
# driver's, toolkit's and NCCL's own, which the GPU machine provides (carried_libs.sh links a
# bundled library only where that machine lacks it). Prints the carried size: a device call
# carries 64 MiB at most.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
bins=("$BUILD_DIR/sxbench" "$BUILD_DIR/tests/sxb_gpu_tests")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "pack_dev: $b is missing (build it first)" >&2; exit 1; }
done
rm -rf .dev
mkdir -p .dev/bundle
cp "${bins[@]}" .dev/
strip --strip-debug .dev/sxbench .dev/sxb_gpu_tests
ldd "${bins[@]}" | awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libgcc_s.so* | \
      libstdc++.so* | libcuda.so* | libcudart.so* | libcublas* | libnccl.so* | libnvidia-ml.so* | \
      libnvrtc*)
      continue ;;
  esac
  cp -L "$lib" .dev/bundle/
done
echo "pack_dev: $(ls .dev/bundle | wc -l) libraries bundled; .dev is $(du -sh .dev | cut -f1)"
