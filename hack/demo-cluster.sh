#!/usr/bin/env bash
# make demo: the README's kind walkthrough, on a real one-node cluster on this machine.
#
# 1. builds the k8sensus image from the Dockerfile (buildah, offline, cached) and starts the
#    cluster of hack/cluster (etcd, kube-apiserver, controller-manager, scheduler,
#    containerd + runc, kube-proxy, kubelet, in namespaces of their own); the runner imports
#    the image into containerd, in place of `kind load docker-image`;
# 2. runs the README's commands: kubectl apply -k ., config set-context --namespace k8sensus,
#    rollout status, get pods -L k8sensus.io/role, get lease, k8sensus status;
# 3. deletes the leader pod and shows the takeover in the pods' interleaved logs and in
#    `k8sensus status --watch`, then the ReplicaSet's new pod joining as a standby;
# 4. tears everything down (also on Ctrl-C).
#
# Where the cluster cannot run (not root, a missing package or kernel feature) it says why in
# one line and runs the local-process demo, hack/demo.sh, instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! reason=$(python3 hack/cluster/cluster.py check 2>&1); then
  echo "make demo: ${reason#cluster: }; running the local-process demo instead (hack/demo.sh)"
  exec hack/demo.sh
fi

LEASE=k8sensus-lease
NS=k8sensus   # from kustomization.yaml
# shellcheck source=hack/demo-lib.sh
. hack/demo-lib.sh

work=$(mktemp -d -t k8sensus-demo-XXXXXX)
followers=()
cleanup() {
  trap - EXIT INT TERM
  [ -n "${status_pid:-}" ] && kill "$status_pid" 2>/dev/null || true
  [ -n "${watcher_pid:-}" ] && kill "$watcher_pid" 2>/dev/null || true
  if [ -n "${CL_PID:-}" ]; then
    say "tearing the cluster down"
    close_runner "$CL_PID" "${CL[1]}"
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building k8sensus (release, for \`k8sensus status\` on this machine)"
make -s build
bin=$PWD/target/release/k8sensus
note "the runner builds k8sensus:0.1.0 from the Dockerfile, unchanged, with buildah (offline, cached by its inputs)"

say "starting a one-node cluster (in place of: kind create cluster)"
note "the runner imports k8sensus:0.1.0 into containerd (in place of: kind load docker-image k8sensus:0.1.0)"
coproc CL { exec python3 hack/cluster/cluster.py run --lifeline-stdin --dir "$work/cluster"; }
CL_PID=$CL_PID
admin=
while read -r -t 900 line <&"${CL[0]}"; do
  case "$line" in READY\ *) admin=${line#READY }; break ;; esac
done
[ -n "$admin" ] || { echo "the cluster did not start; see the messages above" >&2; exit 1; }
kubectl_bin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubectl"])' "$work/cluster/state.json")
export KUBECONFIG=$admin
kubectl() { "$kubectl_bin" "$@"; }

say "kubectl apply -k . (the namespace k8sensus, enforcing Pod Security restricted, with rbac.yaml and deployment.yaml)"
show "kubectl apply -k ."
kubectl apply -k .
show "kubectl config set-context --current --namespace $NS"
kubectl config set-context --current --namespace "$NS"
show "kubectl rollout status deployment/k8sensus"
kubectl rollout status deployment/k8sensus --timeout=180s

# The pods' logs, interleaved and prefixed (kubectl logs -f --prefix for every pod, including
# pods the ReplicaSet creates later), and a [status] line for every change of the Lease.
(
  declare -A seen
  while true; do
    for pod in $(kubectl get pods -l app.kubernetes.io/name=k8sensus --field-selector=status.phase=Running -o name 2>/dev/null); do
      if [ -z "${seen[$pod]:-}" ]; then
        seen[$pod]=1
        # pdeathsig: each follower ends with this loop when the demo stops it.
        setpriv --pdeathsig KILL "$kubectl_bin" logs -f --prefix "$pod" 2>/dev/null &
      fi
    done
    sleep 1
  done
) &
watcher_pid=$!
"$bin" status --watch --lease-name "$LEASE" --lease-namespace "$NS" 2>/dev/null \
  > >(grep --line-buffered -v ' renewed (' | sed -u "s/^/${bold}[status]${off} /") &
status_pid=$!

holder() { kubectl get lease "$LEASE" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true; }
wait_for_holder_other_than() {
  local old=$1 deadline=$((SECONDS + 90)) h
  while [ $SECONDS -lt $deadline ]; do
    h=$(holder)
    if [ -n "$h" ] && [ "$h" != "$old" ]; then echo "$h"; return 0; fi
    sleep 0.2
  done
  return 1
}
wait_for_work() {  # the holder's first run of the sample task: a line with event="work_run"
  # (the log's event names are the contract, src/log_event.rs; the wording may change)
  local pod=$1 deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    kubectl logs "$pod" 2>/dev/null | grep -qE '(^| )event="?work_run"?( |$)' && return 0
    sleep 1
  done
  return 1
}
show_state() {
  show "kubectl get pods -L k8sensus.io/role"
  kubectl get pods -L k8sensus.io/role
  show "kubectl get lease $LEASE"
  kubectl get lease "$LEASE"
  show "k8sensus status --lease-name $LEASE --lease-namespace $NS"
  "$bin" status --lease-name "$LEASE" --lease-namespace "$NS"
}

leader=$(wait_for_holder_other_than "") || { echo "no leader within 90 s" >&2; exit 1; }
wait_for_work "$leader" || true
sleep 2
say "$leader holds the Lease and runs the sample task; the others stand by"
show_state
sleep 5

say "kubectl delete pod $leader"
note "the kubelet sends SIGTERM: the leader stops its task, releases the Lease, and a standby takes it at once"
show "kubectl delete pod $leader"
kubectl delete pod "$leader" --wait=false
new=$(wait_for_holder_other_than "$leader") || { echo "no takeover within 90 s" >&2; exit 1; }
sleep 3
say "$new took over"
show_state

say "the ReplicaSet's new pod joins as a standby"
show "kubectl rollout status deployment/k8sensus"
kubectl rollout status deployment/k8sensus --timeout=180s
sleep 3
show_state
newest=$(kubectl get pods -l app.kubernetes.io/name=k8sensus --sort-by=.metadata.creationTimestamp -o 'jsonpath={.items[-1:].metadata.name}')
note "$newest, the ReplicaSet's new pod, stands by: $new keeps the Lease and the role=leader label"
sleep 2
say "done"
