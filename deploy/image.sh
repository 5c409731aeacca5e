#!/usr/bin/env bash
# Builds the Stampede container image from this tree, with no base image and
# no registry: the release binary plus exactly the shared libraries it loads
# (ldd's list, dynamic loader included) and a few /etc files, FROM scratch.
#
#   deploy/image.sh            # tags stampede:VERSION and stampede:latest
#   docker run --rm stampede:latest --version
#
# Runs again safely: the build context is rebuilt from scratch each time and
# Docker's layer cache makes an unchanged image a no-op. Honours
# CARGO_TARGET_DIR. The image runs as 65532:65532 (no root, no shell).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "deploy/image.sh: $*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "the docker command is not installed (Docker Engine is needed to build the image)"
docker info >/dev/null 2>&1 ||
  die "cannot reach the Docker daemon (docker info failed: is it running, and may this user use it?)"
command -v ldd >/dev/null 2>&1 || die "ldd is not installed (it lists the libraries to copy; Debian: libc-bin)"

# 1. The release binary.
cargo build --release --locked -p stampede
bin="${CARGO_TARGET_DIR:-target}/release/stampede"
[ -x "$bin" ] || die "cargo built no $bin"
version="$("$bin" --version | awk '{print $2}')"
[ -n "$version" ] || die "$bin --version printed no version"

# 2. The build context: a root file system holding only what the binary needs.
ctx="${CARGO_TARGET_DIR:-target}/image-context"
rm -rf "$ctx"
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$ctx/results"
cp "$bin" "$root/usr/local/bin/stampede"
# The release profile keeps line tables (debug = 1) for backtraces; the image
# does without them (146 MB -> about 20 MB).
if command -v strip >/dev/null 2>&1; then
  strip "$root/usr/local/bin/stampede"
else
  echo "deploy/image.sh: strip not found (binutils): the image keeps the debug info" >&2
fi

# ldd prints `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` for each
# library and `/lib64/ld-linux-x86-64.so.2 (0x…)` for the loader (the
# binary's PT_INTERP path); linux-vdso is the kernel's and has no file.
# Each is copied to the path the binary looks for it at, symlinks resolved.
libs="$(ldd "$bin" 2>&1)" || true
if grep -q 'not a dynamic executable\|statically linked' <<<"$libs"; then
  libs=""
elif grep -q 'not found' <<<"$libs"; then
  die "a library of $bin is missing on this machine:
$libs"
fi
copied=0
while read -r path; do
  [ -n "$path" ] || continue
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
  copied=$((copied + 1))
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$libs")
if [ -n "$libs" ] && [ "$copied" -eq 0 ]; then
  die "could not read the libraries of $bin from ldd:
$libs"
fi

# Host names (Compose service names, agents' targets) are looked up by
# glibc's getaddrinfo: /etc/hosts first, then the resolver Docker mounts at
# /etc/resolv.conf. glibc 2.34+ has the files and dns services built in, so
# no libnss_*.so is needed; nsswitch.conf makes the order explicit.
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
echo 'root:x:0:0:root:/:/sbin/nologin
stampede:x:65532:65532:stampede:/tmp:/sbin/nologin' >"$root/etc/passwd"
echo 'root:x:0:
stampede:x:65532:' >"$root/etc/group"
# The shop's temporary database (and any temporary file) goes to /tmp.
chmod 1777 "$root/tmp"

revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
# /results belongs to the image's user, so a fresh named volume mounted there
# (deploy/compose.yaml) is writable by it.
COPY --chown=65532:65532 results/ /results/
LABEL org.opencontainers.image.title="stampede" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.revision="$revision"
ENV TMPDIR=/tmp
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/stampede"]
CMD ["--help"]
EOF

# 3. The image.
docker build -q -t "stampede:$version" -t stampede:latest "$ctx" >/dev/null ||
  die "docker build failed (context: $ctx)"
docker run --rm --pull=never stampede:latest --version >/dev/null || die "the image does not run: docker run --rm stampede:latest --version failed"

size="$(docker image inspect -f '{{.Size}}' stampede:latest)"
echo "stampede:$version (and :latest), revision $revision: $((size / 1024 / 1024)) MiB ($size bytes)," \
  "$copied libraries from ldd"
