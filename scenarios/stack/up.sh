#!/usr/bin/env bash
# A throwaway PostgreSQL + PgBouncer + Redis for tests and benchmarks, from the Debian packages
# (postgresql 15, pgbouncer 1.18, redis-server 7.0: `apt-get install postgresql pgbouncer redis-server`),
# in a temporary directory. Everything listens on 127.0.0.1 only (plus Unix sockets inside DIR).
#
#   scenarios/stack/up.sh [DIR]       # DIR must not exist or be empty; default: a fresh /tmp/stampede-stack.XXXXXX
#   eval "$(scenarios/stack/up.sh)"   # or: . DIR/env
#   scenarios/stack/down.sh "$STACK_DIR"
#
#   PostgreSQL  initdb -U shop --auth=trust; database shop owned by superuser shop; synchronous_commit=off
#   PgBouncer   transaction pooling in front of it (auth trust, user shop); admin console: database pgbouncer
#   Redis       no persistence (save '', appendonly no)
#
# Writes DIR/env (sourceable): export STACK_DIR, DATABASE_URL (PostgreSQL itself), PGBOUNCER_URL,
# PGBOUNCER_ADMIN_URL, REDIS_URL. stdout is exactly those export lines and, as the last line,
# `STACK_DIR=DIR`; progress goes to stderr. Logs: DIR/pg.log, DIR/pgbouncer.log, DIR/redis.log.
#
# As root every server runs as the `postgres` system user (PostgreSQL and PgBouncer refuse root; the
# Debian postgresql package creates the user) and DIR is owned by it; otherwise as the current user.
# If that user cannot reach DIR (say, inside a 0700 directory of root's) or DIR is too long for a Unix
# socket path, the files live in a fresh /tmp/stampede-stack.XXXXXX and DIR is made a symlink to it
# (down.sh removes both).
#
# Environment overrides [default]:
#   STACK_PG_PORT, STACK_PGBOUNCER_PORT, STACK_REDIS_PORT   [free ports on 127.0.0.1, chosen at run time]
#   STACK_PG_MAX_CONNECTIONS      PostgreSQL max_connections [600]
#   STACK_PGBOUNCER_POOL          PgBouncer default_pool_size [20]
#   STACK_PGBOUNCER_MAX_CLIENTS   PgBouncer max_client_conn [5000]; each client is a file descriptor,
#                                 and the soft open-files limit is raised to the hard one (20,000 here)
#   STACK_WAIT                    seconds to wait for each server to answer [30]
#
# Exit 0 when all three answer; 1 when one does not (the tail of its log is printed and whatever had
# started is torn down, DIR removed); 2 for a usage error or a missing package.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATH=$PATH:/usr/sbin:/sbin # pgbouncer and runuser live in /usr/sbin, often not in a user's PATH
say() { printf 'stack: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  say "error: $*"
  exit "$code"
}

case ${1:-} in
-h | --help)
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 0
  ;;
