#!/usr/bin/env bash
# Tests of scripts/lib/launch.sh, one case per ctest test (tests/CMakeLists.txt):
#
#   launch_test.sh CASE SXBENCH_BINARY
#
# Cases without Slurm: errors, command_lines, local, hostfile.
# Cases on the single-host Slurm cluster of tests/slurm/slurm_cluster.sh (ctest fixture):
#   slurm_start, slurm_sbatch, slurm_srun, slurm_stop.
# Exit 77 (ctest: skipped) when the Slurm cases find Slurm or munge not installed.
# Work files go to $SXB_LAUNCH_TEST_WORK/CASE (default under $TMPDIR).
set -euo pipefail

CASE=${1:?usage: launch_test.sh CASE SXBENCH_BINARY}
BIN=${2:?usage: launch_test.sh CASE SXBENCH_BINARY}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=$ROOT/tests/slurm/slurm_cluster.sh
WORK=${SXB_LAUNCH_TEST_WORK:-${TMPDIR:-/tmp}/sxb_launch_test_$(id -u)}/$CASE
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"

# Settings of whatever shell or job runs the tests must not steer the launcher.
for v in $(compgen -e | grep -E '^(SLURM_|SXB_LAUNCH_DRY_RUN$|SXB_SRUN_MPI$|SXB_ENV_FILE$|SXB_CPU_RANKS_PER_NODE$|HOSTFILE$|GPUS_PER_NODE$)'); do
  unset "$v"
done
# OpenMPI on a test machine: root allowed, shared memory without ptrace-based single copy
# (refused in many containers), TCP on loopback only. Forwarded by srun and mpirun alike.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# CPU runs: the tests expect SXB_CPU_RANKS_PER_NODE (default 2) ranks even on a GPU machine.
export GPUS_PER_NODE=0

# shellcheck source=../../scripts/lib/launch.sh
source "$ROOT/scripts/lib/launch.sh"

fail() {
  echo "FAIL [$CASE]: $*" >&2
  exit 1
}

# The 2-rank collective run on the mpi backend that every launch path must start.
NCCL_ARGS=(nccl --backend mpi -b 8 -e 64K)
# The benchmark script's 2-rank CPU run (every phase of mode quick; tiny model).
export SXB_BIN=$BIN
SCRIPT=$ROOT/scripts/run_h200_benchmark.sh
SCRIPT_ARGS=(tiny 1 quick --seq-len 64 --steps 3 --nccl-max-bytes 64K)

# run.json in DIR says the run ended (partial: no GPU for the compute phase) with every file of
# mode quick present.
check_script_run() {
  local dir=$1
  [ -s "$dir/run.json" ] || fail "$dir/run.json was not written"
  grep -Eq '^  "status": "(complete|partial)",?$' "$dir/run.json" ||
    fail "$dir/run.json: $(grep -E '^  "(status|error)"' "$dir/run.json")"
  for f in summary_report.md sft_metrics.json nccl_allreduce.log nccl.json gpu_metrics.csv validation.json; do
    [ -s "$dir/$f" ] || fail "$dir/$f missing"
  done
  echo "ok: $dir has run.json ($(grep -E '^  "status"' "$dir/run.json" | tr -d ' ,')) and every file of mode quick"
}

# nccl.json in DIR was written by a run of 2 ranks that saw LAUNCHER.
check_run() {
  local launcher=$2 json="$1/nccl.json"
  [ -s "$json" ] || fail "$json was not written"
  # Top-level keys sit at two spaces of indentation in the file sxbench writes.
  grep -Eq '^  "world_size": 2,?$' "$json" ||
    fail "$json: world_size is not 2 ($(grep -E '^  "world_size"' "$json" || echo absent))"
  grep -Eq "^  \"launcher\": \"$launcher\",?\$" "$json" ||
    fail "$json: launcher is not $launcher ($(grep -E '^  "launcher"' "$json" || echo absent))"
  echo "ok: $json world_size 2, launcher $launcher"
}

