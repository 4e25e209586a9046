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
from k8sbench import build, common, local, processes, results, scale_part  # noqa: E402
from k8sbench import session  # noqa: E402
from k8sbench.render import benchmarks_md, fmt, readme, scale_svg, timeline_svg  # noqa: E402

RESULTS = json.loads((BENCH / "results.json").read_text())


class ImportsAndFlags(unittest.TestCase):
    def test_every_module_imports(self):
        """Every module of bench/k8sbench and the three entry points import."""
        names = [m.name for m in pkgutil.walk_packages(k8sbench.__path__, "k8sbench.")]
        self.assertGreaterEqual(len(names), 15)
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


class Progress(unittest.TestCase):
    def test_small_rules(self):
        """The progress line's durations."""
        self.assertEqual(common.elapsed(125.0), "2m05s")


def fake_run(test: unittest.TestCase) -> SimpleNamespace:
    """driver.Run's fields, with nothing started: enough for the results' assembly. Its work
    directory goes when `test` ends."""
    out = Path(tempfile.mkdtemp(prefix="k8sbench-test-"))
    test.addCleanup(shutil.rmtree, out, ignore_errors=True)
    binary = out / "bin"
    binary.write_bytes(b"\0" * 1024)
    return SimpleNamespace(
        args=SimpleNamespace(skip_build=False, lanes=2, out=str(out / "results.json"), scale_crash_trials=5,
                             scale_graceful_trials=5, scale_steady_seconds=120.0),
        command="python3 bench/run.py",
        seed=1, started_at=dt.datetime.now(dt.timezone.utc), load_at_start=(0.0, 0.0, 0.0),
        source={"commit": "x"}, caches="none", rust_bin=binary, go_bin=binary, go_cached=True,
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


class Builds(unittest.TestCase):
    def test_caches_and_go_env(self):
        """The caches found are named, a fresh machine's as such; go env gives one value per name."""
        self.assertIsInstance(build.cache_state(), str)
        self.assertEqual(len(build.go_env("GOVERSION", "GOCACHE")), 2)
        with mock.patch.dict(os.environ, {"K8SENSUS_CACHE": "/x"}):
            self.assertEqual(build.cache_root(), Path("/x"))
        with mock.patch.object(build, "go_env", return_value=["", ""]), \
                mock.patch.object(build, "cache_root", return_value=Path("/nonexistent")), \
                mock.patch.object(build, "TARGET", Path("/nonexistent")), \
                mock.patch.dict(os.environ, {"CARGO_HOME": "/nonexistent"}):
            self.assertEqual(build.cache_state(), "none (a fresh machine)")

    def test_machine_gets_what_only_python_knows(self):
        """platform after kernel and python after memory_gib, in results.json's order."""
        program = {k: v for k, v in RESULTS["machine"].items() if k not in ("platform", "python")}
        out = results.with_python_facts(program)
        self.assertEqual(list(out), list(RESULTS["machine"]))
        self.assertEqual(out["python"], platform.python_version())

    def test_run_program_returns_the_exit_status(self):
        """A part of the program runs to its end; its exit status comes back."""
        self.assertEqual(processes.run_program(["sh", "-c", "exit 3"], "test"), 3)


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
        self.assertEqual(fmt.dur({"lease_duration_s": 4.0, "renew_deadline_s": 3.0, "retry_period_s": 0.5}), "4s/3s/500ms")
        self.assertEqual(fmt.load_rows([{"phase": "p", "seconds": 10, "cpu_busy_mean": 0.5, "cpu_busy_max": 1,
                                         "load1_max": 2.5}]), ["| p | 10 s | 50 % | 100 % | 2.5 |"])


if __name__ == "__main__":
    unittest.main()
