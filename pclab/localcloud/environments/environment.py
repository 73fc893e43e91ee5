"""One execution environment: a real ``awslambdaric`` process, its Runtime API port, its log stream.

State lives on the event loop thread: the runtime's requests, the process's output and its exit are
all handled there, and invoking threads hand work over with ``call_soon`` and wait on futures. That
ordering is what makes the races simple: a response, a timeout and a process death for the same
invocation are decided in one place, first come first served.
"""

from __future__ import annotations

import concurrent.futures
import enum
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ...lambda_model.platform import PlatformModel
from ..invocation import FunctionSpec, LambdaServiceError
from . import telemetry as tm
from .code import CodeCache
from .errors import error_type_of, exit_description, lambda_error
from .loop import EventLoopThread
from .output import OutputPipe
from .process import ForkServerError, Launcher, LaunchSpec, child_env, kill_group
from .runtime_api import RuntimeApiEndpoint, RuntimeConnection
from .runtimes import Interpreter, Runtimes
from .spares import PARK_TIMEOUT_SECONDS, SparePools
from .templates import build_template, init_charges, platform_waits, template_key

InitType = Literal["on-demand", "provisioned-concurrency", "snap-start"]
INIT_MARK_ID = "init-ended"  # the runtime's mark of its init's end (_forkserver.INIT_MARK_ID)


class EnvState(enum.Enum):
    STARTING = "starting"
    READY = "ready"  # initialised; serving or waiting for work
    DEAD = "dead"


@dataclass(frozen=True)
class InitOutcome:
    ok: bool
    started_at: float
    ended_at: float
    error_type: str | None = None
    payload: bytes = b""  # the runtime's init error document, or Lambda's own

    @property
    def duration_ms(self) -> float:
        return (self.ended_at - self.started_at) * 1000.0


@dataclass(frozen=True)
class InvocationOutcome:
    kind: Literal["response", "error", "timeout", "exit"]
    body: bytes
    started_at: float
    ended_at: float
    error_type: str | None = None


@dataclass
class Invocation:
    """One event handed to an environment, and what came of it."""

    request_id: str
    payload: bytes
    invoked_arn: str
    runtime_trace_header: str
    timeout_seconds: float
    init_duration_ms: float | None = None  # shown in REPORT: the caller waited for this init
    restore_duration_ms: float | None = None  # SnapStart: ... or for this restore (and its
    billed_restore_ms: float | None = None  # after-restore part)
    bill_init: bool = True
    trace: tm.InvocationTrace | None = None
    capture_log: bool = False
    log_lines: list[str] = field(default_factory=list)
    future: concurrent.futures.Future[InvocationOutcome] = field(
        default_factory=concurrent.futures.Future
    )
    started_at: float = 0.0


@dataclass
class EnvironmentContext:
    """What every environment shares (owned by the manager)."""

    loop: EventLoopThread
    launcher: Launcher
    pipeline: tm.TelemetryPipeline
    xray_port: int
    work_dir: Path
    code: CodeCache
    runtimes: Runtimes
    platform: PlatformModel
    spares: SparePools | None = None  # processes forked ahead of a burst (platform model on)


