#!/usr/bin/env bash
# `make bench` as on a fresh machine, timed: the figure bench/README.md quotes for a fresh
# machine comes from this script.
#
#   hack/bench-fresh.sh [--purge-packages] [DIR]
#
# It clones HEAD into DIR (default: a new temporary directory) and runs `make bench` there
# with every build cache empty and private to the run: the cargo registry (CARGO_HOME), Go's
# module and build caches (GOMODCACHE, GOCACHE), and k8sensus's own cache of binaries and
# images (K8SENSUS_CACHE). This machine's caches are neither used nor touched; the results
# stay in DIR/clone (bench/results.json, BENCHMARKS.md), and DIR is left for you to remove.
#
# --purge-packages (root, Debian) first removes the packages hack/install-deps.sh installs
# for the cluster (containerd, runc, the CNI plugins, nftables, buildah, mmdebstrap,
# faketime), so that `make bench` installs them again as on a new machine. Without it they
# stay installed, and the run shows only the builds and the measuring.
#
# The Rust toolchain and Go stay: a fresh machine has them (see the README).
set -euo pipefail

purge=0
if [ "${1:-}" = "--purge-packages" ]; then purge=1; shift; fi
case "${1:-}" in -*) echo "usage: hack/bench-fresh.sh [--purge-packages] [DIR]" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d -t k8sensus-bench-fresh-XXXXXX)}
if [ -e "$dir/clone" ]; then
  echo "bench-fresh: $dir/clone exists; give an empty or new directory" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ "$purge" = 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "bench-fresh: --purge-packages needs root and apt-get" >&2
    exit 2
  fi
  echo "==> bench-fresh: removing the cluster's packages (make bench installs them again)"
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq buildah containerd runc \
    containernetworking-plugins mmdebstrap faketime libfaketime nftables >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null
  apt-get clean
fi

echo "==> bench-fresh: cloning $(git -C "$repo" rev-parse --short HEAD) into $dir/clone"
git clone -q "$repo" "$dir/clone"
mkdir -p "$dir/cargo-home" "$dir/gomodcache" "$dir/gocache" "$dir/k8sensus-cache"

echo "==> bench-fresh: make bench with empty caches under $dir (output in $dir/make-bench.log)"
start=$(date +%s)
set +e
(cd "$dir/clone" && CARGO_HOME="$dir/cargo-home" GOMODCACHE="$dir/gomodcache" \
   GOCACHE="$dir/gocache" K8SENSUS_CACHE="$dir/k8sensus-cache" \
   make bench 2>&1 | tee "$dir/make-bench.log")
rc=${PIPESTATUS[0]}
set -e
secs=$(( $(date +%s) - start ))
echo "==> bench-fresh: make bench exited $rc after ${secs} s ($((secs / 60)) min $((secs % 60)) s)"
echo "==> bench-fresh: results in $dir/clone; remove $dir when done (Go's module cache is read-only: chmod -R u+w it first)"
exit "$rc"
