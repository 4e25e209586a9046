#!/usr/bin/env python3
"""Render bench/results.json as BENCHMARKS.md (top level) and bench/timeline.svg.

    python3 bench/render.py [--results bench/results.json]

Every figure in the outputs is read from results.json (bench/run.py writes it);
nothing here is a measured value.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPLS = (("k8sensus", "k8sensus"), ("client_go", "client-go"))


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------

def fs(v) -> str:
    """Seconds: milliseconds below 1 s, else seconds with 3 decimals."""
    if v is None:
        return "n/a"
    if abs(v) < 1:
        return f"{v * 1000:.1f} ms" if abs(v) < 0.01 else f"{v * 1000:.0f} ms"
    return f"{v:.3f} s"


def fr(v, digits=3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def fm(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def ratio(a, b) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "equal (both 0)" if a == 0 else "n/a (client-go 0)"
    r = a / b
    if r == 0:
        return "0 (none)"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


def met(ok) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def dur(t: dict) -> str:
    def one(s):
        return f"{s:g}s" if s >= 1 else f"{s * 1000:g}ms"
    return f"{one(t['lease_duration_s'])}/{one(t['renew_deadline_s'])}/{one(t['retry_period_s'])}"


# ---------------------------------------------------------------------------
# Targets (thresholds derived from results.json's timings)
# ---------------------------------------------------------------------------

def targets(r: dict) -> list[dict]:
    t = r["timings"]
    ld, rp = t["lease_duration_s"], t["retry_period_s"]
    out = []

    def row(name, threshold, key_fn, ok_fn):
        vals = {k: key_fn(r[k]) for k, _ in IMPLS}
        out.append({"name": name, "threshold": threshold, "values": vals,
                    "ok": {k: (None if vals[k] is None else ok_fn(vals[k], k)) for k in vals}})

    row("Crash failover p90 within 0.25 s of the lease duration",
        f"p90 ≤ {ld:g} s + 0.25 s = {ld + 0.25:g} s",
        lambda m: m["crash_failover_s"]["p90"], lambda v, k: v <= ld + 0.25)
    row("Graceful handoff p50", "< 100 ms",
        lambda m: m["graceful_handoff_s"]["p50"], lambda v, k: v < 0.100)
    row("Graceful handoff max", "< 500 ms",
        lambda m: m["graceful_handoff_s"]["max"], lambda v, k: v < 0.500)
    row("Graceful handoff p50, seen by the watch (supplementary)", "< 100 ms",
        lambda m: m["graceful_handoff_seen_s"]["p50"], lambda v, k: v < 0.100)
    row("Graceful handoff max, seen by the watch (supplementary)", "< 500 ms",
        lambda m: m["graceful_handoff_seen_s"]["max"], lambda v, k: v < 0.500)
    row("Each standby's API requests (the busiest standby)", "≤ 0.02 requests/s",
        lambda m: m.get("standby_requests_per_s_max"), lambda v, k: v <= 0.02)
    row("Leader writes", f"≤ one per retry period ({rp:g} s): at most ⌊window / {rp:g} s⌋ + 1 in the window",
        lambda m: m.get("leader_writes_per_s"),
        lambda v, k: r[k]["leader_writes_in_window"] <= r[k]["leader_writes_allowed"])
    row("Leader reads (GET + LIST)", "none (0/s)",
        lambda m: m["leader_reads_per_s"], lambda v, k: v == 0)
    cg = r["client_go"]["rss_mib"]
    row("RSS", f"≤ half of client-go's ({fm(cg / 2) if cg else 'n/a'} MiB)",
        lambda m: m["rss_mib"], lambda v, k: v <= cg / 2 if cg else None)
    return out


# ---------------------------------------------------------------------------
# BENCHMARKS.md
# ---------------------------------------------------------------------------

def acquire_to_watch(r: dict, k: str) -> tuple:
    """(median, max) over all trials of the time from the new holder's acquireTime to the
    driver's watch receiving its write: how long the takeover write took to land."""
    xs = [t["seen_t"] - t["acquire_t"] for kind in ("crash", "graceful")
          for t in r[k]["raw"][kind] if t.get("ok")]
    return (statistics.median(xs), max(xs)) if xs else (None, None)


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
    sc = r.get("scale")
    ns = scale_ns(sc) if sc else []
    if ns:
        top = ns[-1]
        a, b = sc["k8sensus"][top], sc["client_go"][top]
        L += ["",
              f"With N = {top} candidates on one Lease (`{sc['command']}`, {sc['crash_trials']} crash and "
              f"{sc['graceful_trials']} graceful trials; BENCHMARKS.md has N = {', '.join(ns)}), k8sensus "
              f"vs client-go: crash failover p90 {fs(a['crash_failover_s']['p90'])} vs "
              f"{fs(b['crash_failover_s']['p90'])}; graceful handoff p50 {fs(a['graceful_handoff_s']['p50'])} "
              f"vs {fs(b['graceful_handoff_s']['p50'])}; all standbys together "
              f"{fr(a['all_standbys_requests_per_s'])} vs {fr(b['all_standbys_requests_per_s'])} requests/s; "
              f"{fn(a['takeover_requests'])} vs {fn(b['takeover_requests'])} requests per crash takeover; "
              f"kube-apiserver {fr(a['apiserver_cpu_s_per_min'], 2)} vs {fr(b['apiserver_cpu_s_per_min'], 2)} "
              "CPU seconds per minute."]
    L += cluster_readme(r)
    L.append(README_END)
    return "\n".join(L)


def with_readme_block(readme: str, block: str) -> str:
    i, j = readme.find(README_BEGIN), readme.find(README_END)
    if i < 0 or j < i:
        raise SystemExit(f"README.md lacks the markers {README_BEGIN!r} ... {README_END!r}")
    return readme[:i] + block + readme[j + len(README_END):]


