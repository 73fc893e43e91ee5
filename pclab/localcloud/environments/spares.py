"""Environment processes that start before their init's clock: parked processes and spares.

Why: a cold start here costs this machine about 10 ms of CPU per environment before the handler
module runs (the fork, loading the runtime client's compiled library, the runtime's own setup), so
150 at once on two cores would start the last handler a second or more after the first: the
machine's CPU would leak into every Init Duration. On Lambda each environment has its own CPU, and
the runtime's own start is what the platform model's runtime start stands for. So, with the
platform model on, every environment's process is first *parked*: forked from its version's
template with its own Runtime API port, it runs the runtime client up to the handler import and
waits there (``_forkserver.py``). The init's clock starts when the environment hands the parked
process its variables and the model's waits; the modelled runtime start and the handler module
follow. The process start before that is the local cloud's own cost: the caller waits for it, but
as time before ``Initialization`` (like the code unpack), not inside it. ``--platform-model none``
keeps the raw path: the clock starts before the fork.

Spares: processes parked before anybody needs them, so a burst does not wait for 150 forks. A
template keeps as many as its largest burst so far (environment starts within
``BURST_WINDOW_SECONDS``), at most ``MAX_PER_TEMPLATE``: a version's first burst forks on demand,
a later one of the same size (or the spillover after a provisioned allocation of the same code)
finds its spares. Refills happen only when no environment has started and no invocation has been
in flight for ``QUIET_SECONDS``, one fork at a time, so they never compete with a burst, nor with
the next wave of an inline Map (forks between waves cost its warm calls 20 ms at p50 and 185 ms at
p99, against 6 and 37 without, in `make demo`'s reserved run: bench_burst_overhead.py). A
spare is no Lambda environment: it runs no init, never shows in stats or logs, and costs about 2 MB
of private memory; it ends with its template (or after ``IDLE_SECONDS`` without a start) or with
the manager.

SnapStart uses the same pools with the snapshot as the launcher (``snapstart.py``): a restored
environment's process is forked from the snapshot and parks just before it resumes, so a burst of
restores starts each restore's clock at hand-over, as a burst of inits does.

Imports nothing of pclab beyond this package.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .forkserver_client import ForkServerError, kill_group
from .loop import EventLoopThread
from .process import Launcher, LaunchSpec
from .runtime_api import RuntimeApiEndpoint, RuntimeConnection

BURST_WINDOW_SECONDS = 10.0
QUIET_SECONDS = 1.0
MAX_PER_TEMPLATE = 256
MAX_TOTAL = 512
PARK_TIMEOUT_SECONDS = 60.0  # fork and runtime start of one process, on a very busy machine
IDLE_SECONDS = 600.0  # a template without a start this long gives its spares up (Lambda's idle)

log = logging.getLogger(__name__)

PoolKey = tuple[str, str]  # (interpreter, template key)


class SpareOwner(Protocol):
    """What a slot forwards to: the environment that claimed it (environment.Environment)."""

    def on_next(self, conn: RuntimeConnection) -> None: ...
    def on_response(self, request_id: str, body: bytes) -> bool: ...
    def on_invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> bool: ...
    def on_init_error(self, body: bytes, error_type: str | None) -> None: ...
    def on_process_exit(self, code: int) -> None: ...


class SpareSlot:
    """One process that parks before its handler import: its port, output pipe and go socket."""

    def __init__(self, pools: SparePools, key: PoolKey, loop: EventLoopThread) -> None:
        self._pools = pools
        self._key = key
        self.endpoint = RuntimeApiEndpoint(loop, self)
        self.out_fd, self._out_w = os.pipe2(os.O_CLOEXEC)
        self._go, self._child_go = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid: int | None = None
        self.owner: SpareOwner | None = None
        self.exit_code: int | None = None
        self.parked = False

    def launch(self, launcher: Launcher, spec: LaunchSpec) -> None:
        """Fork the process (it runs the runtime up to the handler import, then parks)."""
        env = dict(spec.env, AWS_LAMBDA_RUNTIME_API=self.endpoint.address)
        parked = dataclasses.replace(spec, env=env, platform=None, park_fd=self._child_go.fileno())
        try:
            self.pid = launcher.launch(parked, self._out_w, self.on_exit)
        finally:
            # The fork server has its own copies of the child's ends now (or there is no child).
            os.close(self._out_w)
            self._child_go.close()

    def wait_parked(self, timeout: float) -> bool:
        """Block until the process parked (its one byte); False if it ended or took too long."""
        if self.parked:
            return True
        self._go.settimeout(timeout)
        try:
            self.parked = self._go.recv(1) == b"P"
        except OSError:
            self.parked = False
        return self.parked

    def go(self, env: dict[str, str], platform: dict[str, Any] | None) -> bool:
        """Hand the parked process its environment; False when it is gone."""
        try:
            self._go.settimeout(10.0)
            self._go.sendall(json.dumps({"env": env, "platform": platform}).encode())
            self._go.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        finally:
            self._go.close()
        return self.exit_code is None

    def discard(self) -> None:
        """Unclaimed: end the process and free the port and pipes."""
        self._go.close()  # EOF without a document: the process exits by itself
        if self.pid is not None and self.exit_code is None:
            kill_group(self.pid)
        self.endpoint.close()
        with contextlib.suppress(OSError):
            os.close(self.out_fd)

    # RuntimeApiHandler: the claiming environment's -------------------------------------------
    def on_next(self, conn: RuntimeConnection) -> None:
        if self.owner is not None:
            self.owner.on_next(conn)

    def on_response(self, request_id: str, body: bytes) -> bool:
        return self.owner.on_response(request_id, body) if self.owner else False

    def on_invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        owner = self.owner
        return owner.on_invocation_error(request_id, body, error_type) if owner else False

    def on_init_error(self, body: bytes, error_type: str | None) -> None:
        if self.owner is not None:
            self.owner.on_init_error(body, error_type)

    def on_restore_next(self, conn: RuntimeConnection) -> None:
        """SnapStart: a restored environment parked ahead resumes (snapstart.py)."""
        restore = getattr(self.owner, "on_restore_next", None)
        if restore is not None:
            restore(conn)

    def on_restore_error(self, body: bytes, error_type: str | None) -> None:
        restore_error = getattr(self.owner, "on_restore_error", None)
        if restore_error is not None:
            restore_error(body, error_type)

    def on_exit(self, code: int) -> None:
        self.exit_code = code
        if self.owner is not None:
            self.owner.on_process_exit(code)
        else:
            self._pools.forget(self._key, self)


class _Pool:
    def __init__(self, spec: LaunchSpec, launcher: Launcher) -> None:
        self.spec = spec  # what a spare runs (its port replaced per spare)
        self.launcher = launcher  # the manager's, or a SnapStart snapshot's (snapstart.py)
        self.follows: PoolKey | None = None  # keep as many as this pool's largest burst too
        self.slots: list[SpareSlot] = []
        self.target = 0
        self.starts: collections.deque[float] = collections.deque()
        self.last_start = time.monotonic()


class SparePools:
    """The spares of every template (module docstring)."""

    def __init__(
        self,
        loop: EventLoopThread,
        launcher: Launcher,
        idle_seconds: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        """``idle_seconds``: how long no invocation has been in flight (the manager's)."""
        self._loop = loop
        self._idle_seconds = idle_seconds
        self._launcher = launcher
        self._lock = threading.Lock()
        self._pools: dict[PoolKey, _Pool] = {}
        self._last_start = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refill_loop, name="pclab-spares", daemon=True)
        self._thread.start()

    def touch(self) -> None:
        """An invocation is being handed to an environment: not a quiet moment for forks."""
        self._last_start = time.monotonic()  # a float assignment: no lock needed

    def note_start(self, key: PoolKey, spec: LaunchSpec, launcher: Launcher | None = None) -> None:
        """An environment of this template starts: remember the burst it is part of.

        ``launcher``: what forks this pool's spares, when not the manager's (a snapshot's).
        """
        now = time.monotonic()
        with self._lock:
            self._last_start = now
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(spec, launcher or self._launcher)
            pool.starts.append(now)
            pool.last_start = now
            while pool.starts and pool.starts[0] < now - BURST_WINDOW_SECONDS:
                pool.starts.popleft()
            pool.target = min(MAX_PER_TEMPLATE, max(pool.target, len(pool.starts)))

    def register(
        self, key: PoolKey, spec: LaunchSpec, launcher: Launcher, follows: PoolKey
    ) -> None:
        """A pool that keeps as many spares as ``follows`` does (its largest burst), before its
        own first start: a SnapStart snapshot follows the on-demand template of the same code,
        so its first burst of restores finds processes parked as the other arms' inits do."""
        with self._lock:
            pool = self._pools.setdefault(key, _Pool(spec, launcher))
            pool.follows = follows

    def _target(self, pool: _Pool) -> int:
        followed = self._pools.get(pool.follows) if pool.follows is not None else None
        return max(pool.target, followed.target if followed is not None else 0)

    def claim(self, key: PoolKey) -> SpareSlot | None:
        """A spare of this template, already forked (and most likely parked), or None."""
        with self._lock:
            pool = self._pools.get(key)
            while pool is not None and pool.slots:
                slot = pool.slots.pop()
                if slot.exit_code is None:
                    return slot
                self._loop.call_soon(slot.discard)
        return None

    def fresh(self, key: PoolKey, spec: LaunchSpec, launcher: Launcher | None = None) -> SpareSlot:
        """A new process of this template, forked now (for a start that found no spare)."""
        slot = SpareSlot(self, key, self._loop)
        try:
            slot.launch(launcher or self._launcher, spec)
        except BaseException:
            slot.discard()
            raise
        return slot

    def forget(self, key: PoolKey, slot: SpareSlot) -> None:
        """A spare ended unclaimed (its template died, or it was retired)."""
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None and slot in pool.slots:
                pool.slots.remove(slot)
        self._loop.call_soon(slot.discard)

    def drop(self, key: PoolKey) -> None:
        """The template is gone (a deleted SnapStart version): end its spares, forget its bursts."""
        with self._lock:
            pool = self._pools.pop(key, None)
        for slot in pool.slots if pool is not None else []:
            slot.discard()

    def count(self) -> int:
        with self._lock:
            return sum(len(p.slots) for p in self._pools.values())

    def _refill_loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._retire_idle()
                while not self._stop.is_set() and self._refill_one():
                    pass
            except Exception:  # a refill never takes the manager down; the next try may work
                log.exception("could not park a spare environment process")
                time.sleep(QUIET_SECONDS)

    def _retire_idle(self) -> None:
        """Templates nobody started an environment of for IDLE_SECONDS give their spares up."""
        cutoff = time.monotonic() - IDLE_SECONDS
        with self._lock:
            idle = [p for p in self._pools.values() if p.last_start < cutoff and p.slots]
            retired = [s for p in idle for s in p.slots]
            for pool in idle:
                pool.slots.clear()
                pool.target, pool.follows = 0, None
                pool.starts.clear()
        for slot in retired:
            slot.discard()

    def _refill_one(self) -> bool:
        """Fork one spare for the pool furthest below its target, when the machine is quiet."""
        with self._lock:
            if time.monotonic() - self._last_start < QUIET_SECONDS:
                return False
            if self._idle_seconds() < QUIET_SECONDS:
                return False
            total = sum(len(p.slots) for p in self._pools.values())
            wanting = [(k, p) for k, p in self._pools.items() if len(p.slots) < self._target(p)]
            if total >= MAX_TOTAL or not wanting:
                return False
            key, pool = max(wanting, key=lambda kp: self._target(kp[1]) - len(kp[1].slots))
            spec, launcher = pool.spec, pool.launcher
        try:
            slot = self.fresh(key, spec, launcher)
        except (ForkServerError, OSError):
            with self._lock:  # its fork server is gone: no more refills until its next burst
                pool.target, pool.follows = len(pool.slots), None
            return False
        if not slot.wait_parked(PARK_TIMEOUT_SECONDS):  # one at a time: never a burst of forks
            slot.discard()
            return False
        with self._lock:
            if self._pools.get(key) is not pool:  # dropped meanwhile
                self._loop.call_soon(slot.discard)
                return True
            pool.slots.append(slot)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            slots = [s for p in self._pools.values() for s in p.slots]
            self._pools.clear()
        for slot in slots:
            slot.discard()
