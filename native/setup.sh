#!/bin/sh
# Prepares this machine for swarmfs: the system packages it needs (libfuse2 for the FUSE addon,
# fuse3 for fusermount; with "test" also the tools the tests and benchmarks drive) and node modules.
# Safe to run again: it only installs what is missing. Used by `npm run demo`, `npm test` and CI.
set -eu
cd "$(dirname "$0")/.."
packages="libfuse2 fuse3"
[ "${1:-}" = "test" ] && packages="$packages rsync sqlite3 git attr bindfs fio python3 util-linux iproute2"
missing=""
for package in $packages; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "swarmfs needs:$missing — run: sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
[ -e /dev/fuse ] || { echo "swarmfs: /dev/fuse is missing (load the fuse module: modprobe fuse)" >&2; exit 1; }
if [ ! -d node_modules/fuse-native ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
