"""The README's comparison with client-go, between its markers: the headline rows of
BENCHMARKS.md, a line at scale and a line for the cluster."""

from __future__ import annotations

from .benchmarks_md import acquire_to_watch
from .fmt import dur, fm, fn, fr, fs, ratio
from .scale_md import scale_ns


README_BEGIN = "<!-- bench/render.py writes from here to the end marker, from bench/results.json -->"
README_END = "<!-- end of what bench/render.py writes -->"


def readme_block(r: dict) -> str:
    """The README's comparison with client-go: the headline rows of BENCHMARKS.md."""
    k8, cg, t = r["k8sensus"], r["client_go"], r["timings"]
    b = r.get("build") or {}
    fresh = " on a machine with no build caches" if str(b.get("caches", "")).startswith("none") else ""
    L = [README_BEGIN,
         f"Measured side by side on one real kube-apiserver, 3 replicas per set, {dur(t)}, "
         f"{k8['crash_failover_s']['trials']} crash and {k8['graceful_handoff_s']['trials']} graceful "
         f"trials each, by `make bench`{fresh} ({r['duration_s'] / 60:.1f} min, builds included; the "
         "full table, the method and the raw numbers are in [BENCHMARKS.md](BENCHMARKS.md) and "
         "`bench/results.json`):",
         "",
         "| | k8sensus | client-go | |",
         "| --- | ---: | ---: | ---: |"]
    c, g = k8["crash_failover_s"], cg["crash_failover_s"]
    L.append(f"| crash failover (kill -9), p90, from the last renewal | {fs(c['p90'])} | {fs(g['p90'])} | "
             f"{ratio(c['p90'], g['p90'])} |")
    c, g = k8["graceful_handoff_s"], cg["graceful_handoff_s"]
    L.append(f"| graceful handoff (SIGTERM), p50 / max | {fs(c['p50'])} / {fs(c['max'])} | "
             f"{fs(g['p50'])} / {fs(g['max'])} | {ratio(c['p50'], g['p50'])} |")
    L.append(f"| API requests per second, each standby | {fr(k8['standby_requests_per_s'])} | "
             f"{fr(cg['standby_requests_per_s'])} | "
             f"{ratio(k8['standby_requests_per_s'], cg['standby_requests_per_s'])} |")
    L.append(f"| leader: writes / reads per second | {fr(k8['leader_writes_per_s'])} / "
             f"{k8['leader_reads_per_s']:g} | {fr(cg['leader_writes_per_s'])} / {cg['leader_reads_per_s']:g} | "
             f"{ratio(k8['leader_writes_per_s'], cg['leader_writes_per_s'])} |")
    L.append(f"| resident memory per replica | {fm(k8['rss_mib'])} MiB | {fm(cg['rss_mib'])} MiB | "
             f"{ratio(k8['rss_mib'], cg['rss_mib'])} |")
    L.append(f"| stripped binary | {fm(k8['binary_mib'])} MiB | {fm(cg['binary_mib'])} MiB | "
             f"{ratio(k8['binary_mib'], cg['binary_mib'])} |")
    lk, lc = acquire_to_watch(r, "k8sensus"), acquire_to_watch(r, "client_go")
    L.append(f"| takeover write: `acquireTime` to the watch event, median | {fs(lk[0])} | {fs(lc[0])} | "
             f"{ratio(lk[0], lc[0])} |")
    L += ["",
          "A crash cannot be taken over sooner than one lease duration after the last renewal a "
          "standby saw; k8sensus lands within a few milliseconds of that limit. client-go re-reads the "
          "Lease every 2 to 4.4 s, so it sees the last renewal late and the expiry late, each by up to "
          "one of those intervals. A standby sends nothing while the leader is healthy "
          "except one GET and one new watch per resync (every 120 to 180 s); the steady state was "
          f"measured over {k8['api_load']['window_s']:.0f} s."]
    L += scale_readme(r)
    L += cluster_readme(r)
    L.append(README_END)
    return "\n".join(L)


def scale_readme(r: dict) -> list[str]:
    """The README's headline line at scale, for the largest N measured."""
    sc = r.get("scale")
    ns = scale_ns(sc) if sc else []
    if not ns:
        return []
    top = ns[-1]
    a, b = sc["k8sensus"][top], sc["client_go"][top]
    return ["",
            f"With N = {top} candidates on one Lease (`{sc['command']}`, {sc['crash_trials']} crash and "
            f"{sc['graceful_trials']} graceful trials; BENCHMARKS.md has N = {', '.join(ns)}), k8sensus "
            f"vs client-go: crash failover p90 {fs(a['crash_failover_s']['p90'])} vs "
            f"{fs(b['crash_failover_s']['p90'])}; graceful handoff p50 {fs(a['graceful_handoff_s']['p50'])} "
            f"vs {fs(b['graceful_handoff_s']['p50'])}; all standbys together "
            f"{fr(a['all_standbys_requests_per_s'])} vs {fr(b['all_standbys_requests_per_s'])} requests/s; "
            f"{fn(a['takeover_requests'])} vs {fn(b['takeover_requests'])} requests per crash takeover; "
            f"kube-apiserver {fr(a['apiserver_cpu_s_per_min'], 2)} vs {fr(b['apiserver_cpu_s_per_min'], 2)} "
            "CPU seconds per minute."]


def with_readme_block(readme: str, block: str) -> str:
    i, j = readme.find(README_BEGIN), readme.find(README_END)
    if i < 0 or j < i:
        raise SystemExit(f"README.md lacks the markers {README_BEGIN!r} ... {README_END!r}")
    return readme[:i] + block + readme[j + len(README_END):]


def cluster_readme(r: dict) -> list[str]:
    """The README's headline lines for the cluster part."""
    c = r.get("cluster")
    if not c:
        return []
    k8, cg = c["k8sensus"], c["client_go"]
    n = c["counts"]

    def pair(f):
        return f"{f(k8)} vs {f(cg)}"
    return ["",
            f"In a real one-node cluster, both as Deployments of {c['replicas']} pods (`make bench-cluster`, "
            f"{n['delete']} delete, {n['crash']} crash and {n['rollout']} rollout trials each; BENCHMARKS.md has "
            "the tables), k8sensus vs client-go: `kubectl delete pod` of the leader to the new holder, p90 "
            f"{pair(lambda x: fs(x['delete_pod_to_holder_s']['p90']))}, to the new leader's first work "
            f"{pair(lambda x: fs(x['delete_pod_to_work_s']['p90']))}; `kubectl rollout restart`: "
            f"{pair(lambda x: ', '.join(map(str, x['rollout']['handovers_per_rollout'])))} handovers per rollout, "
            f"leaderless in all p90 {pair(lambda x: fs(x['rollout']['leaderless_total_s']['p90']))}, "
            f"{pair(lambda x: fn(x['rollout']['overlaps']))} overlaps; a killed container to work again, p50 "
            f"{pair(lambda x: fs(x['container_crash_to_work_s']['p50']))} (the restarted k8sensus process does not "
            "trust a record it did not write, so it waits out the lease like the others); `kubectl apply` to the "
            f"first work {pair(lambda x: fs(x['apply_to_first_work_s']))} (k8sensus waits one lease duration on "
            "a new Lease)."]
