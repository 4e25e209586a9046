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
from k8sbench import build, common, driver, lease_watch, local, provenance, replicas, results, scale  # noqa: E402
from k8sbench import session  # noqa: E402
from k8sbench import stats, steady, trials  # noqa: E402
from k8sbench.control_plane import audit_counts, audit_totals  # noqa: E402
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


def fake_set(events=(), n=3, key="k8sensus", ns="ns", binary=Path("/bin/true")):
    """A ReplicaSet whose watcher replays `events`; its replicas run `binary` if started."""
    impl = {"key": key, "bin": binary, "extra_args": ["--log-format=json"], "env": {}}
    kubeconfigs = {(ns, i): Path(f"kc-{i}") for i in range(n)}
    return replicas.ReplicaSet(impl, ns, kubeconfigs, common.TIMINGS, FakeWatcher(events), [], n)


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

    def test_stored_summaries_follow_from_the_raw_trials(self):
        """trial_summaries() of results.json's raw trials gives its stored figures, for the
        3-replica sets and for every N at scale."""
        for k in ("k8sensus", "client_go"):
            m = RESULTS[k]
            want = {key: m[key] for key in ("crash_failover_s", "crash_failover_seen_s",
                                            "graceful_handoff_s", "graceful_handoff_seen_s")}
            self.assertEqual(stats.trial_summaries(m["raw"]["crash"], m["raw"]["graceful"]), want)
            self.assertEqual(stats.trial_summaries(m["raw"]["short_crash"], m["raw"]["short_graceful"]),
                             m["short"])
            for n, S in RESULTS["scale"][k].items():
                got = stats.trial_summaries(S["raw"]["crash"], S["raw"]["graceful"])
                self.assertEqual(got, {key: S[key] for key in got}, f"scale N={n} {k}")


class SteadyState(unittest.TestCase):
    def test_holder_intervals(self):
        """A holder holds from its acquireTime to the next event that names someone else (a
        release or a deletion ends it too); the last one is open-ended."""
        evs = [ev(1.0, "a", 0.9, 1.0), ev(3.0, "a", 0.9, 3.0), ev(5.0, "", None, 4.9), ev(6.0, "b", 5.95, 6.0),
               ev(8.0, "b", 5.95, 8.0, typ="DELETED"), ev(9.0, "c", None, 9.0)]
        self.assertEqual(steady.holder_intervals(evs),
                         [("a", 0.9, 5.0), ("b", 5.95, 8.0), ("c", 9.0, float("inf"))])
        ivs = steady.holder_intervals(evs)
        self.assertAlmostEqual(steady.lead_time(ivs, "a", 2.0, 10.0), 3.0)
        self.assertEqual(steady.holder_at(ivs, 6.5), "b")
        self.assertIsNone(steady.holder_at(ivs, 8.5))

    def test_requests_by_role(self):
        """A request counts for the role its replica had when it was received; a leader's
        writes are limited to one per retry period (plus one at each edge of the window)."""
        rs = fake_set([ev(0.0, "k8sensus-0", 0.0, 0.0)])
        user = "system:serviceaccount:ns:replica-"
        seen = {user + "0": {f"w{i}": {"verb": "update", "t": 100.0 + 2 * i, "code": 200, "resource": "leases"}
                             for i in range(10)},
                user + "1": {"g": {"verb": "get", "t": 150.0, "code": 200, "resource": "leases"},
                             "w": {"verb": "watch", "t": 160.0, "code": 200, "resource": "leases"}}}
        everything = {user + "1": {"e": {"verb": "create", "t": 150.0, "code": 201, "resource": "events"},
                                   **seen[user + "1"]}}
        load = steady.set_load(rs, seen, everything, 100.0, 200.0)
        self.assertEqual(load["leader_writes_in_window"], 10)
        self.assertEqual(load["leader_writes_allowed"], 51)
        self.assertEqual(load["leader_write_interval_s"], {"median": 2.0, "min": 2.0, "max": 2.0})
        self.assertAlmostEqual(load["leader_writes_per_s"], 0.1)
        self.assertEqual(load["leader_reads_per_s"], 0)
        self.assertAlmostEqual(load["standby_requests_per_s"], 2 / 200.0)
        self.assertEqual(load["standby_requests_per_s_max"], 0.02)
        self.assertEqual(load["per_replica"]["k8sensus-1"]["other_requests"], {"events create": 1})
        self.assertEqual(load["per_replica"]["k8sensus-0"]["role"], "leader")
        with mock.patch("time.sleep"), tempfile.TemporaryDirectory() as d:
            log = Path(d) / "audit.log"
            log.write_text("")
            self.assertEqual(steady.steady_state([rs], log, 100.0, 200.0)["k8sensus"]["per_replica"]
                             ["k8sensus-2"]["requests"], 0)

    def test_audit_log_reading(self):
        """An audit event is counted once per auditID, with its response code once it has
        one, only within the window, Leases only unless asked for every resource."""
        def line(aid, t, verb, resource="leases", code=None, user="system:serviceaccount:n1:replica-0"):
            e = {"auditID": aid, "verb": verb, "stage": "x", "user": {"username": user},
                 "requestReceivedTimestamp": dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(),
                 "objectRef": {"resource": resource}}
            if code:
                e["responseStatus"] = {"code": code}
            return json.dumps(e)
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "audit.log"
            log.write_text("\n".join([line("a", 10, "get"), line("a", 10, "get", code=200), "garbage",
                                      line("b", 11, "create", "events", 201), line("c", 50, "get", code=200)]))
            seen = audit_counts(log, 0, 20)
            self.assertEqual(list(seen["system:serviceaccount:n1:replica-0"]), ["a"])
            self.assertEqual(seen["system:serviceaccount:n1:replica-0"]["a"]["code"], 200)
            self.assertEqual(audit_totals(log, {"n1": "k8sensus"}, 0, 20),
                             {"k8sensus": {"events create 201": 1, "leases get 200": 1}})

    def test_memory_reads_each_replica(self):
        """memory() reads each replica's VmRSS and names the holder's role."""
        rs = fake_set([ev(1.0, "k8sensus-1", 1.0, 1.0)])
        for r in rs.replicas:
            r.proc = SimpleNamespace(pid=os.getpid())
        mem = steady.memory([rs])["k8sensus"]
        self.assertEqual(mem["per_replica"]["k8sensus-1"]["role"], "leader")
        self.assertGreater(mem["rss_mib"], 0)


