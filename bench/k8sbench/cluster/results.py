"""The "cluster" section of results.json: each deployment's figures, and the method."""

from __future__ import annotations

import statistics

from ..stats import field_summary
from .config import RP, SETTLE
from .deployment import Deployment
from .terms import overlaps, terms


def section(dep: Deployment) -> dict:
    R = dep.results
    rolls = [t for t in R["rollout"] if t.get("ok")]
    hand = [t["handovers"] for t in rolls]
    whole = terms(dep.logs.of(dep.ns))
    crash_ok = [t for t in R["crash"] if t.get("ok")]
    return {
        "namespace": dep.ns,
        "delete_pod_to_holder_s": field_summary(R["delete"], "to_holder_s"),
        "delete_pod_to_work_s": field_summary(R["delete"], "to_work_s"),
        "delete_pod_to_holder_seen_s": field_summary(R["delete"], "to_holder_seen_s"),
        "delete_pod_deletion_seen_s": field_summary(R["delete"], "deletion_seen_s"),
        "delete_pod_deletion_seen_to_holder_s": field_summary(R["delete"], "deletion_seen_to_holder_s"),
        "delete_pod_leaderless_s": field_summary(R["delete"], "leaderless_s"),
        "container_crash_to_work_s": field_summary(R["crash"], "to_work_s"),
        "container_crash_restart_s": field_summary(R["crash"], "restarted_s"),
        "container_crash_worked_again_by": {
            "restarted_container": sum(1 for t in crash_ok if t.get("same_pod")),
            "another_pod": sum(1 for t in crash_ok if not t.get("same_pod"))},
        "apply_to_first_work_s": dep.apply.get("first_work_s"),
        "apply_to_first_holder_s": dep.apply.get("first_acquire_s"),
        "apply": dep.apply,
        "rollout": {
            "trials": len(rolls), "failed_trials": len(R["rollout"]) - len(rolls),
            "handovers": statistics.median(hand) if hand else None,
            "handovers_mean": statistics.mean(hand) if hand else None,
            "handovers_max": max(hand) if hand else None,
            "handovers_per_rollout": hand,
            "leaderless_total_s": field_summary(R["rollout"], "leaderless_total_s"),
            "leaderless_max_s": field_summary(R["rollout"], "leaderless_max_s"),
            "overlaps": sum(t["overlaps"] for t in rolls),
            "duration_s": field_summary(R["rollout"], "duration_s"),
        },
        "overlaps_whole_run": len(overlaps(whole)),
        "terms_whole_run": len(whole),
        "raw": R,
    }


METHOD = {
    "deploy": "k8sensus: `kubectl apply -k .` as the README says (namespace k8sensus); client-go: "
              "an overlay of the same kustomization into namespace client-go that changes only the "
              "image (bench/client-go-ref, a static Go binary on the distroless stand-in) and the "
              "arguments (--lease-namespace=$(POD_NAMESPACE) --probe-addr=:8080, for the same probes); "
              "each has its own Lease, k8sensus-lease in its own namespace. deployment.yaml's "
              "strategy (maxSurge 1, maxUnavailable 0), probes, resources and securityContext, "
              "15s/10s/2s and a task every 10 s for both",
    "apply_to_first_work_s": "from starting `kubectl apply -k` on an empty namespace to the first "
                             "work line (the driver's CLOCK_MONOTONIC against the line's mono_ns); "
                             "k8sensus first, then client-go, one at a time",
    "delete_pod_to_holder_s": "from starting `kubectl delete pod <holder> --wait=false` to the new "
                              "holder's acquireTime (driver and replicas share one wall clock)",
    "delete_pod_to_work_s": "from the same instant to the new holder's first work line (mono_ns)",
    "delete_pod_deletion_seen_s": "from the same instant to the driver's pod watch receiving the pod "
                                  "marked for deletion: kubectl's own start-up and request, and the "
                                  "watch's delivery; *_deletion_seen_to_holder_s is from there to the "
                                  "new holder's acquireTime",
    "container_crash_to_work_s": "SIGKILL (os.kill) of the leader container's host PID, found through "
                                 "containerd (`ctr -n k8s.io tasks list`), to the first work line by "
                                 "any pod after it; the kubelet restarts the container; the crashed "
                                 "pod is then deleted and replaced, so that no trial meets the "
                                 "kubelet's restart back-off",
    "rollout": "`kubectl rollout restart deployment/k8sensus`, until no old pod is left, three new "
               "pods are Ready and a new pod works; the terms of work from the pods' logs (start "
               "line to stop line, mono_ns) that cover that stretch, the one working at its start "
               "included: handovers = terms - 1; leaderless = the next term's start - the previous "
               "term's end, summed (total) and the largest (max); overlaps = pairs of terms "
               "working at once (tests/support/overlap.rs's rule)",
    "alongside": "both deployments run the whole time, in one cluster, each through its own "
                 "sequence of trials; a trial holds a cluster-wide turn from its fault to the end "
                 "of the churn it causes (replacement pod Ready, rollout finished, crashed container "
                 "running again, crashed pod replaced) and no other fault is injected meanwhile, so "
                 "only quiet waits overlap (a crash trial's wait for the lease to expire, the settle "
                 "between trials); every trial records what the other deployment was doing",
    "steady_before_each_fault": f"three Ready pods, a holder that renewed and is working, for {SETTLE:g} s, "
                                f"then a random 0 to {RP:g} s so that the fault lands anywhere in the "
                                "renewal cycle",
    "percentiles": "linear interpolation between closest ranks (bench/run.py's)",
    "logs": "the kubelet's container log files under the cluster's state dir, tailed every 50 ms",
}
