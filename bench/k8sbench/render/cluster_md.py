"""The BENCHMARKS.md section for the real cluster: delete the leader pod, roll out, crash
the container."""

from __future__ import annotations

from .fmt import IMPLS, dur, fn, fs, load_rows, met, p3


def cluster_targets(c: dict) -> list[tuple]:
    """(target, threshold, {impl: (shown, met)}) for the cluster section; None: reported only."""
    ld = c["timings"]["lease_duration_s"]

    def get(k, f):
        try:
            return f(c[k])
        except (KeyError, TypeError):
            return None
    rows = []
    v = {k: get(k, lambda x: x["delete_pod_to_holder_s"]["p90"]) for k, _ in IMPLS}
    rows.append(("Delete the leader pod: `kubectl delete pod` to the new holder's `acquireTime`, p90",
                 "≤ 0.3 s", {k: (fs(x), None if x is None else x <= 0.3) for k, x in v.items()}))
    v = {k: (get(k, lambda x: x["rollout"]["leaderless_total_s"]["p90"]), get(k, lambda x: x["rollout"]["overlaps"]))
         for k, _ in IMPLS}
    rows.append(("Rolling update: leaderless time over the whole rollout, p90, and overlaps",
                 "≤ 0.2 s, 0 overlaps",
                 {k: (f"{fs(a)}, {fn(o)} overlaps", None if a is None or o is None else a <= 0.2 and o == 0)
                  for k, (a, o) in v.items()}))
    v = {k: get(k, lambda x: x["rollout"]["handovers_per_rollout"]) for k, _ in IMPLS}
    rows.append(("Rolling update: handovers per rollout", "reported (fewer is better: each one restarts "
                 "the leader's work)", {k: (", ".join(map(str, x)) if x else "n/a", None) for k, x in v.items()}))
    v = {k: (get(k, lambda x: x["container_crash_to_work_s"]["p90"]),
             get(k, lambda x: x["container_crash_to_work_s"]["max"])) for k, _ in IMPLS}
    rows.append(("Container crash (SIGKILL of the leader's process) to work again, p90 (max)",
                 f"≤ LD + 0.5 s = {ld + 0.5:g} s",
                 {k: (f"{fs(a)} ({fs(m)})", None if a is None else a <= ld + 0.5) for k, (a, m) in v.items()}))
    return rows


def cluster_markdown(r: dict) -> list[str]:
    """The section, from results.json's "cluster" (or a note that it is not measured yet)."""
    c = r.get("cluster")
    L = ["## In a real cluster: delete the leader pod, roll out, crash the container", ""]
    if not c:
        L += ["Not measured yet: `bench/results.json` has no `cluster` section. `make bench-cluster` (or "
              "`python3 bench/cluster.py`, as root) measures it and keeps the rest of the file.", ""]
        return L
    return (L + cluster_intro(c) + cluster_table(c) + cluster_targets_table(c) + cluster_explained(c)
            + cluster_load(c) + cluster_method(c) + cluster_trials(c))


def cluster_intro(c: dict) -> list[str]:
    """What ran where, and the run's provenance."""
    n = c["counts"]
    src = c["source"]
    mach = c["machine"]
    L = []
    a = L.append
    a(f"Both implementations as Deployments of {c['replicas']} pods in one real one-node cluster "
      f"(hack/cluster: Kubernetes {c.get('kubernetes_version')}, containerd and runc, kubelet, kube-proxy, "
      f"the controllers and the scheduler, on this machine): k8sensus deployed with `kubectl apply -k .` "
      f"from the image the Dockerfile builds, client-go-ref (`{c['images']['client_go_ref']}`, its static "
      "binary on the same distroless base) from the same kustomization with only the image and the arguments "
      f"changed. Each has its own namespace and Lease; both use {dur(c['timings'])}, deployment.yaml's "
      "strategy (maxSurge 1, maxUnavailable 0), its probes (client-go-ref serves the same /healthz and "
      "/readyz on :8080) and a task every 10 s. Work is read from the pods' own log lines (`mono_ns`, the "
      "host's monotonic clock, which every container shares); holders from a watch on the Leases.")
    a("")
    a(f"- **Run:** `{c['command']}` finished {c['generated_at']} after {c['duration_s'] / 60:.1f} min "
      f"({c['build_and_start_s']:.0f} s to build or find the images and start the cluster, "
      f"{c['trials_s'] / 60:.1f} min of trials); {n['delete']} delete, {n['crash']} crash and "
      f"{n['rollout']} rollout trials per implementation.")
    a(f"- **Alongside:** {c['method']['alongside']}. Orders: k8sensus {', '.join(c['orders']['k8sensus'])}; "
      f"client-go {', '.join(c['orders']['client_go'])}.")
    a(f"- **k8sensus source:** commit `{src['commit_short']}` \"{src['commit_subject']}\""
      + (f", uncommitted changes in {', '.join(src['build_inputs_dirty'])}" if src.get("build_inputs_dirty")
         else " (src/, Cargo.toml and Cargo.lock as committed)") + "; image k8sensus:0.1.0 built from them by "
      "the unchanged Dockerfile.")
    a(f"- **Machine:** {mach['cpus']} CPUs; load average (1/5/15 min) "
      f"{'/'.join(f'{x:g}' for x in mach.get('loadavg_at_start', []))} at the start, "
      f"{'/'.join(f'{x:g}' for x in mach.get('loadavg_at_end', []))} at the end (other work on the host "
      "included); egress guard: " + c.get("egress_guard", "n/a") + ".")
    a("")
    return L


