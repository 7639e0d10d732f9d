#!/usr/bin/env bash
# infra.sh (from ../shared/reference/infra.md, verified there) — REAL Docker + single-node Slurm for tests on a Debian 12 root machine (no systemd, no GPU, no registry).
#   infra.sh docker | image | slurm | stop-slurm | all
#   env: INFRA_DIR (default /tmp/flux-ci/ci)   TEST_IMAGE (default infra-check/busybox:test)
#        SLURM_ACCOUNTING=1 (MariaDB + slurmdbd so plain `sacct` works)   SLURM_CPUS / SLURM_GPUS (fake sizes)
# Slurm/MariaDB state lives under $INFRA_DIR; dockerd uses the default /var/lib/docker + /var/run/docker.sock.
# Callers must `export SLURM_CONF=$INFRA_DIR/slurm/slurm.conf` for sbatch/squeue/scontrol/sacct.
set -euo pipefail
INFRA_DIR=${INFRA_DIR:-/tmp/flux-ci/ci}
TEST_IMAGE=${TEST_IMAGE:-infra-check/busybox:test}
SLURM_DIR=$INFRA_DIR/slurm
export SLURM_CONF=$SLURM_DIR/slurm.conf
mkdir -p "$INFRA_DIR"
ts() { date +%s.%N; }
since() { echo "$(ts) - $1" | bc; }
# wait_for <seconds> <cmd...> : poll every 0.1 s until cmd succeeds or the wall-clock deadline passes
wait_for() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

apt_install() {  # only runs apt when something is missing
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$INFRA_DIR/apt.log" 2>&1 \
    || { tail -20 "$INFRA_DIR/apt.log"; return 1; }
}

# ---------------------------------------------------------------- Docker
docker_up() { docker version --format '{{.Server.Version}}'; }
start_docker() {
  local t0; t0=$(ts)
  apt_install docker.io busybox-static
  if docker_up >/dev/null 2>&1; then echo "docker: already running"; return 0; fi
  setsid dockerd >"$INFRA_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$INFRA_DIR/dockerd.bgpid"
  if wait_for 60 docker_up; then echo "docker: ready after $(since "$t0") s (pid $(cat "$INFRA_DIR/dockerd.bgpid"))"
  else echo "docker: not ready after 60 s"; tail -20 "$INFRA_DIR/dockerd.log"; return 1; fi
}

build_image() {  # FROM scratch + static busybox; no registry needed
  local t0 d; t0=$(ts); d=$(mktemp -d)
  cp /bin/busybox "$d/busybox"
  printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' 'RUN ["/bin/busybox", "--install", "-s", "/bin"]' \
    'ENV PATH=/bin' 'CMD ["/bin/sh"]' >"$d/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$TEST_IMAGE" "$d" >/dev/null
  rm -rf "$d"
  echo "image: $TEST_IMAGE built in $(since "$t0") s"
}

# ---------------------------------------------------------------- Slurm
munge_ok() { munge -n | unmunge; }
node_ready() { sinfo -h -N -o '%T' | grep -qE '^(idle|mixed|allocated)$'; }

start_slurm() {
  local t0 H MEM NG; t0=$(ts)
  [ -f "$SLURM_DIR/slurmctld.bgpid" ] && stop_slurm   # re-run: stop OUR previous daemons first
  apt_install munge slurmctld slurmd slurm-client
  echo "slurm: packages present after $(since "$t0") s"
  # munge: key (Debian's postinst normally creates it), runtime dir, daemon as user munge (forks; pid in /run/munge/munged.pid)
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  munge_ok >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
  wait_for 10 munge_ok || { echo "munge not working"; return 1; }
  H=$(hostname -s)
  MEM=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
  NG=${SLURM_GPUS:-2}
  rm -rf "$SLURM_DIR"; mkdir -p "$SLURM_DIR"/{state,spool,dev,jobs}
  # fake GPUs: gres/gpu drops File-less GPUs ("Removing file-less GPU"), so give it char-device nodes
  for n in $(seq 0 $((NG - 1))); do mknod "$SLURM_DIR/dev/nvidia$n" c 195 "$n"; done
  cat >"$SLURM_CONF" <<EOF
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
DependencyParameters=kill_invalid_depend
ReturnToService=2
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_DIR/jobcomp.log
MinJobAge=3600
KillWait=5
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=$H NodeAddr=127.0.0.1 CPUs=${SLURM_CPUS:-$(nproc)} RealMemory=$MEM Gres=gpu:$NG State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  echo "NodeName=$H Name=gpu File=$SLURM_DIR/dev/nvidia[0-$((NG - 1))]" >"$SLURM_DIR/gres.conf"
  if [ "${SLURM_ACCOUNTING:-0}" = 1 ]; then start_slurmdbd "$H"; fi
  setsid slurmctld -D -c >"$SLURM_DIR/slurmctld.out" 2>&1 </dev/null & echo $! >"$SLURM_DIR/slurmctld.bgpid"
  setsid slurmd -D >"$SLURM_DIR/slurmd.out" 2>&1 </dev/null & echo $! >"$SLURM_DIR/slurmd.bgpid"
  if wait_for 60 node_ready; then echo "slurm: node $H $(sinfo -h -N -o %T) after $(since "$t0") s (SLURM_CONF=$SLURM_CONF)"
  else echo "slurm: node not ready"; sinfo -N -o '%N %T %E' || true; tail -20 "$SLURM_DIR/slurmctld.log" "$SLURM_DIR/slurmd.log"; return 1; fi
}

