# Sourced by the bench scripts: nginx serving a 2 KB file with keep-alive on one core.
#   start_nginx WORK PORT CPU [WORKERS]
#       writes WORK/index.html and WORK/nginx.conf, starts nginx pinned to CPU (its pid in
#       WORK/nginx.pid; the caller kills it) and waits until it answers. WORKERS (default 1) worker
#       processes share the port (reuseport), each with its own 20,000 open files: 4 hold 50,000
#       keep-alive connections.
start_nginx() {
  local work=$1 port=$2 cpu=$3 workers=${4:-1}
  head -c 2048 /dev/zero | tr '\0' 'x' >"$work/index.html"
  cat >"$work/nginx.conf" <<CONF
user root;
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port backlog=16384 reuseport;
    root $work;
    location / { }
  }
}
CONF
  taskset -c "$cpu" nginx -c "$work/nginx.conf" -p "$work"
  sleep 0.5
  curl -fs "http://127.0.0.1:$port/index.html" >/dev/null
}
