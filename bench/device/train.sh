#!/usr/bin/env bash
# On the GPU machine: the CUDA training engine's GPU tests, then Llama-2-7B (seq 4096, micro-batch
# 1, bf16) with sxbench's engine next to the PyTorch reference (.ref/torch_llama.py: FSDP2, eager
# and torch.compile) in the same call, engine runs before and after the reference. Logs go to
# $OUT/train_logs.tgz; a short table is printed last.
#   PHASES   comma list of tests,engine,notune,grad32,torch,compile,engine_full,torch_ac,learn,
#            engine2,zero3_70b (default all but notune, grad32 and zero3_70b). engine*: the reference's optimizer
#            settings (ds_config_torch_reference.json); notune: cuBLASLt's first heuristic choice
#            instead of the timed best; grad32: fp32 gradient storage instead of auto's bf16;
#            learn: 30 steps at lr 1e-4 (ds_config_7b_learning.json) to show the loss falling.
#   VARIANTS space-separated name=VAR=VALUE[,VAR=VALUE...] items: for each, the Train* GPU tests
#            (unless VARIANT_TESTS=0) and a profiled engine run (engine_<name>) with those
#            environment settings (tuning knobs A/B'd against the default engine of the same call)
#   STEPS    engine steps (default 10, of which 3 warm-up)
# Binaries: .dev/sxbench and .dev/sxb_gpu_tests when they run on this machine, else a build.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PYTHONUNBUFFERED=1 PROGRESS=off
OUT=${OUT:-/tmp/sxb-out}
W="$OUT/work"
mkdir -p "$W"
PHASES=${PHASES:-tests,engine,torch,compile,engine_full,torch_ac,learn,engine2}
STEPS=${STEPS:-10}
BUDGET_S=${BUDGET_S:-520}  # phases that would start after this many seconds are skipped
want() { [[ ",$PHASES," == *",$1,"* ]] && [ "$SECONDS" -lt "$BUDGET_S" ]; }

nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,power.draw,temperature.gpu \
  --format=csv | tee "$W/gpu.txt"

BIN=.dev/sxbench
TESTS=.dev/sxb_gpu_tests
if ! "$BIN" --version >/dev/null 2>&1 || ! "$TESTS" --gtest_list_tests >/dev/null 2>&1; then
  echo "prebuilt binaries do not run here; building (sm_90a)"
  BUILD=/tmp/build-sxb  # shared with profile_attention.sh
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DSXB_CUDA=ON -DSXB_CHARTS=OFF >"$W/build.log" 2>&1 &&
    ninja -C "$BUILD" sxbench sxb_gpu_tests >>"$W/build.log" 2>&1 ||
    { grep -E "error" "$W/build.log" | head -30; tar -C "$OUT" -czf "$OUT/train_logs.tgz" work; exit 1; }
  BIN=$BUILD/sxbench
  TESTS=$BUILD/tests/sxb_gpu_tests
fi
"$BIN" --version
export SXB_TEST_BINARY
SXB_TEST_BINARY=$(realpath "$BIN")

if want tests; then
  timeout 300 "$TESTS" --gtest_filter='Train*' >"$W/tests.log" 2>&1
  echo "gpu tests (Train*) exit $?"
  grep -E "^\[  FAILED  \]|^\[  PASSED  \]|attention T=|Failure|Expected|Which is|rel_err|  Actual" \
    "$W/tests.log" | head -40
fi

ENGINE_ENV=()  # VAR=VALUE settings for the next engine run
engine() {  # name, extra args
  local name=$1
  shift
  env "${ENGINE_ENV[@]}" timeout 200 "$BIN" train --device cuda --model meta-llama/Llama-2-7b-hf --seq-len 4096 \
    --micro-batch 1 --steps "$STEPS" --warmup-steps 3 \
    --ds-config bench/device/ds_config_torch_reference.json --out "$W/$name" "$@" \
    >"$W/$name.log" 2>&1
  echo "$name exit $?"
  grep -E "^profile|^step time" "$W/$name.log"
}
torch_ref() {  # name, extra args
  local name=$1
  shift
  timeout 300 python3 -m torch.distributed.run --standalone --nproc_per_node 1 \
    .ref/torch_llama.py --seq 4096 --mb 1 "$@" >"$W/$name.log" 2>&1
  echo "$name exit $?"
  grep RESULT "$W/$name.log" || tail -5 "$W/$name.log"
}