def markdown(r: dict, svg_rel: str) -> str:
    k8, cg = r["k8sensus"], r["client_go"]
    t, st = r["timings"], r.get("short_timings")
    src, mach = r["source"], r["machine"]
    L = []
    a = L.append
    a("# Benchmarks: k8sensus next to client-go's leader election")
    a("")
    a("<!-- Generated by bench/render.py from bench/results.json. Do not edit: run `make bench`. -->")
    a("")
    n_rep = (len(r['timeline']['k8sensus']['crash']['replicas'])
             if r['timeline'].get('k8sensus', {}).get('crash') else 3)
    sets = ("in sets of {n} replicas, every set on its own Lease" if "lanes" in r["method"]
            else "each with {n} replicas on its own Lease").format(n=n_rep)
    a(f"Both electors ran at the same time against one real kube-apiserver {src.get('kubernetes_version')} "
      f"(etcd {src.get('etcd_version')}) on loopback, {sets}, "
      f"with the timings **{dur(t)}** (lease duration / renew deadline / retry period) "
      f"unless a section says otherwise. client-go is `k8s.io/client-go` {src.get('client_go_version')} "
      "`tools/leaderelection` with a `LeaseLock` and `ReleaseOnCancel: true` (bench/client-go-ref), "
      "i.e. the best a client-go user gets out of the box.")
    a("")
    a(f"- **Run:** `{r['command']}` finished {r['generated_at']} after {r['duration_s'] / 60:.1f} min.")
    b = r.get("build")
    if b:
        def step(x):
            return "cached" if x.get("cached") else f"{x['seconds'] / 60:.1f} min"
        a(f"- **Building, within that:** `make build` {step(b['k8sensus'])}, bench/client-go-ref "
          f"{step(b['client_go_ref'])}, the control plane {step(b['control_plane'])}; measuring "
          f"{b['measuring_s'] / 60:.1f} min. Caches at the start: {b['caches']}.")
    bd = src.get("build_inputs_dirty")
    if bd is None:
        how = ""
    elif bd:
        how = f", plus uncommitted changes in {', '.join(f'`{p}`' for p in bd)}"
    else:
        how = " (src/, Cargo.toml and Cargo.lock exactly as committed)"
    if src.get("skip_build"):
        how += "; the binary was built before the run (`--skip-build`), so it may not match"
    elif src.get("changed_during_build"):
        how += "; **the build inputs changed while `make build` ran**, so the binary may not match"
    a(f"- **k8sensus source:** commit `{src['commit_short']}` \"{src['commit_subject']}\"{how}; "
      f"binary sha256 `{src['k8sensus_binary_sha256'][:16]}…`, build inputs sha256 "
      f"`{src.get('build_inputs_sha256', '')[:16]}…`.")
    a(f"- **Machine:** {mach['cpu_model']}, {mach['cpus']} CPUs, {mach['memory_gib']} GiB, Linux {mach['kernel']}; "
      f"{mach['go']}, {mach['rustc']}, Python {mach['python']}; load average (1/5/15 min) "
      f"{'/'.join(f'{x:g}' for x in mach.get('loadavg_at_start', []))} at the start, "
      f"{'/'.join(f'{x:g}' for x in mach.get('loadavg_at_end', []))} at the end.")
    a("")

    # -- side by side ---------------------------------------------------------
    a(f"## Side by side ({dur(t)})")
    a("")
    a("| measure | k8sensus | client-go | k8sensus / client-go |")
    a("| --- | ---: | ---: | ---: |")
    for label, key in (("Crash failover (kill -9)", "crash_failover_s"),
                       ("Graceful handoff (SIGTERM)", "graceful_handoff_s")):
        for p in ("p50", "p90", "max"):
            a(f"| {label}, {p} | {fs(k8[key][p])} | {fs(cg[key][p])} | {ratio(k8[key][p], cg[key][p])} |")
        a(f"| {label}, trials (failed) | {k8[key]['trials']} ({k8[key]['failed_trials']}) | "
          f"{cg[key]['trials']} ({cg[key]['failed_trials']}) | |")
    rows = [("Requests/s per standby (mean)", "standby_requests_per_s", fr),
            ("Requests/s, busiest standby", "standby_requests_per_s_max", fr),
            ("Requests/s by the leader", "leader_requests_per_s", fr),
            ("Reads/s by the leader (GET + LIST)", "leader_reads_per_s", fr),
            ("Writes/s by the leader", "leader_writes_per_s", fr),
            ("Leader: median time between writes (s)", None, None),
            ("RSS per replica, mean (MiB)", "rss_mib", fm),
            ("Binary size, stripped (MiB)", "binary_mib", fm)]
    for label, key, f in rows:
        if key is None:
            med = [(m.get("leader_write_interval_s") or {}).get("median") for m in (k8, cg)]
            a(f"| {label} | {fr(med[0])} | {fr(med[1])} | {ratio(med[0], med[1])} |")
            continue
        a(f"| {label} | {f(k8.get(key))} | {f(cg.get(key))} | {ratio(k8.get(key), cg.get(key))} |")
    a(f"| Time to first leadership, median of {len(k8['first_leadership_runs_s'])} / "
      f"{len(cg['first_leadership_runs_s'])} runs | {fs(k8['first_leadership_s'])} | "
      f"{fs(cg['first_leadership_s'])} | {ratio(k8['first_leadership_s'], cg['first_leadership_s'])} |")
    a("")
    a("Ratios below 1 favour k8sensus for every row (less time, fewer requests, less memory).")
    a("")
    a("The failover and handoff times above end at the new holder's `acquireTime`, the time the new "
      "leader wrote into its takeover. The same trials, ended instead when the driver's watch received "
      "that takeover (so including the write's trip to the API server and the watch's delivery):")
    a("")
    a("| measure | k8sensus | client-go | k8sensus / client-go |")
    a("| --- | ---: | ---: | ---: |")
    for label, key in (("Crash failover, seen by the watch", "crash_failover_seen_s"),
                       ("Graceful handoff, seen by the watch", "graceful_handoff_seen_s")):
        for p in ("p50", "p90", "max"):
            a(f"| {label}, {p} | {fs(k8[key][p])} | {fs(cg[key][p])} | {ratio(k8[key][p], cg[key][p])} |")
    lag = {k: acquire_to_watch(r, k) for k, _ in IMPLS}
    a(f"| New holder's `acquireTime` to the watch event, median / max (all trials) | "
      f"{fs(lag['k8sensus'][0])} / {fs(lag['k8sensus'][1])} | {fs(lag['client_go'][0])} / "
      f"{fs(lag['client_go'][1])} | |")
    a("")

    # -- targets --------------------------------------------------------------
    a("## Targets, as measured")
    a("")
    a("The targets are k8sensus's; client-go's figure is shown against the same threshold for reference.")
    a("")
    a("| target | threshold | k8sensus | | client-go | |")
    a("| --- | --- | ---: | --- | ---: | --- |")
    for row in targets(r):
        v, ok = row["values"], row["ok"]
        f = fs if "handoff" in row["name"] or "failover" in row["name"] else \
            (fm if row["name"] == "RSS" else fr)
        unit = " MiB" if row["name"] == "RSS" else ("/s" if f is fr else "")
        cell = {k: f"{f(v[k])}{unit}" for k in v}
        if row["name"] == "Leader writes":
            cell = {k: f"{cell[k]} ({r[k]['leader_writes_in_window']} writes, at most "
                       f"{r[k]['leader_writes_allowed']})" for k in cell}
        a(f"| {row['name']} | {row['threshold']} | {cell['k8sensus']} | {met(ok['k8sensus'])} | "
          f"{cell['client_go']} | {met(ok['client_go'])} |")
    main_rows = [row for row in targets(r) if "supplementary" not in row["name"]]
    n_met = sum(1 for row in main_rows if row["ok"]["k8sensus"])
    a("")
    a(f"k8sensus meets {n_met} of the {len(main_rows)} targets in this run (graceful handoff judged by "
      "`acquireTime`; the supplementary rows judge it by the driver's watch instead).")
    a("")

    # -- short timings --------------------------------------------------------
    if st and (k8["short"]["crash_failover_s"]["trials"] or k8["short"]["graceful_handoff_s"]["trials"]):
        a(f"## Short timings ({dur(st)}), reported separately")
        a("")
        a("Same method, other replicas and Leases, with lease duration / renew deadline / retry period "
          f"{dur(st)}. Not comparable with the table above.")
        a("")
        a("| measure | k8sensus | client-go | k8sensus / client-go |")
        a("| --- | ---: | ---: | ---: |")
        for label, key in (("Crash failover (kill -9)", "crash_failover_s"),
                           ("Graceful handoff (SIGTERM)", "graceful_handoff_s")):
            ks, cs = k8["short"][key], cg["short"][key]
            if not ks["trials"] and not cs["trials"]:
                continue
            for p in ("p50", "p90", "max"):
                a(f"| {label}, {p} | {fs(ks[p])} | {fs(cs[p])} | {ratio(ks[p], cs[p])} |")
            a(f"| {label}, trials (failed) | {ks['trials']} ({ks['failed_trials']}) | "
              f"{cs['trials']} ({cs['failed_trials']}) | |")
        sld = st["lease_duration_s"]
        kp = k8["short"]["crash_failover_s"]["p90"]
        if kp is not None:
            a("")
            a(f"Crash failover p90 within 0.25 s of this lease duration ({sld:g} s): k8sensus {fs(kp)}, "
              f"{met(kp <= sld + 0.25)}; client-go {fs(cg['short']['crash_failover_s']['p90'])}, "
              f"{met(cg['short']['crash_failover_s']['p90'] <= sld + 0.25) if cg['short']['crash_failover_s']['p90'] is not None else 'n/a'}.")
        a("")

    # -- timeline -------------------------------------------------------------
    a("## Who led when")
    a("")
    a(f"![Which replica held each Lease over two crash trials and two graceful trials]({svg_rel})")
    a("")
    a("For each implementation the picture shows the two consecutive trials closest to its median, "
      "crash and graceful, each panel on its own time axis.")
    a("")
    a("Bars run from a replica's `acquireTime` to its last `renewTime` (after a kill -9) or to its release "
      "(after SIGTERM); the shaded band runs from there to the next holder's `acquireTime`. A crash band "
      "is labelled with its length (the crash failover time); a graceful one with the time from SIGTERM to "
      "the new `acquireTime` (the graceful handoff time).")
    a("")

    # -- API requests by verb -------------------------------------------------
    a("## API requests by verb (steady state)")
    a("")
    w = k8["api_load"]["window_s"]
    where = ("on a replica set per implementation that no trial touched, while the trials ran on others"
             if "lanes" in r["method"] else "with no trial running")
    a(f"Lease requests per second, from kube-apiserver's audit log over a {w:.0f} s window, {where} "
      "(one ServiceAccount per replica; a WATCH counts once, when it is opened). "
      f"Leader changes during the window: k8sensus {k8['api_load']['transitions_in_window']}, "
      f"client-go {cg['api_load']['transitions_in_window']}.")
    a("")
    verbs = [v for v in ("get", "list", "watch", "create", "update", "patch", "delete")
             if any(m["requests_by_verb_per_s"][role].get(v) for m in (k8, cg)
                    for role in ("leader", "standby_mean"))
             or v in ("get", "list", "watch", "create", "update")]
    a("| verb | k8sensus leader | k8sensus standby (each) | client-go leader | client-go standby (each) |")
    a("| --- | ---: | ---: | ---: | ---: |")
    for v in verbs:
        cells = [fr(m["requests_by_verb_per_s"][role].get(v, 0)) for m in (k8, cg)
                 for role in ("leader", "standby_mean")]
        a(f"| {v} | " + " | ".join(cells) + " |")
    a("")
    a("Per replica over the same window:")
    a("")
    a("| replica | role | Lease requests | requests/s | by verb | by status | other requests | RSS (MiB) |")
    a("| --- | --- | ---: | ---: | --- | --- | --- | ---: |")
    for key, _ in IMPLS:
        m = r[key]
        for ident, p in m["api_load"]["per_replica"].items():
            bv = ", ".join(f"{v} {n}" for v, n in sorted(p["by_verb"].items())) or "none"
            bc = ", ".join(f"{c}: {n}" for c, n in sorted(p["by_code"].items())) or ""
            rss = m["rss_per_replica"].get(ident, {}).get("rss_mib")
            other = ", ".join(f"{k} {n}" for k, n in sorted(p.get("other_requests", {}).items())) or "none"
            a(f"| {ident} | {p['role']} | {p['requests']} | {fr(p['requests_per_s'])} | {bv} | {bc} | "
              f"{other} | {fm(rss)} |")
    a("")
    if any(r[k].get("api_requests_whole_run") for k, _ in IMPLS):
        a("Every request the replicas made over the whole run (all phases, trials and restarts included), "
          "by resource, verb and status:")
        a("")
        for k, name in IMPLS:
            tot = r[k].get("api_requests_whole_run") or {}
            a(f"- {name}: " + (", ".join(f"{key.replace(' ', ' ', 1)}: {n}" for key, n in tot.items()) or "none"))
        a("")

    # -- raw trials -----------------------------------------------------------
    a("## Every trial")
    a("")
    for label, key, val in (("Crash failover", "crash", "failover_s"),
                            ("Graceful handoff", "graceful", "handoff_s"),
                            (f"Crash failover, {dur(st)}" if st else "", "short_crash", "failover_s"),
                            (f"Graceful handoff, {dur(st)}" if st else "", "short_graceful", "handoff_s")):
        for ikey, name in IMPLS:
            trials = r[ikey]["raw"].get(key) or []
            if not trials:
                continue
            vals = ", ".join(fs(x[val]) if x.get("ok") else "failed" for x in trials)
            a(f"- {label}, {name} ({len(trials)}): {vals}")
    for ikey, name in IMPLS:
        runs = r[ikey]["first_leadership_runs_s"]
        if runs:
            a(f"- Time to first leadership, {name} ({len(runs)}): {', '.join(fs(x) for x in runs)}")
    a("")
    a("Graceful handoff as seen by the driver's watch (SIGTERM to the watch event naming the new holder), p50 / max: "
      + "; ".join(f"{name} {fs(r[k]['graceful_handoff_seen_s']['p50'])} / {fs(r[k]['graceful_handoff_seen_s']['max'])}"
                  for k, name in IMPLS) + ".")
    a("")

    # -- method ---------------------------------------------------------------
    lp = mach.get("load_by_phase")
    if lp:
        a("## Machine load during the run")
        a("")
        a("Sampled every 2 s by the driver. It includes the benchmark's own etcd, kube-apiserver and "
          "replicas, and anything else that ran on the host at the same time; a busy host delays the "
          "millisecond-scale figures (graceful handoff, first leadership) more than the lease-bound ones.")
        a("")
        a("| phase | length | CPUs busy, mean | CPUs busy, max | 1-min load average, max |")
        a("| --- | ---: | ---: | ---: | ---: |")
        for ph in lp:
            a(f"| {ph['phase']} | {ph['seconds']:.0f} s | {ph['cpu_busy_mean'] * 100:.0f} % | "
              f"{ph['cpu_busy_max'] * 100:.0f} % | {ph['load1_max']:g} |")
        a("")
    L += scale_markdown(r, tuple(str(Path(svg_rel).parent / n) for n in SCALE_SVGS))
    L += cluster_markdown(r)
    a("## How the numbers were measured")
    a("")
    for k, v in r["method"].items():
        a(f"- `{k}`: {v}.")
    a("")
    a("## Reproduce")
    a("")
    a("```sh")
    a("make bench            # = python3 bench/run.py; writes bench/results.json, BENCHMARKS.md, bench/*.svg")
    a("make bench-scale      # = python3 bench/run.py --scale-only: the scale part alone, the rest kept")
    a("make bench-cluster    # = python3 bench/cluster.py: the cluster part alone (root), the rest kept")
    a("python3 bench/render.py   # re-render from bench/results.json only")
    a("```")
    a("")
    a("Needs go, cargo, python3 and openssl (as `make test` does). The run starts its own etcd and "
      "kube-apiserver on free loopback ports (hack/control-plane), builds `target/release/k8sensus` "
      "with `make build` and bench/client-go-ref (cached outside the repository), and stops every "
      "process it started when it ends, fails or is interrupted. Replica logs and the audit log of the "
      "last run stay in bench/.logs/.")
    a("")
    a("## Caveats")
    a("")
    for tkey, raw_key in (("timings", "crash"), ("short_timings", "short_crash")):
        tt = r.get(tkey)
        if not tt:
            continue
        ld = tt["lease_duration_s"]
        for k, name in IMPLS:
            xs = [x["failover_s"] for x in r[k]["raw"].get(raw_key, []) if x.get("ok")]
            below = [x for x in xs if x < ld]
            if not below:
                continue
            line = (f"- {name} took over **less than the lease duration** after the old leader's last "
                    f"renewal in {len(below)} of {len(xs)} crash trials with {dur(tt)} (shortest "
                    f"{fs(min(below))}).")
            if k == "client_go":
                line += (" client-go's LeaseLock turns the Lease into a LeaderElectionRecord whose times are "
                         "`metav1.Time`, serialized to the second, and a standby only re-stamps its local "
                         "observation time when that serialized record changes; with a retry period under "
                         "1 s, renewals within the same second look unchanged, so the standby's expiry clock "
                         "can start up to a second before the last renewal it actually saw.")
            a(line)
    a("- One host and one wall clock: the replicas, the API server and the driver share it, so times "
      "written by one replica (`renewTime`) and another (`acquireTime`) are comparable. Across machines "
      "they would not be.")
    a("- Crash failover starts at the old leader's last renewal, not at the kill, so it does not depend on "
      "when in the renew cycle the kill landed; the kill comes up to one retry period after that renewal.")
    lanes = r["method"].get("lanes")
    if lanes:
        a(f"- Every replica set has its own namespace and Lease. Crash trials run on {lanes} set(s) per "
          "implementation at the same time, beside the steady-state sets; graceful trials run one at a "
          "time, beside the steady-state sets only. On a 2-core machine the other sets' process restarts "
          "can add scheduling delay of the order of milliseconds. The steady-state sets are never "
          "touched: their request counts do not depend on what other Leases do.")
    else:
        a("- Crash trials of the two implementations overlap in time (different Leases); graceful trials and "
          "the steady-state window do not overlap with any trial. On a 2-core machine the other "
          "implementation's process restarts can add scheduling delay of the order of milliseconds.")
    a("- The steady-state window is a sample: a standby that keeps a long-running watch open makes no "
      "request in most windows, and one request when the watch is re-opened; a longer window averages that.")
    a("- Memory is VmRSS (resident pages, shared library pages included) of otherwise idle replicas.")
    a("")
    return "\n".join(L)


