"""The driver's watch on every Lease named k8sensus-lease, and the questions the trials ask
of what it saw."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import urllib.parse

from typing import TYPE_CHECKING

from .common import LEASE, BenchError

if TYPE_CHECKING:
    from .control_plane import ControlPlane


def parse_time(s):
    if not s:
        return None
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class LeaseWatcher(threading.Thread):
    """Sees every write to every Lease named k8sensus-lease (a list, then a watch
    from its resourceVersion, resumed from the last one seen if it breaks).
    Each event keeps the local time it arrived and the Lease's spec. A subclass may
    watch other objects: PATH is what it lists and watches, _record what it keeps."""

    PATH = "/apis/coordination.k8s.io/v1/leases?fieldSelector=" + urllib.parse.quote(f"metadata.name={LEASE}")

    def __init__(self, cp: ControlPlane):
        super().__init__(daemon=True, name="lease-watch")
        self.cp = cp
        self.lock = threading.Lock()
        self.events: dict[str, list[dict]] = {}
        self.rv = None
        self.reconnects = 0
        self.relists = 0
        self.errors: list[str] = []
        self.ready = threading.Event()
        self.stopping = False

    def _record(self, typ: str, obj: dict, t: float) -> None:
        md, spec = obj.get("metadata", {}), obj.get("spec") or {}
        ev = {"t": t, "type": typ, "rv": md.get("resourceVersion"),
              "holder": spec.get("holderIdentity") or "",
              "acquire": parse_time(spec.get("acquireTime")),
              "renew": parse_time(spec.get("renewTime")),
              "duration": spec.get("leaseDurationSeconds"),
              "transitions": spec.get("leaseTransitions")}
        with self.lock:
            self.events.setdefault(md.get("namespace", ""), []).append(ev)

    def wait_started(self, what: str) -> None:
        """Until the watch runs (30 s at most); BenchError naming `what` otherwise."""
        if not self.ready.wait(30):
            raise BenchError(f"{what} did not start: {self.errors[-3:]}")

    def run(self) -> None:
        while not self.stopping:
            try:
                if self.rv is None:
                    status, body = self.cp.request("GET", self.PATH)
                    if status != 200:
                        raise OSError(f"list: {status}")
                    t = time.time()
                    for item in body.get("items", []):
                        self._record("LISTED", item, t)
                    self.rv = body["metadata"]["resourceVersion"]
                    self.relists += 1
                conn = http.client.HTTPSConnection(self.cp.host, self.cp.port,
                                                   context=self.cp.ctx, timeout=None)
                conn.request("GET", f"{self.PATH}&watch=1&resourceVersion={self.rv}"
                             "&allowWatchBookmarks=true&timeoutSeconds=3600")
                r = conn.getresponse()
                if r.status == 410:
                    self.rv = None
                    continue
                if r.status != 200:
                    raise OSError(f"watch: {r.status} {r.read()[:200]!r}")
                self.ready.set()
                while True:
                    line = r.readline()
                    if not line:
                        break
                    t = time.time()
                    ev = json.loads(line)
                    typ, obj = ev.get("type"), ev.get("object", {})
                    if typ == "ERROR":
                        if obj.get("code") == 410:
                            self.rv = None
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if typ != "BOOKMARK":
                        self._record(typ, obj, t)
                conn.close()
                self.reconnects += 1
            except Exception as e:  # the control plane going away ends the thread with the run
                if self.stopping:
                    return
                self.errors.append(f"{time.time():.3f} {e!r}")
                time.sleep(0.2)

    # -- queries (from the main thread) --

    def count(self, ns: str) -> int:
        with self.lock:
            return len(self.events.get(ns, []))

    def since(self, ns: str, idx: int) -> list[dict]:
        with self.lock:
            return list(self.events.get(ns, [])[idx:])

    def all(self, ns: str) -> list[dict]:
        return self.since(ns, 0)

    def latest(self, ns: str):
        with self.lock:
            evs = self.events.get(ns, [])
            return evs[-1] if evs else None


def new_holder_pred(rs, idx: int, old: str):
    """A predicate for g_wait(): the first event since watch position `idx` of `rs`'s
    namespace (`rs` has .watcher and .ns: a ReplicaSet or a cluster Deployment) that names a
    holder other than `old`."""
    def pred():
        for ev in rs.watcher.since(rs.ns, idx):
            if ev["holder"] and ev["holder"] != old:
                return ev
        return None
    return pred


def renewed(ev: dict) -> bool:
    """Whether the holder an event names has renewed since it acquired the Lease."""
    return not (ev["renew"] is None or ev["acquire"] is None or ev["renew"] <= ev["acquire"])
