"""Pod logs: the kubelet's files, tailed, so that a deleted pod's last lines are kept; each
line parsed, and marked when it starts, runs or stops the leader's work."""

from __future__ import annotations

import datetime as dt
import json
import string
import threading
import time
from pathlib import Path

from .config import CONTAINER


def parse_app_line(text: str) -> dict:
    """One log line as a dict: JSON as it is, and k8sensus's plain format
    (`<time> <LEVEL> [span{key=value ...}:] <message> key=value ...`) turned into the same shape
    (as tests/support/cluster.rs's parse_app_line)."""
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    words = text.split()
    rest = words[2:]
    # The spans the line was logged in come first, `name{key=value ...}:` (k8sensus's
    # `election{lease=... identity=...}:`); their fields count as the line's own.
    spans: dict = {}
    while rest and "{" in rest[0] and not rest[0].startswith("{"):
        span = [rest.pop(0)]
        while not span[-1].endswith("}:") and rest:
            span.append(rest.pop(0))
        inner = " ".join(span).partition("{")[2].removesuffix("}:")
        for w in inner.split():
            k, sep, v = w.partition("=")
            if sep:
                spans[k] = v.strip('"')

    def is_field(w: str) -> bool:
        k, sep, _ = w.partition("=")
        return bool(sep and k) and all(c in string.ascii_lowercase or c == "_" for c in k)
    first = next((i for i, w in enumerate(rest) if is_field(w)), len(rest))
    obj: dict = {"timestamp": words[0] if words else "", "level": words[1] if len(words) > 1 else "",
                 "message": " ".join(rest[:first])}
    for w in rest[first:]:
        k, sep, v = w.partition("=")
        if sep:
            v = v.strip('"')
            try:
                obj[k] = int(v)
            except ValueError:
                obj[k] = v
    for k, v in spans.items():
        obj.setdefault(k, v)
    return obj


def kind_of(line: dict) -> str | None:
    """start, run or stop for the lines that mark leader work (either implementation: both
    carry the `event` names of src/log_event.rs)."""
    return {"work_started": "start", "work_run": "run", "work_stopped": "stop"}.get(line.get("event"))


def cri_time(ts: str) -> float | None:
    """The CRI log line's RFC 3339 time (nanoseconds) as epoch seconds."""
    try:
        base, _, frac = ts.rstrip("Z").partition(".")
        t = dt.datetime.fromisoformat(base).replace(tzinfo=dt.timezone.utc).timestamp()
        return t + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None


class PodLogs(threading.Thread):
    """Every line of every pod's container, from the kubelet's files
    (DIR/pod-logs/<ns>_<pod>_<uid>/<container>/<restart>.log, CRI format), read as they
    grow, so that the lines of a deleted pod are kept after the kubelet removes its files."""

    def __init__(self, root: Path):
        super().__init__(daemon=True, name="pod-logs")
        self.root = root
        self.lock = threading.Lock()
        self.lines: dict[str, list[dict]] = {}  # namespace -> lines, in the order read
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}
        self.stopping = False
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopping:
            try:
                self.poll()
            except OSError as e:  # a pod's files removed while we read them
                self.errors.append(repr(e))
            time.sleep(0.05)

    def poll(self) -> None:
        if not self.root.is_dir():
            return
        for pod_dir in self.root.iterdir():
            parts = pod_dir.name.split("_")
            if len(parts) < 3:
                continue
            ns, pod = parts[0], parts[1]
            for f in pod_dir.glob(f"{CONTAINER}/*.log"):
                if not f.stem.isdigit():
                    continue
                try:
                    with open(f, "rb") as fh:
                        fh.seek(self.offsets.get(f, 0))
                        data = fh.read()
                except OSError:
                    continue
                end = data.rfind(b"\n")
                if end < 0:
                    continue
                self.offsets[f] = self.offsets.get(f, 0) + end + 1
                got = []
                for raw in data[:end].decode(errors="replace").split("\n"):
                    ts, stream, rest = (raw.split(" ", 2) + ["", ""])[:3]
                    tag, _, text = rest.partition(" ")
                    acc = self.partial.get(f, "") + text
                    if tag != "F":
                        self.partial[f] = acc
                        continue
                    self.partial[f] = ""
                    obj = parse_app_line(acc)
                    mono = obj.get("mono_ns")
                    got.append({"pod": pod, "restart": int(f.stem), "cri_t": cri_time(ts),
                                "read_t": time.time(), "text": acc, "json": obj,
                                "mono": mono if isinstance(mono, int) else None,
                                "kind": kind_of(obj), "ended": obj.get("ended_mono_ns")})
                if got:
                    with self.lock:
                        self.lines.setdefault(ns, []).extend(got)

    def of(self, ns: str) -> list[dict]:
        with self.lock:
            return list(self.lines.get(ns, []))

    def first_work_after(self, ns: str, mono: int, pod: str | None = None) -> dict | None:
        """The earliest start or run of leader work after `mono` (in `ns`, by `pod` if given)."""
        best = None
        for line in self.of(ns):
            if line["kind"] in ("start", "run") and line["mono"] and line["mono"] > mono \
                    and (pod is None or line["pod"] == pod) and (best is None or line["mono"] < best["mono"]):
                best = line
        return best

    def working(self, ns: str, pod: str) -> bool:
        """Whether `pod`'s current container is inside a term of work (started, not stopped)."""
        mine = [x for x in self.of(ns) if x["pod"] == pod]
        if not mine:
            return False
        latest = max(x["restart"] for x in mine)
        marks = [x for x in mine if x["restart"] == latest and x["kind"]]
        return bool(marks) and marks[-1]["kind"] in ("start", "run")

    def first_line(self, ns: str, pod: str, restart: int) -> dict | None:
        return next((x for x in self.of(ns) if x["pod"] == pod and x["restart"] == restart), None)

    def stopped_after(self, ns: str, pod: str, mono: int) -> dict | None:
        return next((x for x in self.of(ns) if x["pod"] == pod and x["kind"] == "stop"
                     and x["mono"] and x["mono"] >= mono), None)

    def save(self, d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        with self.lock:
            for ns, lines in self.lines.items():
                for pod in sorted({x["pod"] for x in lines}):
                    (d / f"{ns}_{pod}.log").write_text(
                        "".join(f"[{x['restart']}] {x['text']}\n" for x in lines if x["pod"] == pod))
