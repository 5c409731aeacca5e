#!/usr/bin/env bash
# Tears down a stack started by scenarios/stack/up.sh and removes its directory.
#
#   scenarios/stack/down.sh DIR
#
# Stops PgBouncer and Redis (SIGTERM to the pid in their pidfiles, SIGKILL after 10 s), PostgreSQL
# (pg_ctl stop -m fast, as the data directory's owner when root; signals if that fails), then any
# postgres/pgbouncer/redis-server process still working in DIR or naming it; then removes DIR (and the
# directory it points to, when up.sh made it a symlink). Each step is best effort with bounded waits, so
# a partly started or already stopped stack is fine, and a DIR that does not exist is nothing to do.
# Exit 0 when nothing is left running; 1 when something is (DIR is kept); 2 for a DIR that is not empty
# and has neither `env` nor `pg` inside (so that a wrong argument cannot rm -rf something else).
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
say() { printf 'stack: %s\n' "$*" >&2; }

if (($# != 1)) || [[ -z $1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
DIR=$1
if [[ ! -e $DIR ]]; then
  if [[ -L $DIR ]]; then rm -f "$DIR"; fi # a symlink to a directory already removed
  say "$DIR does not exist: nothing to stop"
  exit 0
fi
[[ -d $DIR ]] || {
  say "error: $DIR is not a directory"
  exit 2
}
P=$(cd "$DIR" && pwd -P)
if [[ $P == / ]] || { [[ ! -e $P/env && ! -e $P/pg ]] && [[ -n $(ls -A "$P") ]]; }; then
  say "error: refusing $DIR: not empty, and no env or pg inside, so not a stack directory of up.sh"
  exit 2
fi
cd /

alive() { # PID: running, not a zombie (PID 1 of a container may never reap)
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
is() { # PID COMM
  local comm
  { read -r comm <"/proc/$1/comm"; } 2>/dev/null && [[ $comm == "$2" ]]
}
gone() { # SECONDS PID...: wait until none is alive
  local deadline=$((SECONDS + $1)) pid
  shift
  for pid in "$@"; do
    while alive "$pid"; do
      ((SECONDS < deadline)) || return 1
      sleep 0.1
    done
  done
}
pid_in() { # PIDFILE → its pid, if it names a live process called COMM
  local pid
  [[ -s $1 ]] || return 1
  pid=$(head -n 1 "$1" | tr -cd 0-9)
  [[ -n $pid ]] && alive "$pid" && is "$pid" "$2" && echo "$pid"
}
terminate() { # NAME PID: SIGTERM, then SIGKILL after 10 s
  kill -TERM "$2" 2>/dev/null || true
  gone 10 "$2" && return
  say "$1 (pid $2) still running 10 s after SIGTERM: SIGKILL"
  kill -KILL "$2" 2>/dev/null || true
  gone 5 "$2" || true
}

# PgBouncer first, so that it lets go of its server connections before PostgreSQL stops.
if pid=$(pid_in "$P/pgbouncer.pid" pgbouncer); then terminate pgbouncer "$pid"; fi
if pid=$(pid_in "$P/redis.pid" redis-server); then terminate redis "$pid"; fi

if pid=$(pid_in "$P/pg/postmaster.pid" postgres); then
  AS=()
  owner=$(stat -c %U "$P/pg")
  if ((EUID == 0)) && [[ $owner != root ]]; then
    if command -v runuser >/dev/null; then
      AS=(runuser -u "$owner" --)
    else
      AS=(setpriv --reuid="$owner" --regid="$(id -g "$owner")" --init-groups --)
    fi
  fi
  pg_ctl=
  version=$(cat "$P/pg/PG_VERSION" 2>/dev/null || true)
  if [[ -x /usr/lib/postgresql/$version/bin/pg_ctl ]]; then
    pg_ctl=/usr/lib/postgresql/$version/bin/pg_ctl
  elif command -v pg_ctl >/dev/null; then
    pg_ctl=$(command -v pg_ctl)
  fi
  if [[ -n $pg_ctl ]]; then
    "${AS[@]}" "$pg_ctl" -D "$P/pg" -m fast -w -t 30 -s stop </dev/null >&2 || true
  fi
  if alive "$pid"; then # no pg_ctl, or it failed: fast shutdown (SIGINT), then immediate (SIGQUIT)
    kill -INT "$pid" 2>/dev/null || true
    gone 10 "$pid" || { kill -QUIT "$pid" 2>/dev/null || true; }
    gone 5 "$pid" || { kill -KILL "$pid" 2>/dev/null || true; }
    gone 5 "$pid" || true
  fi
fi

leftovers() { # live postgres/pgbouncer/redis-server processes working in P or naming it (no forks per process)
  local d pid comm cwd cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    { read -r comm <"$d/comm"; } 2>/dev/null || continue
    case $comm in
    postgres | pgbouncer | redis-server) ;;
    *) continue ;;
    esac
    cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=
    { mapfile -d '' -t cmd <"$d/cmdline"; } 2>/dev/null || cmd=()
    if [[ $cwd == "$P" || $cwd == "$P"/* || " ${cmd[*]} " == *"$P/"* ]] && alive "$pid"; then
      echo "$pid"
    fi
  done
}
mapfile -t left < <(leftovers)
if ((${#left[@]})); then
  say "still running in $P: pids ${left[*]}: SIGTERM"
  kill -TERM "${left[@]}" 2>/dev/null || true
  if ! gone 5 "${left[@]}"; then
    kill -KILL "${left[@]}" 2>/dev/null || true
    gone 5 "${left[@]}" || true
  fi
  mapfile -t left < <(leftovers)
  if ((${#left[@]})); then
    say "error: still running in $P: pids ${left[*]}; $DIR kept"
    exit 1
  fi
fi

rm -rf "$P"
if [[ -L $DIR ]]; then rm -f "$DIR"; fi
say "stopped and removed $DIR"
