"""The CloudWatch metrics Step Functions emits for executions (``AWS/States``), per minute.

moto 5.2.5 emits no ``AWS/States`` metric (nothing under ``moto/stepfunctions`` writes to its
CloudWatch backend), so the local cloud's Step Functions patches feed this aggregator and the
local CloudWatch serves it, as it serves Lambda's (:mod:`pclab.localcloud.moto.cloudwatch`).

What AWS documents (Step Functions developer guide, "Monitoring Step Functions metrics using
Amazon CloudWatch", execution metrics):

- dimension ``StateMachineArn`` (the state machine's ARN, unqualified);
- ``ExecutionsStarted``, ``ExecutionsSucceeded``, ``ExecutionsFailed``, ``ExecutionsAborted``
  (aborted or terminated), ``ExecutionsTimedOut``: unit Count, read with Sum; a start counts in
  the minute it started, an end in the minute it closed;
- ``ExecutionTime``: "the interval, in milliseconds, between the time the execution starts and
  the time it closes", unit Milliseconds, in the minute it closed; AWS suggests Average for time
  intervals (percentiles work too: the values are kept).

Not emitted: ``ExecutionThrottled`` (the local cloud throttles no state transition), the redrive
metrics (no RedriveExecution), the activity and per-task ``LambdaFunction*`` metrics, and Map Run
metrics (moto runs a Distributed Map's children inside the parent, as no executions of their own).

Imports only :mod:`pclab.localcloud.minute_stat`: the moto package feeds it, CloudWatch reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pclab.localcloud.minute_stat import Datum, Dimensions, MinuteStat, Series, datums

NAMESPACE = "AWS/States"

# An execution's ExecutionStatus (DescribeExecution's status) -> the metric its close counts in.
CLOSE_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "ABORTED": "ExecutionsAborted",
    "TIMED_OUT": "ExecutionsTimedOut",
}


def _unit(name: str) -> str:
    return "Milliseconds" if name == "ExecutionTime" else "Count"


def state_machine_arn(execution_arn: str) -> str | None:
    """The state machine an execution ARN names (``...:execution:<machine>:<name>``; Express
    executions are ``...:express:<machine>:<name>:<id>``); None for anything else."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] not in ("execution", "express"):
        return None
    return ":".join([*parts[:5], "stateMachine", parts[6]])


class StatesMetrics:
    """Per-minute aggregates of the execution metrics, fed when executions start and close."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: Series = {}

    def started(self, execution_arn: str) -> None:
        self._record("ExecutionsStarted", execution_arn, 1.0)

    def closed(self, execution_arn: str, status: str, elapsed_ms: float | None) -> None:
        """The execution closed with this status after ``elapsed_ms`` (None: not known)."""
        name = CLOSE_METRICS.get(status)
        if name is None:
            return  # still RUNNING or PENDING_REDRIVE: nothing closed
        self._record(name, execution_arn, 1.0)
        if elapsed_ms is not None:
            self._record("ExecutionTime", execution_arn, max(0.0, elapsed_ms))

    def datums(self) -> list[Datum]:
        """Every minute of every series so far (copies: the caller reads them at leisure)."""
        with self._lock:
            return datums(NAMESPACE, self._stats, _unit)

    def _record(self, name: str, execution_arn: str, value: float) -> None:
        machine = state_machine_arn(execution_arn)
        if machine is None:
            return
        dims: Dimensions = (("StateMachineArn", machine),)
        minute = int(self._clock() // 60) * 60
        with self._lock:
            stat = self._stats.get((name, dims, minute))
            if stat is None:
                stat = self._stats[(name, dims, minute)] = MinuteStat()
            stat.add(value, keep=name == "ExecutionTime")