def cluster_table(c: dict) -> list[str]:
    """The main table: each measure, k8sensus beside client-go."""
    k8, cg = c["k8sensus"], c["client_go"]
    L = []
    a = L.append
    a("| measure | k8sensus | client-go |")
    a("| --- | ---: | ---: |")

    def row(label, f):
        a(f"| {label} | {f(k8)} | {f(cg)} |")
    row("Delete the leader pod: `kubectl delete pod` to the new holder's `acquireTime`, p50 / p90 / max",
        lambda x: p3(x["delete_pod_to_holder_s"], "p90"))
    row("Delete the leader pod: `kubectl delete pod` to the new leader's first work, p50 / p90 / max",
        lambda x: p3(x["delete_pod_to_work_s"]))
    row("… of which before the API server had the deletion (kubectl's start-up and request, seen by the "
        "driver's pod watch), p50 / p90 / max", lambda x: p3(x.get("delete_pod_deletion_seen_s")))
    row("… and from there to the new holder's `acquireTime`, p50 / p90 / max",
        lambda x: p3(x.get("delete_pod_deletion_seen_to_holder_s")))
    row("Delete the leader pod: leaderless, old leader's work stopped to new leader's work started, "
        "p50 / p90 / max", lambda x: p3(x.get("delete_pod_leaderless_s")))
    row("Rolling update (`kubectl rollout restart`): handovers in each rollout",
        lambda x: ", ".join(map(str, x["rollout"]["handovers_per_rollout"])) or "n/a")
    row("Rolling update: leaderless time over the whole rollout, p50 / p90 / max",
        lambda x: p3(x["rollout"]["leaderless_total_s"], "p90"))
    row("Rolling update: longest leaderless stretch in a rollout, p50 / p90 / max",
        lambda x: p3(x["rollout"]["leaderless_max_s"]))
    row("Rolling update: overlaps (two pods working at once)", lambda x: fn(x["rollout"]["overlaps"]))
    row("Rolling update: `kubectl rollout restart` to the new pods all Ready and working, p50 / max",
        lambda x: f"{fs(x['rollout']['duration_s']['p50'])} / {fs(x['rollout']['duration_s']['max'])}")
    row("Container crash (SIGKILL of the leader's process) to work again, p50 / p90 / max",
        lambda x: p3(x["container_crash_to_work_s"], "p90"))
    row("Container crash: who worked next (the restarted container / another pod)",
        lambda x: f"{x['container_crash_worked_again_by']['restarted_container']} / "
                  f"{x['container_crash_worked_again_by']['another_pod']}")
    row("Container crash: the kubelet restarted the container after, p50 / max",
        lambda x: f"{fs(x['container_crash_restart_s']['p50'])} / {fs(x['container_crash_restart_s']['max'])}")
    row("`kubectl apply` on an empty namespace to the first work", lambda x: fs(x["apply_to_first_work_s"]))
    row("`kubectl apply` on an empty namespace to the first holder's `acquireTime`",
        lambda x: fs(x.get("apply_to_first_holder_s")))
    row("Trials: delete / crash / rollout (failed)", lambda x: " / ".join(
        f"{P['trials']} ({P['failed_trials']})" for P in (x["delete_pod_to_holder_s"], x["container_crash_to_work_s"],
                                                          {"trials": x["rollout"]["trials"],
                                                           "failed_trials": x["rollout"]["failed_trials"]})))
    row("Terms of work in the whole run / overlapping pairs among them",
        lambda x: f"{x['terms_whole_run']} / {x['overlaps_whole_run']}")
    a("")
    return L


def cluster_targets_table(c: dict) -> list[str]:
    """The targets, as measured."""
    L = []
    a = L.append
    a("Targets, as measured (the targets are k8sensus's; client-go's figure is shown against the same "
      "threshold for reference):")
    a("")
    a("| target | threshold | k8sensus | | client-go | |")
    a("| --- | --- | ---: | --- | ---: | --- |")
    for name, thr, vals in cluster_targets(c):
        cells = " | ".join(f"{shown} | {'reported' if ok is None else met(ok)}"
                           for shown, ok in (vals["k8sensus"], vals["client_go"]))
        a(f"| {name} | {thr} | {cells} |")
    a("")
    return L


