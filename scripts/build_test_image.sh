#!/usr/bin/env bash
# Build (once) a Docker image rootfs holding a real tritonserver, for the docker launcher's
# tests and CI. Nothing can be pulled from a container registry here (DESIGN.md §10), so the
# image is made from Debian packages (debootstrap, from the apt mirror) plus the tritonserver
# binary and python backend of the nvidia-pytriton wheel already installed in .venv.
#
# Layout inside the image, mirroring NGC's tritonserver image where it matters:
#   /opt/pytriton/pytriton/tritonserver/…  and  /opt/pytriton/nvidia_pytriton.libs/
#       (the wheel's relative layout: the binary's RPATH is $ORIGIN/../../../nvidia_pytriton.libs)
#   /opt/tritonserver/bin/tritonserver       a wrapper that execs the real binary (a symlink
#                                            would break the RPATH)
#   /opt/tritonserver/backends/python/       links to libtriton_python.so, the utils and the
#                                            Python 3.11 stub (Triton's default backend dir)
#
# Usage: scripts/build_test_image.sh [--import IMAGE:TAG]
#   prints the cached tarball path (~/.cache/triton-gate/images/…, keyed by the wheel version
#   and this script's hash); with --import, also `docker import`s it into the engine at
#   $DOCKER_HOST under IMAGE:TAG. Needs root and debootstrap (apt-get install debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${GATE_PYTHON:-.venv/bin/python}"
IMPORT_AS=""
if [ "${1:-}" = "--import" ]; then IMPORT_AS="${2:?--import needs IMAGE:TAG}"; fi

SITE=$("$PY" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent.parent)')
VER=$("$PY" -c 'from importlib.metadata import version; print(version("nvidia-pytriton"))')
HASH=$(sha256sum "$0" | cut -c1-12)
CACHE="${GATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/triton-gate}/images"
TARBALL="$CACHE/tritonserver-pytriton-$VER-bookworm-$HASH.tar"
mkdir -p "$CACHE"

build() {
  local root
  root=$(mktemp -d "$CACHE/.rootfs-XXXXXX")
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase --include=python3,python3-numpy,libpython3.11 \
    bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; return 1; }
  rm -f "$root.log"
  mkdir -p "$root/opt/pytriton/pytriton" "$root/opt/tritonserver/bin" \
    "$root/opt/tritonserver/backends/python"
  cp -a "$SITE/pytriton/tritonserver" "$root/opt/pytriton/pytriton/"
  cp -a "$SITE/nvidia_pytriton.libs" "$root/opt/pytriton/"
  rm -rf "$root/opt/pytriton/pytriton/tritonserver/backends/python/__pycache__"
  local ts=/opt/pytriton/pytriton/tritonserver
  printf '#!/bin/sh\nexec %s/bin/tritonserver "$@"\n' "$ts" >"$root/opt/tritonserver/bin/tritonserver"
  chmod 755 "$root/opt/tritonserver/bin/tritonserver"
  ln -s "$ts/backends/python/libtriton_python.so" "$root/opt/tritonserver/backends/python/"
  ln -s "$ts/backends/python/triton_python_backend_utils.py" "$root/opt/tritonserver/backends/python/"
  ln -s "$ts/python_backend_stubs/3.11/triton_python_backend_stub" "$root/opt/tritonserver/backends/python/"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" --numeric-owner -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
}

# One builder at a time (parallel test sessions share the cache).
exec 9>"$CACHE/.build.lock"
flock 9
if [ ! -s "$TARBALL" ]; then
  echo "building $TARBALL (debootstrap, about a minute)…" >&2
  build
fi
flock -u 9

if [ -n "$IMPORT_AS" ]; then
  docker import \
    --change 'ENV PATH=/opt/tritonserver/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /opt/tritonserver' \
    "$TARBALL" "$IMPORT_AS" >/dev/null
fi
echo "$TARBALL"