want engine && engine engine --profile
want notune && SXB_GEMM_CANDIDATES=1 engine engine_notune
want grad32 && engine engine_grad32 --grad-dtype fp32
for v in ${VARIANTS:-}; do
  name=${v%%=*}
  IFS=, read -ra settings <<<"${v#*=}"
  if [ "${VARIANT_TESTS:-1}" = 1 ]; then
    env "${settings[@]}" timeout 300 "$TESTS" --gtest_filter='Train*' >"$W/tests_$name.log" 2>&1
    echo "gpu tests (Train*) with ${settings[*]} exit $?"
    grep -E "^\[  FAILED  \]|^attention T=" "$W/tests_$name.log"
  fi
  ENGINE_ENV=("${settings[@]}")
  engine "engine_$name" --profile
  ENGINE_ENV=()
done
want torch && torch_ref torch_eager --ac 0 --tag eager
want compile && torch_ref torch_compile --ac 0 --compile 1 --tag compile
want engine_full && engine engine_full --recompute full
want torch_ac && torch_ref torch_ac --ac 1 --tag eager_ac
if want learn; then
  timeout 200 "$BIN" train --device cuda --model meta-llama/Llama-2-7b-hf --seq-len 4096 \
    --micro-batch 1 --steps 30 --warmup-steps 3 --ds-config bench/device/ds_config_7b_learning.json \
    --out "$W/learn" >"$W/learn.log" 2>&1
  echo "learn exit $?"
  grep -E "^step (1|10|20|30)/" "$W/learn.log"
fi
want engine2 && engine engine2
if want zero3_70b; then
  # The Llama-2-70B shape with two decoder layers, ZeRO-3 over two ranks sharing this GPU
  # through the host-staged exchange (a one-GPU machine: a functional run with per-layer times,
  # not a two-GPU throughput figure).
  timeout 400 mpirun -np 2 --oversubscribe --bind-to none "$BIN" train --device cuda \
    --model configs/models/llama2-70b-shape-2-layers --seq-len 4096 --micro-batch 1 --steps 4 \
    --warmup-steps 1 --ds-config configs/ds_config_70b_shape_zero3.json --comm-backend mpi \
    --profile --out "$W/zero3_70b" >"$W/zero3_70b.log" 2>&1
  echo "zero3_70b exit $?"
  grep -E "^step [0-9]|^profile|^per decoder layer|^step time|error" "$W/zero3_70b.log" | head -12
fi
nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu --format=csv >>"$W/gpu.txt"

python3 - "$W" <<'EOF' | tee "$W/table.txt"
import json, os, sys
w = sys.argv[1]
rows = []
names = sorted(os.listdir(w))
variants = [n for n in names if n.startswith("engine_") and os.path.isdir(os.path.join(w, n))]
for name in dict.fromkeys(["engine"] + variants + ["engine_full", "learn", "engine2", "zero3_70b"]):
    p = os.path.join(w, name, "sft_metrics.json")
    if os.path.exists(p):
        m = json.load(open(p))
        rows.append((name, m["activation_recomputation"]["mode"], m["tokens_per_s_per_device"],
                     m["mfu"], m["step_time_s"]["median"], m["initial_loss"], m["final_loss"],
                     m["peak_memory_bytes"]["device_used_peak_bytes"] / 2**30))
for name in ["torch_eager", "torch_compile", "torch_ac"]:
    p = os.path.join(w, name + ".log")
    if os.path.exists(p):
        for line in open(p):
            if line.startswith("RESULT "):
                r = json.loads(line[7:])
                rows.append((name, "full" if r["ac"] else "none", r["tokens_per_s_per_gpu"],
                             r["mfu_vs_989"], r["step_s_median"], float("nan"), r["loss"],
                             r["peak_mem_gib"]))
print(f"{'run':14} {'recompute':9} {'tok/s/GPU':>10} {'MFU':>6} {'step s':>7} {'loss0':>7} {'loss':>7} {'mem GiB':>8}")
for r in rows:
    mfu = 100 * r[3] if r[3] is not None else float("nan")
    print(f"{r[0]:14} {r[1]:9} {r[2]:10.1f} {mfu:5.1f}% {r[4]:7.4f} {r[5]:7.3f} {r[6]:7.3f} {r[7]:8.1f}")
EOF
tar -C "$OUT" -czf "$OUT/train_logs.tgz" work && rm -rf "$W"
echo "elapsed ${SECONDS}s"
