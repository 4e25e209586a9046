"""The BENCHMARKS.md section at scale: one Lease, N candidates."""

from __future__ import annotations

from .fmt import IMPLS, dur, fm, fn, fr, fs, load_rows, met


SCALE_DEFAULT = ("3", "10", "30", "100")  # bench/scale/args.rs's SCALE_NS


def scale_ns(sc: dict) -> list[str]:
    return [str(n) for n in sc.get("ns", []) if all(str(n) in sc.get(k, {}) for k, _ in IMPLS)]


def phase_time(sc: dict) -> str:
    lp = (sc.get("machine") or {}).get("load_by_phase") or []
    if not lp:
        return ""
    return f", of which {sum(p['seconds'] for p in lp) / 60:.1f} min in its trials and windows"


def scale_markdown(r: dict, svg_rels: tuple) -> list[str]:
    """The section, from results.json's "scale" (or a note that it is not measured yet);
    `svg_rels` are the two pictures' paths from BENCHMARKS.md."""
    sc = r.get("scale")
    L = ["## At scale: one Lease, N candidates", ""]
    if not sc or not scale_ns(sc):
        L += ["Not measured yet: `bench/results.json` has no `scale` section. `make bench-scale` (or "
              "`python3 bench/run.py --scale-only`) measures it and keeps the rest of the file.", ""]
        return L
    return (L + scale_intro(sc) + scale_table(sc) + scale_targets(sc) + scale_takeovers(sc)
            + scale_pictures(svg_rels) + scale_method(sc) + scale_caveats(r, sc))


def scale_intro(sc: dict) -> list[str]:
    """What ran, how long it took, and which N are missing."""
    L = []
    ns, t = scale_ns(sc), sc["timings"]
    missing = [n for n in SCALE_DEFAULT if n not in ns]
    L.append(f"One Lease per implementation with N candidates, N ∈ {{{', '.join(ns)}}}, {dur(t)}, "
             f"{sc['crash_trials']} crash and {sc['graceful_trials']} graceful trials per implementation "
             f"and N, a {sc['steady_seconds']:.0f} s steady-state window per implementation and N (both "
             "implementations' at once, beside the trials, each on a kube-apiserver of its own). Run: "
             f"`{sc['command']}`, finished {sc['generated_at']}, the scale part took "
             f"{sc['duration_s'] / 60:.1f} min from start to end{phase_time(sc)}. With {sc['crash_trials']} trials, p90 lies between the two "
             "slowest trials: read it as a rough figure."
             + ("" if sc.get("complete", True) else
                f" **The run ended before every N it was asked for: only N = {', '.join(ns)} were "
                "measured.**")
             + ("" if not missing else
                f" **N = {', '.join(missing)} not measured yet** (`make bench-scale` runs all of "
                f"{', '.join(SCALE_DEFAULT)})."))
    L.append("")
    return L


def scale_table(sc: dict) -> list[str]:
    """Every figure for every N, k8sensus and client-go in turn."""
    ns = scale_ns(sc)
    L = []
    L.append("| N | | crash failover p50 / p90 / max | graceful handoff p50 / max | requests/s, each standby "
             "| requests/s, all standbys | requests per takeover (crash / graceful) | kube-apiserver CPU s "
             "per min | RSS per replica |")
    L.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in ns:
        for k, name in IMPLS:
            S = sc[k][n]
            c, g = S["crash_failover_s"], S["graceful_handoff_s"]
            fail = c.get("failed_trials", 0) + g.get("failed_trials", 0)
            L.append(f"| {n} | {name}{f' ({fail} failed trials)' if fail else ''} | {fs(c['p50'])} / "
                     f"**{fs(c['p90'])}** / {fs(c['max'])} | **{fs(g['p50'])}** / {fs(g['max'])} | "
                     f"{fr(S['standby_requests_per_s'], 4)} | {fr(S['all_standbys_requests_per_s'])} | "
                     f"{fn(S['takeover_requests'])} / {fn(S['takeover_requests_graceful'])} | "
                     f"{fr(S['apiserver_cpu_s_per_min'], 2)} | {fm(S['rss_mib'])} MiB |")
    L.append("")
    return L


