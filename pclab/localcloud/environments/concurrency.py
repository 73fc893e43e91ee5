"""Lambda's concurrency model, as AWS documents it, kept apart from processes so it reads plainly.

- Concurrency = invocations in flight (waiting for an init or running). An environment serves one
  at a time and stays warm afterwards.
- Reserved concurrency caps a function's concurrency, provisioned environments included;
  above it, 429 ``TooManyRequestsException`` with Reason
  ``ReservedFunctionConcurrentInvocationLimitExceeded``.
- Functions without reserved concurrency share what the account limit leaves unreserved; above it,
  Reason ``ConcurrentInvocationLimitExceeded``.
- A function adds at most 1,000 new environments every 10 seconds (scaling rate).
- Provisioned pools are keyed by the alias or version that carries the config; only invocations
  through that qualifier use them ($LATEST / unqualified never do).

Everything here is mutated under the manager's lock.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..invocation import FunctionSpec, LambdaServiceError, ProvisionedStatus

if TYPE_CHECKING:
    from .environment import Environment

THROTTLE_MESSAGE = "Rate Exceeded."  # what Lambda's Invoke says for every concurrency throttle
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"


def throttle(reason: str) -> LambdaServiceError:
    return LambdaServiceError(
        "TooManyRequestsException", THROTTLE_MESSAGE, status=429, reason=reason
    )


def spec_fingerprint(spec: FunctionSpec) -> str:
    """Environments are reusable only for the same code and configuration (like a new version)."""
    key = json.dumps(
        [
            spec.function_name,
            spec.version,
            spec.code_sha256,
            spec.handler,
            spec.runtime,
            spec.memory_mb,
            spec.timeout_seconds,
            sorted(spec.environment.items()),
            spec.region,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass
class FunctionStats:
    """Counters a user (or a test) reads to see what the concurrency model did."""

    invocations: int = 0
    cold_starts: int = 0  # invocations that waited for an init
    provisioned_invocations: int = 0  # served by a provisioned environment
    spillover_invocations: int = 0  # PC configured for the qualifier but all busy: on-demand
    throttles: int = 0
    environments: int = 0  # alive now
    peak_environments: int = 0
    inflight: int = 0
    peak_inflight: int = 0


@dataclass
class ProvisionedPool:
    qualifier: str
    spec: FunctionSpec
    target: int
    envs: list[Environment] = field(default_factory=list)
    idle: list[Environment] = field(default_factory=list)
    status: ProvisionedStatus = "IN_PROGRESS"
    reason: str | None = None
    generation: int = 0

    def ready_count(self) -> int:
        """Environments that can take a call or are taking one. One that finished its init but
        that the allocating thread has not yet handed to the pool does not count: a caller told
        'READY' would otherwise find it busy with nothing and spill over."""
        from .environment import EnvState

        return sum(1 for e in self.envs if e.state is EnvState.READY and (e.busy or e in self.idle))


@dataclass
class FunctionState:
    name: str
    reserved: int | None = None
    envs: set[Environment] = field(default_factory=set)
    idle: dict[str, list[Environment]] = field(default_factory=dict)  # on-demand, by fingerprint
    pools: dict[str, ProvisionedPool] = field(default_factory=dict)
    created: deque[float] = field(default_factory=deque)  # on-demand env creations
    stats: FunctionStats = field(default_factory=FunctionStats)

    def add_env(self, env: Environment) -> None:
        self.envs.add(env)
        self.stats.environments = len(self.envs)
        self.stats.peak_environments = max(self.stats.peak_environments, len(self.envs))

    def drop_env(self, env: Environment) -> None:
        self.envs.discard(env)
        self.stats.environments = len(self.envs)
        for stack in self.idle.values():
            if env in stack:
                stack.remove(env)
        for pool in self.pools.values():
            if env in pool.envs:
                pool.envs.remove(env)
            if env in pool.idle:
                pool.idle.remove(env)

    def expire_idle(self, cutoff: float) -> list[Environment]:
        """Drop on-demand environments idle since before ``cutoff`` (monotonic); return them.

        Lambda does not document how long an idle environment lives; the manager's idle timeout
        stands for it. Provisioned environments never expire: Lambda keeps the pool allocated.
        """
        expired = [e for stack in self.idle.values() for e in stack if e.last_used < cutoff]
        for env in expired:
            self.drop_env(env)
        return expired


class Limits:
    """Account-wide limits and the admission check of one invocation."""

    def __init__(
        self, account_limit: int = 1000, scale_per_window: int = 1000, window: float = 10.0
    ):
        self.account_limit = account_limit
        self.scale_per_window = scale_per_window
        self.window = window

    def admit(self, fn: FunctionState, functions: dict[str, FunctionState]) -> None:
        """Raise the throttle Lambda would return, or count the invocation in flight."""
        if fn.reserved is not None:
            if fn.stats.inflight >= fn.reserved:
                fn.stats.throttles += 1
                raise throttle(RESERVED_REASON)
        else:
            reserved_total = sum(f.reserved or 0 for f in functions.values())
            unreserved_inflight = sum(
                f.stats.inflight for f in functions.values() if f.reserved is None
            )
            if unreserved_inflight >= self.account_limit - reserved_total:
                fn.stats.throttles += 1
                raise throttle(ACCOUNT_REASON)
        fn.stats.inflight += 1
        fn.stats.peak_inflight = max(fn.stats.peak_inflight, fn.stats.inflight)

    def allow_new_environment(self, fn: FunctionState, now: float | None = None) -> None:
        """Scaling rate: at most ``scale_per_window`` new environments per window per function."""
        t = now if now is not None else time.monotonic()
        while fn.created and fn.created[0] <= t - self.window:
            fn.created.popleft()
        if len(fn.created) >= self.scale_per_window:
            fn.stats.throttles += 1
            raise throttle(ACCOUNT_REASON)
        fn.created.append(t)