class Trials(unittest.TestCase):
    def test_small_rules(self):
        """The flags' durations; the timeouts of a trial; the progress line's figures."""
        self.assertEqual((replicas.dur_flag(15.0), replicas.dur_flag(0.5)), ("15s", "500ms"))
        self.assertEqual(trials.settle_time(common.SHORT_TIMINGS), 3.0)
        self.assertAlmostEqual(trials.takeover_timeout(common.TIMINGS), 44.6)
        self.assertEqual((common.fs_log(None), common.fs_log(0.25), common.fs_log(15.0)),
                         ("n/a", "250 ms", "15.000 s"))
        self.assertEqual(common.elapsed(125.0), "2m05s")

    def test_replica_argv_as_stored(self):
        """A replica's command line is the one results.json records for the last run."""
        r = replicas.Replica({"key": "k8sensus", "bin": Path("/x/k8sensus"), "extra_args": ["--a"], "env": {}},
                             "NAMESPACE", 0, Path("KUBECONFIG"), common.TIMINGS)
        stored = RESULTS["k8sensus"]["argv"]
        self.assertEqual(r.argv()[1:6], stored[1:6])
        self.assertEqual(r.identity, "k8sensus-0")

    def test_steady_leader_needs_a_renewal(self):
        """A set is steady once its replicas run, one holds the Lease and has renewed it."""
        rs = fake_set([ev(1.0, "k8sensus-0", 1.0, 1.0)])
        for r in rs.replicas:
            r.proc, r.started = SimpleNamespace(poll=lambda: None), 0.0
        self.assertIsNone(rs.steady(0))
        rs.watcher.events.append(ev(3.0, "k8sensus-0", 1.0, 3.0))
        self.assertEqual(rs.steady(0)["renew"], 3.0)
        self.assertTrue(lease_watch.renewed(rs.steady(0)))
        pred = lease_watch.new_holder_pred(rs, 0, "k8sensus-0")
        self.assertIsNone(pred())
        rs.watcher.events.append(ev(20.0, "k8sensus-2", 19.9, 19.9))
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


