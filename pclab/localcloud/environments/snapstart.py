"""SnapStart on the local cloud: the init runs once per published version, environments restore.

On Lambda, publishing a version of a function with ``SnapStart: ApplyOn: PublishedVersions`` runs
its init once (the version is ``Pending``), snapshots the microVM while the runtime waits in
``GET /runtime/restore/next``, and marks the version ``Active``; every new environment of that
version resumes from the snapshot: ``restore/next`` returns, the after-restore hooks run, and the
runtime asks for its first event. The caller waits for ``Restore Duration``, never for the init.

Here the snapshot is a process: :class:`SnapshotEnvironment` runs the init as a ``snap-start``
environment (forked from its template like any other, so the dependencies' charges and the runtime
start are modelled as for an on-demand init); awslambdaric runs the before-snapshot hooks and calls
``restore/next``; that call ends the init (``INIT_REPORT``), and the process then serves a socket as
the version's own fork server (``_forkserver.py``, ``_snapshot``). A :class:`RestoredEnvironment`
is a child forked from it *after the init*: the handler module's state, the imported dependencies
and whatever the init made are the parent's (copy-on-write), as in a restored microVM. What differs
per environment is set in the child before it resumes: its Runtime API port (the compiled client is
loaded only then), its variables (credentials, ``TMPDIR``), its output pipe and session. It then
calls ``restore/next`` on its own port, runs the after-restore hooks for real, and asks for its
first event once the modelled restore (``PlatformModel.restore_s``, unmeasured for Python) and the
hooks' own time have passed (``_forkserver._restore_floor``).

A burst of restores overlaps as on Lambda (``bench/bench_snapstart.py``: 100 at once, each 200 ms):
with the platform model on, restored processes are forked ahead and parked just before they
resume (``spares.py``; as many as the largest burst of the code's on-demand template or of the
version itself), else forked on demand and waited for, and the restore's clock starts when one is
handed over; the restore ends at the process's own mark (the modelled restore plus the hooks'
own time), not when the manager's loop reads its ``/next``: at 150 at once in the demo, the loop
answered ``restore/next`` up to 170 ms late and read ``/next`` later still. This machine's time
is in the caller's latency, not in Restore Duration.

What the caller sees: ``RESTORE_START`` / ``RESTORE_REPORT`` in the environment's log stream,
``Restore Duration`` and ``Billed Restore Duration`` (the after-restore part: from ``restore/next``
to the first ``/invocation/next``) in the first REPORT, an X-Ray ``Restore`` subsegment,
``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` and no ``AWS_LAMBDA_LOG_GROUP_NAME`` /
``..._STREAM_NAME``. A failing after-restore hook is Invoke's ``SnapStartException``, a restore over
10 s ``SnapStartTimeoutException``; a failing init or before-snapshot hook fails the version.

Differences: a restored environment's ``/tmp`` is a copy of the snapshot's taken at restore; threads
the init started do not survive the fork (they do in a microVM snapshot); the snapshot lives as long
as the version (Lambda may re-create it after 14 days without calls).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal

from ..invocation import FunctionSpec, LambdaServiceError
from . import telemetry as tm
from .environment import (
    Environment,
    EnvironmentContext,
    EnvState,
    InitOutcome,
    Invocation,
    InvocationOutcome,
)
from .forkserver_client import ExitCallback, ForkServer, ForkServerError, Preloaded, kill_group
from .process import LaunchSpec
from .runtime_api import RuntimeApiEndpoint, RuntimeConnection
from .spares import PARK_TIMEOUT_SECONDS, PoolKey, SpareSlot
from .templates import template_key

SnapshotState = Literal["Pending", "Active", "Failed"]
SNAPSHOT_INIT_LIMIT_SECONDS = 900.0  # as provisioned concurrency's: not bound by the 10 s limit
RESTORE_LIMIT_SECONDS = 10.0  # "After-restore hooks ... must finish within 10 seconds"
# Invoke's errors for SnapStart (Lambda API reference, Invoke, "Errors"); the messages are those
# errors' descriptions there, not recorded responses.
AFTER_RESTORE_FAILED = (
    "The afterRestore() runtime hook encountered an error. For more information, check the "
    "Amazon CloudWatch logs."
)
RESTORE_TIMED_OUT = "Lambda couldn't restore the snapshot within the timeout limit."
# The request id of the mark a restored process writes when its restore ended (the same text as
# _forkserver.RESTORED_MARK_ID; that module imports nothing of pclab).
RESTORED_MARK_ID = "snapstart-restored"
NOT_READY = (
    "Lambda is initializing your function. You can invoke the function when the function state "
    "becomes Active."
)


class SnapshotEnvironment(Environment):
    """The init of a SnapStart version, kept as the process its environments are forked from."""

    uses_spares = False

    def __init__(self, ctx: EnvironmentContext, spec: FunctionSpec) -> None:
        super().__init__(ctx, spec, "snap-start")
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.snapshot_fd = self._theirs.fileno()
        self.forker: ForkServer | None = None

    def start(self) -> None:
        try:
            super().start()
        finally:
            self._theirs.close()  # the fork server passed the child its own copy

    def serve(self, timeout: float) -> ForkServer:
        """After the init: the snapshot's fork socket, once it says it is ready."""
        forker = ForkServer.over(self.ctx.loop, self._ours)
        self.forker = forker
        forker.wait_ready(timeout)
        return forker

    @property
    def tmp(self) -> str:
        return str(self._tmp / "tmp")

    def env_vars(self) -> dict[str, str]:
        """The version's variables (each restored environment is given its own at hand-over)."""
        return self._environment()

    @property
    def spares_key(self) -> PoolKey:
        """Its processes parked ahead, in the manager's spare pools."""
        return ("snapshot", self.id)

    def on_restore_next(self, conn: RuntimeConnection) -> None:
        """The init and the before-snapshot hooks ended: this is the snapshot (loop thread)."""
        now = time.time()
        if not self.init_future.done():
            self.state = EnvState.READY
            self._emit(tm.init_report_line((now - self.started_at) * 1000, "init", "success", None))
            self.init_future.set_result(InitOutcome(True, self.started_at, now))
        conn.send_ok()

    def on_next(self, conn: RuntimeConnection) -> None:
        """Never reached: the snapshot forks in ``restore/next`` and never asks for events."""

    def kill(self) -> None:
        if self.ctx.spares is not None:
            self.ctx.spares.drop(self.spares_key)
        if self.forker is not None:
            self.forker.close()  # EOF: the snapshot kills what it forked and exits
        super().kill()


