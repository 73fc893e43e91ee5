"""The CloudWatch metrics Lambda emits (namespace ``AWS/Lambda``), aggregated per minute.

What AWS documents ("Monitoring concurrency" and "Types of metrics for Lambda functions", Lambda
developer guide; FACTS.md "Lambda metrics"):

- 1-minute granularity. Dimension sets: none (account level), ``FunctionName``,
  ``FunctionName+Resource`` (``name:alias`` or ``name:version``) and, for invocation metrics,
  ``FunctionName+Resource+ExecutedVersion``.
- Invocations (throttled calls excluded), Errors (function errors), Throttles, the PC invocation
  counts: read with Sum. Duration (ms): Average/Min/Max/percentiles.
- ConcurrentExecutions, UnreservedConcurrentExecutions, ClaimedAccountConcurrency,
  ProvisionedConcurrentExecutions (provisioned environments busy, not allocated) and
  ProvisionedConcurrencyUtilization (busy / allocated): "view this metric using MAX". We sample
  them at every change of concurrency, so a minute's Maximum is the exact peak of that minute.
- ClaimedAccountConcurrency = UnreservedConcurrentExecutions + the allocated concurrency (all
  reserved plus all provisioned). A function with both counts the larger of the two here: its PC
  lives inside its reservation (FACTS.md "PC counts toward reserved concurrency").

The manager calls :meth:`LambdaMetrics.begin` / :meth:`end` / :meth:`throttled` on the invoke path
(a few dictionary updates under one lock, no I/O), and the local cloud's CloudWatch reads
:meth:`datums` when somebody asks. Nothing here knows moto or processes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from pclab.localcloud.minute_stat import Datum, Dimensions, MinuteStat, datums

NAMESPACE = "AWS/Lambda"


@dataclass(frozen=True)
class CallContext:
    """What one invocation is, for the metrics: names its dimension sets."""

    function_name: str
    resource: str | None  # "name:alias" or "name:version" when called with a qualifier
    executed_version: str
    reserved: bool  # the function has reserved concurrency (not in the unreserved pool)
    pc_configured: bool  # the qualifier has a provisioned pool
    served_by_pc: bool

    @property
    def unreserved(self) -> bool:
        """In the account's unreserved pool: no reservation, and not on a provisioned environment
        (PC is allocated out of the pool; ClaimedAccountConcurrency counts it as allocated)."""
        return not self.reserved and not self.served_by_pc

    def function_sets(self) -> list[Dimensions]:
        sets: list[Dimensions] = [(("FunctionName", self.function_name),)]
        if self.resource is not None:
            sets.append((("FunctionName", self.function_name), ("Resource", self.resource)))
        return sets

    def invocation_sets(self) -> list[Dimensions]:
        """Invocation metrics also go to the account level and the executed-version set."""
        sets: list[Dimensions] = [(), *self.function_sets()]
        if self.resource is not None:
            sets.append(
                (
                    ("FunctionName", self.function_name),
                    ("Resource", self.resource),
                    ("ExecutedVersion", self.executed_version),
                )
            )
        return sets


class LambdaMetrics:
    """Per-minute aggregates of every metric above, fed from the invoke path."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, Dimensions, int], MinuteStat] = defaultdict(MinuteStat)
        self._units: dict[str, str] = {}
        self._inflight: dict[Dimensions, int] = defaultdict(int)  # concurrency gauges
        self._unreserved = 0
        self._pc_busy: dict[Dimensions, int] = defaultdict(int)
        self._pc_allocated: dict[tuple[str, str], int] = {}  # (function, resource) -> units
        self._reserved: dict[str, int] = {}

    # --- configuration (control plane) -----------------------------------------------------------
    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        with self._lock:
            if reserved is None:
                self._reserved.pop(function_name, None)
            else:
                self._reserved[function_name] = reserved
            self._sample_claimed()

    def set_provisioned(self, function_name: str, resource: str, units: int) -> None:
        with self._lock:
            if units > 0:
                self._pc_allocated[(function_name, resource)] = units
            else:
                self._pc_allocated.pop((function_name, resource), None)
            self._sample_claimed()

    # --- the invoke path -------------------------------------------------------------------------
    def begin(self, call: CallContext) -> None:
        """An invocation was admitted: it is in flight from now (waiting for init or running)."""
        with self._lock:
            minute = self._minute()
            for dims in [*call.function_sets(), ()]:
                self._inflight[dims] += 1
                self._gauge("ConcurrentExecutions", dims, minute, self._inflight[dims], "Count")
            if call.unreserved:
                self._unreserved += 1
                self._gauge("UnreservedConcurrentExecutions", (), minute, self._unreserved, "Count")
            self._sample_claimed(minute)
            if call.served_by_pc:
                self._pc_change(call, minute, +1)

    def end(self, call: CallContext, *, duration_ms: float | None, error: bool) -> None:
        """The invocation ended: count it (Invocations, Errors, Duration) and leave flight."""
        with self._lock:
            minute = self._minute()
            for dims in [*call.function_sets(), ()]:
                self._inflight[dims] -= 1
            if call.unreserved:
                self._unreserved -= 1
            self._sample_claimed(minute)
            for dims in call.invocation_sets():
                self._count("Invocations", dims, minute)
                self._add("Errors", dims, minute, 1.0 if error else 0.0, "Count")
                if duration_ms is not None:
                    self._add("Duration", dims, minute, duration_ms, "Milliseconds", keep=True)
            if call.pc_configured:
                name = (
                    "ProvisionedConcurrencyInvocations"
                    if call.served_by_pc
                    else "ProvisionedConcurrencySpilloverInvocations"
                )
                for dims in call.function_sets():
                    self._count(name, dims, minute)
            if call.served_by_pc:
                self._pc_change(call, minute, -1)

    def throttled(self, function_name: str, resource: str | None) -> None:
        with self._lock:
            minute = self._minute()
            dims_sets: list[Dimensions] = [(), (("FunctionName", function_name),)]
            if resource is not None:
                dims_sets.append((("FunctionName", function_name), ("Resource", resource)))
            for dims in dims_sets:
                self._count("Throttles", dims, minute)

    # --- reading ---------------------------------------------------------------------------------
    def datums(self) -> list[Datum]:
        """Every minute of every series so far (a copy: the caller may read it at leisure)."""
        with self._lock:
            return datums(NAMESPACE, self._stats, self._units.__getitem__)

    def reset(self) -> None:
        with self._lock:
            self._stats.clear()
            self._inflight.clear()
            self._pc_busy.clear()
            self._pc_allocated.clear()
            self._reserved.clear()
            self._unreserved = 0

    # --- inside the lock -------------------------------------------------------------------------
    def _minute(self) -> int:
        now = self._clock()
        return int(now // 60) * 60

    def _add(
        self, name: str, dims: Dimensions, minute: int, value: float, unit: str, keep: bool = False
    ) -> None:
        self._units.setdefault(name, unit)
        self._stats[(name, dims, minute)].add(value, keep=keep)

    def _count(self, name: str, dims: Dimensions, minute: int) -> None:
        self._add(name, dims, minute, 1.0, "Count")

    def _gauge(self, name: str, dims: Dimensions, minute: int, value: float, unit: str) -> None:
        """A sampled gauge: every change is a sample, so Maximum is the minute's true peak."""
        self._add(name, dims, minute, float(value), unit)

    def _pc_change(self, call: CallContext, minute: int, delta: int) -> None:
        for dims in call.function_sets():
            self._pc_busy[dims] += delta
            busy = self._pc_busy[dims]
            self._gauge("ProvisionedConcurrentExecutions", dims, minute, busy, "Count")
        if call.resource is not None:
            allocated = self._pc_allocated.get((call.function_name, call.resource), 0)
            if allocated:
                dims = (("FunctionName", call.function_name), ("Resource", call.resource))
                busy = self._pc_busy[dims]
                self._gauge(
                    "ProvisionedConcurrencyUtilization", dims, minute, busy / allocated, "None"
                )

    def _sample_claimed(self, minute: int | None = None) -> None:
        per_function: dict[str, int] = dict(self._reserved)
        for (function_name, _), units in self._pc_allocated.items():
            if function_name not in self._reserved:
                per_function[function_name] = per_function.get(function_name, 0) + units
        claimed = self._unreserved + sum(per_function.values())
        self._gauge(
            "ClaimedAccountConcurrency",
            (),
            self._minute() if minute is None else minute,
            claimed,
            "Count",
        )
