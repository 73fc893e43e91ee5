"""One asyncio event loop thread shared by every environment's Runtime API port and log pipe.

Why one loop and not a thread per environment: 300 environments each need a listening port, a
kept-alive connection and a stdout pipe. A single selector thread serves them all with no per-
environment thread stacks and no GIL hand-offs between hundreds of threads, which is what keeps the
added latency of a warm invoke at a fraction of a millisecond.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopThread:
    """An asyncio loop running in a daemon thread, with thread-safe ways to reach it."""

    def __init__(self, name: str = "pclab-lambda-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        # slow work the loop must not wait for (disk): one thread, in order, started on first use
        self._aside = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{name}-aside")
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        self.loop.close()

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread, soon; never blocks the caller."""
        if self.loop.is_closed():
            return  # shutting down: nothing is served any more
        try:
            if self.in_loop():
                self.loop.call_soon(fn, *args)
            else:
                self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed between the check and the call
            pass

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 30.0) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result (from any other thread)."""
        if self.in_loop():
            return fn(*args)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, who re-raises it
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def aside(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` off the loop thread, soon, errors ignored: for work the loop must
        not wait for. Removing a dead environment's /tmp took ~8 ms on this project's disk, and
        the loop serves every environment's Runtime API: 1,000 environments reaped at once held
        every call in flight for seconds (bench/bench_load.py)."""
        with contextlib.suppress(RuntimeError):  # shutting down: the work dir goes as a whole
            self._aside.submit(fn, *args)

    def run_coroutine(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self._aside.shutdown(wait=True)