# ---------------------------------------------------------------------------
# timeline.svg
# ---------------------------------------------------------------------------

COLORS = ["#3b6fb6", "#2e9b57", "#8a4fb0"]
GAP = "#d6453d"


def nice_step(length: float, target: int = 10) -> float:
    raw = length / target
    for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60):
        if s >= raw:
            return s
    return 60


def svg(r: dict) -> str:
    W, LEFT, RIGHT = 1200, 150, 30
    LANE, LANE_GAP = 20, 8
    plot_w = W - LEFT - RIGHT
    parts, y = [], 0

    def text(x, y, s, size=12, anchor="start", weight="normal", fill="#222", extra=""):
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                     f'font-weight="{weight}" fill="{fill}" {extra}>{html.escape(s)}</text>')

    t = r["timings"]
    y = 28
    text(20, y, f"Who held the Lease: k8sensus and client-go side by side ({dur(t)}, 3 replicas each, one API server)",
         17, weight="bold")
    y += 20
    text(20, y, f"From bench/results.json ({r['generated_at']}, commit {r['source']['commit_short']}). "
         "Bars: from a replica's acquireTime to its last renewTime (kill -9) or to its release (SIGTERM).",
         12, fill="#555")
    y += 16
    text(20, y, "Red band: from that moment to the next holder's acquireTime. "
         "Time axis: seconds from the start of each sample.", 12, fill="#555")
    y += 18
    # legend
    lx = 20
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{COLORS[0]}"/>')
    text(lx + 32, y + 9, "holds the Lease", 11)
    lx += 140
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{GAP}" fill-opacity="0.25" '
                 f'stroke="{GAP}"/>')
    text(lx + 32, y + 9, "no working leader (length labelled)", 11)
    lx += 245
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="none" stroke="{COLORS[0]}" '
                 'stroke-width="1.5" stroke-dasharray="5,3"/>')
    text(lx + 32, y + 9, "Lease still names the killed leader", 11)
    lx += 245
    parts.append(f'<path d="M{lx},{y} l10,10 M{lx + 10},{y} l-10,10" stroke="{GAP}" stroke-width="2.2"/>')
    text(lx + 16, y + 9, "kill -9", 11)
    lx += 75
    parts.append(f'<path d="M{lx},{y} h12 l-6,10 z" fill="#e08a00"/>')
    text(lx + 18, y + 9, "SIGTERM", 11)
    lx += 85
    parts.append(f'<circle cx="{lx + 5}" cy="{y + 5}" r="4" fill="none" stroke="#777" stroke-width="1.5"/>')
    text(lx + 14, y + 9, "replica restarted", 11)
    y += 24

    sections = (("crash", "Crash: kill -9 of the leader"), ("graceful", "Graceful: SIGTERM to the leader"))
    for kind, title in sections:
        tls = [(name, r["timeline"].get(k, {}).get(kind)) for k, name in IMPLS]
        tls = [(n, tl) for n, tl in tls if tl]
        if not tls:
            continue
        length = max(tl["length_s"] for _, tl in tls)
        scale = plot_w / length
        y += 14
        text(20, y, f"{title}: for each, the two consecutive trials closest to its median", 15, weight="bold")
        y += 10
        for name, tl in tls:
            y += 18
            trials = tl.get("trials") or sorted({g["trial"] + 1 for g in tl["gaps"]})
            text(20, y + 2, name, 14, weight="bold")
            text(20 + 9 * len(name) + 12, y + 2, f"trials {', '.join(map(str, trials))}", 11, fill="#777")
            top = y + 10
            lanes = tl["replicas"]
            height = len(lanes) * (LANE + LANE_GAP)
            # axis grid
            step = nice_step(length)
            tick = 0.0
            while tick <= length + 1e-9:
                x = LEFT + tick * scale
                parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + height}" '
                             'stroke="#e4e4e4" stroke-width="1"/>')
                text(x, top + height + 13, f"{tick:g} s", 10, anchor="middle", fill="#777")
                tick += step
            for i, rep in enumerate(lanes):
                ly = top + i * (LANE + LANE_GAP)
                text(LEFT - 10, ly + LANE * 0.72, rep, 12, anchor="end")
                parts.append(f'<line x1="{LEFT}" y1="{ly + LANE / 2}" x2="{LEFT + plot_w}" '
                             f'y2="{ly + LANE / 2}" stroke="#ccc" stroke-dasharray="2,3"/>')
                for iv in tl["held"].get(rep, []):
                    a, b = max(0.0, iv["from"]), min(length, iv["to"])
                    if b <= a:
                        continue
                    parts.append(f'<rect x="{LEFT + a * scale:.1f}" y="{ly + 2}" '
                                 f'width="{max(1.0, (b - a) * scale):.1f}" height="{LANE - 4}" '
                                 f'fill="{COLORS[i % len(COLORS)]}" rx="2"/>')
            # gaps
            for g in tl["gaps"]:
                a, b = max(0.0, g["from"]), min(length, g["to"])
                x0, w = LEFT + a * scale, max(3.0, (b - a) * scale)
                parts.append(f'<rect x="{x0:.1f}" y="{top - 4}" width="{w:.1f}" height="{height + 2}" '
                             f'fill="{GAP}" fill-opacity="0.18" stroke="{GAP}" stroke-width="1"/>')
                if kind == "crash":
                    label = f"{fs(g['length_s'])}: last renewal → new leader"
                    if g["old"] in lanes:
                        i = lanes.index(g["old"])
                        ly = top + i * (LANE + LANE_GAP)
                        parts.append(f'<rect x="{x0:.1f}" y="{ly + 3}" width="{w:.1f}" height="{LANE - 6}" '
                                     f'fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" '
                                     'stroke-dasharray="5,3" rx="2"/>')
                else:
                    label = f"SIGTERM → new leader {fs(g['handoff_s'])}"
                cx = x0 + w / 2
                anchor = "middle"
                if cx < LEFT + 110:
                    anchor, cx = "start", x0
                elif cx > LEFT + plot_w - 110:
                    anchor, cx = "end", x0 + w
                text(cx, top - 8, label, 11.5, anchor=anchor, weight="bold", fill=GAP)
            # markers
            for m in tl["markers"]:
                if m["replica"] not in lanes or not (0 <= m["t"] <= length):
                    continue
                i = lanes.index(m["replica"])
                x = LEFT + m["t"] * scale
                cy = top + i * (LANE + LANE_GAP) + LANE / 2
                if m["kind"] == "kill":
                    parts.append(f'<path d="M{x - 6:.1f},{cy - 6:.1f} l12,12 M{x + 6:.1f},{cy - 6:.1f} l-12,12" '
                                 f'stroke="{GAP}" stroke-width="2.5"/>')
                elif m["kind"] == "sigterm":
                    parts.append(f'<path d="M{x - 7:.1f},{cy - 11:.1f} h14 l-7,11 z" fill="#e08a00" '
                                 'stroke="#fff" stroke-width="0.8"/>')
                elif m["kind"] == "restart":
                    parts.append(f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="4.5" fill="#fff" stroke="#777" '
                                 'stroke-width="1.5"/>')
            y = top + height + 22
        y += 6
    H = y + 10
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
            f'<rect width="{W}" height="{H}" fill="#fff"/>')
    return head + "\n".join(parts) + "</svg>\n"


