#!/usr/bin/env bash
# A real single-host Slurm cluster on loopback for tests: munged, slurmctld and slurmd from the
# distribution's packages, run as root, with every file (config, munge key, state, spool, logs,
# pid files) under one private directory.
#
#   tests/slurm/slurm_cluster.sh start    configure, start, wait until the node is idle
#   tests/slurm/slurm_cluster.sh stop     cancel this cluster's jobs, stop what start started
#   tests/slurm/slurm_cluster.sh status   daemons alive or not, and sinfo
#   tests/slurm/slurm_cluster.sh env      the line to eval so that sinfo/srun/sbatch use it
#
# SXB_SLURM_DIR   the private directory (default /tmp/sxb-slurm-<uid>). Keep it short: Unix
#                 socket paths (munge, PMIx) must fit in 107 bytes.
# SXB_SLURM_START_TIMEOUT  seconds to wait for each daemon and for the idle node (default 30).
# Clients find the cluster through SLURM_CONF=$SXB_SLURM_DIR/slurm.conf (printed by start/env).
#
# The node is this host (hostname -s) at 127.0.0.1 with the CPU count, topology and memory that
# `slurmd -C` reports. No cgroups (proctrack/linuxproc, task/none), no accounting, CPUs as the
# consumable resource (select/cons_tres, CR_CPU). Ports are free ones chosen at start, outside the
# kernel's ephemeral range; a daemon that loses its port to another process anyway is started
# again on fresh ports (SXB_SLURM_BIND_ATTEMPTS, default 5).
# Exit codes: 0 ok, 1 failure (with one line naming it; daemon logs follow on stderr),
# 77 the Slurm or munge programs are not installed (tests report this as skipped).
set -euo pipefail

DIR=${SXB_SLURM_DIR:-/tmp/sxb-slurm-$(id -u)}
TIMEOUT=${SXB_SLURM_START_TIMEOUT:-30}
# Starts of slurmctld and slurmd on fresh ports before giving up (see free_port).
BIND_ATTEMPTS=${SXB_SLURM_BIND_ATTEMPTS:-5}
CONF=$DIR/slurm.conf
MUNGE_SOCKET=$DIR/munge/munge.socket
NODE=$(hostname -s)
PROGRAMS=(munged mungekey munge slurmctld slurmd sinfo srun sbatch squeue scancel)

die() {
  echo "slurm_cluster: error: $*" >&2
  exit 1
}

missing_programs() {
  local p missing=()
  for p in "${PROGRAMS[@]}"; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing+=("$p")
  done
  echo "${missing[*]}"
}

# PATH as root shells on Debian have it; the daemons live in /usr/sbin.
export PATH=$PATH:/usr/sbin:/sbin

# PID from NAME's pid file when that process is alive and is the one started for this directory
# (its command line names $DIR), so a recycled PID is never signalled.
owned_pid() {
  local file=$DIR/run/$1.pid pid
  [ -r "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  echo "$pid"
}

# A TCP port on 127.0.0.1 that nothing listens on now (bash's /dev/tcp connects or fails), outside
# the kernel's ephemeral range (net.ipv4.ip_local_port_range): ports in that range are handed to
# any process that binds port 0 or connects (mpirun, OpenMPI's TCP transport, Slurm clients), so
# between this check and the daemon's bind one of them could take it; ports outside it are taken
# only by explicit binds. The daemons' bind can still lose to another such bind, which
# start_cluster answers by starting again on fresh ports. Arguments: ports not to return (this
# runs in a command substitution, so it cannot remember what it returned before).
free_port() {
  local p lo=32768 hi=60999 base span
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ "$lo" -gt 12000 ]; then
    base=10000 span=$((lo - 10000))
  elif [ "$hi" -lt 63000 ]; then
    base=$((hi + 1)) span=$((65535 - hi))
  else
    base=20000 span=30000 # no range outside the ephemeral one: the retry alone protects
  fi
  for _ in $(seq 1 200); do
    p=$((base + RANDOM % span))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ " $* " != *" $p "* ]]; then
      echo "$p"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

