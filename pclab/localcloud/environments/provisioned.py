"""Provisioned concurrency pools: allocation, resize, replacement, retirement.

Lambda runs the init of every provisioned environment when the configuration is put (status
IN_PROGRESS, then READY, or FAILED with the init error), keeps the pool full when an environment
dies, and replaces every environment when the alias moves to other code (FACTS.md, "Lambda
concurrency"). This module holds that lifecycle; placing a call on a pool's free environment is
the manager's job (:mod:`.manager`), and the bookkeeping types are in :mod:`.concurrency`.

It shares the manager's lock and function table: every mutation of a pool happens under that
lock, and inits are waited for outside it, on a thread per allocation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..invocation import FunctionSpec, LambdaServiceError, ProvisionedStatus
from .concurrency import FunctionState, ProvisionedPool, spec_fingerprint
from .environment import Environment, EnvironmentContext, EnvState, InitOutcome

PROVISIONED_INIT_LIMIT_SECONDS = 900.0  # provisioned init is not bound by the 10 s limit


class ProvisionedPools:
    """Every function's provisioned pools, brought to and kept at their targets."""

    def __init__(
        self,
        ctx: EnvironmentContext,
        lock: Any,
        functions: dict[str, FunctionState],
        function_state: Callable[[str], FunctionState],
    ) -> None:
        self._ctx = ctx
        self._lock = lock
        self._functions = functions
        self._fn = function_state

    def put(self, spec: FunctionSpec, qualifier: str, count: int) -> None:
        """Set a pool's target; the allocation runs in the background (IN_PROGRESS until done)."""
        with self._lock:
            fn = self._fn(spec.function_name)
            pool = fn.pools.get(qualifier)
            if pool is None or spec_fingerprint(pool.spec) != spec_fingerprint(spec):
                if pool is not None:  # the alias now points at other code: replace every env
                    self.retire(fn, pool)
                pool = ProvisionedPool(qualifier=qualifier, spec=spec, target=count)
                fn.pools[qualifier] = pool
            pool.target = count
            pool.generation += 1
            pool.status = "IN_PROGRESS"
            pool.reason = None
            # Shrink: retire free environments beyond the target now, busy ones when released.
            while len(pool.envs) > count and pool.idle:
                env = pool.idle.pop()
                pool.envs.remove(env)
                fn.drop_env(env)
                env.kill()
            generation = pool.generation
        threading.Thread(
            target=self._allocate,
            args=(spec.function_name, qualifier, generation),
            name=f"pclab-pc-{spec.function_name}-{qualifier}",
            daemon=True,
        ).start()

    def delete(self, function_name: str, qualifier: str) -> None:
        with self._lock:
            fn = self._functions.get(function_name)
            if fn is None:
                return
            pool = fn.pools.pop(qualifier, None)
            if pool is not None:
                self.retire(fn, pool)

    def status(
        self, function_name: str, qualifier: str
    ) -> tuple[ProvisionedStatus, int, str | None]:
        with self._lock:
            fn = self._functions.get(function_name)
            pool = fn.pools.get(qualifier) if fn else None
            if pool is None:
                return ("FAILED", 0, "no provisioned concurrency configured")
            return (pool.status, pool.ready_count(), pool.reason)

    def retire(self, fn: FunctionState, pool: ProvisionedPool) -> None:
        """Kill the pool's free environments; busy ones are dropped when released."""
        pool.generation += 1
        for env in list(pool.envs):
            if not env.busy:
                fn.drop_env(env)
                env.kill()
        pool.envs.clear()
        pool.idle.clear()

    def replace_dead(self) -> None:
        """A provisioned environment that died is replaced, as Lambda keeps the pool full."""
        todo: list[tuple[str, str, int]] = []
        with self._lock:
            for fn in self._functions.values():
                for env in [e for e in fn.envs if e.state is EnvState.DEAD and not e.busy]:
                    fn.drop_env(env)
                for qualifier, pool in fn.pools.items():
                    if pool.status != "FAILED" and len(pool.envs) < pool.target:
                        pool.generation += 1
                        todo.append((fn.name, qualifier, pool.generation))
        for name, qualifier, generation in todo:  # in the background: inits take their time
            threading.Thread(
                target=self._allocate, args=(name, qualifier, generation), daemon=True
            ).start()

    def _allocate(self, function_name: str, qualifier: str, generation: int) -> None:
        """Bring the pool up to its target; READY when every environment initialised."""
        with self._lock:
            fn = self._functions.get(function_name)
            pool = fn.pools.get(qualifier) if fn else None
            if fn is None or pool is None or pool.generation != generation:
                return
            missing = pool.target - len(pool.envs)
            new = []
            for _ in range(max(0, missing)):
                env = Environment(
                    self._ctx, pool.spec, "provisioned-concurrency", pool_key=qualifier
                )
                pool.envs.append(env)
                fn.add_env(env)
                new.append(env)
        failures: list[InitOutcome] = []
        for env in new:
            try:
                env.start()
            except LambdaServiceError as exc:
                now = time.time()
                failures.append(
                    InitOutcome(False, now, now, "ServiceException", exc.message.encode())
                )
        with self._lock:
            waiting = [e for e in pool.envs if e.pid is not None]
        for env in waiting:  # also the ones an earlier, still running allocation started
            outcome = env.wait_init(PROVISIONED_INIT_LIMIT_SECONDS)
            if outcome is None or not outcome.ok:
                env.kill()
                if env in new:
                    failures.append(
                        outcome
                        or InitOutcome(False, env.started_at, time.time(), "Sandbox.Timedout")
                    )
        with self._lock:
            current = fn.pools.get(qualifier) is pool
            for env in new:
                if env.state is EnvState.DEAD:
                    fn.drop_env(env)
                elif not current or env not in pool.envs:
                    fn.drop_env(env)
                    env.kill()
                elif env.state is EnvState.READY and not env.busy and env not in pool.idle:
                    pool.idle.append(env)
            if not current or pool.generation != generation:
                return  # a newer put or replacement decides the status
            if failures:
                first = failures[0]
                pool.status = "FAILED"
                pool.reason = (
                    f"{len(failures)} of {len(new)} environments failed to initialize: "
                    f"{first.error_type}: {_error_message(first.payload)}"
                )
            elif pool.ready_count() >= pool.target:
                pool.status = "READY"


def _error_message(payload: bytes) -> str:
    try:
        doc = json.loads(payload)
        return str(doc.get("errorMessage", "")) if isinstance(doc, dict) else str(doc)
    except ValueError:
        return payload.decode("utf-8", "replace")
