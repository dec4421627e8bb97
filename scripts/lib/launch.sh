# shellcheck shell=bash
# Process launch for sxbench scripts: one process per GPU through the engine the environment
# provides (Slurm's srun inside an allocation, OpenMPI's mpirun with a hostfile or locally).
# Source this file, then:
#
#   sxb_launch NODES -- CMD ARGS...
#
# Engine, in order of precedence:
#   SLURM_JOB_ID set   srun --nodes NODES --ntasks-per-node P [--gpus-per-node P] --mpi=<pmix..>
#   HOSTFILE set       mpirun -np NODES*P --hostfile <first NODES hosts, slots=P> --map-by ppr:P:node
#   NODES=1            mpirun -np P on this host, or CMD itself when P=1
# P (processes per node) is GPUS_PER_NODE (process environment, else .env, else detected from
# Slurm or nvidia-smi); without GPUs it is SXB_CPU_RANKS_PER_NODE (default 2) and CMD is
# expected to use the mpi backend. HOSTFILE and GPUS_PER_NODE are read from the .env file named
# by SXB_ENV_FILE (default ./.env) when the process environment does not set them.
#
# Other settings: SXB_SRUN_MPI forces srun's --mpi value; SXB_LAUNCH_DRY_RUN=1 prints the
# command line on stdout instead of running it (and, for a hostfile, the hosts it would use, as
# "# hostfile: HOST slots=P" lines); otherwise the command line is echoed to stderr, then run.
# Errors are one line on stderr, "sxb_launch: error: ...", with sxbench's exit codes:
# 2 = bad argument or setting, 4 = the machine lacks what was asked for (nodes, hostfile).
# Returns the launched command's exit status otherwise. Runs in a subshell: the caller's
# environment is not changed.

# Environment variable names forwarded to every rank by mpirun (srun forwards the whole
# environment by default). OMPI_MCA_* settings are forwarded by mpirun itself.
SXB_LAUNCH_FORWARD_PREFIXES=(NCCL_ UCX_ SXB_ HF_ CUDA_ TORCH_)
SXB_LAUNCH_FORWARD_NAMES=(PATH LD_LIBRARY_PATH PYTHONPATH)

