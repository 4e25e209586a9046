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
from k8sbench.cluster import deploy, deployment, runner  # noqa: E402
from k8sbench.cluster import driver as cluster_driver  # noqa: E402
from k8sbench.cluster import pod_logs, terms  # noqa: E402
from k8sbench.cluster import results as cluster_results  # noqa: E402
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
        self.assertGreaterEqual(len(names), 30)
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

    def test_pod_watcher_sees_deletions(self):
        """The pod watch keeps when it first saw a pod marked for deletion."""
        w = runner.PodWatcher(cp=None)
        w._record("MODIFIED", {"metadata": {"namespace": "n", "name": "p"}}, 1.0)
        w._record("MODIFIED", {"metadata": {"namespace": "n", "name": "p", "deletionTimestamp": "x"}}, 2.0)
        w._record("DELETED", {"metadata": {"namespace": "n", "name": "p"}}, 3.0)
        self.assertEqual(w.deletion_seen("n", "p"), 2.0)
        self.assertIsNone(w.deletion_seen("n", "q"))


class ClusterDeployments(unittest.TestCase):
    def test_a_deployment_is_steady_when_its_holder_works(self):
        """Three Ready pods, a holder that renewed and is working (and, if asked, whose
        container never restarted); the turn goes to one trial at a time."""
        def pod(name, ready=True, restarts=0):
            return {"metadata": {"name": name}, "status": {
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                "containerStatuses": [{"name": "k8sensus", "restartCount": restarts}]}}
        pods = [pod("a", restarts=1), pod("b"), pod("c")]
        cluster = SimpleNamespace(request=lambda method, path: (200, {"items": pods}))
        watcher = FakeWatcher([ev(1.0, "a", 1.0, 3.0)])
        logs = SimpleNamespace(working=lambda ns, p: p == "a")
        turn = deployment.Turn()
        dep = deployment.Deployment({"key": "k8sensus", "ns": "k8sensus"}, cluster, watcher, None, logs, turn, None)
        self.assertEqual(dep.steady()["holder"], "a")
        self.assertIsNone(dep.steady(no_restarts=True))
        self.assertEqual((dep.holder(), dep.beside()), ("a", "nothing"))
        self.assertEqual(deployment.container_status(pods[0])["restartCount"], 1)
        self.assertFalse(deployment.is_ready(pod("d", ready=False)))
        other = object()
        self.assertEqual(list(turn.take(dep)), [])
        self.assertEqual(next(turn.take(other)), None)  # waits while dep holds the turn
        turn.give(dep)
        self.assertEqual(list(turn.take(other)), [])

    def test_overlay_changes_only_the_image_and_the_arguments(self):
        """The client-go overlay points at the project's kustomization from its own folder."""
        with tempfile.TemporaryDirectory() as d:
            k = (deploy.client_go_overlay(Path(d), "client-go-ref:abc") / "kustomization.yaml").read_text()
        self.assertIn("namespace: client-go", k)
        self.assertIn('newName: client-go-ref\n    newTag: "abc"', k)
        self.assertIn(f"- --lease-name={common.LEASE}", k)

    def test_leftovers_of_a_cluster_that_never_was(self):
        """A state that names nothing on this host leaves nothing."""
        self.assertEqual(runner.leftovers({"netns_inode": -1, "kubeconfig": "/nonexistent/k8sbench/x"}), [])


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
        program's own keys; tests/bench_parts.rs checks them against the same file)."""
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