class Environment:
    """A Lambda execution environment for one function version (see module docstring)."""

    uses_spares = True  # a SnapStart snapshot is launched on its own (snapstart.py)
    snapshot_fd: int | None = None  # ... with its fork socket

    def __init__(
        self,
        ctx: EnvironmentContext,
        spec: FunctionSpec,
        init_type: InitType,
        *,
        pool_key: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.spec = spec
        self.task_root = Path()  # set by start(): the unpacked code (LAMBDA_TASK_ROOT)
        self.interpreter: Interpreter | None = None  # set by start(): the Python it runs on
        self.modelled: dict[str, float | str] | None = None  # the platform model's share of init
        self.init_type: InitType = init_type
        self.pool_key = pool_key  # provisioned pool this environment belongs to, if any
        self.id = os.urandom(8).hex()
        self.log_group = f"/aws/lambda/{spec.function_name}"
        self.log_stream = tm.log_stream_name(spec.version)
        self.state = EnvState.STARTING
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.started_at = 0.0
        self.init_future: concurrent.futures.Future[InitOutcome] = concurrent.futures.Future()
        self.invocations = 0
        self.last_used = time.monotonic()
        self.busy = False  # managed by the manager under its lock
        self._endpoint: RuntimeApiEndpoint | None = None
        self._output = OutputPipe(ctx.loop, self._emit)
        self._parked: RuntimeConnection | None = None
        self._queued: Invocation | None = None
        self._first: Invocation | None = None  # a cold start's event, sent when the init ends
        self._headers: dict[str, str] = {}
        self._current: Invocation | None = None
        self._pending_trace: tm.InvocationTrace | None = None
        self._init_error: tuple[str | None, bytes] | None = None
        self._tmp = ctx.work_dir / "envs" / self.id

    # --- starting -------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        spec = self.spec
        assert self.interpreter is not None
        # No endpoint yet: a parked process is being forked, and gets its own port (spares.py).
        api = self._endpoint.address if self._endpoint is not None else ""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
        }
        env.update(spec.environment)
        tmp = str(self._tmp / "tmp")
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": self.init_type,
                "AWS_LAMBDA_RUNTIME_API": api,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(self.task_root),
                "LAMBDA_RUNTIME_DIR": self.interpreter.runtime_dir,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{self.ctx.xray_port}",
                "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
                "_AWS_XRAY_DAEMON_PORT": str(self.ctx.xray_port),
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
                "_HANDLER": spec.handler,
                "TZ": ":UTC",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                # Each environment has its own /tmp and home, as on Lambda.
                "TMPDIR": tmp,
                "HOME": tmp,
            }
        )
        env.update(spec.service_environment)  # the role's session and the endpoint, when known
        if self.init_type == "snap-start":  # not set in SnapStart functions (AWS docs)
            del env["AWS_LAMBDA_LOG_GROUP_NAME"], env["AWS_LAMBDA_LOG_STREAM_NAME"]
        return env

    def start(self) -> None:
        """Start the process (returns once it is forked; init goes on behind)."""
        w = -1
        try:
            # The code is unpacked once per zip, and the runtime's Python found (its virtual
            # environment made) once per runtime, before the clock of the init starts: on Lambda
            # both exist before the version is Active, not in a cold start.
            self.task_root = self.ctx.code.task_root(self.spec)
            self.interpreter = self.ctx.runtimes.resolve(self.spec.runtime)
        except LambdaServiceError:
            self.ctx.loop.call_soon(self._die, None)
            raise
        try:
            (self._tmp / "tmp").mkdir(parents=True, exist_ok=True)
            key = template_key(self.spec) if self.ctx.platform.enabled else None
            spares = self.ctx.spares if key is not None and self.uses_spares else None
            slot = None
            if spares is not None and key is not None:
                pool = (self.interpreter.python, key)
                slot = spares.claim(pool) or spares.fresh(pool, self._launch_spec(key))
                slot.owner = self
                self._endpoint = slot.endpoint
            else:
                self._endpoint = RuntimeApiEndpoint(self.ctx.loop, self)
            launch = self._launch_spec(key)
            # A version's first environment may start its template (the dependencies' import,
            # once): like the unpack, before the init's clock; its cost is charged below.
            charges = init_charges(
                self.ctx.platform, self.ctx.launcher.prepare(launch), self.spec.memory_mb
            )
            if slot is not None:
                assert spares is not None
                spares.note_start(pool, launch)
                # This machine's process start (fork, runtime client) ends before the clock
                # starts: Lambda's own start is the platform model's (spares.py).
                if not slot.wait_parked(PARK_TIMEOUT_SECONDS):
                    raise ForkServerError("the environment's process ended before its runtime ran")
                r = slot.out_fd
            else:
                r, w = os.pipe2(os.O_CLOEXEC)
            self._output.attach(r)  # the pipe holds the output until the loop watches it
            self.started_at = time.time()
            launch.platform = platform_waits(self.ctx.platform, self.spec, charges, self.started_at)
            self.modelled = self._modelled(launch, charges)
            self._emit(
                tm.init_start_line(
                    self.spec.runtime,
                    self.spec.region,
                    self.interpreter.version,
                    note=self.interpreter.note,
                    modelled=self.modelled,
                )
            )
            if slot is not None:  # parked before the handler import: hand it over
                if slot.pid is None or not slot.go(child_env(launch), launch.platform):
                    raise ForkServerError("the spare process ended before it was claimed")
                self.pid = slot.pid
            else:
                self.pid = self.ctx.launcher.launch(launch, w, self._on_exit_threadsafe)
            if self.state is EnvState.DEAD:  # killed (pool deleted, shutdown) while forking
                kill_group(self.pid)
        except Exception as exc:
            # Out of ports, descriptors or processes: the caller gets Lambda's service error
            # and nothing is left half-made.
            self.ctx.loop.call_soon(self._die, None)
            raise LambdaServiceError(
                "ServiceException", f"could not start an execution environment: {exc}", status=500
            ) from exc
        finally:
            if w >= 0:
                os.close(w)  # the child has its own copy; EOF on r then means it is gone

    def on_process_exit(self, code: int) -> None:
        """A claimed spare's process ended (any thread)."""
        self._on_exit_threadsafe(code)

    def _launch_spec(self, key: str | None) -> LaunchSpec:
        assert self.interpreter is not None
        env = self._environment()
        template = None
        if key is not None:  # raw timings (no key): every environment imports for real
            tmp = self.ctx.work_dir / "templates" / key
            tmp.mkdir(parents=True, exist_ok=True)
            template = build_template(key, env, self.task_root, self.spec.handler, tmp)
        return LaunchSpec(
            handler=self.spec.handler,
            cwd=str(self.task_root),
            env=env,
            python_path=[str(self.task_root)],
            python=self.interpreter.python,
            template=template,
            snapshot_fd=self.snapshot_fd,
        )

    def _modelled(
        self, launch: LaunchSpec, charges: dict[str, float]
    ) -> dict[str, float | str] | None:
        if launch.platform is None:
            return None
        return {
            "platform_model": self.ctx.platform.name,
            "runtime_start_ms": round(float(launch.platform["runtime_start"]) * 1000.0, 2),
            "dependency_imports_ms": round(sum(charges.values()) * 1000.0, 2),
            "init_cpu_scale": float(launch.platform["cpu_scale"]),
        }

    def _on_exit_threadsafe(self, code: int) -> None:
        self.ctx.loop.call_soon(self._die, code)

    def wait_init(self, timeout: float) -> InitOutcome | None:
        """The init outcome, or None when init is still running after ``timeout`` seconds."""
        try:
            return self.init_future.result(timeout)
        except concurrent.futures.TimeoutError:
            return None

    # --- invoking (caller threads) ---------------------------------------------------------------
    def run(self, inv: Invocation) -> InvocationOutcome:
        """Hand the event over; wait for the answer, a timeout, or the process's end."""
        if self.ctx.spares is not None:
            self.ctx.spares.touch()  # spares are parked only when nothing is being invoked
        self.ctx.loop.call_soon(self._dispatch, inv)
        return self.outcome(inv)

    def run_after_init(self, inv: Invocation) -> None:
        """Queue a cold start's event (before ``start``): the loop sends it as the init ends.

        Lambda hands the first event to the runtime's first /next. Handing it over from the
        invoking thread once that thread wakes from ``wait_init`` cost up to 390 ms (p99) with
        150 threads waking at once on 2 cores: time no Lambda caller waits. The event's init
        fields (REPORT's Init Duration, the trace's Initialization) are filled in then.
        Wait for it with ``outcome``; an init that fails or times out never sends it.
        """
        if self.ctx.spares is not None:
            self.ctx.spares.touch()
        self.ctx.loop.call_soon(self._set_first, inv)

    def outcome(self, inv: Invocation) -> InvocationOutcome:
        """Wait for a dispatched event's answer, its timeout, or the process's end."""
        try:
            return inv.future.result(inv.timeout_seconds)
        except concurrent.futures.TimeoutError:
            self.ctx.loop.call_soon(self._expire, inv)
            return inv.future.result(30)

    def kill(self) -> None:
        """Stop the environment now (any thread)."""
        self.ctx.loop.call_soon(self._kill_in_loop)

    def settle_killed(self) -> None:
        """After a kill whose exit will never be reported (shutdown): end its work as a death."""
        if self.exit_code is None:
            self._die(-signal.SIGKILL)

    # --- loop thread ---------------------------------------------------------------------------
    def _set_first(self, inv: Invocation) -> None:
        if not self.init_future.done():
            self._first = inv
            return
        init = self.init_future.result()  # the init ended before this ran: send it now
        if init.ok and self.state is EnvState.READY:
            self._send_first(inv, init)

    def _send_first(self, inv: Invocation, init: InitOutcome) -> None:
        inv.init_duration_ms = init.duration_ms
        if inv.trace is not None:
            inv.trace.init = (init.started_at, init.ended_at)
            inv.trace.init_modelled = self.modelled
        self._dispatch(inv)

    def _kill_in_loop(self) -> None:
        self._first = None  # an init given up on (its limit) never runs its event
        if self.pid is not None and self.exit_code is None:
            kill_group(self.pid, signal.SIGKILL)
        if self.state is not EnvState.DEAD:
            self.state = EnvState.DEAD  # never handed out again; _die finishes the cleanup

    def _dispatch(self, inv: Invocation) -> None:
        inv.started_at = time.time()
        self._current = inv
        self._emit(tm.start_line(inv.request_id, self.spec.version))
        if self.state is EnvState.DEAD or self.exit_code is not None:
            self._finish(inv, "exit", b"", None)
            return
        deadline_ms = int((inv.started_at + inv.timeout_seconds) * 1000)
        inv_headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": inv.invoked_arn,
            "Lambda-Runtime-Trace-Id": inv.runtime_trace_header,
        }
        self._queued = inv
        self._headers = inv_headers
        if self._parked is not None:
            self._send_queued()

    def _send_queued(self) -> None:
        conn, inv = self._parked, self._queued
        if conn is None or inv is None:
            return
        self._parked = None
        self._queued = None
        if not conn.send_event(self._headers, inv.payload):
            self._queued = inv  # the connection dropped; the runtime will ask again or die

    # RuntimeApiHandler
    def on_next(self, conn: RuntimeConnection) -> None:
        now = time.time()
        if not self.init_future.done():
            if self.ctx.platform.enabled:
                # The init ended at the runtime's mark (``_forkserver._mark_init_end``): its wall
                # time less this machine's queueing for CPUs; the loop reads /next later still.
                self._output.drain()
                marked = self._output.returned_at(INIT_MARK_ID)
                if marked is not None:
                    now = max(self.started_at, min(now, marked))
            self.state = EnvState.READY
            init = InitOutcome(True, self.started_at, now)
            self.init_future.set_result(init)
            first, self._first = self._first, None
            if first is not None:
                self._send_first(first, init)
        if self._pending_trace is not None:
            self._pending_trace.overhead_end = now
            self.ctx.pipeline.put_segments(tm.lambda_segments(self._pending_trace))
            self._pending_trace = None
        self._parked = conn
        if self._queued is not None:
            self._send_queued()

    def on_response(self, request_id: str, body: bytes) -> bool:
        return self._answer(request_id, "response", body, None)

    def on_invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        return self._answer(request_id, "error", body, error_type or error_type_of(body))

    def on_init_error(self, body: bytes, error_type: str | None) -> None:
        self._init_error = (error_type or error_type_of(body), body)

    def _answer(
        self, request_id: str, kind: Literal["response", "error"], body: bytes, etype: str | None
    ) -> bool:
        inv = self._current
        if inv is None or inv.request_id != request_id or inv.future.done():
            return False
        self._output.drain()  # the handler's prints were written before this POST
        self._finish(inv, kind, body, etype)
        return True

    def _expire(self, inv: Invocation) -> None:
        if inv.future.done():
            return
        self._kill_in_loop()
        self._finish(inv, "timeout", b"", "Sandbox.Timedout")

    def _finish(
        self,
        inv: Invocation,
        kind: Literal["response", "error", "timeout", "exit"],
        body: bytes,
        error_type: str | None,
    ) -> None:
        """Write END/REPORT and the segments, then wake the caller (loop thread, once)."""
        ended = time.time()
        returned = self._output.returned_at(inv.request_id)
        if returned is not None and self.ctx.platform.enabled and kind in ("response", "error"):
            # The work ended when the runtime was about to answer (output.py); the rest is this
            # machine scheduling 2 cores, which an environment on Lambda does not wait for.
            ended = max(inv.started_at, min(ended, returned))
        status: str | None = None
        if kind == "timeout":
            status = "timeout"
            self._emit(
                f"{tm.iso_now(ended)} {inv.request_id} Task timed out after "
                f"{inv.timeout_seconds:.2f} seconds"
            )
            body = lambda_error(
                "Sandbox.Timedout",
                f"RequestId: {inv.request_id} Error: Task timed out after "
                f"{inv.timeout_seconds:.2f} seconds",
            )
        elif kind == "exit":
            status = "error"
            error_type = "Runtime.ExitError"
            message = (
                f"RequestId: {inv.request_id} Error: Runtime exited with error: "
                f"{exit_description(self.exit_code)}"
            )
            self._emit(f"{tm.iso_now(ended)} {message}")
            body = lambda_error("Runtime.ExitError", message)
        duration_ms = (ended - inv.started_at) * 1000.0
        trace = inv.trace
        if trace is not None:
            trace.invocation = (inv.started_at, ended)
            trace.service_end = ended
            trace.function_error = kind != "response"
            trace.error_type = error_type
        outcome = InvocationOutcome(kind, body, inv.started_at, ended, error_type)
        if not inv.capture_log:
            # Nobody reads this call's lines back: wake the caller first, write them after.
            inv.future.set_result(outcome)
        self._emit(tm.end_line(inv.request_id), inv=inv)
        self._emit(
            tm.report_line(
                tm.ReportFields(
                    request_id=inv.request_id,
                    duration_ms=duration_ms,
                    memory_mb=self.spec.memory_mb,
                    max_memory_used_mb=tm.memory_peak_mb(self.pid) if self.pid else 0,
                    init_duration_ms=inv.init_duration_ms,
                    bill_init=inv.bill_init,
                    restore_duration_ms=inv.restore_duration_ms,
                    billed_restore_ms=inv.billed_restore_ms,
                    status=status,
                    error_type=error_type if status else None,
                    trace_id=trace.trace_id if trace else None,
                    segment_id=trace.function_segment_id if trace else None,
                    sampled=trace is not None,
                )
            ),
            inv=inv,
        )
        if self._current is inv:
            self._current = None
        if self._queued is inv:
            self._queued = None
        self.invocations += 1
        if inv.capture_log:
            inv.future.set_result(outcome)  # LogType Tail: END and REPORT are in its tail
        if trace is not None:
            if kind in ("response", "error") and self.state is not EnvState.DEAD:
                self._pending_trace = trace  # Overhead ends when the runtime asks for more work
            else:
                self.ctx.pipeline.put_segments(tm.lambda_segments(trace))

    # --- output and exit -------------------------------------------------------------------------
    def _emit(self, message: str, inv: Invocation | None = None) -> None:
        self.ctx.pipeline.put_log(self.log_group, self.log_stream, int(time.time() * 1000), message)
        inv = inv or self._current
        if inv is not None and inv.capture_log:
            inv.log_lines.append(message)

    def _failed_init_line(self, outcome: InitOutcome) -> str:
        return tm.init_report_line(outcome.duration_ms, "init", "error", outcome.error_type)

    def _die(self, code: int | None) -> None:
        """The process ended (or never started): settle init and the current invocation."""
        self.exit_code = code if code is not None else self.exit_code
        self.state = EnvState.DEAD
        self._output.drain()
        self._output.close()
        now = time.time()
        if not self.init_future.done():
            if self._init_error is not None:
                etype, body = self._init_error
                outcome = InitOutcome(False, self.started_at, now, etype, body)
            else:
                message = f"Error: Runtime exited with error: {exit_description(code)}"
                outcome = InitOutcome(
                    False,
                    self.started_at,
                    now,
                    "Runtime.ExitError",
                    lambda_error("Runtime.ExitError", message),
                )
            self._emit(self._failed_init_line(outcome))
            self.init_future.set_result(outcome)
        for inv in (self._current, self._queued):
            if inv is not None and not inv.future.done():
                self._finish(inv, "exit", b"", None)
        if self._pending_trace is not None:
            self.ctx.pipeline.put_segments(tm.lambda_segments(self._pending_trace))
            self._pending_trace = None
        if self._endpoint is not None:
            self._endpoint.close()
        self.ctx.loop.aside(shutil.rmtree, self._tmp, True)  # off the loop: disk is slow