class TakeoverWatcher(FakeWatcher):
    """A watch on a set whose leader renewed twice; once the leader's process is gone, the
    Lease is released and another replica takes it."""

    def __init__(self):
        super().__init__([ev(100.0, "k8sensus-0", 99.0, 99.0), ev(101.0, "k8sensus-0", 99.0, 101.0)])
        self.rs = None

    def since(self, ns, idx):
        holder = self.rs.by_id.get(self.events[-1]["holder"])
        if holder is not None and not holder.alive():
            now = __import__("time").time()
            self.events += [ev(now, "", None, now), ev(now + 0.01, "k8sensus-1", now, now, transitions=1)]
        return self.events[idx:]

    def all(self, ns):
        return self.since(ns, 0)


class TrialsWithProcesses(unittest.TestCase):
    """The crash and graceful trials against real processes (a shell that sleeps), the Lease
    played by TakeoverWatcher; no control plane."""

    def setUp(self):
        d = Path(tempfile.mkdtemp(prefix="k8sbench-test-"))
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        fake = d / "elector"
        fake.write_text("#!/bin/sh\nexec sleep 60\n")
        fake.chmod(0o755)
        for patch in (mock.patch.object(replicas, "LOG_DIR", d), mock.patch.object(trials, "log"),
                      mock.patch.object(trials, "g_sleep", lambda s: iter(()))):
            patch.start()
            self.addCleanup(patch.stop)
        self.rs = fake_set(binary=fake)
        self.rs.watcher = TakeoverWatcher()
        self.rs.watcher.rs = self.rs
        self.rs.start_all()
        self.addCleanup(self.rs.stop_all, 1.0)
        for r in self.rs.replicas:
            r.started = 0.0  # up long enough to be steady

    def test_crash_trial(self):
        """kill -9 of the leader; failover from its last renewal to the new acquireTime; the
        killed replica is restarted."""
        out = []
        drive(trials.g_crash_trials(self.rs, range(1), "crash", out, trials.progress))
        rec = out[0]
        self.assertTrue(rec["ok"])
        self.assertEqual((rec["old"], rec["new"], rec["last_renew_t"], rec["transitions"]),
                         ("k8sensus-0", "k8sensus-1", 101.0, 1))
        self.assertAlmostEqual(rec["failover_s"], rec["acquire_t"] - 101.0)
        self.assertEqual(self.rs.replicas[0].exits, [{"how": "kill -9", "code": -9}])
        self.assertTrue(self.rs.replicas[0].alive())
        self.assertEqual([m["kind"] for m in self.rs.markers], ["start"] * 3 + ["kill", "restart"])

    def test_graceful_trial(self):
        """SIGTERM to the leader; handoff from SIGTERM to the new acquireTime, the release seen."""
        outs = {"k8sensus": []}
        drive(trials.g_graceful_alternating([self.rs], 1, "graceful", outs, trials.progress))
        rec = outs["k8sensus"][0]
        self.assertTrue(rec["ok"] and rec["released"])
        self.assertEqual((rec["old"], rec["new"], rec["exit_code"]), ("k8sensus-0", "k8sensus-1", -15))
        self.assertGreaterEqual(rec["handoff_s"], 0.0)
        self.assertGreaterEqual(rec["exited_after_s"], 0.0)
        # The new holder has not renewed yet: no steady leader.
        with self.assertRaisesRegex(common.BenchError, "no leader elected within 0 s in"):
            drive(trials.g_wait_leaders([self.rs], 0.05))
        last = self.rs.watcher.events[-1]
        self.rs.watcher.events.append({**last, "renew": last["renew"] + 2.0})
        drive(trials.g_wait_leaders([self.rs], 1.0))


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



