"""Cooperative scheduling: trial loops are generators stepped by the main thread, which
also starts every process (PR_SET_PDEATHSIG follows the thread that forked)."""

from __future__ import annotations

import time

POLL = 0.005  # the scheduler's tick, seconds


def g_sleep(seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield


def g_wait(pred, timeout: float, every: float = 0.0):
    """Until pred() is true (returns it) or `timeout` s passed (None); pred is asked at most
    every `every` s (for one that reads the API or a growing log)."""
    end, ask = time.monotonic() + timeout, 0.0
    while True:
        now = time.monotonic()
        if now >= ask:
            r = pred()
            if r:
                return r
            ask = now + every
        if now > end:
            return None
        yield


def run_all(*gens, beside=()) -> None:
    """Step `gens` until all have finished; `beside` ones are stepped too while that lasts,
    but not waited for."""
    active, extra = list(gens), list(beside)
    while active:
        for g in active + extra:
            try:
                next(g)
            except StopIteration:
                (active if g in active else extra).remove(g)
        time.sleep(POLL)


def drive(gen):
    """Steps one generator to its end; returns its value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        time.sleep(POLL)
