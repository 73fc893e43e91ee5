"""Step Functions' execution metrics (``AWS/States``): fed from the Step Functions patches.

moto 5.2.5 emits none (nothing in ``moto/stepfunctions`` writes to CloudWatch). The patched
``StartExecution`` and ``BaseExecutionWorkerCommunication.terminated`` of
:mod:`.stepfunctions` call :func:`execution_started` and :func:`execution_closed`; the counts live
in :class:`pclab.localcloud.states_metrics.StatesMetrics` (pure, per minute) and
:mod:`.cloudwatch` serves them beside Lambda's.

moto internals read, and why: a parser ``Execution``'s ``exec_arn`` (names the state machine),
``exec_status`` (an ``ExecutionStatus`` enum: SUCCEEDED, FAILED, ABORTED, TIMED_OUT once
closed), ``start_date`` and ``stop_date`` (aware datetimes moto sets at start and in
``_reflect_execution_status``: ExecutionTime is their difference, as AWS measures it).

Imports: no moto (the execution objects come from the patches).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pclab.localcloud.moto._patching import LOG, _installed
from pclab.localcloud.states_metrics import StatesMetrics


def states_metrics() -> StatesMetrics:
    """The process's Step Functions metrics (one moto, one set of executions)."""
    found: StatesMetrics = _installed.setdefault("states_metrics", StatesMetrics())
    return found


def execution_started(execution: Any) -> None:
    try:
        states_metrics().started(str(execution.exec_arn))
    except Exception as error:  # metrics must never break an execution
        LOG.warning("could not count the execution's start: %s", error)


def execution_closed(execution: Any) -> None:
    try:
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        start, stop = execution.start_date, execution.stop_date
        elapsed_ms = None
        if isinstance(start, datetime) and isinstance(stop, datetime):
            elapsed_ms = (stop - start).total_seconds() * 1000.0
        states_metrics().closed(str(execution.exec_arn), str(status), elapsed_ms)
    except Exception as error:
        LOG.warning("could not count the execution's end: %s", error)
