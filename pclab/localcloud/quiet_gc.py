"""The garbage collector's full passes, moved to when the local cloud is quiet.

CPython walks every tracked object in a full (generation 2) collection, with the GIL held: every
request thread, the environments' event loop and the state machines' threads stop for it. The
local cloud holds millions of objects (moto, botocore's models, the runs' history, traces and
logs), so each pass took 150-300 ms, and at a burst of 150 calls one came every 3-5 s (measured
with ``gc.callbacks``): the calls it hit showed that much latency no Lambda caller sees.

So: what is loaded at start is frozen (``gc.freeze``: it lives as long as the process), automatic
full passes are off, and this thread runs them when no Lambda call has been in flight for a
moment, or after ``max_interval`` seconds in any case, so memory held by cyclic garbage stays
bounded in a run that never pauses; either only once the young generations have been collected
10 times since the last full pass (CPython's own first condition), so an idle local cloud does
not walk its heap for nothing. Young generations are collected as usual.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

NEVER = 1_000_000_000  # a generation-2 threshold no count reaches: no automatic full pass
DUE_AFTER_YOUNG_PASSES = 10  # CPython's default generation-2 threshold

# The collector's settings are process-wide; two local clouds in one process (tests) share them:
# the first to start holds the automatic passes back, the last to stop gives them back.
_holders = 0
_saved_threshold: tuple[int, int, int] | None = None
_process_lock = threading.Lock()


def _hold() -> None:
    global _holders, _saved_threshold
    with _process_lock:
        _holders += 1
        if _holders == 1:
            gc.collect()
            gc.freeze()
            _saved_threshold = gc.get_threshold()
            g0, g1, _ = _saved_threshold
            gc.set_threshold(g0, g1, NEVER)


def _release() -> None:
    global _holders, _saved_threshold
    with _process_lock:
        _holders -= 1
        if _holders == 0 and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
            gc.unfreeze()
            _saved_threshold = None


class QuietCollector:
    """Runs full collections when ``idle_seconds()`` says nothing has run for ``quiet`` seconds."""

    def __init__(
        self,
        idle_seconds: Callable[[], float],
        *,
        quiet: float = 1.0,
        max_interval: float = 60.0,
        poll: float = 0.25,
    ) -> None:
        self._idle_seconds = idle_seconds
        self._quiet = quiet
        self._max_interval = max_interval
        self._poll = poll
        self._stop = threading.Event()
        self._lock = threading.Lock()  # start and stop may come from two threads at once
        self._thread: threading.Thread | None = None
        self._holding = False
        self._last = time.monotonic()

    def start(self) -> None:
        with self._lock:
            if self._stop.is_set():  # stopped before it started (a local cloud stopped at once)
                return
            _hold()
            self._holding = True
            self._last = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="pclab-quiet-gc", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
            if self._holding:
                _release()
                self._holding = False
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            # CPython's own rule for a full pass starts with 10 young passes since the last one
            # (threshold 2): fewer means little was allocated, nothing to collect yet.
            if gc.get_count()[2] < DUE_AFTER_YOUNG_PASSES:
                continue
            quiet = self._idle_seconds() >= self._quiet
            if quiet or time.monotonic() - self._last >= self._max_interval:
                self.collect()

    def collect(self) -> None:
        started = time.perf_counter()
        gc.collect()
        self._last = time.monotonic()
        log.debug("full garbage collection: %.0f ms", (time.perf_counter() - started) * 1000)