class Cluster(unittest.TestCase):
    def test_log_lines(self):
        """Both log formats parse to one shape, and the work lines are told apart."""
        plain = pod_logs.parse_app_line(
            '2025-01-01T00:00:00Z INFO starting the sample task mono_ns=42 x="a" event="work_started"')
        self.assertEqual((plain["message"], plain["mono_ns"], plain["x"]), ("starting the sample task", 42, "a"))
        self.assertEqual(pod_logs.kind_of(plain), "start")
        self.assertEqual(pod_logs.kind_of(pod_logs.parse_app_line('{"event": "work_run"}')), "run")
        spanned = pod_logs.parse_app_line(
            '2026-11-30T11:50:00.123Z  INFO election{lease=k8sensus/k8sensus-lease identity=pod-a}: '
            'k8sensus is running sample task. fencing_token=2 mono_ns=7 event="work_run"')
        self.assertEqual((spanned["message"], spanned["identity"], spanned["lease"], spanned["mono_ns"]),
                         ("k8sensus is running sample task.", "pod-a", "k8sensus/k8sensus-lease", 7))
        self.assertEqual(pod_logs.kind_of(spanned), "run")
        self.assertEqual(pod_logs.kind_of({"event": "work_stopped"}), "stop")
        # The wording is for people: without the event, a line is not a work line.
        self.assertIsNone(pod_logs.kind_of({"message": "sample task stopped"}))
        self.assertIsNone(pod_logs.kind_of({"message": "other"}))
        self.assertAlmostEqual(pod_logs.cri_time("1970-01-01T00:00:01.5Z"), 1.5)
        self.assertIsNone(pod_logs.cri_time("garbage"))

    def test_pod_logs_tail_the_kubelet_files(self):
        """The tailer reads complete CRI lines only, joins partial ones, and keeps them per
        namespace; the queries the trials ask answer from them."""
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "k8sensus_pod-a_uid" / "k8sensus" / "0.log"
            f.parent.mkdir(parents=True)
            f.write_text('2025-01-01T00:00:00Z stdout F {"event": "work_started", "mono_ns": 5}\n'
                         '2025-01-01T00:00:01Z stdout P {"event": "work_r\n'
                         '2025-01-01T00:00:01Z stdout F un", "mono_ns": 9}\n'
                         '2025-01-01T00:00:02Z stdout F {"event": "work_st')
            logs = pod_logs.PodLogs(Path(d))
            logs.poll()
            lines = logs.of("k8sensus")
            self.assertEqual([x["kind"] for x in lines], ["start", "run"])
            self.assertEqual(logs.first_work_after("k8sensus", 6)["mono"], 9)
            self.assertTrue(logs.working("k8sensus", "pod-a"))
            self.assertEqual(logs.first_line("k8sensus", "pod-a", 0)["mono"], 5)
            self.assertIsNone(logs.stopped_after("k8sensus", "pod-a", 0))
            logs.save(Path(d) / "saved")
            self.assertTrue((Path(d) / "saved" / "k8sensus_pod-a.log").exists())

    def test_terms_and_overlaps(self):
        """A term runs from its start to its stop line's ended_mono_ns (never before its last
        run); two terms overlap only if they share more than an instant at their edges."""
        def line(pod, mono, kind, ended=None):
            return {"pod": pod, "mono": mono, "kind": kind, "json": {}, "ended": ended}
        ts = terms.terms([line("a", 10, "start"), line("a", 20, "run"), line("a", 30, "stop", ended=25),
                          line("b", 25, "start"), line("b", 40, "run")])
        self.assertEqual([(t["pod"], t["first_ns"], t["last_ns"], t["stopped"]) for t in ts],
                         [("a", 10, 25, True), ("b", 25, 40, False)])
        self.assertEqual(terms.overlaps(ts), [])
        late = terms.terms([line("a", 10, "start"), line("a", 30, "stop", ended=30), line("b", 20, "start"),
                            line("b", 21, "run")])
        self.assertEqual(len(terms.overlaps(late)), 1)

    def test_stored_rollouts_follow_from_their_terms(self):
        """Each stored rollout's overlaps and gaps follow again from its stored terms."""
        for k in ("k8sensus", "client_go"):
            for t in RESULTS["cluster"][k]["raw"]["rollout"]:
                if not t.get("ok"):
                    continue
                ts = t["terms"]
                self.assertEqual(len(terms.overlaps(ts)), t["overlaps"])
                self.assertEqual([(b["first_ns"] - a["last_ns"]) / 1e9 for a, b in zip(ts, ts[1:])], t["gaps_s"])

    def test_stored_section_follows_from_the_raw_trials(self):
        """The cluster section's figures are those results.json stores, computed again from
        its raw trials, and its keys keep their order."""
        for k in ("k8sensus", "client_go"):
            stored = RESULTS["cluster"][k]
            dep = SimpleNamespace(results=stored["raw"], ns=stored["namespace"], apply=stored["apply"],
                                  logs=SimpleNamespace(of=lambda ns: []))
            sec = cluster_results.section(dep)
            self.assertEqual(list(sec), list(stored))
            for key in sec:
                if key not in ("overlaps_whole_run", "terms_whole_run"):
                    self.assertEqual(sec[key], stored[key], f"{k} {key}")

    def test_cluster_section_keys_as_stored(self):
        """The run's own keys of the cluster section keep their order."""
        stored = RESULTS["cluster"]
        w = SimpleNamespace(name="w", reconnects=0, relists=1, errors=[])
        run = fake_run(self)
        cr = SimpleNamespace(
            cluster=SimpleNamespace(command=lambda c: "0 packets", state={}), deps={}, command="c", seed=1,
            started_at=run.started_at, trials_s=1.0, t_up=2.0, t_build=1.0, orders={}, counts={},
            cg_image="i", cg_archive=Path("a.tar"), cg_bin=run.rust_bin, cg_cached=True, source={},
            load_at_start=(0.0, 0.0, 0.0), sampler=LoadSampler(), watcher=w, pod_watcher=w,
            logs=SimpleNamespace(errors=[]))
        sec = cluster_driver.cluster_section(cr)
        self.assertEqual(list(sec), [k for k in stored if k not in ("k8sensus", "client_go")])


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
