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
# shellcheck source=deploy/rootfs.sh
. deploy/rootfs.sh

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

copy_libraries "$root" "$bin"
if [ "$LIBS_COPIED" -eq 0 ] && ! grep -q 'not a dynamic executable\|statically linked' <<<"$LIBS_LDD"; then
  die "could not read the libraries of $bin from ldd:
$LIBS_LDD"
fi
# The shop's temporary database (and any temporary file) goes to /tmp.
write_etc "$root" stampede 65532 /tmp

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
  "$LIBS_COPIED libraries from ldd"