def scale_targets(sc: dict) -> list[str]:
    """k8sensus's targets at the largest N measured, client-go beside it."""
    ns = scale_ns(sc)
    ld = sc["timings"]["lease_duration_s"]
    L = []
    top = ns[-1]
    S = sc["k8sensus"][top]
    nn = int(top)
    rows = [
        ("Crash failover p90 within the lease duration + 0.25 s", f"≤ {ld + 0.25:g} s",
         S["crash_failover_s"]["p90"], lambda v: v <= ld + 0.25, fs),
        ("Graceful handoff p50", "< 100 ms", S["graceful_handoff_s"]["p50"], lambda v: v < 0.1, fs),
        ("API requests per second, each standby", "≤ 0.02", S["standby_requests_per_s"],
         lambda v: v <= 0.02, lambda v: fr(v, 4)),
        ("API requests caused by one takeover (crash, median)", f"≤ N + 5 = {nn + 5}", S["takeover_requests"],
         lambda v: v <= nn + 5, fn),
    ]
    L.append(f"Targets for k8sensus at N = {top}" + ("" if top == "100" else " (the largest N measured; "
                                                     "the targets are set for N = 100)") + ":")
    L.append("")
    L.append("| target | threshold | k8sensus | client-go | |")
    L.append("| --- | --- | ---: | ---: | --- |")
    cgS = sc["client_go"][top]
    cg_vals = [cgS["crash_failover_s"]["p90"], cgS["graceful_handoff_s"]["p50"],
               cgS["standby_requests_per_s"], cgS["takeover_requests"]]
    for (name, thr, v, ok, f), cv in zip(rows, cg_vals):
        L.append(f"| {name} | {thr} | {f(v)} | {f(cv)} | {met(None if v is None else ok(v))} |")
    L.append("")
    return L


def scale_takeovers(sc: dict) -> list[str]:
    """What one crash takeover's requests were, at the largest N."""
    top = scale_ns(sc)[-1]
    L = []
    # What one takeover's requests were, for the largest N.
    for k, name in IMPLS:
        tk = sc[k][top]["raw"].get("takeovers_crash") or []
        if not tk:
            continue
        tot = {}
        for x in tk:
            for q, c in x["by_request"].items():
                tot[q] = tot.get(q, 0) + c
        parts = ", ".join(f"{q}: {c / len(tk):g}" for q, c in sorted(tot.items(), key=lambda kv: -kv[1]))
        L.append(f"- {name}, N = {top}: one crash takeover, mean over {len(tk)} trials, by resource, verb "
                 f"and response code: {parts}.")
    L.append("")
    return L


def scale_pictures(svg_rels: tuple) -> list[str]:
    """The two pictures."""
    L = []
    L.append(f"![API requests per second against N, log scale]({svg_rels[0]})")
    L.append("")
    L.append(f"![Crash failover and graceful handoff against N]({svg_rels[1]})")
    L.append("")
    return L


def scale_method(sc: dict) -> list[str]:
    """How each figure was measured."""
    L = []
    L.append("How it was measured:")
    L.append("")
    for k, v in sc["method"].items():
        L.append(f"- `{k}`: {v}.")
    L.append("")
    return L


def steady_window_caveat(w: float) -> str:
    """What the k8sensus standby rate at scale is, for a steady-state window of `w` s (the
    scale part closes it late enough to hold each standby's first resync, 120 to 180 s after
    its watch opened, and opens it no earlier than 65 s after the leaders)."""
    head = (f"- Each steady-state window lasts {w:.0f} s. A k8sensus standby sends one GET and opens one "
            "watch per resync (every 120 to 180 s, 150 s on average). The steady sets start fresh for each N, "
            "and each window closes late enough to hold every k8sensus standby's first resync")
    if w < 65:
        body = " (a window this short opens too late to hold all of them, so it catches only some)."
    elif w <= 120:
        body = (f": a {w:.0f} s window then holds exactly one per standby, the most a window that short can, "
                f"so the k8sensus standby rate at scale is the high end of its rate, {150 / w:.2f} times "
                "the long-run mean.")
    else:
        return head + "."
    return head + body + " The 3-replica figures above use a longer window."


def scale_caveats(r: dict, sc: dict) -> list[str]:
    """What to keep in mind, with the machine's load per phase."""
    L = []
    L.append("Caveats at scale:")
    L.append("")
    L.append(steady_window_caveat(sc["steady_seconds"]))
    L.append("- kube-apiserver CPU includes its own work with no client at all (controllers, the driver's "
             "watch, writing the audit log); the smallest N shows roughly that floor. etcd's CPU is not "
             "counted.")
    L.append("- Each implementation's steady set has a kube-apiserver and etcd of its own, so its CPU "
             "figure is that implementation's alone; but all of them share the machine "
             f"({(r.get('machine') or {}).get('cpus') or (sc.get('machine') or {}).get('cpus')} CPUs) with "
             "the driver, the other steady set and, for part of each window, the trial control plane and "
             "both trial sets (4 × N replicas in all while the trials run). Machine load per phase:")
    L.append("")
    lp = (sc.get("machine") or {}).get("load_by_phase") or []
    if lp:
        L.append("| phase | seconds | CPU busy, mean | CPU busy, max | load1, max |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        L += load_rows(lp)
        L.append("")
    return L
