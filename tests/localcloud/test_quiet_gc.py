"""Full garbage collections wait until no Lambda call is in flight (quiet_gc.py).

A full pass over the local cloud's millions of objects stalls every thread for 150-300 ms; what a
user would notice is that time showing up as Lambda latency in the middle of a burst.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from pclab.localcloud.quiet_gc import QuietCollector


@pytest.fixture
def full_passes() -> Iterator[list[str]]:
    """The names of the threads that ran each generation-2 collection."""
    seen: list[str] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(threading.current_thread().name)

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


def _churn() -> list[list[int]]:
    """Containers that survive young passes: more than a quarter of what the process tracks, so
    CPython's own rule (generation 2 when its pending survivors pass 25 % of it) runs full
    passes, unless they are held back."""
    keep = [[i] for i in range(len(gc.get_objects()) // 2 + 100_000)]
    return keep


def test_the_churn_runs_full_passes_by_default(full_passes: list[str]) -> None:
    # The premise of the next test: without the collector the same churn runs full passes.
    _churn()
    assert full_passes


def test_no_full_pass_while_calls_are_in_flight_then_one_when_quiet(
    full_passes: list[str],
) -> None:
    idle = {"seconds": 0.0}  # busy
    collector = QuietCollector(lambda: idle["seconds"], quiet=0.2, poll=0.02)
    before = gc.get_threshold()
    collector.start()
    try:
        full_passes.clear()  # start's own pass (before the freeze) is not the point
        _churn()
        assert full_passes == [], "a full collection ran on a calling thread during a burst"
        idle["seconds"] = 5.0
        deadline = time.monotonic() + 5
        while not full_passes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert full_passes == ["pclab-quiet-gc"]
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_run_that_never_pauses_still_gets_full_passes(full_passes: list[str]) -> None:
    collector = QuietCollector(lambda: 0.0, max_interval=0.2, poll=0.02)
    collector.start()
    try:
        full_passes.clear()
        deadline = time.monotonic() + 10
        while "pclab-quiet-gc" not in full_passes and time.monotonic() < deadline:
            keep = [[i] for i in range(100_000)]  # a busy run allocating all along
            del keep
        during = list(full_passes)
    finally:
        collector.stop()
    assert during.count("pclab-quiet-gc") >= 1
    assert "MainThread" not in during  # no automatic pass on the calling thread meanwhile


def test_an_idle_local_cloud_does_not_walk_its_heap(full_passes: list[str]) -> None:
    collector = QuietCollector(lambda: 100.0, poll=0.02)
    collector.start()
    try:
        _churn()
        time.sleep(0.3)  # quiet: the churn's garbage is collected once
        full_passes.clear()
        time.sleep(0.5)  # quiet, and nothing allocated since: no more passes
    finally:
        collector.stop()
    assert full_passes == []


def test_stopped_before_it_started_changes_nothing() -> None:
    before = gc.get_threshold()
    collector = QuietCollector(lambda: 0.0)
    collector.stop()
    collector.start()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_two_local_clouds_in_one_process_give_the_passes_back_when_both_stopped() -> None:
    before = gc.get_threshold()
    first, second = QuietCollector(lambda: 0.0), QuietCollector(lambda: 0.0)
    first.start()
    second.start()
    first.stop()
    assert gc.get_threshold()[2] > 10**6  # the second still runs: still held back
    second.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