class Scale(unittest.TestCase):
    def test_takeover_requests(self):
        """A crash takeover's requests run from the last renewal + the lease duration to one
        retry period after the new acquireTime, the old leader's slot left out and the new
        holder's cut at half a retry period."""
        rs = fake_set()
        user = "system:serviceaccount:ns:replica-"

        def line(aid, t, slot, verb="get"):
            return json.dumps({"auditID": aid, "verb": verb, "user": {"username": user + str(slot)},
                               "requestReceivedTimestamp": dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(),
                               "objectRef": {"resource": "leases"}, "responseStatus": {"code": 200}})
        trial = {"trial": 0, "ok": True, "old": "k8sensus-0", "new": "k8sensus-1", "last_renew_t": 100.0,
                 "acquire_t": 115.0}
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "audit.log"
            log.write_text("\n".join([line("old", 116, 0), line("w1", 115.5, 1, "update"), line("w2", 116.5, 1),
                                      line("s", 116.9, 2), line("early", 114.0, 2)]))
            got = scale.takeover_requests(log, rs, [trial, {"ok": False}], "crash")
        self.assertEqual(got, [{"trial": 0, "from_t": 115.0, "to_t": 117.0, "requests": 2,
                                "by_request": {"leases get 200": 1, "leases update 200": 1}}])

    def test_window_span_holds_each_first_resync(self):
        """The steady-state windows open `settle` s after the leaders at the earliest, and close
        late enough that a k8sensus standby's first resync (120 to 180 s after its watch
        opened, by then) falls in them: a 120 s window spans 65 to 185 s after the leaders, so
        it holds that resync wherever the jitter put it, and no second one."""
        self.assertEqual(scale.window_span(1000.0, 120.0, 15.0), (1065.0, 1185.0))
        t0, t1 = scale.window_span(1000.0, 120.0, 15.0)
        lo, hi = scale.K8SENSUS_RESYNC_S
        self.assertTrue(t0 < 1000.0 - 50 + lo and 1000.0 + hi < t1 < 1000.0 - 5 + 2 * lo)
        # A window long enough on its own opens after the settle time.
        self.assertEqual(scale.window_span(1000.0, 360.0, 15.0), (1015.0, 1375.0))
        # A short one (a quick check) ends at the same time and holds part of the resyncs.
        self.assertEqual(scale.window_span(1000.0, 40.0, 15.0), (1145.0, 1185.0))

    def test_scale_namespaces(self):
        """Each N has a trial and a steady namespace per implementation, the seed in each, the
        two apart (their replicas' log files are named after them)."""
        trial, steady = scale.scale_namespaces(123456, {"k8sensus": "k8sensus", "client_go": "client-go"},
                                               [3, 100])
        self.assertEqual(trial[("client_go", 100)], "bench-23456-n100-client-go")
        self.assertEqual(steady[("client_go", 100)], "bench-23456-n100-steady-client-go")
        self.assertEqual(len(set(trial.values()) | set(steady.values())), 8)

    def test_scale_windows_share_one_span_each_its_own_apiserver(self):
        """Both windows run over the same span; each one's kube-apiserver CPU is the
        difference of its own steady control plane's counter, and each set's memory is its
        own."""
        sets = {"k8sensus": fake_set(key="k8sensus", ns="a"), "client_go": fake_set(key="client-go", ns="b")}
        readings = {"k8sensus": iter([10.0, 10.5]), "client_go": iter([20.0, 23.0])}
        planes = {k: SimpleNamespace(cp=SimpleNamespace(cpu_seconds=lambda k=k: next(readings[k])))
                  for k in sets}
        mem = {"k8sensus": {"rss_mib": 1.0, "per_replica": {}}, "client-go": {"rss_mib": 2.0, "per_replica": {}}}

        def no_wait(sets, timeout):
            return
            yield
        out: dict = {}
        with mock.patch.object(scale, "g_wait_leaders", no_wait), mock.patch.object(scale, "log"), \
                mock.patch.object(scale, "window_span", lambda t, s, settle: (t, t + s)), \
                mock.patch.object(scale, "memory", lambda sets: mem), \
                mock.patch.object(replicas.Replica, "alive", lambda self: True):
            drive(scale.g_scale_windows(sets, planes, 0.01, 15.0, out))
        self.assertEqual(out["k8sensus"]["t0"], out["client_go"]["t0"])
        self.assertEqual(out["k8sensus"]["t1"], out["client_go"]["t1"])
        self.assertGreaterEqual(out["k8sensus"]["t1"] - out["k8sensus"]["t0"], 0.01)
        self.assertEqual((out["k8sensus"]["cpu_s"], out["client_go"]["cpu_s"]), (0.5, 3.0))
        self.assertEqual(out["client_go"]["memory"]["rss_mib"], 2.0)

    def test_stop_everything_stops_the_steady_control_planes_too(self):
        """On any exit path every control plane is let go before any is waited for (so they
        stop at the same time), every watch is told to stop, every audit log is kept in
        LOG_DIR and the work directory goes."""
        work = Path(tempfile.mkdtemp(prefix="k8sbench-test-"))
        logs = Path(tempfile.mkdtemp(prefix="k8sbench-test-logs-"))
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        self.addCleanup(shutil.rmtree, logs, ignore_errors=True)
        calls = []

        class FakeCP:
            def __init__(self, name):
                self.name, self.dir = name, work / name

            def let_go(self):
                calls.append(("let_go", self.name))

            def stop(self):
                calls.append(("stop", self.name))
        planes = {}
        for key in ("k8sensus", "client-go"):
            log = work / f"audit-scale-steady-{key}.log"
            log.write_text("{}\n")
            planes[key] = SimpleNamespace(key=key, cp=FakeCP(key), watcher=SimpleNamespace(stopping=False),
                                          audit_log=log)
        (work / "audit.log").write_text("{}\n")
        run = SimpleNamespace(sets=[], sampler=SimpleNamespace(stopping=False), images=None,
                              watcher=SimpleNamespace(stopping=False), steady_planes=planes, cp=FakeCP("trials"),
                              audit_log=work / "audit.log", work=work)
        with mock.patch.object(driver, "LOG_DIR", logs), mock.patch.object(driver, "log"):
            driver.stop_everything(run)
        self.assertEqual([c[0] for c in calls], ["let_go"] * 3 + ["stop"] * 3)
        self.assertEqual({c[1] for c in calls}, {"k8sensus", "client-go", "trials"})
        self.assertTrue(all(p.watcher.stopping for p in planes.values()) and run.watcher.stopping)
        self.assertEqual(sorted(x.name for x in logs.iterdir()),
                         ["audit-scale-steady-client-go.log", "audit-scale-steady-k8sensus.log", "audit.log"])
        self.assertFalse(work.exists())

    def test_scale_section_keys_as_stored(self):
        """The scale section and each N's figures keep the keys, in order, of results.json."""
        run = fake_run(self)
        rs = fake_set(n=3)
        w = {"t0": 0.0, "t1": 120.0, "cpu_s": 2.0,
             "memory": {"rss_mib": 1.0, "per_replica": {"k8sensus-0": {"rss_mib": 1.0, "role": "leader"}}}}
        plane = SimpleNamespace(audit_log=run.audit_log)
        with mock.patch("time.sleep"), mock.patch.object(scale, "log"):
            S = scale.figures(run, fake_set(n=3), rs, plane, {"k8sensus": []}, {"k8sensus": []}, w, 3)
        stored = RESULTS["scale"]["k8sensus"]["3"]
        self.assertEqual(list(S), list(stored))
        self.assertEqual(list(S["raw"]), list(stored["raw"]))
        sec = scale.scale_section({"k8sensus": {"3": S}, "client_go": {}}, [3], True,
                                  started_at=run.started_at, t_start=0.0, timings=common.TIMINGS, args=run.args)
        with mock.patch.object(scale, "log"):
            scale.save_section(run, {}, sec)
        self.assertEqual(list(sec), list(RESULTS["scale"]))
        self.assertEqual(json.loads(Path(run.args.out).read_text())["scale"]["ns"], [3])