class RestoredEnvironment(Environment):
    """A new environment of a SnapStart version: forked from its snapshot, then resumed."""

    def __init__(
        self, ctx: EnvironmentContext, spec: FunctionSpec, snapshot: SnapshotEnvironment
    ) -> None:
        super().__init__(ctx, spec, "snap-start")
        self.snapshot = snapshot
        self.resumed_at: float | None = None
        self.billed_restore_ms = 0.0
        self._restore_reported = False

    def start(self) -> None:
        """Fork from the snapshot (returns once forked; the restore goes on behind).

        With the platform model on, the process was forked ahead (or is forked now) and parked
        just before it resumes, as spares park before an init (``spares.py``): the restore's
        clock starts when it is handed over, so a burst's forks, one after another in the
        snapshot, are time before ``Restore`` (the caller waits for them), not inside it.
        """
        snap, w = self.snapshot, -1
        try:
            forker = snap.forker
            if forker is None or forker.gone:
                raise ForkServerError("the version's snapshot is gone: publish a new version")
            self.task_root, self.interpreter = snap.task_root, snap.interpreter
            with contextlib.suppress(OSError):  # the snapshot's /tmp is part of it
                shutil.copytree(snap.tmp, self._tmp / "tmp", symlinks=True)
            (self._tmp / "tmp").mkdir(parents=True, exist_ok=True)
            model = self.ctx.platform
            slot = self._parked_process(forker) if model.enabled else None
            if slot is not None:
                self._endpoint = slot.endpoint
                self._output.attach(slot.out_fd)
            else:
                self._endpoint = RuntimeApiEndpoint(self.ctx.loop, self)
                r, w = os.pipe2(os.O_CLOEXEC)
                self._output.attach(r)
            self.started_at = time.time()
            assert self.interpreter is not None
            start = tm.init_start_line(
                self.spec.runtime, self.spec.region, self.interpreter.version
            )
            modelled = model.restore_s() * 1000.0 if model.enabled else None
            self._emit(tm.restore_start_line(start, modelled))
            env = self._environment()
            plat = {"start": self.started_at, "restore": model.restore_s()}
            if slot is not None:
                if slot.pid is None or not slot.go(env, plat):
                    raise ForkServerError("the restored process ended before it was handed over")
                self.pid = slot.pid
            else:
                request = {"env": env, "platform": plat if model.enabled else None}
                self.pid = forker.launch(request, [w], self._on_exit_threadsafe)
            if self.state is EnvState.DEAD:
                kill_group(self.pid)
        except Exception as exc:
            self.ctx.loop.call_soon(self._die, None)
            raise LambdaServiceError(
                "ServiceException", f"could not restore an execution environment: {exc}", status=500
            ) from exc
        finally:
            if w >= 0:
                os.close(w)

    def _parked_process(self, forker: ForkServer) -> SpareSlot | None:
        """A process of this snapshot parked before it resumes: one forked ahead, else a new one
        (waited for); the snapshot's pool keeps as many as its largest burst (``spares.py``)."""
        spares = self.ctx.spares
        if spares is None:
            return None
        key = self.snapshot.spares_key
        launcher = _SnapshotLauncher(forker)
        env = self._environment()
        spec = LaunchSpec(handler=self.spec.handler, cwd=str(self.task_root), env=env)
        slot = spares.claim(key) or spares.fresh(key, spec, launcher)
        slot.owner = self
        spares.note_start(key, spec, launcher)
        if not slot.wait_parked(PARK_TIMEOUT_SECONDS):
            slot.owner = None
            slot.discard()
            raise ForkServerError("the restored process ended before it parked")
        return slot

    # RuntimeApiHandler (loop thread)
    def on_restore_next(self, conn: RuntimeConnection) -> None:
        self.resumed_at = time.time()
        conn.send_ok()

    def on_restore_error(self, body: bytes, error_type: str | None) -> None:
        self._init_error = (error_type or "Runtime.AfterRestoreError", body)

    def on_next(self, conn: RuntimeConnection) -> None:
        """The first ``/next`` ends the restore: with the platform model, at the process's mark
        (written when its modelled restore ended, ``_forkserver._restore_floor``), as a call ends
        at its runtime's answer (``output.py``): the loop reads 100 restores' requests late."""
        if not self.init_future.done():
            now = time.time()
            self.billed_restore_ms = (now - (self.resumed_at or now)) * 1000.0
            model = self.ctx.platform
            if model.enabled:
                self._output.drain()
                marked = self._output.returned_at(RESTORED_MARK_ID)
                if marked is not None:
                    now = max(self.started_at, min(now, marked))
                hooks_s = now - self.started_at - model.restore_s()  # the modelled restore is
                self.billed_restore_ms = max(0.0, hooks_s) * 1000.0  # not billed, the hooks are
            self._emit(tm.restore_report_line((now - self.started_at) * 1000.0))
            self.state = EnvState.READY
            self.init_future.set_result(InitOutcome(True, self.started_at, now))
        super().on_next(conn)

    def _failed_init_line(self, outcome: InitOutcome) -> str:
        return tm.restore_report_line(outcome.duration_ms, outcome.error_type)

    def run(self, inv: Invocation) -> InvocationOutcome:
        """The call that waited for the restore reports it as one (REPORT, X-Ray ``Restore``)."""
        if not self._restore_reported and inv.init_duration_ms is not None:
            self._restore_reported = True
            inv.restore_duration_ms, inv.init_duration_ms = inv.init_duration_ms, None
            inv.billed_restore_ms = float(math.ceil(self.billed_restore_ms))
            if inv.trace is not None:
                inv.trace.restore, inv.trace.init = inv.trace.init, None
                inv.trace.init_modelled = None
        return super().run(inv)