# ---------------------------------------------------------------------------
# At scale: tables and the two pictures
# ---------------------------------------------------------------------------

SCALE_DEFAULT = ("3", "10", "30", "100")  # bench/run.py's SCALE_NS
SCALE_SVGS = ("scale-requests.svg", "scale-failover.svg")
SERIES_COLORS = {"k8sensus": "#3b6fb6", "client_go": "#d6453d"}


def scale_ns(sc: dict) -> list[str]:
    return [str(n) for n in sc.get("ns", []) if all(str(n) in sc.get(k, {}) for k, _ in IMPLS)]


def fn(v, digits=1) -> str:
    if v is None:
        return "n/a"
    return f"{v:g}" if float(v).is_integer() else f"{v:.{digits}f}"


def phase_time(sc: dict) -> str:
    lp = (sc.get("machine") or {}).get("load_by_phase") or []
    if not lp:
        return ""
    return f", of which {sum(p['seconds'] for p in lp) / 60:.1f} min in its trials and windows"


def scale_markdown(r: dict, svg_rels: tuple) -> list[str]:
    sc = r.get("scale")
    L = ["## At scale: one Lease, N candidates", ""]
    if not sc or not scale_ns(sc):
        L += ["Not measured yet: `bench/results.json` has no `scale` section. `make bench-scale` (or "
              "`python3 bench/run.py --scale-only`) measures it and keeps the rest of the file.", ""]
        return L
    ns, t = scale_ns(sc), sc["timings"]
    missing = [n for n in SCALE_DEFAULT if n not in ns]
    ld = t["lease_duration_s"]
    L.append(f"One Lease per implementation with N candidates, N ∈ {{{', '.join(ns)}}}, {dur(t)}, "
             f"{sc['crash_trials']} crash and {sc['graceful_trials']} graceful trials per implementation "
             f"and N, a {sc['steady_seconds']:.0f} s steady-state window per implementation and N. Run: "
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
    top = ns[-1]
    S = sc["k8sensus"][top]
    nn = int(top)
    rows = [
        (f"Crash failover p90 within the lease duration + 0.25 s", f"≤ {ld + 0.25:g} s",
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
    L.append(f"![API requests per second against N, log scale]({svg_rels[0]})")
    L.append("")
    L.append(f"![Crash failover and graceful handoff against N]({svg_rels[1]})")
    L.append("")
    L.append("How it was measured:")
    L.append("")
    for k, v in sc["method"].items():
        L.append(f"- `{k}`: {v}.")
    L.append("")
    L.append("Caveats at scale:")
    L.append("")
    L.append(f"- Each steady-state window lasts {sc['steady_seconds']:.0f} s. A k8sensus standby sends one GET "
             "and opens one watch per resync (every 120 to 180 s), so in a window that short its rate is a "
             "sample that depends on where the resyncs fall; with few standbys (N = 3: two) it rests on a "
             "handful of requests. The 3-replica figures above use a longer window.")
    L.append("- kube-apiserver CPU includes its own work with no client at all (controllers, the driver's "
             "watch, writing the audit log); the smallest N shows roughly that floor. etcd's CPU is not "
             "counted.")
    L.append("- All N replicas of a set, kube-apiserver, etcd and the driver share the machine "
             f"({(r.get('machine') or {}).get('cpus') or (sc.get('machine') or {}).get('cpus')} CPUs); "
             "during the trials both implementations' sets run. Machine load per phase:")
    L.append("")
    lp = (sc.get("machine") or {}).get("load_by_phase") or []
    if lp:
        L.append("| phase | seconds | CPU busy, mean | CPU busy, max | load1, max |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        for ph in lp:
            L.append(f"| {ph['phase']} | {ph['seconds']:.0f} s | {ph['cpu_busy_mean'] * 100:.0f} % | "
                     f"{ph['cpu_busy_max'] * 100:.0f} % | {ph['load1_max']:g} |")
        L.append("")
    return L


# ---------------------------------------------------------------------------
# In a real cluster (bench/cluster.py): delete the leader pod, roll out, crash the container
# ---------------------------------------------------------------------------

def p3(P: dict | None, bold: str = "") -> str:
    """p50 / p90 / max of a P, the figure named by `bold` in bold."""
    if not P or not P.get("trials"):
        return "n/a"
    return " / ".join(f"**{fs(P[k])}**" if k == bold else fs(P[k]) for k in ("p50", "p90", "max"))


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
    c = r.get("cluster")
    L = ["## In a real cluster: delete the leader pod, roll out, crash the container", ""]
    if not c:
        L += ["Not measured yet: `bench/results.json` has no `cluster` section. `make bench-cluster` (or "
              "`python3 bench/cluster.py`, as root) measures it and keeps the rest of the file.", ""]
        return L
    a = L.append
    k8, cg, n = c["k8sensus"], c["client_go"], c["counts"]
    src, mach = c["source"], c["machine"]
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
    lp = mach.get("load_by_phase") or []
    if lp:
        a("Machine load during the cluster run (sampled every 2 s; it includes the cluster itself and anything "
          "else running on the host; the per-implementation rows overlap in time):")
        a("")
        a("| phase | seconds | CPU busy, mean | CPU busy, max | load1, max |")
        a("| --- | ---: | ---: | ---: | ---: |")
        for ph in lp:
            a(f"| {ph['phase']} | {ph['seconds']:.0f} s | {ph['cpu_busy_mean'] * 100:.0f} % | "
              f"{ph['cpu_busy_max'] * 100:.0f} % | {ph['load1_max']:g} |")
        a("")
    a("How it was measured:")
    a("")
    for k, v in c["method"].items():
        if k != "alongside":
            a(f"- `{k}`: {v}.")
    a("")
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


def line_chart(x0: float, y0: float, w: float, h: float, title: str, xs: list[int], series: list[dict],
               log_y: bool, y_fmt, y_label: str, ref: tuple | None = None) -> list[str]:
    """A chart at (x0, y0) of size w×h: x is N on a log axis; series are
    {label, color, dash, points: [(n, value or None)]}. On a log y axis, zeros and None are
    not drawn (and say so in the label). The legend goes under the plot; `ref` is an optional
    (value, label) drawn as a grey horizontal line."""
    P = []

    def text(x, y, s, size=11, anchor="start", fill="#222", weight="normal"):
        P.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{fill}">{html.escape(s)}</text>')
    L, R, T, B = 70, 10, 30, 48 + 15 * len(series)
    pw, ph = w - L - R, h - T - B
    text(x0, y0 + 14, title, 14, weight="bold")
    vals = [v for s in series for _, v in s["points"] if v is not None and (v > 0 or not log_y)]
    if ref and vals:
        vals.append(ref[0])
    if not vals:
        text(x0 + L, y0 + T + 20, "no data", 12, fill="#777")
        return P
    lo, hi = min(vals), max(vals)
    if log_y:
        lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if hi_e == lo_e:
            hi_e += 1
        ticks = [10.0 ** e for e in range(lo_e, hi_e + 1)]

        def fy(v):
            return y0 + T + ph - (math.log10(v) - lo_e) / (hi_e - lo_e) * ph
    else:
        # Not from 0: a failover of 15.0 s and one of 15.3 s must look different.
        step = nice_step(hi - lo, 6) if hi > lo else 0.1
        lo_v = math.floor(lo / step) * step
        top = math.ceil(hi / step) * step
        if top <= lo_v:
            top = lo_v + step
        ticks = [lo_v + i * step for i in range(int(round((top - lo_v) / step)) + 1)]

        def fy(v):
            return y0 + T + ph - (v - lo_v) / (top - lo_v) * ph
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))

    def fx(n):
        return x0 + L + (0.5 if lx1 == lx0 else (math.log10(n) - lx0) / (lx1 - lx0)) * pw
    for tv in ticks:
        y = fy(tv)
        P.append(f'<line x1="{x0 + L}" y1="{y:.1f}" x2="{x0 + L + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        text(x0 + L - 6, y + 4, y_fmt(tv), 10, anchor="end", fill="#777")
    for n in xs:
        x = fx(n)
        P.append(f'<line x1="{x:.1f}" y1="{y0 + T}" x2="{x:.1f}" y2="{y0 + T + ph}" stroke="#eee"/>')
        text(x, y0 + T + ph + 15, str(n), 10, anchor="middle", fill="#777")
    text(x0 + L + pw / 2, y0 + T + ph + 32, "N (candidates on one Lease), log scale", 11, anchor="middle",
         fill="#555")
    text(x0 + 12, y0 + T + ph / 2, y_label, 11, anchor="middle", fill="#555")
    P[-1] = P[-1].replace("<text ", f'<text transform="rotate(-90 {x0 + 12} {y0 + T + ph / 2:.1f})" ', 1)
    P.append(f'<rect x="{x0 + L}" y="{y0 + T}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>')
    if ref:
        y = fy(ref[0])
        P.append(f'<line x1="{x0 + L}" y1="{y:.1f}" x2="{x0 + L + pw}" y2="{y:.1f}" stroke="#888" '
                 'stroke-dasharray="2,3"/>')
        text(x0 + L + pw - 4, y - 4, ref[1], 10, anchor="end", fill="#666")
    ly = y0 + T + ph + 48
    for s in series:
        pts = [(fx(n), fy(v)) for n, v in s["points"] if v is not None and (v > 0 or not log_y)]
        dash = ' stroke-dasharray="6,4"' if s.get("dash") else ""
        if len(pts) > 1:
            P.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" fill="none" '
                     f'stroke="{s["color"]}" stroke-width="2"{dash}/>')
        for x, y in pts:
            P.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{s["color"]}"/>')
        missing = [n for n, v in s["points"] if v is None or (log_y and v <= 0)]
        label = s["label"] + (f" (not drawn at N = {', '.join(map(str, missing))}: "
                              f"{'0' if log_y else 'n/a'})" if missing else "")
        P.append(f'<line x1="{x0 + L + 10}" y1="{ly:.1f}" x2="{x0 + L + 34}" y2="{ly:.1f}" '
                 f'stroke="{s["color"]}" stroke-width="2"{dash}/>')
        text(x0 + L + 40, ly + 4, label, 10.5)
        ly += 15
    return P


def svg_doc(W: int, H: int, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
            f'<rect width="{W}" height="{H}" fill="#fff"/>' + "\n".join(parts) + "</svg>\n")


def scale_svgs(r: dict) -> tuple[str, str]:
    sc = r["scale"]
    ns = scale_ns(sc)
    xs = [int(n) for n in ns]
    head = f"From bench/results.json ({sc['generated_at']}, {dur(sc['timings'])})"

    def pts(k, f):
        return [(int(n), f(sc[k][n])) for n in ns]
    series = []
    for k, name in IMPLS:
        series.append({"label": f"{name}: all standbys together", "color": SERIES_COLORS[k],
                       "points": pts(k, lambda S: S["all_standbys_requests_per_s"])})
        series.append({"label": f"{name}: each standby", "color": SERIES_COLORS[k], "dash": True,
                       "points": pts(k, lambda S: S["standby_requests_per_s"])})
    P = []
    P += line_chart(20, 10, 760, 480, "API requests per second in the steady state, against N", xs, series,
                    True, lambda v: f"{v:g}", "requests/s (log scale)")
    P.append(f'<text x="20" y="505" font-size="10.5" fill="#777">{html.escape(head)}; '
             'kube-apiserver audit log, standbys only (the leader renews on its own).</text>')
    req = svg_doc(800, 515, P)
    ld = sc["timings"]["lease_duration_s"]
    crash, grace = [], []
    for k, name in IMPLS:
        crash.append({"label": f"{name}: p90", "color": SERIES_COLORS[k],
                      "points": pts(k, lambda S: S["crash_failover_s"]["p90"])})
        crash.append({"label": f"{name}: max", "color": SERIES_COLORS[k], "dash": True,
                      "points": pts(k, lambda S: S["crash_failover_s"]["max"])})
        grace.append({"label": f"{name}: p50", "color": SERIES_COLORS[k],
                      "points": pts(k, lambda S: S["graceful_handoff_s"]["p50"])})
        grace.append({"label": f"{name}: max", "color": SERIES_COLORS[k], "dash": True,
                      "points": pts(k, lambda S: S["graceful_handoff_s"]["max"])})
    P = []
    P += line_chart(20, 10, 560, 440, "Crash failover (kill -9): last renewal to new acquireTime", xs, crash,
                    False, lambda v: f"{v:g} s", "seconds", ref=(ld, f"lease duration {ld:g} s"))
    P += line_chart(600, 10, 560, 440, "Graceful handoff: SIGTERM to new acquireTime", xs, grace,
                    True, lambda v: fs(v), "seconds (log scale)")
    P.append(f'<text x="20" y="465" font-size="10.5" fill="#777">{html.escape(head)}; '
             f'{sc["crash_trials"]} crash and {sc["graceful_trials"]} graceful trials per point.</text>')
    fo = svg_doc(1180, 475, P)
    return req, fo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--markdown", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--svg", default=str(REPO / "bench" / "timeline.svg"))
    ap.add_argument("--readme", default=str(REPO / "README.md"),
                    help="the README whose comparison table is rewritten between its markers")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if any output differs from what results.json gives")
    args = ap.parse_args()
    r = json.loads(Path(args.results).read_text())
    svg_path, md_path = Path(args.svg).resolve(), Path(args.markdown).resolve()
    readme_path = Path(args.readme).resolve()
    try:
        rel = svg_path.relative_to(md_path.parent)
    except ValueError:
        rel = svg_path
    want = {svg_path: svg(r), md_path: markdown(r, str(rel)) + "\n",
            readme_path: with_readme_block(readme_path.read_text(), readme_block(r))}
    if r.get("scale") and scale_ns(r["scale"]):
        for name, text in zip(SCALE_SVGS, scale_svgs(r)):
            want[svg_path.parent / name] = text
    if args.check:
        stale = [str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p, text in want.items()
                 if not p.exists() or p.read_text() != text]
        if stale:
            print(f"[render] out of date with {args.results}: {', '.join(stale)}; "
                  "run `python3 bench/render.py` (or `make bench` for new figures)", flush=True)
            return 1
        print(f"[render] {', '.join(p.name for p in want)} match {args.results}", flush=True)
        return 0
    for p, text in want.items():
        p.write_text(text)
    print(f"[render] wrote {', '.join(str(p) for p in want)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