def fake_run(test: unittest.TestCase) -> SimpleNamespace:
    """driver.Run's fields, with nothing started: enough for the results' assembly. Its work
    directory goes when `test` ends."""
    out = Path(tempfile.mkdtemp(prefix="k8sbench-test-"))
    test.addCleanup(shutil.rmtree, out, ignore_errors=True)
    binary = out / "bin"
    binary.write_bytes(b"\0" * 1024)
    (out / "audit.log").write_text("")
    impls = {"k8sensus": {"key": "k8sensus", "bin": binary, "extra_args": [], "env": {}},
             "client_go": {"key": "client-go", "bin": binary, "extra_args": [], "env": {}}}
    return SimpleNamespace(
        args=SimpleNamespace(skip_build=False, lanes=2, out=str(out / "results.json"), scale_crash_trials=5,
                             scale_graceful_trials=5, scale_steady_seconds=120.0),
        command="python3 bench/run.py",
        seed=1, started_at=dt.datetime.now(dt.timezone.utc), load_at_start=(0.0, 0.0, 0.0), sampler=LoadSampler(),
        cp=SimpleNamespace(state={"kubernetes_version": "v0"}), watcher=FakeWatcher(), sets=[], markers=[],
        source={"commit": "x"}, caches="none", rust_bin=binary, go_bin=binary, go_cached=True, impls=impls,
        cp_build={"seconds": 1.0, "cached": True}, images_build=None, t_build0=0.0, t_built_rust=1.0, t_built_go=2.0, t_built=3.0,
        audit_log=out / "audit.log", work=out)


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
