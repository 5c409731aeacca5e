#!/bin/sh
# Entry point of the stampede-stack image (deploy/stack-image.sh): runs one of
# the servers of deploy/compose.stack.yaml in the foreground, as the image's
# user (999). Trust authentication: the servers are reachable only on the
# project's private network.
#
#   stack-entry postgres | pgbouncer | redis | version
#
# Environment: STACK_PG_MAX_CONNECTIONS (600), STACK_PG_HOST (postgres),
# STACK_PGBOUNCER_POOL (20), STACK_PGBOUNCER_MAX_CLIENTS (5000).
set -eu
data=/var/lib/stack

case "${1:-version}" in
postgres)
  pgdata=$data/pg
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    initdb -D "$pgdata" -U shop --auth=trust -E UTF8 --locale=C >/dev/null
    cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/tmp'
max_connections = ${STACK_PG_MAX_CONNECTIONS:-600}
shared_buffers = 256MB
# The rehearsal machine's disk is not the subject.
synchronous_commit = off
work_mem = 8MB
max_wal_size = 4GB
CONF
    echo "host all all 0.0.0.0/0 trust" >>"$pgdata/pg_hba.conf"
    echo "CREATE DATABASE shop OWNER shop" | postgres --single -D "$pgdata" postgres >/dev/null
  fi
  exec postgres -D "$pgdata"
  ;;
pgbouncer)
  echo '"shop" ""' >"$data/userlist.txt"
  cat >"$data/pgbouncer.ini" <<CONF
[databases]
shop = host=${STACK_PG_HOST:-postgres} port=5432 dbname=shop user=shop

[pgbouncer]
listen_addr = *
listen_port = 6432
unix_socket_dir =
auth_type = trust
auth_file = $data/userlist.txt
admin_users = shop
stats_users = shop
pool_mode = transaction
default_pool_size = ${STACK_PGBOUNCER_POOL:-20}
max_client_conn = ${STACK_PGBOUNCER_MAX_CLIENTS:-5000}
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
log_connections = 0
log_disconnections = 0
CONF
  exec pgbouncer "$data/pgbouncer.ini"
  ;;
redis)
  exec redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --save '' --appendonly no --maxclients 10000
  ;;
version)
  postgres --version
  pgbouncer --version | while read -r line; do echo "$line"; break; done
  redis-server --version
  ;;
*)
  echo "stack-entry: unknown server '$1' (postgres, pgbouncer, redis or version)" >&2
  exit 2
  ;;
esac
