#!/usr/bin/env bash
# make demo: leader election you can watch, on a machine without a cluster.
#
# 1. builds k8sensus and starts a real control plane (etcd + kube-apiserver, local processes);
# 2. applies rbac.yaml and mints a token for the k8sensus ServiceAccount;
# 3. runs three replicas with that token, their logs interleaved and prefixed; the first
#    leader's sample task starts only 15 s after it found no Lease (see below);
# 4. shows the Lease (kubectl and `k8sensus status`) and who carries the leader label, kills
#    the leader with kill -9, and shows another replica take over and the label move;
# 5. stops the rest with SIGTERM (they release the Lease) and tears everything down.
#
# It uses the walkthrough's timings (15 s / 10 s / 2 s), so the takeover after kill -9 takes
# about 15 s: the standbys must wait out the dead leader's lease. Everything it starts is
# stopped on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."

LEASE=k8sensus-lease
NS=default
REPLICAS=(k8sensus-a k8sensus-b k8sensus-c)

# shellcheck source=hack/demo-lib.sh
. hack/demo-lib.sh
if [ -t 1 ]; then colors=($'\e[36m' $'\e[35m' $'\e[33m'); else colors=("" "" ""); fi

work=$(mktemp -d -t k8sensus-demo-XXXXXX)
declare -A pid
cleanup() {
  trap - EXIT INT TERM
  for name in "${!pid[@]}"; do kill -9 "${pid[$name]}" 2>/dev/null || true; done
  [ -n "${status_pid:-}" ] && kill "$status_pid" 2>/dev/null || true
  if [ -n "${CP_PID:-}" ]; then
    close_runner "$CP_PID" "${CP[1]}"   # etcd and kube-apiserver stop
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building k8sensus (release)"
make -s build
bin=$PWD/target/release/k8sensus

say "starting a local control plane: etcd and kube-apiserver v1.33.13 as local processes"
note "no kubelet here, so the three replicas run as local processes instead of pods"
coproc CP { exec python3 hack/control-plane/controlplane.py run --lifeline-stdin --dir "$work/cp"; }
CP_PID=$CP_PID
admin=
while read -r -t 600 line <&"${CP[0]}"; do
  case "$line" in READY\ *) admin=${line#READY }; break ;; esac
done
[ -n "$admin" ] || { echo "the control plane did not start; see the messages above" >&2; exit 1; }
kubectl_bin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubectl"])' "$work/cp/state.json")
server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"])' "$work/cp/state.json")
k() { "$kubectl_bin" --kubeconfig "$admin" "$@"; }
note "kube-apiserver is listening on $server"

say "kubectl apply -f rbac.yaml"
k apply -f rbac.yaml
token=$(k create token k8sensus -n "$NS" --duration=1h)
sa_kubeconfig=$work/k8sensus-sa.kubeconfig
cat >"$sa_kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$work/cp/ca.crt"}
users:
- name: k8sensus
  user: {token: "$token"}
contexts:
- name: k8sensus
  context: {cluster: local, user: k8sensus, namespace: $NS}
current-context: k8sensus
KUBECONFIG
note "the replicas use a token of the k8sensus ServiceAccount: exactly the rights rbac.yaml grants"

say "creating Pod objects named like the replicas, for the leader label to go on"
note "no kubelet runs them (they stay Pending); the replicas run as local processes with those names"
for name in "${REPLICAS[@]}"; do
  k apply -f - >/dev/null <<POD
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $NS, labels: {app.kubernetes.io/name: k8sensus}}
spec:
  serviceAccountName: k8sensus
  automountServiceAccountToken: false
  containers: [{name: k8sensus, image: "k8sensus:0.1.0"}]
POD
done
k get pods -n "$NS" -L k8sensus.io/role

say "k8sensus status --watch: a line per change of the Lease"
KUBECONFIG=$admin "$bin" status --watch --lease-name "$LEASE" --lease-namespace "$NS" \
  > >(grep --line-buffered -v ' renewed (' | sed -u "s/^/${bold}[status]${off} /") 2>/dev/null &
status_pid=$!

say "starting three replicas: ${REPLICAS[*]}"
i=0
for name in "${REPLICAS[@]}"; do
  prefix="${colors[$i]}[$name]${off} "
  POD_NAME=$name KUBECONFIG=$sa_kubeconfig RUST_LOG=info \
    setpriv --pdeathsig KILL "$bin" --lease-name "$LEASE" --lease-namespace "$NS" --probe-addr 127.0.0.1:0 --label-leader-pod \
    > >(sed -u "s/^/$prefix/") 2>&1 &
  pid[$name]=$!
  i=$((i + 1))
done

holder() { k get lease "$LEASE" -n "$NS" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true; }
wait_for_holder_other_than() {
  local old=$1 deadline=$((SECONDS + 60)) h
  while [ $SECONDS -lt $deadline ]; do
    h=$(holder)
    if [ -n "$h" ] && [ "$h" != "$old" ]; then echo "$h"; return 0; fi
    sleep 0.2
  done
  return 1
}
show_lease() {
  k get lease "$LEASE" -n "$NS" -o wide
  printf '%s$ k8sensus status --lease-name %s%s\n' "$dim" "$LEASE" "$off"
  KUBECONFIG=$admin "$bin" status --lease-name "$LEASE" --lease-namespace "$NS"
}
show_pods() {
  printf '%s$ kubectl get pods -L k8sensus.io/role%s\n' "$dim" "$off"
  k get pods -n "$NS" -L k8sensus.io/role
}

leader=$(wait_for_holder_other_than "") || { echo "no leader was elected within 60 s" >&2; exit 1; }
sleep 1
say "kubectl get lease -o wide: $leader holds the Lease"
show_lease
show_pods
note "$leader leads at once (the Lease, the label, the Event), but its sample task waits 15 s:"
note "it created the Lease because none existed, and a missing Lease looks exactly the same whether"
note "this is a brand-new deployment or a live leader's Lease was just deleted; after one lease"
note "duration any such leader has surely stopped (\"work starts in\" above, and in its log)"
sleep 16
note "only $leader runs the sample task, every 10 s; the others stand by, watching the Lease"
sleep 11

say "kill -9 $leader: a crash, so nothing releases the Lease"
note "the standbys must wait until the Lease has gone unrenewed for 15 s by their own clocks"
{ kill -9 "${pid[$leader]}" && wait "${pid[$leader]}"; } 2>/dev/null || true  # wait: no job notice
unset "pid[$leader]"
killed_at=$(date +%s%N)
new=$(wait_for_holder_other_than "$leader") || { echo "no takeover within 60 s" >&2; exit 1; }
took_ds=$((($(date +%s%N) - killed_at) / 100000000))  # read before the sleeps below
sleep 1
sleep 1
say "$new took over about $((took_ds / 10)).$((took_ds % 10)) s after the kill"
show_lease
show_pods
note "the label moved: $new labelled its own pod and cleared the one $leader could not clear"
note "leaseTransitions went up by one: it is the fencing token of $new's term"
sleep 3

say "SIGTERM to the remaining replicas: the leader stops its task, then releases the Lease"
for name in "${!pid[@]}"; do kill -TERM "${pid[$name]}"; done
for name in "${!pid[@]}"; do wait "${pid[$name]}" 2>/dev/null || true; unset "pid[$name]"; done
sleep 0.3
say "the released Lease: no holder, so the next replica to start can take it at once"
show_lease

say "done: stopping the control plane"