# Runs the shell code in a subshell; it must exit with CODE, print nothing on stdout, print one
# line "sxb_launch: error: ...PATTERN..." on stderr, and never start the launched command.
expect_error() {
  local code=$1 pattern=$2 code_text=$3 rc=0
  rm -f launched out.txt err.txt
  (eval "$code_text") >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "'$code_text' exited $rc, expected $code: $(cat err.txt)"
  [ ! -s out.txt ] || fail "'$code_text' printed on stdout: $(head -c 300 out.txt)"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "'$code_text' did not print exactly one line: $(cat err.txt)"
  grep -q "^sxb_launch: error: .*$pattern" err.txt ||
    fail "'$code_text' error does not match '$pattern': $(cat err.txt)"
  [ ! -e launched ] || fail "'$code_text' started the command despite the error"
  echo "ok: exit $code: $(cat err.txt)"
}

# Runs the shell code in a subshell with SXB_LAUNCH_DRY_RUN=1; its stdout must contain TEXT.
expect_line() {
  local text=$1 code_text=$2 out
  out=$(export SXB_LAUNCH_DRY_RUN=1 && eval "$code_text" 2>&1) ||
    fail "'$code_text' failed: $out"
  [[ $out == *"$text"* ]] || fail "'$code_text' printed '$out', expected it to contain '$text'"
  echo "ok: $code_text -> $text"
}

need_slurm() {
  local p
  for p in slurmctld slurmd munged sbatch salloc srun sinfo; do
    if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
      echo "SKIPPED: $p not installed (Debian: apt-get install slurmctld slurmd slurm-client munge)"
      exit 77
    fi
  done
  eval "$("$CLUSTER" env)"
  export SLURM_CONF
  "$CLUSTER" status >/dev/null || fail "the test cluster is not running ($("$CLUSTER" status 2>&1 | tr '\n' ' '))"
}

case "$CASE" in
  errors)
    printf 'localhost slots=4  # first\n\n# a comment line\n127.0.0.1\nlocalhost\n' >two-hosts
    expect_error 2 "NODES='0' is not a positive integer" 'sxb_launch 0 -- touch launched'
    expect_error 2 "NODES='-1' is not a positive integer" 'sxb_launch -1 -- touch launched'
    expect_error 2 "NODES='two' is not a positive integer" 'sxb_launch two -- touch launched'
    expect_error 2 "NODES='' is not a positive integer" 'sxb_launch "" -- touch launched'
    expect_error 2 "missing '--'" 'sxb_launch 1 touch launched'
    expect_error 2 "no command given" 'sxb_launch 1 --'
    expect_error 4 "2 nodes requested but there is no Slurm allocation" 'sxb_launch 2 -- touch launched'
    expect_error 4 "HOSTFILE=$WORK/absent is missing or unreadable" \
      "HOSTFILE=$WORK/absent sxb_launch 1 -- touch launched"
    expect_error 4 "HOSTFILE=$WORK is missing or unreadable" "HOSTFILE=$WORK sxb_launch 1 -- touch launched"
    if [ "$(id -u)" -ne 0 ]; then  # root reads any file whatever its mode
      printf 'localhost\n' >unreadable && chmod 000 unreadable
      expect_error 4 "is missing or unreadable" 'HOSTFILE=unreadable sxb_launch 1 -- touch launched'
    fi
    expect_error 4 "3 nodes requested but HOSTFILE=two-hosts lists 2" \
      'HOSTFILE=two-hosts sxb_launch 3 -- touch launched'
    printf 'HOSTFILE=%s/absent\n' "$WORK" >absent.env
    expect_error 4 "HOSTFILE=$WORK/absent is missing" 'SXB_ENV_FILE=absent.env sxb_launch 1 -- touch launched'
    expect_error 2 "SXB_ENV_FILE=nowhere.env is not a readable file" \
      'SXB_ENV_FILE=nowhere.env sxb_launch 1 -- touch launched'
    expect_error 4 "3 nodes requested but Slurm job 999 has 2" \
      'export SLURM_JOB_ID=999 SLURM_JOB_NUM_NODES=2; sxb_launch 3 -- touch launched'
    expect_error 2 "GPUS_PER_NODE='eight' is not a non-negative integer" \
      'GPUS_PER_NODE=eight sxb_launch 1 -- touch launched'
    expect_error 2 "SXB_CPU_RANKS_PER_NODE='0' is not a positive integer" \
      'SXB_CPU_RANKS_PER_NODE=0 sxb_launch 1 -- touch launched'
    ;;

  command_lines)
    # A stand-in srun that only answers --mpi=list, with the plugin list given in FAKE_MPI_LIST
    # in the layout Slurm prints.
    mkdir -p fakebin
    cat >fakebin/srun <<'EOF'
