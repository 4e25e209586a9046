#!/usr/bin/env python3
"""Render chaos/results.json (written by `make chaos`) as CHAOS.md at the top of the repository.

    python3 chaos/render.py [--results chaos/results.json] [--out CHAOS.md]

Every figure in CHAOS.md comes from the results file; nothing here measures anything. The
file's schema is the Rust structs in chaos/results.rs (`Results` and what it holds): a key
renamed there is renamed here too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def seconds(v) -> str:
    if v is None:
        return "–"
    return f"{v:.3f} s"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def faults(r: dict) -> list[tuple[str, dict]]:
    """The faults in the order the test lists them."""
    order = r.get("fault_order") or sorted(r["faults"])
    return [(name, r["faults"][name]) for name in order if name in r["faults"]]


# Why a fault produced overlaps, when the cause is known: shown only while it still does.
CAUSES = {
    "lease_deleted": (
        "A standby that sees the Lease deleted creates it at once and starts its work, while "
        "the old leader, which does not watch the Lease, goes on working until its next "
        "renewal fails (up to a retry period later, or until its renew deadline if that "
        "renewal hangs). A deletion is not a release: the old holder is still working. The fix "
        "is for a replica that finds the Lease gone while the last holder it saw (someone "
        "else) still has a live claim to create it only once that claim has run out, a lease "
        "duration after it last saw the Lease change, exactly as for an expiry; the old "
        "holder itself, whose work has stopped, may create it at once."
    ),
}


def provenance(r: dict) -> list[str]:
    p = r.get("produced_by", {})
    m = p.get("machine", {})
    changes = p.get("working_tree_changes") or []
    tree = (
        "its working tree differing in " + ", ".join(f"`{c}`" for c in changes)
        if changes
        else "a clean working tree"
    )
    commit = (p.get("commit") or "unknown")[:12]
    load = r.get("load_average", {})
    binary = p.get("binary_sha256")
    changed = (
        [f"- **Caution:** the source changed while the trials ran (commit at the end: "
         f"`{(p.get('commit_at_end') or 'unknown')[:12]}`); the binary is the one built at the start."]
        if p.get("source_changed_during_run")
        else []
    )
    return [
        f"- **Command:** `make chaos`, that is `{r['command']}` with its results written here, "
        f"{plural(r['trials_per_fault'], 'trial')} of each fault, {r['parallel']} trials at a time "
        f"(the API server restarts alone), master seed {r['seed']}.",
        f"- **When:** {r['started_at']} to {r['finished_at']} ({r['duration_s'] / 60:.1f} min).",
        f"- **Source:** commit `{commit}` \"{p.get('commit_subject', '')}\", with {tree}, "
        f"as the trials began; the `k8sensus` binary under test had sha256 "
        f"`{(binary or 'unknown')[:16]}…`.",
        *changed,
        f"- **Machine:** {m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs, "
        f"{m.get('memory_gib', '?')} GiB, Linux {m.get('kernel', '?')}, {m.get('rustc', '?')}, "
        f"Kubernetes {m.get('kubernetes', '?')}; load average {load.get('start', '?')} at the "
        f"start, {load.get('end', '?')} at the end (other work shared the machine).",
    ]


def summary_table(r: dict) -> list[str]:
    rows = [
        "| fault | trials | overlaps found | other failures | handovers | max gap | p90 gap | median gap |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, f in faults(r):
        overlaps = f["overlaps"]
        shown = f"**{overlaps}**" if overlaps else "0"
        rows.append(
            f"| `{name}` | {f['trials']} | {shown} | {f['failures']} | {f['handovers']} | "
            f"{seconds(f['max_gap_s'])} | {seconds(f['p90_gap_s'])} | {seconds(f['median_gap_s'])} |"
        )
    return rows


def fault_list(r: dict) -> list[str]:
    out = []
    for name, f in faults(r):
        out.append(f"- `{name}`: {f['what']}.")
    return out


def reproduce(r: dict) -> list[str]:
    out = ["```sh"]
    for name, f in faults(r):
        out.append(f["reproduce"])
    out.append("```")
    return out


def frozen(r: dict) -> list[str]:
    fz = r.get("frozen_leader") or {}
    if not fz.get("trials"):
        return ["No SIGSTOP trial ran."]
    out = [
        f"In {plural(fz['trials'], 'trial')} the leader was stopped with SIGSTOP for longer than "
        f"the lease duration and then continued. Runs of the sample task stamped after the "
        f"SIGSTOP, that is after the term's deadline: **{fz['runs_after_sigstop']}**. "
        f"In {fz['trials_that_logged_term_over']} of those trials the resumed leader logged \"the term of leadership is over: "
        f"not running the sample task\" (the task's own deadline check won the race); in the "
        f"others the elector's deadline branch ended the task first, and it simply stopped.",
    ]
    ex = fz.get("example")
    if ex and ex.get("after_resume"):
        out += [
            "",
            f"What the resumed leader logged first in trial {ex['trial']} (stopped "
            f"{ex['stopped_s']} s, fencing token {ex['fencing_token']}), with when the test "
            f"received each line after sending SIGCONT, and for the task's lines their own "
            f"`mono_ns` against the same instant:",
            "",
            "```",
        ]
        for line in ex["after_resume"]:
            got = line.get("received_ms_after_sigcont")
            mono = line.get("ms_after_sigcont")
            when = f"+{got:.1f} ms" if got is not None else ""
            extra = []
            if "fencing_token" in line:
                extra.append(f"fencing_token {line['fencing_token']}")
            if mono is not None:
                extra.append(f"mono_ns +{mono:.1f} ms")
            tail = f"  ({', '.join(extra)})" if extra else ""
            out.append(f"{when:>10}  {line['message']}{tail}")
        out.append("```")
    return out


def skew(r: dict) -> list[str]:
    s = r.get("clock_skew") or {}
    rates = s.get("measured_clock_rates") or []
    skewed = s.get("takeover_after_last_change_s") or []
    plain = s.get("unskewed_takeover_after_last_change_s") or []
    trials = r["faults"].get("standby_clock_fast", {}).get("trials", 0)
    if not trials:
        return ["No clock-skew trial ran."]

    def span(xs):
        return f"{min(xs):.3f}-{max(xs):.3f} s" if xs else "n/a"

    ld = r["timings"]["lease_duration_s"]
    factor = s["factor"]
    return [
        f"One standby runs with `{s['how']}` (library `{s.get('library')}`). libfaketime "
        f"interposes libc's `clock_gettime`, so Rust's `Instant`, and tokio's timers with it, "
        f"run {factor}× as fast in that process; it also scales the timeouts of `epoll_wait`, "
        f"so tokio really wakes up early. The `mono_ns` of its log lines is read by rustix "
        f"through the vDSO, which libfaketime cannot reach, so the checker still sees the true "
        f"host clock. Both facts are measured in every trial: the skewed replica is made to "
        f"lead, and the spacing of its 100 ms task runs on the true clock gives its clock rate: "
        f"**{', '.join(f'{x:.3f}' for x in rates) or 'n/a'}** (1.000 would mean the skew did not "
        f"take effect; the trial fails outside {factor - 0.05:.2f}-{factor + 0.05:.2f}).",
        "",
        f"The skewed standby took over in {s['skewed_standby_took_over']} of {trials} trials. "
        f"From the old leader's last change of the Lease to the takeover, as the test's own "
        f"watch saw it: {span(skewed)} for the skewed standby, against {span(plain)} for "
        f"unskewed standbys in `partition_leader` (lease duration {ld:.0f} s; "
        f"{ld:.0f} / {factor} = {ld / factor:.3f} s).",
        "",
        "A caveat of the method: with a relative offset, libfaketime reports CLOCK_MONOTONIC "
        "with wall-clock-sized values. That is harmless for `Instant` arithmetic, but an "
        "absolute-deadline wait on the real clock (a futex with a CLOCK_MONOTONIC deadline, "
        "as std's `Condvar::wait_timeout` uses) would wait for decades. k8sensus parks in "
        "`epoll_wait` with relative timeouts, so it is unaffected; a program that is not would "
        "hang under this tool rather than show a skew.",
    ]


def problems(r: dict) -> list[str]:
    ps = r.get("problems") or []
    if not ps:
        return ["None: every trial converged, every surviving replica was still running, no "
                "output contained \"panicked\", and the checker found no overlap."]
    out = []
    for p in ps:
        head = f"- `{p['fault']}` trial {p['trial']} (seed {p['seed']})"
        items = list(p.get("overlaps") or []) + list(p.get("problems") or [])
        out.append(head + ":")
        for item in items:
            out.append(f"  - {item}")
    out.append("")
    out.append("Each failed trial's full logs were written next to the results as "
               "`chaos/FAULT-TRIAL.log` (not committed).")
    for name, f in faults(r):
        if f["overlaps"] and name in CAUSES:
            out += ["", f"**Why `{name}` overlaps.** {CAUSES[name]}"]
    return out


def render(r: dict) -> str:
    t = r["timings"]
    total_trials = sum(f["trials"] for f in r["faults"].values())
    total_overlaps = sum(f["overlaps"] for f in r["faults"].values())
    total_failures = sum(f["failures"] for f in r["faults"].values())
    verdict = (
        f"**{total_overlaps} of {total_trials} trials found two leaders working at once.**"
        if total_overlaps
        else f"No overlap in {total_trials} trials."
    )
    if total_failures:
        verdict += f" {plural(total_failures, 'trial')} failed another check."
    lines = [
        "# Chaos: faults injected, overlapping leaders looked for",
        "",
        "<!-- Generated by chaos/render.py from chaos/results.json. Do not edit: run `make chaos`. -->",
        "",
        f"Randomized faults against real `k8sensus` processes and a real kube-apiserver, "
        f"{plural(r['trials_per_fault'], 'trial')} of each. {verdict}",
        "",
        *provenance(r),
        "",
        "## Results",
        "",
        *summary_table(r),
        "",
        "*Overlaps found*: trials in which the checker found two terms whose leader work "
        "overlapped. *Other failures*: no single leader within the time allowed, a replica that "
        "died on its own, a panic, a frozen leader that ran after its deadline, a skew that did "
        "not take effect. *Handovers*: trials in which a new term began after the fault "
        "(after an API server restart, or a Lease deleted and recreated by its leader, the "
        "old leader may keep its term). *Gap*: from the end of the work of the term hit by "
        "the fault to the start of the next term's work, on the host's monotonic clock; a "
        "negative gap is an overlap. It includes, where the next leader created a missing "
        "Lease, the one lease duration its work waits. For `ten_start_together` it is from "
        "the start of the processes to the start of the first term's work.",
        "",
        "## The faults",
        "",
        f"Each trial: a fresh namespace with `rbac.yaml` applied, three replicas (ten for "
        f"`ten_start_together`, four for `mixed_fleet_client_go`) with the ServiceAccount's "
        f"token, timings "
        f"{t['lease_duration_s']:.0f} s / {t['renew_deadline_s']:.0f} s / "
        f"{t['retry_period_s']} s (lease duration / renew deadline / retry period) and the "
        f"sample task every {t['task_period_s'] * 1000:.0f} ms. Once one leader has worked for "
        f"a while, the fault is injected at a random moment within a retry period, with random "
        f"durations in the ranges below. Then: the replicas must converge again on one leader "
        f"that the Lease names and that runs the task (40 s allowed, 60 s after an API server "
        f"restart), every replica not ended on purpose must still run, and no output may "
        f"contain \"panicked\".",
        "",
        *fault_list(r),
        "",
        "Every replica talks to the API server through its own TCP proxy "
        "(`tests/support/proxy.rs`), which can pass, delay, blackhole or reset its "
        "connections at run time without touching TLS.",
        "",
        "## The checker",
        "",
        "The line that starts each term's work, every run, and the line that ends the work "
        "are logged with the fencing token and `mono_ns`, the host's CLOCK_MONOTONIC, by "
        "k8sensus and by the client-go reference alike. All replicas share the host, so their "
        "lines sit on one timeline with no clock correction at all. `tests/support/overlap.rs` "
        "takes each term from the line that starts its work to the line that ends it (not "
        "from its first run to its last, which would hide an overlap shorter than a task "
        "period at either edge); a term that ended at its deadline ends there (the stop "
        "line's `ended_mono_ns`: a frozen leader logs its stop only after it resumes), but "
        "never before its last run; a killed process's term ends at its last line. It fails "
        "if any two terms share more than a boundary instant: zero tolerance, to the "
        "nanosecond. Its own tests (`cargo test --test harness checker`) show it finds an "
        "overlap of 1 ns, an overlap at a term's edge between two runs, a single run inside "
        "another term, two runs at the same instant and a run after a frozen term's deadline, "
        "and accepts terms that only touch.",
        "",
        "What this checks is the README's \"never two leaders\" under the assumptions it "
        "states there: the clocks' rates agree (all replicas share one host, except the one "
        "`standby_clock_fast` speeds up by 10 %), and the work honours its `Leadership` (the "
        "sample task awaits `started()`, stops at `ended()` and checks `still_leading()` before "
        "each run). Unique identities used to be an assumption too; `two_with_one_identity` "
        "and `kill9_restart_same_identity` break it on purpose, and the client-go replicas of "
        "`mixed_fleet_client_go` test the margin LD - RD - RP that exists for client-go "
        "leaders.",
        "",
        "## What went wrong",
        "",
        *problems(r),
        "",
        "## A frozen leader",
        "",
        *frozen(r),
        "",
        "## A standby whose clock runs fast",
        "",
        *skew(r),
        "",
        "## Reproduce",
        "",
        f"`make chaos` runs everything again ({r['duration_s'] / 60:.0f} minutes this time, "
        f"with {r['parallel']} trials at a time; `--parallel` changes that, and "
        f"`cargo test --test chaos -- --help` lists every flag). Plain `cargo test` runs one "
        f"trial of each fault (about a minute and a half), with its results in a scratch file. One fault, "
        f"with this run's random choices (the timing of processes is not replayed):",
        "",
        *reproduce(r),
        "",
        "The standby_clock_fast fault needs libfaketime: `apt-get install faketime` on "
        "Debian or Ubuntu.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(REPO / "chaos" / "results.json"))
    ap.add_argument("--out", default=str(REPO / "CHAOS.md"))
    args = ap.parse_args()
    results = json.loads(Path(args.results).read_text())
    Path(args.out).write_text(render(results))
    print(f"wrote {args.out} from {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
