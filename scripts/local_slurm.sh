#!/usr/bin/env bash
# A one-node Slurm cluster with accounting on this machine, to try and test randbench's Slurm path
# (hydra/launcher=slurm) without a real cluster. Run as root; no systemd needed.
#
#   scripts/local_slurm.sh start    # install what is missing (apt), start what is not running
#   eval "$(scripts/local_slurm.sh env)"   # SLURM_CONF for sbatch, squeue, sacct, scancel
#   randbench train -m algo=ppo seed=0,1 hydra/launcher=slurm hydra.launcher.partition=local
#   scripts/local_slurm.sh status   # which daemons run
#   scripts/local_slurm.sh stop     # stop the daemons this script started (by their PID files)
#
# Everything lives in $RANDBENCH_SLURM_DIR (default /tmp/randbench-slurm): the configs, the state
# and spool folders, the logs, the PID files, MariaDB's data. The daemons listen on their own
# ports (slurmctld 16817, slurmd 16818, slurmdbd 16819, MariaDB 13306 on 127.0.0.1) and munged on
# its own socket, so that they leave a Slurm or MariaDB already on the machine alone. `start` is
# idempotent: a daemon whose PID file names a live process is left as it is.
#
# Accounting (slurmdbd on MariaDB) is part of the cluster because submitit needs `sacct` to see
# that a cancelled job has ended; without it, a sweep with a cancelled job waits forever.
set -euo pipefail

DIR=${RANDBENCH_SLURM_DIR:-/tmp/randbench-slurm}
CLUSTER=randbench
PARTITION=local
CTLD_PORT=16817
SLURMD_PORT=16818
DBD_PORT=16819
DB_PORT=13306
DB_PASS=randbench-local
MUNGE_SOCKET=$DIR/munge/munge.socket.2
export SLURM_CONF=$DIR/etc/slurm.conf
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stopped in reverse

log() { echo "local_slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_file() {  # munged and MariaDB write theirs in folders of their own users
    case $1 in
        munged) echo "$DIR/munge/munged.pid" ;;
        mariadbd) echo "$DIR/mysql/mariadbd.pid" ;;
        *) echo "$DIR/run/$1.pid" ;;
    esac
}

pid_of() {  # the live PID of a daemon started here, or nothing
    local file pid
    file=$(pid_file "$1")
    [[ -s $file ]] || return 0
    pid=$(tr -dc '0-9' < "$file")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid" || true
}

wait_for() {  # wait_for <what> <seconds> <command...>: until the command (not a shell function) succeeds
    local what=$1 deadline=$((SECONDS + $2))
    shift 2
    while ((SECONDS < deadline)); do
        if timeout 10 "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "$what did not come up in time; see the logs in $DIR/log, $DIR/munge and $DIR/mysql"
}

install_missing() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v munged >/dev/null || missing+=(munge)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "${missing[*]} missing; run as root to install them with apt-get"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_configs() {
    mkdir -p "$DIR"/{etc,run,log,state,spool,munge,mysql}
    local host node
    host=$(hostname -s)
    # The node as slurmd itself detects it, so that the controller never drains it for a mismatch.
    node=$(slurmd -C 2>/dev/null | head -n 1 | sed -e 's/ UpTime=.*//')
    [[ $node == NodeName=* ]] || node="NodeName=$host CPUs=$(nproc) RealMemory=$(($(free -m | awk '/^Mem:/ {print $2}') * 9 / 10))"
    [[ -e $SLURM_CONF ]] || cat > "$SLURM_CONF" <<EOF
# Written by randbench's scripts/local_slurm.sh: a one-node cluster with accounting.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
KillWait=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET   # the munge socket for slurmdbd connections (sacct, sacctmgr)
JobAcctGatherType=jobacct_gather/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ ! -e $DIR/etc/slurmdbd.conf ]]; then
        cat > "$DIR/etc/slurmdbd.conf" <<EOF
# Written by randbench's scripts/local_slurm.sh: accounting in the local MariaDB.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
        chmod 600 "$DIR/etc/slurmdbd.conf"   # slurmdbd refuses a config others can read
    fi
}

start_munged() {
    [[ -n $(pid_of munged) ]] && return 0
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
    chown munge:munge "$DIR/munge"
    chmod 755 "$DIR/munge"   # clients need to reach the socket; only munge may write here
    runuser -u munge -- munged --socket="$MUNGE_SOCKET" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    wait_for munged 10 test -s "$(pid_file munged)"
    wait_for munged 10 sh -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"
}

MARIADB=(mariadb --socket="$DIR/mysql/mysqld.sock" -u root)   # a command, not a function: wait_for runs it under timeout

start_mariadbd() {
    [[ -n $(pid_of mariadbd) ]] && return 0
    if [[ ! -d $DIR/mysql/data/mysql ]]; then
        mkdir -p "$DIR/mysql/data"
        chown -R mysql:mysql "$DIR/mysql"
        mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
            --skip-test-db > "$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
    fi
    chown mysql:mysql "$DIR/mysql"
    mariadbd --user=mysql --datadir="$DIR/mysql/data" --socket="$DIR/mysql/mysqld.sock" --port=$DB_PORT \
        --bind-address=127.0.0.1 --pid-file="$(pid_file mariadbd)" --log-error="$DIR/mysql/mariadb.log" \
        > /dev/null 2>&1 &
    wait_for MariaDB 60 "${MARIADB[@]}" -e "SELECT 1"
    "${MARIADB[@]}" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start_slurmdbd() {
    [[ -n $(pid_of slurmdbd) ]] && return 0
    slurmdbd
    wait_for slurmdbd 60 sacctmgr -n list cluster
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
}

start_slurmctld() {
    [[ -n $(pid_of slurmctld) ]] && return 0
    slurmctld
    wait_for slurmctld 30 scontrol ping
}

start_slurmd() {
    [[ -n $(pid_of slurmd) ]] && return 0
    slurmd
    wait_for "the node" 60 sh -c "sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'"
}

start() {
    [[ $(id -u) -eq 0 ]] || die "start needs root (the daemons run as root or as their own users)"
    install_missing
    write_configs
    local daemon
    for daemon in "${DAEMONS[@]}"; do "start_$daemon"; done
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true   # a node left down by a crash
    log "cluster '$CLUSTER' up: partition '$PARTITION'; export SLURM_CONF=$SLURM_CONF"
}

stop() {
    local i daemon pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        daemon=${DAEMONS[i]}
        pid=$(pid_of "$daemon")
        [[ -z $pid ]] && continue
        kill "$pid"
        for ((j = 0; j < 300; j++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "$daemon ($pid) did not stop; killing it"; kill -9 "$pid"; }
        rm -f "$(pid_file "$daemon")"
        log "stopped $daemon ($pid)"
    done
}

status() {
    local daemon pid down=0
    for daemon in "${DAEMONS[@]}"; do
        pid=$(pid_of "$daemon")
        if [[ -n $pid ]]; then echo "$daemon running ($pid)"; else echo "$daemon stopped"; down=1; fi
    done
    return $down
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
