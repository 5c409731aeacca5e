#!/usr/bin/env bash
# Builds stampede-stack:latest: PostgreSQL, PgBouncer and Redis for
# deploy/compose.stack.yaml, from the Debian packages installed on this
# machine (postgresql, pgbouncer, redis-server), with no base image and no
# registry: the servers' binaries, exactly the shared libraries they load
# (ldd), PostgreSQL's share files, the time zone data, a POSIX shell for the
# entry script (deploy/stack/entry.sh), FROM scratch.
#
#   deploy/stack-image.sh
#   docker run --rm stampede-stack:latest version
#
# Runs again safely (the context is rebuilt each time; Docker's layer cache
# makes an unchanged image a no-op). The servers run as 999:999 ("stack").
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "deploy/stack-image.sh: $*" >&2
  exit 1
}
# shellcheck source=deploy/rootfs.sh
. deploy/rootfs.sh

command -v docker >/dev/null 2>&1 || die "the docker command is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (docker info failed)"
pgbin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$pgbin" ] || [ ! -x "$pgbin/postgres" ]; then
  die "PostgreSQL is not installed (Debian: apt-get install postgresql)"
fi
pgver="$(basename "$(dirname "$pgbin")")"
pgbouncer="$(command -v pgbouncer)" || die "PgBouncer is not installed (Debian: apt-get install pgbouncer)"
redis="$(command -v redis-server)" || die "Redis is not installed (Debian: apt-get install redis-server)"
[ -d "/usr/share/postgresql/$pgver" ] || die "/usr/share/postgresql/$pgver is missing (package postgresql-$pgver)"

ctx="${CARGO_TARGET_DIR:-target}/stack-image-context"
rm -rf "$ctx"
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/bin" "$ctx/home"

# The programs: PostgreSQL's whole bin directory (initdb runs postgres, and
# pg_isready is the health check), its lib directory (plpgsql and the other
# modules initdb loads), PgBouncer, Redis, and the shell and the few tools the
# entry script uses.
mkdir -p "$root$(dirname "$pgbin")" "$root/usr/share/postgresql"
cp -a "$pgbin" "$root$pgbin"
cp -a "$(dirname "$pgbin")/lib" "$root$(dirname "$pgbin")/lib"
# Without the JIT provider (it alone loads libLLVM, ~100 MB) PostgreSQL plans without JIT.
rm -rf "$root$(dirname "$pgbin")/lib/llvmjit"* "$root$(dirname "$pgbin")/lib/bitcode"
cp -a "/usr/share/postgresql/$pgver" "$root/usr/share/postgresql/$pgver"
# The servers run in UTC (TZ=UTC); PostgreSQL reads the system's time zone data.
mkdir -p "$root/usr/share/zoneinfo"
cp -a /usr/share/zoneinfo/UTC /usr/share/zoneinfo/Etc /usr/share/zoneinfo/GMT "$root/usr/share/zoneinfo/"
mkdir -p "$root/usr/sbin" "$root/usr/bin"
cp -L "$pgbouncer" "$root/usr/sbin/pgbouncer"
cp -L "$redis" "$root/usr/bin/redis-server"
tools=(/bin/sh /bin/mkdir /bin/cat /bin/ls)
for t in "${tools[@]}"; do cp -L "$t" "$root/bin/$(basename "$t")"; done
cp deploy/stack/entry.sh "$root/usr/local/bin/stack-entry"
chmod 755 "$root/usr/local/bin/stack-entry"

# Every shared library any of them loads, at the path it is looked for.
mapfile -d '' programs < <(find "$root" -type f \( -perm -u+x -o -name '*.so*' \) -print0)
copy_libraries "$root" "${programs[@]}"
[ "$LIBS_COPIED" -gt 0 ] || die "could not read the servers' libraries from ldd"
write_etc "$root" stack 999 /var/lib/stack

cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
# The servers' data and configuration: the image's user's, also on a fresh volume.
COPY --chown=999:999 home/ /var/lib/stack/
LABEL org.opencontainers.image.title="stampede-stack" \\
      org.opencontainers.image.description="PostgreSQL $pgver, PgBouncer and Redis from Debian packages"
ENV PATH=$pgbin:/usr/sbin:/usr/bin:/bin TZ=UTC LANG=C
USER 999:999
WORKDIR /var/lib/stack
ENTRYPOINT ["/usr/local/bin/stack-entry"]
CMD ["version"]
EOF

docker build -q -t stampede-stack:latest "$ctx" >/dev/null || die "docker build failed (context: $ctx)"
docker run --rm --pull=never stampede-stack:latest version >/dev/null ||
  die "the image does not run: docker run --rm stampede-stack:latest version failed"
size="$(docker image inspect -f '{{.Size}}' stampede-stack:latest)"
echo "stampede-stack:latest: PostgreSQL $pgver, $("$pgbouncer" --version | head -1), Redis $("$redis" --version | sed 's/.*v=\([^ ]*\).*/\1/'):" \
  "$((size / 1024 / 1024)) MiB, $LIBS_COPIED libraries from ldd"