#!/usr/bin/env bash
[ "$1" = "--mpi=list" ] || { echo "fake srun: only --mpi=list" >&2; exit 1; }
if [ -n "${FAKE_MPI_OLD:-}" ]; then  # Slurm before 22.05
  echo "srun: MPI types are..."
  for p in $FAKE_MPI_LIST; do echo "srun: $p"; done
  exit 0
fi
echo "MPI plugin types are..."
for p in $FAKE_MPI_LIST; do printf '\t%s\n' "$p"; done
[ -n "${FAKE_MPI_VERSIONS:-}" ] && echo "specific pmix plugin versions available: $FAKE_MPI_VERSIONS"
exit 0
EOF
    chmod +x fakebin/srun
    export PATH=$WORK/fakebin:$PATH
    S='export SLURM_JOB_ID=7 SLURM_JOB_NUM_NODES=4'
    expect_line "srun --nodes 2 --ntasks 16 --ntasks-per-node 8 --mpi=pmix --kill-on-bad-exit=1 --gpus-per-node 8 prog -a" \
      "$S FAKE_MPI_LIST='none pmi2 pmix pmix_v4' GPUS_PER_NODE=8; sxb_launch 2 -- prog -a"
    expect_line "--mpi=pmix_v4 " "$S FAKE_MPI_LIST='none pmix_v3 pmix_v4' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=pmix_v10 " "$S FAKE_MPI_LIST='none pmix_v10 pmix_v9' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=pmix_v5 " "$S FAKE_MPI_LIST='none pmi2' FAKE_MPI_VERSIONS='pmix_v4,pmix_v5' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=pmix_v3 " "$S FAKE_MPI_OLD=1 FAKE_MPI_LIST='none pmi2 pmix_v3' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=pmi2 " "$S FAKE_MPI_LIST='none pmi2' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=none " "$S FAKE_MPI_LIST='none' GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    expect_line "--mpi=pmi2 " "$S FAKE_MPI_LIST='pmix' SXB_SRUN_MPI=pmi2 GPUS_PER_NODE=8; sxb_launch 1 -- prog"
    # GPUs per node from Slurm when GPUS_PER_NODE is unset, with or without a GPU type.
    expect_line "--ntasks-per-node 8 --mpi=pmix --kill-on-bad-exit=1 --gpus-per-node 8 prog" \
      "$S SLURM_GPUS_PER_NODE=h200:8 FAKE_MPI_LIST=pmix; unset GPUS_PER_NODE; sxb_launch 1 -- prog"
    expect_line "--ntasks 12 --ntasks-per-node 4 --mpi=pmix --kill-on-bad-exit=1 --gpus-per-node 4 prog" \
      "$S SLURM_GPUS_ON_NODE=4 FAKE_MPI_LIST=pmix; unset GPUS_PER_NODE; sxb_launch 3 -- prog"
    # No GPUs: SXB_CPU_RANKS_PER_NODE tasks per node, no GPU request.
    expect_line "srun --nodes 1 --ntasks 2 --ntasks-per-node 2 --mpi=pmix --kill-on-bad-exit=1 prog" \
      "$S FAKE_MPI_LIST=pmix; sxb_launch 1 -- prog"
    expect_line "--ntasks 6 --ntasks-per-node 3 --mpi=pmix --kill-on-bad-exit=1 prog" \
      "$S FAKE_MPI_LIST=pmix SXB_CPU_RANKS_PER_NODE=3; sxb_launch 2 -- prog"
    # Hostfile: the first NODES distinct hosts, one slot per rank; RoCE settings forwarded.
    printf 'node-a slots=1  # first\n\n# a comment line\nnode-b\nnode-a\nnode-c\n' >hosts
    ROOT_FLAG=""
    [ "$(id -u)" -eq 0 ] && ROOT_FLAG=" --allow-run-as-root"
    R='export HOSTFILE=hosts GPUS_PER_NODE=8 NCCL_IB_HCA=mlx5_0 NCCL_IB_GID_INDEX=3'
    expect_line "--map-by ppr:8:node --bind-to none$ROOT_FLAG -x " "$R; sxb_launch 2 -- prog"
    for name in NCCL_IB_HCA NCCL_IB_GID_INDEX NCCL_NVLS_ENABLE PATH; do
      expect_line " -x $name " "$R; sxb_launch 2 -- prog"
    done
    expect_line "mpirun -np 16 --hostfile " "HOSTFILE=hosts GPUS_PER_NODE=8 sxb_launch 2 -- prog"
    out=$(SXB_LAUNCH_DRY_RUN=1 HOSTFILE=hosts GPUS_PER_NODE=8 sxb_launch 2 -- prog | grep '^# hostfile: ')
    [ "$out" = $'# hostfile: node-a slots=8\n# hostfile: node-b slots=8' ] || fail "hostfile for 2 nodes: $out"
    echo "ok: hostfile for 2 nodes: node-a, node-b with 8 slots each"
    # HOSTFILE and GPUS_PER_NODE from the .env file when the environment does not set them; the
    # environment wins over the file.
    printf '# settings\nexport HOSTFILE="hosts"  # two of three\nGPUS_PER_NODE = 4\nGPUS_PER_NODE=8\n' >test.env
    expect_line "mpirun -np 16 --hostfile " "unset GPUS_PER_NODE; SXB_ENV_FILE=test.env sxb_launch 2 -- prog"
    expect_line "mpirun -np 8 --hostfile " "GPUS_PER_NODE=4 SXB_ENV_FILE=test.env sxb_launch 2 -- prog"
    cp test.env .env
    expect_line "--map-by ppr:8:node " "unset GPUS_PER_NODE; sxb_launch 3 -- prog"
    rm .env
    # This host: mpirun for several ranks, the command itself for one.
    expect_line "mpirun -np 2 --host localhost:2 --bind-to none$ROOT_FLAG" "sxb_launch 1 -- prog"
    expect_line "prog x" "SXB_CPU_RANKS_PER_NODE=1 sxb_launch 1 -- prog x"
    # NCCL_NVLS_ENABLE: 0 unless set; the caller's environment stays as it was.
    got=$(unset NCCL_NVLS_ENABLE; SXB_CPU_RANKS_PER_NODE=1 sxb_launch 1 -- sh -c 'echo "$NCCL_NVLS_ENABLE"' 2>/dev/null)
    [ "$got" = 0 ] || fail "NCCL_NVLS_ENABLE in the launched command is '$got', expected 0"
    got=$(NCCL_NVLS_ENABLE=1 SXB_CPU_RANKS_PER_NODE=1 sxb_launch 1 -- sh -c 'echo "$NCCL_NVLS_ENABLE"' 2>/dev/null)
    [ "$got" = 1 ] || fail "NCCL_NVLS_ENABLE=1 was replaced by '$got'"
    (unset NCCL_NVLS_ENABLE; SXB_CPU_RANKS_PER_NODE=1 sxb_launch 1 -- true 2>/dev/null; [ -z "${NCCL_NVLS_ENABLE+x}" ]) ||
      fail "sxb_launch changed the caller's environment"
    echo "ok: NCCL_NVLS_ENABLE defaults to 0 in the launched command only"
    ;;

  local)
    sxb_launch 1 -- "$BIN" "${NCCL_ARGS[@]}" --out "$WORK/run" >run.log 2>&1 ||
      fail "local run failed: $(tail -n 20 run.log)"
    grep -q '^sxb_launch: mpirun -np 2 ' run.log || fail "local run did not use mpirun: $(head -n 3 run.log)"
    check_run "$WORK/run" mpirun
    # A rank killed mid-run ends the whole run with an error, at once.
    start=$SECONDS rc=0
    sxb_launch 1 -- bash -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && kill -9 $$; exec sleep 120' \
      >killed.log 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && [ $((SECONDS - start)) -lt 30 ] ||
      fail "a killed rank must end the run with an error within 30 s (exit $rc after $((SECONDS - start)) s)"
    # mpirun reports either the signal of rank 1 or, when it reaps rank 0 first, the abort.
    grep -Eq 'rank 1 .*exited on signal 9|job has been aborted' killed.log ||
      fail "mpirun did not report the killed rank: $(cat killed.log)"
    echo "ok: rank 1 killed: exit $rc after $((SECONDS - start)) s"
    ;;

  hostfile)
    echo localhost >localhost-hostfile
    HOSTFILE=localhost-hostfile "$SCRIPT" "${SCRIPT_ARGS[@]}" --out "$WORK/run" >run.log 2>&1 ||
      fail "hostfile run failed: $(tail -n 20 run.log)"
    grep -q '^sxb_launch: mpirun -np 2 --hostfile ' run.log || fail "did not use the hostfile: $(head -n 3 run.log)"
    check_run "$WORK/run" mpirun
    check_script_run "$WORK/run"
    ;;

  slurm_start)
    # A cluster left running in this build tree's directory by an interrupted earlier run.
    "$CLUSTER" stop >/dev/null 2>&1 || true
    rc=0
    "$CLUSTER" start || rc=$?
    [ "$rc" -eq 77 ] && echo "SKIPPED: Slurm or munge not installed"
    exit "$rc"
    ;;

  slurm_sbatch)
    need_slurm
    cat >job.sh <<EOF