class _SnapshotLauncher:
    """A snapshot as the launcher of its spares: it forks processes parked before they resume."""

    def __init__(self, forker: ForkServer) -> None:
        self._forker = forker

    def prepare(self, spec: LaunchSpec) -> Preloaded:
        return Preloaded()

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        assert spec.park_fd is not None
        request = {"env": spec.env, "park": True}
        return self._forker.launch(request, [out_fd, spec.park_fd], on_exit)

    def close(self) -> None:
        pass


@dataclass
class _Snapshot:
    spec: FunctionSpec
    state: SnapshotState = "Pending"
    reason: str | None = None
    env: SnapshotEnvironment | None = None


class Snapshots:
    """Every SnapStart version's snapshot (owned by the manager)."""

    def __init__(self, ctx: EnvironmentContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._by_version: dict[tuple[str, str], _Snapshot] = {}

    def publish(self, spec: FunctionSpec) -> None:
        """PublishVersion of a SnapStart function: run its init once, behind (Pending)."""
        key = (spec.function_name, spec.version)
        with self._lock:
            found = self._by_version.get(key)
            if found is not None and found.state != "Failed":
                return
            snap = self._by_version[key] = _Snapshot(spec)
        taker = threading.Thread(target=self._take, args=(snap,), name="pclab-snapshot")
        taker.daemon = True
        taker.start()

    def _take(self, snap: _Snapshot) -> None:
        env = snap.env = SnapshotEnvironment(self._ctx, snap.spec)
        try:
            env.start()
            init = env.wait_init(SNAPSHOT_INIT_LIMIT_SECONDS)
            if init is None:
                raise ForkServerError("the init did not finish within 15 minutes")
            if not init.ok:
                detail = init.payload.decode("utf-8", "replace")[:500]
                raise ForkServerError(f"{init.error_type}: {detail}")
            forker = env.serve(timeout=60.0)
            self._park_ahead(env, forker)
            snap.state = "Active"
        except (LambdaServiceError, ForkServerError) as exc:
            env.kill()
            snap.reason = f"The function's initialization failed: {exc}"
            snap.state = "Failed"

    def _park_ahead(self, env: SnapshotEnvironment, forker: ForkServer) -> None:
        """Keep this version's restored processes parked ahead of its bursts (``spares.py``), as
        many as the largest burst of on-demand inits of the same code (0 until there was one)."""
        spares, interpreter = self._ctx.spares, env.interpreter
        if spares is None or interpreter is None or not self._ctx.platform.enabled:
            return
        spec = LaunchSpec(handler=env.spec.handler, cwd=str(env.task_root), env=env.env_vars())
        template = (interpreter.python, template_key(env.spec))
        spares.register(env.spares_key, spec, _SnapshotLauncher(forker), follows=template)

    def status(self, function_name: str, version: str) -> tuple[SnapshotState, str | None] | None:
        """(state, reason) of a version's snapshot; None when the version has none."""
        with self._lock:
            snap = self._by_version.get((function_name, version))
        return None if snap is None else (snap.state, snap.reason)

    def wait(self, function_name: str, version: str, timeout: float) -> SnapshotState | None:
        """Block until the version's snapshot is no longer Pending (CloudFormation waits)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.status(function_name, version)
            if found is None or found[0] != "Pending" or time.monotonic() > deadline:
                return None if found is None else found[0]
            time.sleep(0.05)

    def environment(self, spec: FunctionSpec) -> RestoredEnvironment | None:
        """A new environment of a SnapStart version (None: not one); it restores in ``restore``."""
        if not spec.snap_start:
            return None
        with self._lock:
            snap = self._by_version.get((spec.function_name, spec.version))
        if snap is None or snap.env is None or snap.state != "Active":
            raise LambdaServiceError("SnapStartNotReadyException", NOT_READY, status=409)
        return RestoredEnvironment(self._ctx, spec, snap.env)

    @staticmethod
    def restore(env: Environment) -> InitOutcome:
        """Start a restored environment and wait for it; Invoke's SnapStart errors on failure."""
        env.start()
        outcome = env.wait_init(RESTORE_LIMIT_SECONDS)
        if outcome is None:
            env.kill()
            raise LambdaServiceError("SnapStartTimeoutException", RESTORE_TIMED_OUT, status=408)
        if not outcome.ok:
            env.kill()
            raise LambdaServiceError("SnapStartException", AFTER_RESTORE_FAILED, status=400)
        return outcome

    def delete_function(self, function_name: str) -> None:
        with self._lock:
            gone = [k for k in self._by_version if k[0] == function_name]
            snaps = [self._by_version.pop(k) for k in gone]
        for snap in snaps:
            if snap.env is not None:
                snap.env.kill()

    def close(self) -> None:
        with self._lock:
            snaps = list(self._by_version.values())
            self._by_version.clear()
        for snap in snaps:
            if snap.env is not None:
                with contextlib.suppress(Exception):
                    snap.env.kill()