esac
(($# <= 1)) || die 2 "usage: $0 [DIR]"

# Connection settings from the caller's environment must not steer the clients used here.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE \
  PGOPTIONS PGDATA PGSSLMODE PGCONNECT_TIMEOUT REDISCLI_AUTH

number() { # NAME DEFAULT → the value of $NAME (or DEFAULT), checked to be a number
  local v=${!1:-$2}
  [[ $v =~ ^[0-9]+$ ]] || die 2 "$1 must be a number, not '$v'"
  printf '%s' "$v"
}
PG_MAX_CONNECTIONS=$(number STACK_PG_MAX_CONNECTIONS 600)
POOL=$(number STACK_PGBOUNCER_POOL 20)
MAX_CLIENTS=$(number STACK_PGBOUNCER_MAX_CLIENTS 5000)
WAIT=$(number STACK_WAIT 30)

# --- binaries --------------------------------------------------------------------------------------
PGBIN= # the highest /usr/lib/postgresql/<major>/bin (Debian keeps the server binaries off PATH)
best=-1
for d in /usr/lib/postgresql/*/bin; do
  v=${d#/usr/lib/postgresql/}
  v=${v%/bin}
  if [[ $v =~ ^[0-9]+$ && -x $d/postgres ]] && ((v > best)); then
    PGBIN=$d
    best=$v
  fi
done
declare -A BIN
declare -A PACKAGE=([postgres]=postgresql [initdb]=postgresql [pg_ctl]=postgresql
  [pg_isready]=postgresql-client [psql]=postgresql-client [pgbouncer]=pgbouncer
  [redis-server]=redis-server [redis-cli]=redis-tools)
missing=()
for name in postgres initdb pg_ctl pg_isready psql pgbouncer redis-server redis-cli; do
  if [[ -n $PGBIN && -x $PGBIN/$name ]]; then
    BIN[$name]=$PGBIN/$name
  elif path=$(command -v "$name"); then
    BIN[$name]=$path
  else
    missing+=("$name (package ${PACKAGE[$name]})")
  fi
done
if ((${#missing[@]})); then
  say "error: not found: $(printf '%s, ' "${missing[@]}" | sed 's/, $//')"
  say "install the Debian packages: sudo apt-get install postgresql pgbouncer redis-server"
  exit 2
fi

# --- who runs the servers --------------------------------------------------------------------------
if ((EUID == 0)); then
  getent passwd postgres >/dev/null ||
    die 2 "running as root, but there is no 'postgres' system user to run the servers as (PostgreSQL" \
      "and PgBouncer refuse root; the Debian postgresql package creates it): install postgresql," \
      "or create the user (adduser --system --group postgres), or run as a non-root user"
  RUN_USER=postgres
  if command -v runuser >/dev/null; then
    AS=(runuser -u postgres --)
  elif command -v setpriv >/dev/null; then
    AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  else
    die 2 "running as root, but neither runuser nor setpriv (package util-linux) is there to drop to postgres"
  fi
else
  RUN_USER=$(id -un)
  AS=()
fi

# --- ports -----------------------------------------------------------------------------------------
free_ports() { # N distinct TCP ports on 127.0.0.1 that were free a moment ago
  if command -v python3 >/dev/null && python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1" 2>/dev/null; then
    return
  fi
  local ports=() p # no python3: random ports nothing answers on
  while ((${#ports[@]} < $1)); do
    p=$((20000 + RANDOM % 12000))
    if [[ " ${ports[*]} " != *" $p "* ]] && ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      ports+=("$p")
    fi
  done
  echo "${ports[*]}"
}
read -r -a chosen <<<"$(free_ports 3)"
PG_PORT=$(number STACK_PG_PORT "${chosen[0]}")
BOUNCER_PORT=$(number STACK_PGBOUNCER_PORT "${chosen[1]}")
REDIS_PORT=$(number STACK_REDIS_PORT "${chosen[2]}")
for p in "$PG_PORT" "$BOUNCER_PORT" "$REDIS_PORT"; do
  ((p >= 1 && p <= 65535)) || die 2 "port $p is out of range"
done
[[ $PG_PORT != "$BOUNCER_PORT" && $PG_PORT != "$REDIS_PORT" && $BOUNCER_PORT != "$REDIS_PORT" ]] ||
  die 2 "the three ports must differ (postgres $PG_PORT, pgbouncer $BOUNCER_PORT, redis $REDIS_PORT)"

# --- directory -------------------------------------------------------------------------------------
own() { if ((EUID == 0)); then chown -R postgres: "$@"; fi; }
if [[ -n ${1:-} ]]; then
  DIR=$1
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  while [[ $DIR == */ && $DIR != / ]]; do DIR=${DIR%/}; done
  # It goes unquoted into postgresql.conf, pgbouncer.ini, DIR/env and URLs: keep it plain.
  [[ $DIR =~ ^/[A-Za-z0-9._/+@%,=-]*[A-Za-z0-9._+@%,=-]$ ]] ||
    die 2 "DIR must be a plain path (letters, digits and ._/+@%,=-), not '$DIR'"
  if [[ -e $DIR || -L $DIR ]]; then
    [[ -d $DIR && ! -L $DIR ]] || die 2 "$DIR exists and is not a directory"
    [[ -z $(ls -A "$DIR") ]] || die 2 "$DIR exists and is not empty"
  else
    mkdir -p "$DIR"
  fi
else
  DIR=$(mktemp -d /tmp/stampede-stack.XXXXXX)