# optional: real accounting (plain sacct) = MariaDB + slurmdbd; DB files under $INFRA_DIR/mysql
db_ok() { mariadb -uroot -e 'select 1'; }
start_slurmdbd() {
  local H=$1 t0; t0=$(ts)
  apt_install slurmdbd mariadb-server
  install -d -o mysql -g mysql "$INFRA_DIR/mysql" /run/mysqld
  if ! db_ok >/dev/null 2>&1; then
    [ -d "$INFRA_DIR/mysql/mysql" ] || mariadb-install-db --user=mysql --datadir="$INFRA_DIR/mysql" \
        --auth-root-authentication-method=socket --skip-test-db >"$INFRA_DIR/mysql-install.log" 2>&1
    # --pid-file must be writable by user mysql (else "Can't create PID file: Permission denied" and exit)
    setsid mariadbd --user=mysql --datadir="$INFRA_DIR/mysql" --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 --skip-name-resolve \
        --innodb-buffer-pool-size=64M >"$INFRA_DIR/mysqld.out" 2>&1 </dev/null &
    echo $! >"$INFRA_DIR/mysqld.bgpid"
    wait_for 30 db_ok || { tail "$INFRA_DIR/mysqld.out"; return 1; }
  fi
  mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat >"$SLURM_DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=$H
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$SLURM_DIR/slurmdbd.log
PidFile=$SLURM_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$SLURM_DIR/slurmdbd.conf"   # slurmdbd wants it private to SlurmUser
  sed -i -e 's|^AccountingStorageType=.*|AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\nAccountingStoragePort=6819|' \
         -e 's|^JobAcctGatherType=.*|JobAcctGatherType=jobacct_gather/linux|' "$SLURM_CONF"
  setsid slurmdbd -D >"$SLURM_DIR/slurmdbd.out" 2>&1 </dev/null & echo $! >"$SLURM_DIR/slurmdbd.bgpid"
  wait_for 30 sacctmgr -n list cluster || { tail "$SLURM_DIR/slurmdbd.log"; return 1; }
  sacctmgr -n list cluster format=cluster | grep -qw ci || sacctmgr -i add cluster ci >/dev/null
  echo "slurmdbd: ready after $(since "$t0") s"
}

stop_slurm() {  # by PID only (our own pid files)
  local f p
  for f in "$SLURM_DIR/slurmd.bgpid" "$SLURM_DIR/slurmctld.bgpid" "$SLURM_DIR/slurmdbd.bgpid" \
           "$INFRA_DIR/mysqld.bgpid" /run/munge/munged.pid; do
    [ -f "$f" ] || continue; p=$(cat "$f")
    kill -TERM "$p" 2>/dev/null || { rm -f "$f"; continue; }
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p"
    echo "stopped $(basename "$f") ($p)"; rm -f "$f"
  done
}

case "${1:-all}" in
  docker) start_docker ;;
  image) build_image ;;
  slurm) start_slurm ;;
  stop-slurm) stop_slurm ;;
  all) start_docker; build_image; start_slurm ;;
  test-image) start_docker; bash "$(dirname "$0")/../scripts/build-test-image.sh" ;;
  *) echo "usage: $0 docker|image|test-image|slurm|stop-slurm|all"; exit 2 ;;
esac