# Value of KEY in a KEY=VALUE file (comments, blank lines, `export ` and quotes tolerated); the
# last assignment wins, like a shell's. Prints nothing when the key is absent.
_sxb_env_file_value() {
  local file=$1 key=$2 line value=""
  local re="^[[:space:]]*(export[[:space:]]+)?${key}[[:space:]]*=(.*)$"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ $re ]]; then
      value=${BASH_REMATCH[2]}
      value=${value%%[[:space:]]#*}
      value=${value#"${value%%[![:space:]]*}"}
      value=${value%"${value##*[![:space:]]}"}
      if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    fi
  done <"$file"
  printf '%s' "$value"
}

# Setting KEY: the process environment, else the .env file, else empty.
_sxb_launch_setting() {
  local key=$1
  if [ -n "${!key:-}" ]; then
    printf '%s' "${!key}"
    return
  fi
  local file=${SXB_ENV_FILE:-.env}
  if [ -r "$file" ]; then _sxb_env_file_value "$file" "$key"; fi
}

_sxb_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# GPUs per node: GPUS_PER_NODE when set, else what Slurm allocated on this node, else the
# number of GPUs nvidia-smi lists here, else 0.
sxb_launch_gpus_per_node() {
  local v
  v=$(_sxb_launch_setting GPUS_PER_NODE)
  if [ -n "$v" ]; then
    _sxb_is_uint "$v" || {
      echo "sxb_launch: error: GPUS_PER_NODE='$v' is not a non-negative integer" >&2
      return 2
    }
    echo "$((10#$v))"
    return
  fi
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    if _sxb_is_uint "${SLURM_GPUS_ON_NODE:-}"; then
      echo "$SLURM_GPUS_ON_NODE"
      return
    fi
    # SLURM_GPUS_PER_NODE may carry a type: "h200:8".
    v=${SLURM_GPUS_PER_NODE:-}
    v=${v##*:}
    if _sxb_is_uint "$v"; then
      echo "$v"
      return
    fi
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
    return
  fi
  echo 0
}

# srun's --mpi value: pmix when the installed Slurm has it, else its newest pmix_vN, else pmi2,
# else none (then MPI programs start as independent singletons or refuse to start, so say so).
# `srun --mpi=list` prints one plugin per line, "srun: "-prefixed in older releases, and newer
# ones add "specific pmix plugin versions available: pmix_v4[,pmix_v5]".
_sxb_srun_mpi() {
  if [ -n "${SXB_SRUN_MPI:-}" ]; then
    echo "$SXB_SRUN_MPI"
    return
  fi
  local line plugins=() word
  while IFS= read -r line; do
    line=${line#srun: }
    if [[ $line == *"versions available:"* ]]; then
      for word in ${line#*available:}; do plugins+=("${word//,/}"); done
    elif [[ $line =~ ^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*$ ]]; then
      plugins+=("${BASH_REMATCH[1]}")
    fi
  done < <(srun --mpi=list 2>&1 | tr ',' ' ')
  local best="" n best_n=-1
  for word in "${plugins[@]}"; do
    if [ "$word" = pmix ]; then
      echo pmix
      return
    elif [[ $word =~ ^pmix_v([0-9]+)$ ]]; then
      n=${BASH_REMATCH[1]}
      [ "$n" -gt "$best_n" ] && best_n=$n && best=$word
    fi
  done
  if [ -n "$best" ]; then
    echo "$best"
  elif [[ " ${plugins[*]} " == *" pmi2 "* ]]; then
    echo pmi2
  else
    echo "sxb_launch: warning: srun --mpi=list offers neither pmix nor pmi2; MPI ranks may not connect" >&2
    echo none
  fi
}

# Prints the command line (shell-quoted) to stderr, then runs it, or prints it on stdout only.
_sxb_launch_exec() {
  local quoted
  quoted=$(printf '%q ' "$@")
  if [ "${SXB_LAUNCH_DRY_RUN:-0}" = "1" ]; then
    echo "${quoted% }"
    return 0
  fi
  echo "sxb_launch: ${quoted% }" >&2
  "$@"
}

sxb_launch() (
  set -uo pipefail
  fail() {
    echo "sxb_launch: error: $2" >&2
    exit "$1"
  }
  [ $# -ge 1 ] || fail 2 "usage: sxb_launch NODES -- CMD ARGS..."
  local nodes=$1
  shift
  [ "${1:-}" = "--" ] || fail 2 "usage: sxb_launch NODES -- CMD ARGS... (missing '--')"
  shift
  [ $# -ge 1 ] || fail 2 "no command given after '--'"
  [[ $nodes =~ ^[0-9]+$ ]] && [ "$((10#$nodes))" -ge 1 ] ||
    fail 2 "NODES='$nodes' is not a positive integer"
  nodes=$((10#$nodes))
  if [ -n "${SXB_ENV_FILE:-}" ] && [ ! -r "$SXB_ENV_FILE" ]; then
    fail 2 "SXB_ENV_FILE=$SXB_ENV_FILE is not a readable file"
  fi

  local gpus per_node
  gpus=$(sxb_launch_gpus_per_node) || exit 2
  if [ "$gpus" -gt 0 ]; then
    per_node=$gpus
  else
    per_node=${SXB_CPU_RANKS_PER_NODE:-2}
    [[ $per_node =~ ^[0-9]+$ ]] && [ "$((10#$per_node))" -ge 1 ] ||
      fail 2 "SXB_CPU_RANKS_PER_NODE='$per_node' is not a positive integer"
    per_node=$((10#$per_node))
  fi
  local total=$((nodes * per_node))
  export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}

  # --- Slurm allocation: srun ---------------------------------------------------------------
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    local allocated=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-}}
    _sxb_is_uint "$allocated" || fail 4 "inside Slurm job $SLURM_JOB_ID but SLURM_JOB_NUM_NODES is not set"
    [ "$nodes" -le "$allocated" ] ||
      fail 4 "$nodes nodes requested but Slurm job $SLURM_JOB_ID has $allocated"
    command -v srun >/dev/null 2>&1 || fail 4 "SLURM_JOB_ID=$SLURM_JOB_ID is set but srun is not on PATH"
    local srun_args=(srun --nodes "$nodes" --ntasks "$total" --ntasks-per-node "$per_node"
      --mpi="$(_sxb_srun_mpi)" --kill-on-bad-exit=1)
    [ "$gpus" -gt 0 ] && srun_args+=(--gpus-per-node "$gpus")
    _sxb_launch_exec "${srun_args[@]}" "$@"
    exit $?
  fi

  local mpi_args=(--bind-to none)
  [ "$(id -u)" -eq 0 ] && mpi_args+=(--allow-run-as-root)
  local name prefix
  for name in $(compgen -e | sort); do
    for prefix in "${SXB_LAUNCH_FORWARD_PREFIXES[@]}"; do
      [[ $name == "$prefix"* ]] && mpi_args+=(-x "$name") && break
    done
  done
  for name in "${SXB_LAUNCH_FORWARD_NAMES[@]}"; do
    [ -n "${!name+x}" ] && mpi_args+=(-x "$name")
  done

  # --- Hostfile: mpirun across the first NODES hosts ------------------------------------------
  local hostfile
  hostfile=$(_sxb_launch_setting HOSTFILE)
  if [ -n "$hostfile" ]; then
    command -v mpirun >/dev/null 2>&1 || fail 4 "HOSTFILE is set but mpirun is not on PATH"
    [ -f "$hostfile" ] && [ -r "$hostfile" ] || fail 4 "HOSTFILE=$hostfile is missing or unreadable"
    # Hosts in file order, once each; OpenMPI's hostfile syntax: "host [slots=N ...]  # comment".
    local hosts=() host line
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}
      read -r host _ <<<"$line" || true
      [ -z "$host" ] && continue
      [[ " ${hosts[*]} " == *" $host "* ]] || hosts+=("$host")
    done <"$hostfile"
    [ "$nodes" -le "${#hosts[@]}" ] ||
      fail 4 "$nodes nodes requested but HOSTFILE=$hostfile lists ${#hosts[@]}"
    # A hostfile of exactly the hosts used, each with one slot per rank it runs, so that the
    # file's own slot counts (often 1 or the core count) neither limit nor widen the run.
    local tmp
    tmp=$(mktemp "${TMPDIR:-/tmp}/sxb_hostfile.XXXXXX") || fail 4 "cannot create a temporary file"
    trap 'rm -f "$tmp"' EXIT
    for host in "${hosts[@]:0:nodes}"; do echo "$host slots=$per_node"; done >"$tmp"
    [ "${SXB_LAUNCH_DRY_RUN:-0}" = "1" ] && sed 's/^/# hostfile: /' "$tmp"
    _sxb_launch_exec mpirun -np "$total" --hostfile "$tmp" --map-by "ppr:$per_node:node" \
      "${mpi_args[@]}" "$@"
    exit $?
  fi

  # --- This host ------------------------------------------------------------------------------
  [ "$nodes" -eq 1 ] ||
    fail 4 "$nodes nodes requested but there is no Slurm allocation (SLURM_JOB_ID) and no HOSTFILE"
  if [ "$per_node" -eq 1 ]; then
    _sxb_launch_exec "$@"
    exit $?
  fi
  command -v mpirun >/dev/null 2>&1 || fail 4 "$per_node processes requested but mpirun is not on PATH"
  _sxb_launch_exec mpirun -np "$per_node" --host "localhost:$per_node" "${mpi_args[@]}" "$@"
)