#!/usr/bin/env bash
"$SCRIPT" ${SCRIPT_ARGS[*]} --out "$WORK/run"
EOF
    rc=0
    timeout 150 sbatch --wait --job-name sxb-launch-test --nodes 1 --ntasks 2 --time 3 \
      --chdir "$WORK" --output "$WORK/job.out" job.sh >sbatch.log 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "sbatch --wait exited $rc: $(cat sbatch.log) $(tail -n 20 job.out 2>/dev/null)"
    grep -q '^sxb_launch: srun --nodes 1 --ntasks 2 ' job.out || fail "the job did not use srun: $(head -n 3 job.out)"
    check_run "$WORK/run" srun
    check_script_run "$WORK/run"
    ;;

  slurm_srun)
    need_slurm
    # An interactive allocation: sxb_launch runs srun itself. In it, more nodes than the
    # allocation has are refused, and a rank killed mid-run ends the whole step at once.
    cat >inside.sh <<'EOF'
source "$ROOT/scripts/lib/launch.sh"
read -ra NCCL_ARGS <<<"$NCCL_ARGS_TEXT"
sxb_launch 1 -- "$BIN" "${NCCL_ARGS[@]}" --out "$WORK/run" || exit
rc=0
sxb_launch 2 -- touch "$WORK/launched" 2>"$WORK/too-many.err" || rc=$?
echo "too-many-nodes exit $rc"
start=$SECONDS rc=0
sxb_launch 1 -- bash -c '[ "$SLURM_PROCID" = 1 ] && kill -9 $$; exec sleep 120' 2>"$WORK/killed.err" || rc=$?
echo "killed-rank exit $rc after $((SECONDS - start)) s"
EOF
    export ROOT BIN WORK NCCL_ARGS_TEXT="${NCCL_ARGS[*]}"
    rc=0
    timeout 150 salloc --job-name sxb-launch-test --nodes 1 --ntasks 2 --time 3 bash inside.sh \
      >run.log 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "salloc exited $rc: $(tail -n 20 run.log)"
    grep -q '^sxb_launch: srun --nodes 1 --ntasks 2 ' run.log || fail "did not use srun: $(head -n 3 run.log)"
    check_run "$WORK/run" srun
    grep -q '^too-many-nodes exit 4$' run.log || fail "2 nodes in a 1-node allocation: $(grep too-many run.log)"
    grep -Eq '^sxb_launch: error: 2 nodes requested but Slurm job [0-9]+ has 1$' too-many.err ||
      fail "2 nodes in a 1-node allocation: $(cat too-many.err)"
    [ ! -e launched ] || fail "2 nodes in a 1-node allocation started the command"
    echo "ok: $(cat too-many.err)"
    killed=$(grep '^killed-rank exit' run.log) || fail "killed-rank case did not finish: $(tail -n 5 run.log)"
    [[ $killed =~ ^killed-rank\ exit\ ([0-9]+)\ after\ ([0-9]+)\ s$ ]] || fail "$killed"
    [ "${BASH_REMATCH[1]}" -ne 0 ] && [ "${BASH_REMATCH[2]}" -lt 30 ] ||
      fail "a killed rank must end the step with an error within 30 s: $killed"
    grep -q 'task 1: Killed' killed.err || fail "srun did not name the killed task: $(cat killed.err)"
    echo "ok: rank 1 killed: $killed; srun: $(grep 'task 1: Killed' killed.err)"
    ;;

  slurm_stop)
    "$CLUSTER" stop
    if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ]; then
      echo "SKIPPED: Slurm not installed, no cluster to stop"
      exit 77
    fi
    if "$CLUSTER" status >status.txt 2>&1; then fail "daemons still running: $(cat status.txt)"; fi
    ! grep -q ': running' status.txt || fail "daemons still running: $(cat status.txt)"
    ;;

  *)
    echo "launch_test: unknown case '$CASE'" >&2
    exit 2
    ;;
esac
