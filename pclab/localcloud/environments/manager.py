"""EnvironmentManager: the Lambda data plane behind the local cloud's invocation seam.

It implements :class:`pclab.localcloud.invocation.ExecutionLayer`: it picks or starts an execution
environment for each invocation following Lambda's concurrency model (:mod:`.concurrency`), runs
the event through the real runtime client (:mod:`.environment`), and reports what Lambda reports:
the Invoke result or error, X-Ray segments and CloudWatch Logs lines (:mod:`.telemetry`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

from ...lambda_model.platform import PlatformModel
from ...lambda_model.platform import platform_model as lambda_platform_model
from ..invocation import (
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    LambdaServiceError,
    ProvisionedStatus,
    TelemetrySink,
)
from . import telemetry as tm
from .calls import init_failure_result, invoke_result, new_invocation
from .code import CodeCache, code_root, raise_open_files_limit
from .concurrency import FunctionState, FunctionStats, Limits, spec_fingerprint
from .environment import (
    Environment,
    EnvironmentContext,
    EnvState,
    InitOutcome,
    Invocation,
)
from .errors import lambda_error
from .loop import EventLoopThread
from .metrics import CallContext, LambdaMetrics
from .process import ForkServerLauncher, Launcher, SpawnLauncher
from .provisioned import ProvisionedPools
from .runtimes import Runtimes
from .snapstart import Snapshots
from .spares import SparePools

log = logging.getLogger(__name__)

ON_DEMAND_INIT_LIMIT_SECONDS = 10.0  # Lambda re-runs a longer init inside the first invoke


class EnvironmentManager:
    """Execution environments and the concurrency model of every function in the local cloud."""

    def __init__(
        self,
        telemetry: TelemetrySink,
        *,
        idle_timeout_seconds: float = 600.0,
        xray_daemon_port: int | None = None,
        launcher: Literal["forkserver", "spawn"] = "forkserver",
        account_limit: int = 1000,
        scale_per_10s: int = 1000,
        init_limit_seconds: float = ON_DEMAND_INIT_LIMIT_SECONDS,
        work_dir: Path | None = None,
        platform_model: str | PlatformModel = "aws",
        runtime_cache_dir: Path | None = None,
    ) -> None:
        raise_open_files_limit()
        # Lambda's own timings (runtime start, dependency imports, Invoke path), or "none".
        self.platform = (
            platform_model
            if isinstance(platform_model, PlatformModel)
            else lambda_platform_model(platform_model)
        )
        if launcher == "spawn":  # plain interpreters cannot wait as the model says: raw timings
            self.platform = lambda_platform_model("none")
        self._runtimes = Runtimes(runtime_cache_dir)
        self._idle_timeout = idle_timeout_seconds
        self._init_limit = init_limit_seconds
        self._own_work_dir = work_dir is None
        self._work_dir = Path(work_dir or tempfile.mkdtemp(prefix="pclab-lambda-"))
        (self._work_dir / "envs").mkdir(parents=True, exist_ok=True)
        self._code_root = code_root(self._work_dir)
        self._code = CodeCache(self._code_root)
        # What the fork server removes if this process dies without shutting down.
        leftovers = [self._code_root] + ([self._work_dir] if self._own_work_dir else [])
        self._loop = EventLoopThread()
        self._pipeline = tm.TelemetryPipeline(telemetry)
        self._xray = tm.XRayDaemon(self._loop, self._pipeline.put_segments, xray_daemon_port)
        chosen: Launcher = (
            ForkServerLauncher(self._loop, cleanup=leftovers)
            if launcher == "forkserver"
            else SpawnLauncher(self._loop)
        )
        self._activity = threading.Lock()
        self._in_flight = 0  # calls anywhere between accepted and answered
        self._last_call = time.monotonic()
        # Processes forked ahead of a burst, so 150 cold starts overlap as on Lambda (spares.py).
        self._spares = (
            SparePools(self._loop, chosen, self.idle_seconds)
            if isinstance(chosen, ForkServerLauncher) and self.platform.enabled
            else None
        )
        self._ctx = EnvironmentContext(
            loop=self._loop,
            launcher=chosen,
            pipeline=self._pipeline,
            xray_port=self._xray.port,
            work_dir=self._work_dir,
            code=self._code,
            runtimes=self._runtimes,
            platform=self.platform,
            spares=self._spares,
        )
        self._limits = Limits(account_limit=account_limit, scale_per_window=scale_per_10s)
        self._lock = threading.RLock()
        self._functions: dict[str, FunctionState] = {}
        # What Lambda emits to CloudWatch (AWS/Lambda), read by the local cloud's CloudWatch.
        self.metrics = LambdaMetrics()
        self._pools = ProvisionedPools(self._ctx, self._lock, self._functions, self._fn)
        self.snapshots = Snapshots(self._ctx)  # SnapStart versions (snapstart.py)
        self._warned_runtimes: set[tuple[str, str]] = set()
        self._closed = False
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="pclab-reaper", daemon=True)
        self._reaper.start()

    # --- public: ExecutionLayer -----------------------------------------------------------------
    @property
    def xray_daemon_address(self) -> str:
        return self._xray.address

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        if self._closed:
            raise LambdaServiceError("ServiceException", "the local cloud is stopping", status=500)
        spec = request.spec
        if request.invocation_type == "DryRun":
            return InvokeResult(status_code=204, payload=b"", executed_version=spec.version)
        if request.invocation_type == "Event":
            threading.Thread(target=self._invoke_async, args=(request,), daemon=True).start()
            return InvokeResult(status_code=202, payload=b"", executed_version=spec.version)
        return self._invoke_sync(request)

    def set_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        with self._lock:
            self._fn(function_name).reserved = reserved
        self.metrics.set_reserved(function_name, reserved)

    def set_account_limit(self, limit: int) -> None:
        with self._lock:
            self._limits.account_limit = limit

    def put_provisioned_concurrency(self, spec: FunctionSpec, qualifier: str, count: int) -> None:
        self._warn_runtime(spec)
        self._pools.put(spec, qualifier, count)
        self.metrics.set_provisioned(spec.function_name, f"{spec.function_name}:{qualifier}", count)

    def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        self._pools.delete(function_name, qualifier)
        self.metrics.set_provisioned(function_name, f"{function_name}:{qualifier}", 0)

    def provisioned_status(
        self, function_name: str, qualifier: str
    ) -> tuple[ProvisionedStatus, int, str | None]:
        return self._pools.status(function_name, qualifier)

    def publish_snapshot(self, spec: FunctionSpec) -> None:
        self._warn_runtime(spec)
        self.snapshots.publish(spec)

    def snapshot_status(self, function_name: str, version: str) -> tuple[str, str | None] | None:
        return self.snapshots.status(function_name, version)

    def delete_function(self, function_name: str) -> None:
        self.snapshots.delete_function(function_name)
        with self._lock:
            fn = self._functions.pop(function_name, None)
            envs = list(fn.envs) if fn else []
        for env in envs:
            env.kill()
        # Its unpacked code stays until shutdown: other functions may share the same zip.

    def shutdown(self) -> None:
        """Stop every environment, the fork server and the threads; leave no process behind."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._lock:
            envs = [e for fn in self._functions.values() for e in fn.envs]
            self._functions.clear()
        for env in envs:
            env.kill()
        self.snapshots.close()
        if self._spares is not None:
            self._spares.close()
        self._ctx.launcher.close()  # kills what is left and reaps it

        # Callers still waiting get what Lambda says of a killed runtime, not a hang.
        def settle() -> None:
            for env in envs:
                env.settle_killed()

        with contextlib.suppress(Exception):
            self._loop.call(settle, timeout=10)
        self._reaper.join(timeout=5)
        self._xray.close()
        self._pipeline.close()
        self._loop.stop()
        shutil.rmtree(self._code_root, ignore_errors=True)
        if self._own_work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    # --- public: inspection -----------------------------------------------------------------------
    def spare_count(self) -> int:
        """Processes forked ahead of a burst, waiting to become environments (spares.py)."""
        return self._spares.count() if self._spares is not None else 0

    def stats(self, function_name: str) -> FunctionStats:
        """A copy of the function's counters (environments alive, peaks, cold starts, throttles)."""
        with self._lock:
            fn = self._functions.get(function_name)
            return FunctionStats(**vars(fn.stats)) if fn else FunctionStats()

    def environment_pids(self, function_name: str | None = None) -> list[int]:
        with self._lock:
            fns = (
                [self._functions[function_name]]
                if function_name in self._functions
                else ([] if function_name else list(self._functions.values()))
            )
            return [e.pid for fn in fns for e in fn.envs if e.pid is not None]

    def flush_telemetry(self, timeout: float = 10.0) -> bool:
        """Wait until every log line and segment written so far reached the sink."""
        return self._pipeline.flush(timeout)

    # --- invoking ---------------------------------------------------------------------------------
    def _invoke_async(self, request: InvokeRequest) -> None:
        # Lambda queues async events and retries throttles for hours; a short backoff will do here.
        delay = 0.1
        for _ in range(20):
            try:
                self._invoke_sync(request)
                return
            except LambdaServiceError as exc:
                if exc.status != 429:
                    log.warning(
                        "async invocation of %s failed: %s", request.spec.function_name, exc
                    )
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def idle_seconds(self) -> float:
        """Seconds since the last call was accepted or answered; 0 while any is in flight.

        The local cloud runs its full garbage collections when this says it is quiet
        (``quiet_gc.py``).
        """
        with self._activity:
            return 0.0 if self._in_flight else time.monotonic() - self._last_call

    def _invoke_sync(self, request: InvokeRequest) -> InvokeResult:
        with self._activity:
            self._in_flight += 1
            self._last_call = time.monotonic()
        try:
            return self._invoke_counted(request)
        finally:
            with self._activity:
                self._in_flight -= 1
                self._last_call = time.monotonic()

    def _invoke_counted(self, request: InvokeRequest) -> InvokeResult:
        spec = request.spec
        self._warn_runtime(spec)
        accepted_at = time.time()
        env, cold, provisioned, call = self._acquire(request)
        duration_ms: float | None = None
        failed = True
        try:
            init: InitOutcome | None = None
            first: Invocation | None = None
            if cold:
                init, env, first = self._cold_start(request, env, accepted_at)
                if not init.ok:
                    env.kill()
                    return init_failure_result(
                        request,
                        init,
                        accepted_at,
                        self.platform,
                        self._pipeline,
                        (env.log_group, env.log_stream),
                    )
            result, duration_ms = self._run(request, env, init, provisioned, accepted_at, first)
            failed = result.function_error is not None
            return result
        finally:
            self._release(spec.function_name, env)
            self.metrics.end(call, duration_ms=duration_ms, error=failed)

    def _acquire(self, request: InvokeRequest) -> tuple[Environment, bool, bool, CallContext]:
        """Admission and placement, counted in the metrics as in flight from here.

        (environment, needs init, served by provisioned concurrency, the call's metric context)
        """
        spec = request.spec
        with self._lock:
            fn = self._fn(spec.function_name)
            try:
                self._limits.admit(fn, self._functions)
            except LambdaServiceError:
                self.metrics.throttled(spec.function_name, _resource(request))
                raise
            env, cold, provisioned = self._place(request, fn)
            call = CallContext(
                function_name=spec.function_name,
                resource=_resource(request),
                executed_version=spec.version,
                reserved=fn.reserved is not None,
                pc_configured=request.provisioned_qualifier in fn.pools,
                served_by_pc=provisioned,
            )
            self.metrics.begin(call)
            return env, cold, provisioned, call

    def _place(self, request: InvokeRequest, fn: FunctionState) -> tuple[Environment, bool, bool]:
        """A provisioned environment, else a warm on-demand one, else a new one (a cold start)."""
        spec = request.spec
        # Under the manager's lock: the caller holds it.
        fn.stats.invocations += 1
        qualifier = request.provisioned_qualifier
        pool = fn.pools.get(qualifier) if qualifier is not None else None
        if pool is not None:
            while pool.idle:
                env = pool.idle.pop()
                if env.state is EnvState.READY:
                    env.busy = True
                    fn.stats.provisioned_invocations += 1
                    return env, False, True
                fn.drop_env(env)  # died while idle; the housekeeping replaces it
            fn.stats.spillover_invocations += 1
        stack = fn.idle.get(spec_fingerprint(spec), [])
        while stack:
            env = stack.pop()  # most recently used first: the warmest
            if env.state is EnvState.READY:
                env.busy = True
                return env, False, False
            fn.drop_env(env)
        try:
            self._limits.allow_new_environment(fn)
        except LambdaServiceError:
            fn.stats.inflight -= 1
            self.metrics.throttled(spec.function_name, _resource(request))
            raise
        try:  # a SnapStart version's new environment restores from its snapshot
            env = self.snapshots.environment(spec) or Environment(self._ctx, spec, "on-demand")
        except LambdaServiceError:
            fn.stats.inflight -= 1
            raise
        env.busy = True
        fn.add_env(env)
        fn.stats.cold_starts += 1
        return env, True, False

    def _release(self, function_name: str, env: Environment) -> None:
        with self._lock:
            env.busy = False
            env.last_used = time.monotonic()
            fn = self._functions.get(function_name)
            if fn is None:
                env.kill()
                return
            fn.stats.inflight -= 1
            if env.state is not EnvState.READY or env not in fn.envs:
                fn.drop_env(env)
                return
            if env.pool_key is not None:
                pool = fn.pools.get(env.pool_key)
                if pool is None or env not in pool.envs or len(pool.envs) > pool.target:
                    fn.drop_env(env)
                    env.kill()
                else:
                    pool.idle.append(env)
            else:
                fn.idle.setdefault(spec_fingerprint(env.spec), []).append(env)

    def _cold_start(
        self, request: InvokeRequest, env: Environment, accepted_at: float
    ) -> tuple[InitOutcome, Environment, Invocation | None]:
        """Start ``env``, wait for its init; past the init limit, init again inside the invoke.

        (the init, the environment that ran it, the event already sent to it when the init ended)
        """
        spec = request.spec
        if env.init_type == "snap-start":
            return self.snapshots.restore(env), env, None
        first = new_invocation(request, accepted_at, self.platform, provisioned=False)
        env.run_after_init(first)
        env.start()
        init = env.wait_init(self._init_limit)
        if init is not None:
            return init, env, first if init.ok else None
        # Lambda's on-demand init is limited (10 s): it is re-run as part of the first invoke,
        # under the function's timeout.
        env.kill()
        timed_out_ms = (time.time() - env.started_at) * 1000.0
        env.ctx.pipeline.put_log(
            env.log_group,
            env.log_stream,
            int(time.time() * 1000),
            tm.init_report_line(timed_out_ms, "init", "timeout", None),
        )
        with self._lock:
            fn = self._fn(spec.function_name)
            fn.drop_env(env)
            retry = Environment(self._ctx, spec, "on-demand")
            retry.busy = True
            fn.add_env(retry)
        retry.start()
        second = retry.wait_init(float(spec.timeout_seconds))
        if second is None:
            retry.kill()
            return (
                InitOutcome(
                    False,
                    env.started_at,
                    time.time(),
                    "Sandbox.Timedout",
                    lambda_error(
                        "Sandbox.Timedout",
                        f"Error: Task timed out after {float(spec.timeout_seconds):.2f} seconds",
                    ),
                ),
                retry,
                None,
            )
        # The caller waited for both; REPORT shows the first (timed-out) init phase.
        return (
            InitOutcome(
                second.ok, env.started_at, second.ended_at, second.error_type, second.payload
            ),
            retry,
            None,
        )

    def _run(
        self,
        request: InvokeRequest,
        env: Environment,
        init: InitOutcome | None,
        provisioned: bool,
        accepted_at: float,
        first: Invocation | None,
    ) -> tuple[InvokeResult, float]:
        """Run the event (or wait for ``first``, sent as the init ended); (the result, the
        handler's duration in ms for the metrics)."""
        if first is not None:
            inv = first
            outcome = env.outcome(inv)
        else:
            inv = new_invocation(request, accepted_at, self.platform, provisioned=provisioned)
            if init is not None:  # a restore, or an init re-run against the function's timeout
                inv.init_duration_ms = init.duration_ms
                inv.timeout_seconds = max(0.05, inv.timeout_seconds - (time.time() - init.ended_at))
                if inv.trace is not None:
                    inv.trace.init = (init.started_at, init.ended_at)
                    inv.trace.init_modelled = env.modelled
            # The platform model's Invoke path: a floor on what Lambda adds before the handler.
            pause = accepted_at + self.platform.invoke_path_s() - time.time()
            if init is None and pause > 0:
                time.sleep(pause)
            outcome = env.run(inv)
        if outcome.kind in ("timeout", "exit"):
            env.kill()
        duration_ms = (outcome.ended_at - outcome.started_at) * 1000
        return invoke_result(request, inv, outcome), duration_ms

    # --- housekeeping -----------------------------------------------------------------------------
    def _reap_loop(self) -> None:
        interval = max(0.05, min(self._idle_timeout / 4, 5.0))
        while not self._stop.wait(interval):
            try:
                self._reap_idle()
                self._pools.replace_dead()
            except Exception:
                log.exception("environment housekeeping failed")

    def _reap_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_timeout
        with self._lock:
            victims = [e for fn in self._functions.values() for e in fn.expire_idle(cutoff)]
        for env in victims:
            env.kill()

    def _fn(self, name: str) -> FunctionState:
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = FunctionState(name)
        return fn

    def _warn_runtime(self, spec: FunctionSpec) -> None:
        # The first call of a runtime finds its Python (and may make its virtual environment).
        ran = self._runtimes.resolve(spec.runtime)
        key = (spec.function_name, spec.runtime)
        if ran.note and key not in self._warned_runtimes:
            self._warned_runtimes.add(key)
            log.warning(
                "function %s declares runtime %s; the local cloud runs it on Python %s (%s): %s",
                spec.function_name,
                spec.runtime,
                ran.version,
                ran.python,
                ran.note,
            )


def _resource(request: InvokeRequest) -> str | None:
    """The Resource dimension of a call: ``name:qualifier`` when the caller named one."""
    if request.qualifier is None:
        return None
    return f"{request.spec.function_name}:{request.qualifier}"
