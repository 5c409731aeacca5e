# shellcheck shell=bash
# Sourced by deploy/image.sh and deploy/stack-image.sh: the pieces of a
# FROM-scratch root file system both build. Needs a `die` function.

# copy_libraries ROOT FILE…: copies every shared library the FILEs load, as
# ldd lists them (`libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`, and the
# dynamic loader as `/lib64/ld-linux-x86-64.so.2 (0x…)`; linux-vdso is the
# kernel's and has no file), to the path it is looked for at under ROOT,
# symlinks resolved. Dies naming any library missing on this machine. Sets
# LIBS_COPIED (a static FILE needs none) and LIBS_LDD (what ldd said).
copy_libraries() {
  local root="$1" path
  shift
  LIBS_LDD="$(printf '%s\0' "$@" | xargs -0 -n 50 ldd 2>&1)" || true
  if grep -q 'not found' <<<"$LIBS_LDD"; then
    die "a library is missing on this machine:
$(grep 'not found' <<<"$LIBS_LDD")"
  fi
  LIBS_COPIED=0
  while read -r path; do
    [ -n "$path" ] || continue
    [ -e "$root$path" ] && continue
    mkdir -p "$root$(dirname "$path")"
    cp -L "$path" "$root$path"
    LIBS_COPIED=$((LIBS_COPIED + 1))
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && NF == 2 {print $1}' <<<"$LIBS_LDD" | sort -u)
}

# write_etc ROOT USER UID HOME: the /etc files of an image that runs as
# USER (UID:UID), and a world-writable /tmp. Host names (Compose service
# names, agents' targets) are looked up by glibc's getaddrinfo: /etc/hosts
# first, then the resolver Docker mounts at /etc/resolv.conf. glibc 2.34+ has
# the files and dns services built in, so no libnss_*.so is needed;
# nsswitch.conf makes the order explicit.
write_etc() {
  local root="$1" user="$2" uid="$3" home="$4"
  mkdir -p "$root/etc" "$root/tmp"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/:/sbin/nologin\n%s:x:%s:%s:%s:%s:/sbin/nologin\n' "$user" "$uid" "$uid" "$user" "$home" \
    >"$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$user" "$uid" >"$root/etc/group"
  chmod 1777 "$root/tmp"
}