fi
chmod 755 "$DIR"
own "$DIR"
P=$(cd "$DIR" && pwd -P) # where the servers' files are (DIR itself, unless it is a symlink made below)
# A Unix socket path (P/.s.PGSQL.NNNNN) has at most 107 bytes.
if ! "${AS[@]}" test -w "$P" -a -x "$P" || ((${#P} + 16 > 107)); then
  real=$(mktemp -d /tmp/stampede-stack.XXXXXX)
  chmod 755 "$real"
  own "$real"
  rmdir "$DIR"
  ln -s "$real" "$DIR"
  say "$RUN_USER cannot use $P (or the path is too long for a socket): the files are in $real, $DIR links to it"
  P=$real
fi
mkdir -m 700 "$P/pg" # initdb fills an empty directory; down.sh recognises a stack directory by pg or env
touch "$P/pg.log" "$P/pgbouncer.log" "$P/redis.log"
own "$P"
cd "$P" # the servers' working directory must be one they can reach

logs=() # the log(s) of the server being started, for the failure report
on_exit() {
  local rc=$? log
  ((rc != 0)) || return 0
  trap - EXIT INT TERM
  ((rc == 130 || rc == 143)) && logs=() # interrupted: the logs say nothing
  for log in "${logs[@]}"; do
    [[ -s $log ]] || continue
    say "last lines of $log:"
    tail -n 25 "$log" | sed 's/^/    /' >&2
  done
  say "tearing down $DIR"
  "$HERE/down.sh" "$DIR" >&2 || true
  if ((rc == 130 || rc == 143)); then exit "$rc"; fi
  exit 1
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

alive() { # PID: running, not a zombie (PID 1 of a container may never reap)
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
wait_for() { # WHAT PIDFILE LOG FAILED COMMAND...: until COMMAND succeeds; at most $WAIT s, and not
  # once the pid in PIDFILE has died or LOG has a line matching the regex FAILED
  local what=$1 pidfile=$2 log=$3 failed=$4 pid deadline=$((SECONDS + WAIT))
  shift 4
  until "$@" >/dev/null 2>&1; do
    if [[ -s $pidfile ]]; then
      pid=$(head -n 1 "$pidfile")
      if ! alive "$pid"; then
        say "$what (pid $pid) exited"
        return 1
      fi
    fi
    if [[ -n $failed ]] && grep -Eq -- "$failed" "$log"; then
      say "$what failed: $(grep -E -- "$failed" "$log" | tail -n 1)"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$what did not answer within ${WAIT}s"
      return 1
    fi
    sleep 0.2
  done
}
# PgBouncer takes each client as a file descriptor and does not raise its own limit. The soft limit is
# raised to the hard one as the server's user: runuser's PAM session (pam_limits) resets the soft limit
# (to 1024 here), so raising it in this script beforehand would not reach the server.
with_nofile() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  "${AS[@]}" bash -c 'hard=$(ulimit -Hn)
    [[ $hard != unlimited ]] || hard=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
    ulimit -Sn "$hard" 2>/dev/null || echo "stack: could not raise the open-files limit to $hard" >&2
    exec "$@"' with_nofile "$@"
}
psql_() { PGCONNECT_TIMEOUT=3 "${BIN[psql]}" -X -w -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U shop "$@"; }
# redis-cli 7.0 has no read timeout: something else on the port that never answers would hang it.
redis_ping() { [[ $(timeout 3 "${BIN[redis-cli]}" -h 127.0.0.1 -p "$REDIS_PORT" ping) == PONG ]]; }

say "$DIR: servers run as $RUN_USER"

# --- PostgreSQL ------------------------------------------------------------------------------------
logs=("$P/pg.log")
"${AS[@]}" "${BIN[initdb]}" -D "$P/pg" -U shop --auth=trust -E UTF8 --locale=C </dev/null >>"$P/pg.log" 2>&1
cat >>"$P/pg/postgresql.conf" <<EOF

# --- scenarios/stack/up.sh ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$P'
max_connections = $PG_MAX_CONNECTIONS
shared_buffers = 256MB
# The rehearsal machine's disk is not the subject: commits do not wait for the WAL flush. fsync stays
# on, so a crash can lose the last moments' transactions but never corrupts the cluster.
synchronous_commit = off
work_mem = 8MB
max_wal_size = 4GB
logging_collector = off
EOF
# shellcheck disable=SC2094 # pg_ctl's own output and the server's both append to pg.log
"${AS[@]}" "${BIN[pg_ctl]}" -D "$P/pg" -l "$P/pg.log" -w -t "$WAIT" start </dev/null >>"$P/pg.log" 2>&1
wait_for postgres "$P/pg/postmaster.pid" "$P/pg.log" '' "${BIN[pg_isready]}" -q -h 127.0.0.1 -p "$PG_PORT" -U shop -d postgres -t 2
psql_ -p "$PG_PORT" -d postgres -c 'CREATE DATABASE shop OWNER shop' </dev/null >>"$P/pg.log" 2>&1
say "postgres $("${BIN[postgres]}" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT" \
  "(max_connections $PG_MAX_CONNECTIONS; log $P/pg.log)"

# --- PgBouncer -------------------------------------------------------------------------------------
logs=("$P/pgbouncer.log")
# auth_type=trust still takes the user from auth_file.
echo '"shop" ""' >"$P/userlist.txt"
cat >"$P/pgbouncer.ini" <<EOF
;; scenarios/stack/up.sh
[databases]
shop = host=127.0.0.1 port=$PG_PORT dbname=shop user=shop

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir = $P
auth_type = trust
auth_file = $P/userlist.txt
admin_users = shop
stats_users = shop
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = $MAX_CLIENTS
max_db_connections = 0
ignore_startup_parameters = extra_float_digits,options
;; server_reset_query runs only in session pooling (server_reset_query_always = 0)
server_reset_query =
logfile = $P/pgbouncer.log
pidfile = $P/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
own "$P"
with_nofile "${BIN[pgbouncer]}" -d "$P/pgbouncer.ini" </dev/null >>"$P/pgbouncer.log" 2>&1
# PgBouncer 1.18 that cannot bind its TCP port only warns and carries on with its Unix socket alone.
wait_for pgbouncer "$P/pgbouncer.pid" "$P/pgbouncer.log" 'cannot listen on|FATAL' psql_ -p "$BOUNCER_PORT" -d shop -c 'SELECT 1'
nofile=$(awk '/^Max open files/ { print $4 }' "/proc/$(head -n 1 "$P/pgbouncer.pid")/limits" 2>/dev/null || true)
if [[ $nofile =~ ^[0-9]+$ ]] && ((nofile < MAX_CLIENTS + 2 * POOL + 32)); then
  say "warning: PgBouncer may open $nofile files, fewer than max_client_conn $MAX_CLIENTS plus its server" \
    "connections: clients beyond that are refused (raise the hard limit: ulimit -Hn)"
fi
say "pgbouncer $("${BIN[pgbouncer]}" --version | awk 'NR == 1 { print $2 }') on 127.0.0.1:$BOUNCER_PORT" \
  "(pool_mode transaction, default_pool_size $POOL, max_client_conn $MAX_CLIENTS; log $P/pgbouncer.log)"

# --- Redis -----------------------------------------------------------------------------------------
logs=("$P/redis.log")
# shellcheck disable=SC2094 # errors before daemonizing, and the server's own log lines, both append
with_nofile "${BIN[redis-server]}" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --pidfile "$P/redis.pid" --logfile "$P/redis.log" --dir "$P" --maxclients 10000 \
  --protected-mode yes </dev/null >>"$P/redis.log" 2>&1
# Redis that cannot listen exits before it writes its pidfile.
wait_for redis "$P/redis.pid" "$P/redis.log" 'aborting|FATAL|Fatal' redis_ping
say "redis $("${BIN[redis-server]}" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT" \
  "(no persistence; log $P/redis.log)"

# --- done ------------------------------------------------------------------------------------------
logs=()
cat >"$P/env" <<EOF
export STACK_DIR=$DIR
export DATABASE_URL=postgres://shop@127.0.0.1:$PG_PORT/shop
export PGBOUNCER_URL=postgres://shop@127.0.0.1:$BOUNCER_PORT/shop
export PGBOUNCER_ADMIN_URL=postgres://shop@127.0.0.1:$BOUNCER_PORT/pgbouncer
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/
EOF
own "$P"
say "up in ${SECONDS}s; environment in $DIR/env; tear down with $HERE/down.sh $DIR"
cat "$P/env"
echo "STACK_DIR=$DIR"
