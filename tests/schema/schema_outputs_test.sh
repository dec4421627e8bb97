#!/usr/bin/env bash
# The result files of real CPU runs against schemas/ (ctest schema.outputs, label e2e):
#
#   schema_outputs_test.sh SXBENCH MPIEXEC FAKE_NVML WORK
#
# Writes, under WORK: a 2-rank `sxbench run --mode quick` on the mpi backend (run.json,
# nccl.json, sft_metrics.json of the CPU engine, gpu_metrics_summary.json, gpu_metrics.csv,
# validation.json), `sxbench monitor` over the scripted NVML stand-in FAKE_NVML (so that the
# GPU members of gpu_metrics_summary.json and the GPU columns of gpu_metrics.csv are filled),
# then `sxbench report` and `sxbench plan` over those directories and `sxbench validate --json`
# of the run and of configs/claims/seed_claims.json, `sxbench preflight --json` on an empty root,
# `sxbench diagnose` on 3 ranks (mpi backend);
# then validates every file with validate_results.py (python3-jsonschema). compute.json and the
# CUDA engine's sft_metrics.json need a GPU: the run directories recorded on one H200
# (tests/fixtures/gpu/) join the results, so their files, and report and plan over them, are
# validated on every run of this test.
set -euo pipefail

BIN=${1:?usage: schema_outputs_test.sh SXBENCH MPIEXEC FAKE_NVML WORK}
MPIEXEC=${2:?usage: schema_outputs_test.sh SXBENCH MPIEXEC FAKE_NVML WORK}
FAKE_NVML=${3:?usage: schema_outputs_test.sh SXBENCH MPIEXEC FAKE_NVML WORK}
WORK=${4:?usage: schema_outputs_test.sh SXBENCH MPIEXEC FAKE_NVML WORK}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

python3 -c 'import jsonschema' 2>/dev/null ||
  { echo "FAIL: python3 cannot import jsonschema (Debian: apt-get install python3-jsonschema; setup/install_all.sh installs it)" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/results" "$WORK/validate" "$WORK/nvml"
# OpenMPI on a test machine, as tests/e2e/e2e_util.hpp sets it: root allowed, more ranks than
# cores, shared memory without ptrace-based single copy, loopback only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export NCCL_NVLS_ENABLE=0
# Settings of the calling shell must not change what the commands write.
unset RESULTS_DIR SXB_ENV_FILE REPORT_LANG

step() {
  echo "+ $*"
  "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; echo "FAIL: $* exited $?" >&2; exit 1; }
}

step "$MPIEXEC" -np 2 --oversubscribe "$BIN" run --model tiny --nodes 1 --mode quick \
  --backend mpi --seq-len 64 --steps 3 --nccl-max-bytes 64K --out "$WORK/results/run_quick"
# The monitor loads libnvidia-ml.so.1 by name: a directory holding the stand-in under that name.
ln -sf "$FAKE_NVML" "$WORK/nvml/libnvidia-ml.so.1"
step env LD_LIBRARY_PATH="$WORK/nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BIN" monitor \
  --interval 0.05 --require-gpu --out "$WORK/results/monitor_fake_nvml/gpu_metrics.csv" -- sleep 0.5
cp -r "$ROOT"/tests/fixtures/gpu/* "$WORK/results/"
step "$BIN" report --results "$WORK/results" --out "$WORK/report" --lang en
step "$BIN" plan --results "$WORK/results" --out "$WORK/plan" --lang en
step "$BIN" validate "$WORK/results/run_quick" --json "$WORK/validate/validation_run.json"
# The seed claims include impossible ones on purpose: validate exits non-zero and still writes
# its findings.
"$BIN" validate "$ROOT/configs/claims/seed_claims.json" \
  --json "$WORK/validate/validation_claims.json" >"$WORK/last.log" 2>&1 || true
[ -s "$WORK/validate/validation_claims.json" ] ||
  { cat "$WORK/last.log"; echo "FAIL: validate wrote no validation_claims.json" >&2; exit 1; }
# No RDMA under an empty root: preflight fails the ports check (exit 1) and still writes its rows.
mkdir -p "$WORK/preflight/root"
"$BIN" preflight --root "$WORK/preflight/root" --json "$WORK/preflight/preflight.json" \
  >"$WORK/last.log" 2>&1 || true
[ -s "$WORK/preflight/preflight.json" ] ||
  { cat "$WORK/last.log"; echo "FAIL: preflight wrote no preflight.json" >&2; exit 1; }
# Eight GPUs through the NVML stand-in, with faults (a downtrained link, a pending row remap, an
# inactive NVLink): every GPU row kind, pass, warn and fail, in the file.
mkdir -p "$WORK/preflight_gpu"
SXB_NVML_LIBRARY="$FAKE_NVML" \
  SXB_FAKE_NVML_SCRIPT="gpus=8;all.name=NVIDIA H200;all.clock_reasons=1;1.pcie_width=8;2.remap_pending=1;3.nvlinks=17;4.pcie_gen=1" \
  "$BIN" preflight --root "$WORK/preflight/root" --json "$WORK/preflight_gpu/preflight.json" \
  >"$WORK/last.log" 2>&1 || true
grep -q '"gpu.remapped_rows"' "$WORK/preflight_gpu/preflight.json" ||
  { cat "$WORK/last.log"; echo "FAIL: preflight over the NVML stand-in wrote no GPU rows" >&2; exit 1; }

# diagnose on 3 ranks without a GPU: every rank's CPU figures and the 3 x 3 pair matrix (exit 1
# would mean it named a component; the file is written either way).
"$MPIEXEC" -np 3 --oversubscribe "$BIN" diagnose --backend mpi --samples 3 --gemm-size 64 \
  --copy-bytes 1M --pair-bytes 64K --out "$WORK/diagnose" >"$WORK/last.log" 2>&1 || true
[ -s "$WORK/diagnose/diagnose.json" ] ||
  { cat "$WORK/last.log"; echo "FAIL: diagnose wrote no diagnose.json" >&2; exit 1; }

exec python3 "$ROOT/tests/schema/validate_results.py" --schemas "$ROOT/schemas" \
  --claims "$ROOT/configs/claims/seed_claims.json" \
  --records "$ROOT/configs/records/records.json" \
  --require run.json --require sft_metrics.json --require compute.json --require nccl.json \
  --require gpu_metrics_summary.json --require gpu_metrics.csv --require validation.json \
  --require validation_run.json --require validation_claims.json \
  --require report.json --require plan.json --require preflight.json --require diagnose.json \
  --require claims \
  --require records \
  "$WORK/results" "$WORK/report/report.json" "$WORK/plan/plan.json" "$WORK/validate" \
  "$WORK/preflight/preflight.json" "$WORK/preflight_gpu/preflight.json" \
  "$WORK/diagnose/diagnose.json"
