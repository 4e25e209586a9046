"""Unit tests of the benchmark's pure parts, and an import of every module, so that a name
lost in a move fails here in a second rather than half an hour into `make bench`.

    python3 -m unittest discover -s bench        (or: python3 bench/test_k8sbench.py)

Nothing here starts a control plane, a cluster or a replica. Where a figure of the last
real run can be computed again from its raw trials (bench/results.json), the test does so
and expects the stored figure: the code that summarises trials still gives what it gave.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import shutil
import sys
import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import k8sbench  # noqa: E402
from k8sbench import build, common, driver, lease_watch, local, provenance, results, scale_part  # noqa: E402
from k8sbench import session  # noqa: E402
from k8sbench import stats  # noqa: E402
from k8sbench.schedule import drive  # noqa: E402
from k8sbench.machine_load import LoadSampler  # noqa: E402
from k8sbench.render import benchmarks_md, fmt, readme, scale_svg, timeline_svg  # noqa: E402

RESULTS = json.loads((BENCH / "results.json").read_text())


def ev(t, holder, acquire=None, renew=None, typ="MODIFIED", transitions=0):
    """A LeaseWatcher event."""
    return {"t": t, "type": typ, "holder": holder, "acquire": acquire, "renew": renew,
            "duration": 15, "transitions": transitions}


class FakeWatcher:
    reconnects, relists, errors = 0, 1, []

    def __init__(self, events=()):
        self.events = list(events)

    def all(self, ns):
        return list(self.events)

    def since(self, ns, idx):
        return self.events[idx:]

    def count(self, ns):
        return len(self.events)

    def latest(self, ns):
        return self.events[-1] if self.events else None


class ImportsAndFlags(unittest.TestCase):
    def test_every_module_imports(self):
        """Every module of bench/k8sbench and the three entry points import."""
        names = [m.name for m in pkgutil.walk_packages(k8sbench.__path__, "k8sbench.")]
        self.assertGreaterEqual(len(names), 20)
        for name in names:
            importlib.import_module(name)
        for entry in ("run", "cluster", "render"):
            importlib.import_module(entry)

    def test_run_flags_and_defaults(self):
        """bench/run.py's flags keep their defaults, and --scale is parsed into numbers."""
        run = importlib.import_module("run")
        with mock.patch.object(sys, "argv", ["bench/run.py"]):
            a = run.parse_args()
        self.assertEqual((a.crash_trials, a.lanes, a.graceful_trials, a.short_crash_trials,
                          a.short_graceful_trials, a.steady_seconds, a.first_runs, a.budget_minutes),
                         (20, 2, 20, 0, 0, 360.0, 5, 28.0))
        self.assertEqual((a.scale, a.scale_crash_trials, a.scale_graceful_trials, a.scale_steady_seconds),
                         ([3, 10, 30, 100], 5, 5, 120.0))
        self.assertEqual(a.out, str(BENCH / "results.json"))
        self.assertFalse(a.no_render or a.skip_build or a.scale_only or a.no_scale)
        with mock.patch.object(sys, "argv", ["bench/run.py", "--scale-only", "--scale", "3,10"]):
            self.assertEqual(run.parse_args().scale, [3, 10])
        with mock.patch.object(sys, "argv", ["bench/run.py", "--no-scale"]):
            self.assertEqual(run.parse_args().scale, [])

    def test_cluster_flags_and_defaults(self):
        """bench/cluster.py's flags keep their defaults."""
        cluster = importlib.import_module("cluster")
        with mock.patch.object(sys, "argv", ["bench/cluster.py"]):
            a = cluster.parse_args()
        self.assertEqual((a.delete_trials, a.crash_trials, a.rollouts, a.seed, a.no_render),
                         (20, 20, 5, None, False))
        self.assertEqual(a.out, str(BENCH / "results.json"))

    def test_session(self):
        """The recorded command is relative to the repository; a given seed is kept."""
        with mock.patch.object(sys, "argv", [str(common.REPO / "bench" / "run.py"), "--lanes", "1"]):
            self.assertEqual(session.recorded_command(), f"python3 {common.REPO}/bench/run.py --lanes 1")
        relative = os.path.relpath(common.REPO / "bench" / "run.py")  # as typed, from wherever the test runs
        with mock.patch.object(sys, "argv", [relative]):
            self.assertEqual(session.recorded_command(), "python3 bench/run.py")
        self.assertEqual(session.seed_random(7), 7)
        self.assertIsInstance(session.seed_random(None), int)


