"""Machine load while the run goes on: other work on the host biases the timings."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path


class LoadSampler(threading.Thread):
    """Every 2 s: the share of all CPUs busy (from /proc/stat) and the 1-min load average."""

    def __init__(self):
        super().__init__(daemon=True, name="load-sampler")
        self.samples: list[tuple[float, float, float]] = []
        self.phases: list[dict] = []
        self.spans: list[dict] = []
        self.stopping = False

    @staticmethod
    def _cpu():
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle

    def run(self) -> None:
        prev = self._cpu()
        while not self.stopping:
            time.sleep(2.0)
            cur = self._cpu()
            total, idle = cur[0] - prev[0], cur[1] - prev[1]
            prev = cur
            if total > 0:
                self.samples.append((time.time(), 1 - idle / total, os.getloadavg()[0]))

    def phase(self, name: str) -> None:
        now = time.time()
        if self.phases and self.phases[-1]["t1"] is None:
            self.phases[-1]["t1"] = now
        if name:
            self.phases.append({"name": name, "t0": now, "t1": None})

    def span(self, name: str, t0: float, t1: float) -> None:
        """A stretch that overlaps the phases (reported after them)."""
        self.spans.append({"name": name, "t0": t0, "t1": t1})

    def summary(self) -> list[dict]:
        self.phase("")
        out = []
        for ph in self.phases + self.spans:
            xs = [s for s in self.samples if ph["t0"] <= s[0] <= (ph["t1"] or time.time())]
            if not xs:
                continue
            busy = [s[1] for s in xs]
            out.append({"phase": ph["name"], "seconds": round((ph["t1"] or time.time()) - ph["t0"], 1),
                        "cpu_busy_mean": round(statistics.mean(busy), 3),
                        "cpu_busy_max": round(max(busy), 3),
                        "load1_max": round(max(s[2] for s in xs), 2)})
        return out