def cluster_explained(c: dict) -> list[str]:
    """What the figures show, and why."""
    k8 = c["k8sensus"]
    mach = c["machine"]
    L = []
    a = L.append
    ld = c["timings"]["lease_duration_s"]

    def busy(phase):
        ph = next((x for x in mach.get("load_by_phase") or [] if x["phase"] == phase), None)
        return f" whose CPUs were {ph['cpu_busy_mean'] * 100:.0f} % busy on average meanwhile" if ph else ""
    a("What the figures show:")
    a("")
    a("- **Delete the leader pod.** The kubelet sends the leader SIGTERM; both implementations stop their work "
      "and release the Lease. A k8sensus standby sees the release on its watch and takes the Lease at once; a "
      "client-go standby finds it at its next poll, 2 to 4.4 s apart, so anywhere from a few milliseconds to "
      "4.4 s later. The time from `kubectl delete pod` includes kubectl's own start-up and request: the "
      "rows beneath split it at the moment the driver's pod watch saw the pod marked for deletion."
      + ("" if not (k8.get("delete_pod_deletion_seen_s") or {}).get("trials") else
         f" For k8sensus that first part took {fs(k8['delete_pod_deletion_seen_s']['p50'])} at the median and "
         f"{fs(k8['delete_pod_deletion_seen_s']['p90'])} at p90 (kubectl is a Go program starting on a "
         f"{mach['cpus']}-CPU machine{busy('k8sensus: delete trials')}), the handover itself (the deletion to the new `acquireTime`: the kubelet's SIGTERM, the "
         f"work stopped, the release, a standby's watch and write) {fs(k8['delete_pod_deletion_seen_to_holder_s']['p50'])} "
         f"and {fs(k8['delete_pod_deletion_seen_to_holder_s']['p90'])}."))
    a(f"- **Container crash.** The kubelet restarts the killed container at once (the first time; a second "
      "crash of the same pod would wait out a back-off of 10 s and more, so each crashed pod is replaced "
      "before the next trial). The restarted client-go process finds its own name in the Lease, trusts the "
      "record and resumes leading: the gap is the container's restart. A restarted k8sensus process does "
      "not trust a record it did not write, even one that carries its own name, since another live process "
      "with the same identity may have written it (README, \"What never two leaders rests on\"): it honours "
      f"the record like anyone's, so a pod takes over once the record has gone unrenewed for the lease "
      f"duration ({ld:g} s) by its own clock. A standby's clock started at the last renewal it saw, the "
      "restarted process's only when it first read the record after its restart, so a standby is first as a "
      "rule (here in "
      f"{k8['container_crash_worked_again_by']['another_pod']} of "
      f"{k8['container_crash_to_work_s']['trials']} trials). The kill lands up to one retry period after the last renewal, "
      f"so the time from the kill is at most about {ld:g} s: this is the physical limit under those rules, "
      "and the target allows 0.5 s above it.")
    a("- **Rolling update.** With maxSurge 1 and maxUnavailable 0 the old pods go one at a time, each with "
      "SIGTERM, so every handover is a graceful one. How many there are depends on the order in which the "
      "ReplicaSet controller removes the old pods: when the leader is not the last old pod to go, leadership "
      "can move to another old pod first and then again to a new one. Leaderless time is measured from the "
      "old term's stop line to the next term's start line, both on the monotonic clock.")
    a(f"- **Apply on an empty namespace.** k8sensus creates the Lease and leads at once, but starts its work "
      f"only one lease duration ({ld:g} s) after it first saw the Lease missing: a missing Lease may hide a "
      "leader that is still working (a deleted Lease looks the same as a new deployment), and by then any "
      "such leader has surely stopped (README, \"A missing Lease\"). client-go starts its work as soon as it "
      "has created the Lease. The figure includes the pods' scheduling and start.")
    a("")
    return L


def cluster_load(c: dict) -> list[str]:
    """The machine's load per phase of the cluster run."""
    mach = c["machine"]
    L = []
    a = L.append
    lp = mach.get("load_by_phase") or []
    if lp:
        a("Machine load during the cluster run (sampled every 2 s; it includes the cluster itself and anything "
          "else running on the host; the per-implementation rows overlap in time):")
        a("")
        a("| phase | seconds | CPU busy, mean | CPU busy, max | load1, max |")
        a("| --- | ---: | ---: | ---: | ---: |")
        L += load_rows(lp)
        a("")
    return L


def cluster_method(c: dict) -> list[str]:
    """How each figure was measured (the "alongside" note is in the intro)."""
    L = []
    a = L.append
    a("How it was measured:")
    a("")
    for k, v in c["method"].items():
        if k != "alongside":
            a(f"- `{k}`: {v}.")
    a("")
    return L


def cluster_trials(c: dict) -> list[str]:
    """Every trial's figure."""
    L = []
    a = L.append
    a("Every trial:")
    a("")
    for label, key, field in (("Delete, to the new holder", "delete", "to_holder_s"),
                              ("Delete, to the first work", "delete", "to_work_s"),
                              ("Crash, to work again", "crash", "to_work_s"),
                              ("Rollout, leaderless in all", "rollout", "leaderless_total_s")):
        for ikey, name in IMPLS:
            trials = c[ikey]["raw"].get(key) or []
            if trials:
                a(f"- {label}, {name} ({len(trials)}): "
                  + ", ".join(fs(t[field]) if t.get("ok") and t.get(field) is not None else "failed" for t in trials))
    a("")
    return L
