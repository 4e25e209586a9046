# Sourced by hack/demo.sh and hack/demo-cluster.sh: what both demos print, and how both stop
# the runner (hack/control-plane or hack/cluster) they started as a coprocess.

if [ -t 1 ]; then bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'; else bold=; dim=; off=; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
note() { printf '%s    %s%s\n' "$dim" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }

# close_runner PID FD: closes the runner's stdin (its lifeline: the runner then stops
# everything it started and cleans up) and waits for it to exit.
close_runner() {
  local pid=$1 fd=$2
  exec {fd}>&- 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