show_logs() {
  local f
  for f in "$DIR"/log/*.log; do
    [ -r "$f" ] || continue
    echo "--- $f (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
}

# Waits up to TIMEOUT seconds for the command to succeed. Returns 2 when NAME's log says its
# listening port was taken (the daemon exits then), so that the caller can retry on other ports.
wait_for() {
  local name=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && bind_failed "$name"; then return 2; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_logs
      stop_cluster >/dev/null 2>&1 || true
      die "$what not ready within ${TIMEOUT}s (logs above; SXB_SLURM_START_TIMEOUT raises the wait)"
    fi
    sleep 0.5
  done
}

# Whether NAME (slurmctld, slurmd) logged that the port it listens on was in use: both daemons
# log the bind error with strerror and exit.
bind_failed() { grep -qE 'Address already in use|Unable to bind' "$DIR/log/$1.log" 2>/dev/null; }

node_idle() { [ "$(SLURM_CONF=$CONF sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null)" = "idle" ]; }
munge_ok() { munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET"; }

write_config() {
  local hw ctld_port slurmd_port
  # "NodeName=h CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=.. RealMemory=.."
  hw=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
  [[ $hw == *CPUs=* && $hw == *RealMemory=* ]] || die "slurmd -C did not describe this host: $hw"
  ctld_port=$(free_port)
  slurmd_port=$(free_port "$ctld_port")
  cat >"$CONF" <<EOF
# Single-host test cluster written by tests/slurm/slurm_cluster.sh; see that file.
ClusterName=sxbci
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
TmpFS=$DIR/tmp
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=5
MinJobAge=60
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE $hw State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# slurmctld then slurmd on fresh ports. 0 when the node is idle, 2 when a daemon lost its port
# (the caller retries), exits on any other failure.
start_slurm_daemons() {
  write_config
  slurmctld -c -f "$CONF" </dev/null >>"$DIR/log/slurmctld.log" 2>&1 ||
    { bind_failed slurmctld && return 2; show_logs; stop_cluster >/dev/null 2>&1; die "slurmctld did not start"; }
  wait_for slurmctld "slurmctld" env SLURM_CONF="$CONF" scontrol ping || return
  slurmd -f "$CONF" -N "$NODE" </dev/null >>"$DIR/log/slurmd.log" 2>&1 ||
    { bind_failed slurmd && return 2; show_logs; stop_cluster >/dev/null 2>&1; die "slurmd did not start"; }
  wait_for slurmd "node $NODE (idle in sinfo)" node_idle || return
}

start_cluster() {
  local missing
  missing=$(missing_programs)
  if [ -n "$missing" ]; then
    echo "slurm_cluster: not installed: $missing (Debian: apt-get install slurmctld slurmd slurm-client munge)" >&2
    exit 77
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users)"
  if owned_pid munged >/dev/null || owned_pid slurmctld >/dev/null || owned_pid slurmd >/dev/null; then
    die "a cluster is already running in $DIR; run '$0 stop' first"
  fi
  rm -rf "$DIR"
  # Only root writes here; the munge socket directory must be searchable by everyone (munged
  # checks), the key directory by nobody but root.
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  mkdir -p "$DIR"/{munge,key,state,spool,tmp,run,log}
  chmod 755 "$DIR/munge"
  chmod 700 "$DIR/key"
  [ ${#MUNGE_SOCKET} -lt 100 ] || die "SXB_SLURM_DIR=$DIR is too long for a Unix socket path"

  mungekey --create --keyfile="$DIR/key/munge.key" --bits=1024 2>/dev/null ||
    die "mungekey could not create $DIR/key/munge.key"
  chmod 400 "$DIR/key/munge.key"
  # --force: munged refuses directories below a world-writable /tmp otherwise; the ones it uses
  # here are writable by root only.
  munged --force --socket="$MUNGE_SOCKET" --key-file="$DIR/key/munge.key" \
    --log-file="$DIR/log/munged.log" --pid-file="$DIR/run/munged.pid" \
    --seed-file="$DIR/key/munged.seed" </dev/null >>"$DIR/log/munged.log" 2>&1 ||
    { show_logs; die "munged did not start"; }
  wait_for "" "munged" munge_ok

  # Each attempt on fresh ports; a daemon whose bind lost a race is stopped and its log kept
  # as log/attempt-N/ (shown on failure). Bounded: a host where every attempt loses has a
  # problem worth reporting.
  local attempt rc
  for attempt in $(seq 1 "$BIND_ATTEMPTS"); do
    rc=0
    start_slurm_daemons || rc=$?
    [ "$rc" -eq 0 ] && break
    local stopped=()
    stop_daemons slurmd slurmctld
    mkdir -p "$DIR/log/attempt-$attempt"
    mv "$DIR"/log/slurm*.log "$DIR/log/attempt-$attempt/" 2>/dev/null || true
    rm -rf "${DIR:?}"/state/* "${DIR:?}"/spool/*
    if [ "$attempt" -eq "$BIND_ATTEMPTS" ]; then
      tail -n 5 "$DIR"/log/attempt-*/*.log >&2 || true
      stop_cluster >/dev/null 2>&1 || true
      die "slurmctld/slurmd could not bind their ports in $BIND_ATTEMPTS attempts"
    fi
    echo "slurm_cluster: attempt $attempt: a port was taken before its daemon bound it;" \
      "starting again on other ports" >&2
  done
  echo "slurm_cluster: node $NODE idle; export SLURM_CONF=$CONF"
}

# SIGTERM to the named daemons that are this cluster's, SIGKILL after 10 s; appends "name(pid)"
# to the caller's `stopped` array.
stop_daemons() {
  local name pid pids=() deadline=$((SECONDS + 10))
  for name in "$@"; do
    pid=$(owned_pid "$name") || continue
    kill -TERM "$pid" 2>/dev/null || continue
    pids+=("$pid")
    stopped+=("$name($pid)")
  done
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

stop_cluster() {
  # Jobs first, so no slurmstepd of this cluster outlives its slurmd.
  if owned_pid slurmctld >/dev/null; then
    local jobs deadline=$((SECONDS + 15))
    jobs=$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$CONF scancel $jobs 2>/dev/null || true
      while [ -n "$(SLURM_CONF=$CONF squeue -h -o %i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.5
      done
    fi
  fi
  # The Slurm daemons together (each takes about 2 s to exit), then munged, which they use
  # until they are gone.
  local stopped=()
  stop_daemons slurmd slurmctld
  stop_daemons munged
  echo "slurm_cluster: stopped ${stopped[*]:-nothing}"
}

status_cluster() {
  local name pid rc=0
  for name in munged slurmctld slurmd; do
    if pid=$(owned_pid "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; rc=3; fi
  done
  # sinfo only with a live controller: without one it retries for a long time.
  if owned_pid slurmctld >/dev/null; then SLURM_CONF=$CONF sinfo -N -o '%N %t %c %m' 2>&1 || true; fi
  return "$rc"
}

case "${1:-}" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  status) status_cluster ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