class Stats(unittest.TestCase):
    def test_percentiles_interpolate_between_closest_ranks(self):
        """pct() is numpy's default: linear between the closest ranks."""
        self.assertIsNone(stats.pct([], 50))
        self.assertEqual(stats.pct([5.0], 90), 5.0)
        self.assertEqual(stats.pct([4.0, 1.0, 3.0, 2.0], 50), 2.5)
        self.assertAlmostEqual(stats.pct([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90), 9.1)

    def test_summaries_count_failed_trials(self):
        """A failed trial counts in failed_trials, not in the figures; a figure some good
        trials lack is left out of them."""
        ts = [{"ok": True, "x": 1.0}, {"ok": True, "x": 3.0}, {"ok": False, "x": 100.0}, {"ok": True}]
        s = stats.field_summary(ts, "x")
        self.assertEqual((s["p50"], s["max"], s["min"], s["mean"], s["trials"], s["failed_trials"]),
                         (2.0, 3.0, 1.0, 2.0, 2, 1))
        self.assertEqual(stats.field_summary(ts, "x", count_failed=False)["failed_trials"], 0)
        self.assertEqual(stats.summary([])["p50"], None)
        self.assertEqual(stats.ok_values(ts, "x"), [1.0, 3.0])

class Schedule(unittest.TestCase):
    def test_small_rules(self):
        """The progress line's figures and durations."""
        self.assertEqual((common.fs_log(None), common.fs_log(0.25), common.fs_log(15.0)),
                         ("n/a", "250 ms", "15.000 s"))
        self.assertEqual(common.elapsed(125.0), "2m05s")

    def test_lease_watch_questions(self):
        """A holder has renewed once its renewTime is past its acquireTime; the new-holder
        predicate finds the first event since a position that names someone else."""
        w = FakeWatcher([ev(1.0, "k8sensus-0", 1.0, 1.0)])
        self.assertFalse(lease_watch.renewed(w.latest("ns")))
        w.events.append(ev(3.0, "k8sensus-0", 1.0, 3.0))
        self.assertTrue(lease_watch.renewed(w.latest("ns")))
        pred = lease_watch.new_holder_pred(SimpleNamespace(watcher=w, ns="ns"), 0, "k8sensus-0")
        self.assertIsNone(pred())
        w.events.append(ev(20.0, "k8sensus-2", 19.9, 19.9))
        self.assertEqual(pred()["holder"], "k8sensus-2")

    def test_schedule_steps_generators(self):
        """drive() returns a generator's value; run_all() steps several to their end."""
        from k8sbench.schedule import drive, g_sleep, g_wait, run_all
        self.assertEqual(drive(g_wait(lambda: 42, 1.0)), 42)
        self.assertIsNone(drive(g_wait(lambda: 0, 0.0)))
        seen = []

        def g(name, n):
            for i in range(n):
                seen.append((name, i))
                yield
        run_all(g("a", 2), g("b", 1), beside=[g_sleep(10.0)])
        self.assertEqual(sorted(seen), [("a", 0), ("a", 1), ("b", 0)])


class Watches(unittest.TestCase):
    def test_lease_watcher_records_and_answers(self):
        """The watch keeps each Lease event by namespace with its arrival time."""
        w = lease_watch.LeaseWatcher(cp=None)
        w._record("ADDED", {"metadata": {"namespace": "n", "resourceVersion": "7"},
                            "spec": {"holderIdentity": "a", "acquireTime": "1970-01-01T00:00:01.000000Z",
                                     "renewTime": "1970-01-01T00:00:02.500000Z", "leaseDurationSeconds": 15,
                                     "leaseTransitions": 3}}, 9.0)
        w._record("MODIFIED", {"metadata": {"namespace": "n"}, "spec": None}, 10.0)
        self.assertEqual(w.count("n"), 2)
        self.assertEqual(w.all("n")[0], {"t": 9.0, "type": "ADDED", "rv": "7", "holder": "a", "acquire": 1.0,
                                         "renew": 2.5, "duration": 15, "transitions": 3})
        self.assertEqual(w.latest("n")["holder"], "")
        self.assertEqual(w.since("n", 1), [w.latest("n")])
        self.assertIsNone(w.latest("other"))



def fake_run(test: unittest.TestCase) -> SimpleNamespace:
    """driver.Run's fields, with nothing started: enough for the results' assembly. Its work
    directory goes when `test` ends."""
    out = Path(tempfile.mkdtemp(prefix="k8sbench-test-"))
    test.addCleanup(shutil.rmtree, out, ignore_errors=True)
    binary = out / "bin"
    binary.write_bytes(b"\0" * 1024)
    impls = {"k8sensus": {"key": "k8sensus", "bin": binary, "extra_args": [], "env": {}},
             "client_go": {"key": "client-go", "bin": binary, "extra_args": [], "env": {}}}
    return SimpleNamespace(
        args=SimpleNamespace(skip_build=False, lanes=2, out=str(out / "results.json"), scale_crash_trials=5,
                             scale_graceful_trials=5, scale_steady_seconds=120.0),
        command="python3 bench/run.py",
        seed=1, started_at=dt.datetime.now(dt.timezone.utc), load_at_start=(0.0, 0.0, 0.0), sampler=LoadSampler(),
        source={"commit": "x"}, caches="none", rust_bin=binary, go_bin=binary, go_cached=True, impls=impls,
        cp_build={"seconds": 1.0, "cached": True}, images_build=None, t_build0=0.0, t_built_rust=1.0, t_built_go=2.0, t_built=3.0,
        work=out)


class Results(unittest.TestCase):
    def test_local_results_keys_as_stored(self):
        """The local part's program's sections merged with what run.py knows keep
        results.json's keys, in order, as the last run wrote them (bench/results.rs gives the
        program's own keys; tests/bench_parts/ checks them against the same file)."""
        run = fake_run(self)
        program = {k: RESULTS[k] for k in RESULTS if k not in ("build", "scale", "cluster")}
        program["machine"] = {k: v for k, v in RESULTS["machine"].items() if k not in ("platform", "python")}
        with mock.patch("time.sleep"):
            res = local.merge(run, program)
        self.assertEqual(list(res), [k for k in RESULTS if k not in ("scale", "cluster")])
        for key in ("build", "method", "machine"):
            self.assertEqual(list(res[key]), list(RESULTS[key]), key)
        self.assertEqual(res["source"]["commit"], "x")
        self.assertEqual(res["source"]["k8sensus_binary_sha256"], RESULTS["source"]["k8sensus_binary_sha256"])
        self.assertEqual(res["machine"]["python"], platform.python_version())

    def test_local_part_argv(self):
        """The local part's program gets the run's binaries, seed, counts and paths."""
        run = fake_run(self)
        run.bench_bin, run.cp_bin = Path("/x/bench"), Path("/x/cp")
        run.args = SimpleNamespace(crash_trials=6, lanes=2, graceful_trials=5, short_crash_trials=0,
                                   short_graceful_trials=0, steady_seconds=200.0, first_runs=2,
                                   budget_minutes=28.0)
        a = local.argv(run, Path("/tmp/out.json"))
        self.assertEqual(a[0], "/x/bench")
        for flag in ("--crash-trials=6", "--lanes=2", "--graceful-trials=5", "--steady-seconds=200.0",
                     "--first-runs=2", "--seed=1", "--out=/tmp/out.json", "--control-plane-bin=/x/cp",
                     f"--k8sensus-bin={run.rust_bin}", f"--client-go-bin={run.go_bin}",
                     "--command=python3 bench/run.py"):
            self.assertIn(flag, a)

    def test_scale_part_argv(self):
        """The scale part's program gets --scale-only, the run's binaries, seed, N and counts,
        the results file to merge its section into, and the source snapshot the build took."""
        run = fake_run(self)
        run.bench_bin, run.cp_bin = Path("/x/bench"), Path("/x/cp")
        run.args = SimpleNamespace(scale=[3, 10], scale_crash_trials=2, scale_graceful_trials=3,
                                   scale_steady_seconds=120.0, out="/tmp/results.json")
        a = scale_part.argv(run, Path("/tmp/source.json"))
        self.assertEqual(a[:2], ["/x/bench", "--scale-only"])
        for flag in ("--scale=3,10", "--scale-crash-trials=2", "--scale-graceful-trials=3",
                     "--scale-steady-seconds=120.0", "--source-json=/tmp/source.json", "--seed=1",
                     "--out=/tmp/results.json", "--control-plane-bin=/x/cp",
                     f"--k8sensus-bin={run.rust_bin}", f"--client-go-bin={run.go_bin}",
                     "--command=python3 bench/run.py"):
            self.assertIn(flag, a)

    def test_write_keeps_the_cluster_section(self):
        """Writing the results keeps the cluster section of the file there (bench/cluster.py's)."""
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "results.json"
            self.assertEqual(results.read_results(out), {})
            results.write_results(out, {"cluster": {"x": 1}})
            results.write_results(out, {"k8sensus": {}})
            self.assertEqual(results.read_results(out), {"k8sensus": {}, "cluster": {"x": 1}})


class Provenance(unittest.TestCase):
    def test_provenance_and_machine(self):
        """The source snapshot, the caches and the machine are read without error."""
        src = provenance.source_snapshot()
        self.assertEqual(len(src["build_inputs_sha256"]), 64)
        self.assertIsInstance(provenance.cache_state(), str)
        self.assertEqual(list(provenance.machine_info()), [k for k in RESULTS["machine"]
                                                           if k not in ("loadavg_at_start", "loadavg_at_end",
                                                                        "load_by_phase")])
        self.assertEqual(len(provenance.go_env("GOVERSION", "GOCACHE")), 2)
        self.assertEqual(provenance.sha256(BENCH / "results.json"),
                         __import__("hashlib").sha256((BENCH / "results.json").read_bytes()).hexdigest())
        with mock.patch.dict(os.environ, {"K8SENSUS_CACHE": "/x"}):
            self.assertEqual(build.cache_root(), Path("/x"))

    def test_load_sampler_summary(self):
        """Each phase gets the samples taken while it lasted."""
        s = LoadSampler()
        s.samples = [(10.0, 0.5, 1.0), (12.0, 1.0, 2.0), (20.0, 0.1, 0.5)]
        s.phases = [{"name": "a", "t0": 9.0, "t1": 13.0}]
        s.span("b", 19.0, 21.0)
        self.assertEqual(s.summary(), [
            {"phase": "a", "seconds": 4.0, "cpu_busy_mean": 0.75, "cpu_busy_max": 1.0, "load1_max": 2.0},
            {"phase": "b", "seconds": 2.0, "cpu_busy_mean": 0.1, "cpu_busy_max": 0.1, "load1_max": 0.5}])

    def test_rust_extra_args_from_help(self):
        """The flags k8sensus gets depend on what its --help offers (and run_cmd works)."""
        with tempfile.TemporaryDirectory() as d:
            fake = Path(d) / "k8sensus"
            fake.write_text("#!/bin/sh\necho '--log-format --probe-addr'\n")
            fake.chmod(0o755)
            self.assertEqual(build.rust_extra_args(fake), ["--log-format=json", "--probe-addr=127.0.0.1:0"])


class Render(unittest.TestCase):
    def test_steady_window_caveat(self):
        """The caveat says how the k8sensus standby rate at scale relates to its long-run mean
        for the window used: one resync per standby in a window of 65 to 120 s."""
        from k8sbench.render.scale_md import steady_window_caveat
        self.assertIn("exactly one per standby", steady_window_caveat(120.0))
        self.assertIn("1.25 times the long-run mean", steady_window_caveat(120.0))
        self.assertIn("catches only some", steady_window_caveat(40.0))
        self.assertNotIn("times the long-run mean", steady_window_caveat(360.0))

    def test_every_section_renders_with_and_without_the_optional_parts(self):
        """BENCHMARKS.md, the README block and the pictures render from results.json, also
        without its scale and cluster sections."""
        readme_text = (common.REPO / "README.md").read_text()
        for drop in ((), ("scale",), ("cluster",), ("scale", "cluster")):
            r = {k: v for k, v in RESULTS.items() if k not in drop}
            md = benchmarks_md.markdown(r, "bench/timeline.svg")
            self.assertIn("## Side by side", md)
            self.assertEqual("Not measured yet" in md, bool(drop))
            self.assertIn(readme.README_END, readme.with_readme_block(readme_text, readme.readme_block(r)))
            self.assertTrue(timeline_svg.svg(r).startswith("<svg"))
            if "scale" in r:
                self.assertEqual(len(scale_svg.scale_svgs(r)), 2)

    def test_formats(self):
        """Seconds, rates and ratios as the tables write them."""
        self.assertEqual((fmt.fs(0.0012), fmt.fs(0.25), fmt.fs(15.0), fmt.fs(None)),
                         ("1.2 ms", "250 ms", "15.000 s", "n/a"))
        self.assertEqual((fmt.ratio(1, 2), fmt.ratio(0, 0), fmt.ratio(1, 0), fmt.ratio(0.001, 1)),
                         ("0.50×", "equal (both 0)", "n/a (client-go 0)", "0.001×"))
        self.assertEqual(fmt.dur(common.SHORT_TIMINGS), "4s/3s/500ms")
        self.assertEqual(fmt.load_rows([{"phase": "p", "seconds": 10, "cpu_busy_mean": 0.5, "cpu_busy_max": 1,
                                         "load1_max": 2.5}]), ["| p | 10 s | 50 % | 100 % | 2.5 |"])


if __name__ == "__main__":
    unittest.main()
