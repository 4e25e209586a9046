#!/usr/bin/env bash
# Installs, or explains how to install, what the tests need beyond Rust itself:
#   go, python3, openssl   build and run the control plane (hack/control-plane)
#   setpriv (util-linux)   ties every test process to its parent, so none outlives a test
#   libfaketime            the chaos suite's clock-rate skew fault
# and, as root (the one-node cluster of hack/cluster needs root anyway):
#   containerd runc containernetworking-plugins iptables nftables
#                          the node's container runtime, pod network and kube-proxy
#   buildah mmdebstrap gcc the images: the Dockerfile built offline, its base images and pause
# On Debian or Ubuntu as root, missing packages are installed with apt-get; elsewhere the
# script says what to install and fails.
set -euo pipefail

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need go golang-go
need python3 python3
need openssl openssl
need setpriv util-linux
libfaketime=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 2>/dev/null | head -n1 || true)
[ -n "$libfaketime" ] || [ -n "${K8SENSUS_LIBFAKETIME:-}" ] || missing+=(faketime)
if [ "$(id -u)" = 0 ]; then
  need containerd containerd
  need runc runc
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  need iptables iptables
  need nft nftables
  need buildah buildah
  need mmdebstrap mmdebstrap
  need gcc gcc
  # The cluster test tries the runner as user nobody, who cannot read a python3 under /root.
  [ -x /usr/bin/python3 ] || missing+=(python3)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: go, python3, openssl, setpriv and libfaketime are present$([ "$(id -u)" = 0 ] && echo ', and the cluster'"'"'s packages')"
  exit 0
fi
echo "deps: missing packages: ${missing[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing them with apt-get"
  apt-get update -qq
  # --no-install-recommends: buildah's recommends (podman's networking, fuse) are not used.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed ${missing[*]}"
else
  echo "deps: install them (on Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run make again" >&2
  exit 1
fi
