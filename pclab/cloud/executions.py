"""Start the load-generating executions and wait for them, counting finished items as they go.

Progress comes from the execution history: one ``MapIterationSucceeded``/``Failed``/``Aborted``
event per finished item of an inline Map, or DescribeMapRun's item counts for a distributed Map.
The history is read incrementally (newest first, stopping at the last event already seen), so a
long run costs one GetExecutionHistory call per poll, not a re-read of every page.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pclab.cloud.aws import Clients, pages
from pclab.cloud.errors import as_runner_error, describe_aws_error
from pclab.cloud.input import ExecutionInput
from pclab.cloud.stack import Target

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
HISTORY_COST_FACTOR = 10.0
_ITEM_DONE = {
    "MapIterationSucceeded": "succeeded",
    "MapIterationFailed": "failed",
    "MapIterationAborted": "failed",
}


@dataclass
class Execution:
    """One execution of one target, as far as we have followed it."""

    target: Target
    name: str
    arn: str
    items: int
    started_at: float  # epoch seconds, our clock
    status: str = "RUNNING"
    succeeded: int = 0  # items finished without error
    failed: int = 0  # items failed or aborted
    ended_at: float | None = None  # our clock, when we saw it finish
    describe: dict[str, Any] | None = None  # the last DescribeExecution reply
    map_run_arn: str | None = None
    poll_error: str | None = None  # the last error while following it (progress only)
    _last_event_id: int = 0  # the newest history event already counted
    _counted_at: float = float("-inf")  # monotonic time of the last history read
    _count_seconds: float = 0.0  # how long that read took

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def problem(self) -> str | None:
        """One line when the execution did not succeed (None when it did)."""
        if self.status == "SUCCEEDED":
            return None
        reply = self.describe or {}
        detail = " ".join(str(part) for part in (reply.get("error"), reply.get("cause")) if part)
        detail = " ".join(detail.split())[:300]
        what = {
            "FAILED": "failed",
            "ABORTED": "was aborted",
            "TIMED_OUT": "timed out",
            "RUNNING": "did not finish",
        }.get(self.status, self.status.lower())
        suffix = f": {detail}" if detail else ""
        return f"the {self.target.label} execution {self.name} {what}{suffix}"


ProgressCallback = Callable[[Execution], None]


def execution_name(label: str, now: datetime | None = None) -> str:
    """A name that sorts by time and never collides (names are unique per state machine)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"pclab-{label}-{stamp}-{secrets.token_hex(3)}"


def start(clients: Clients, target: Target, run_input: ExecutionInput) -> Execution:
    name = execution_name(target.label)
    try:
        reply = clients.stepfunctions.start_execution(
            stateMachineArn=target.state_machine_arn, name=name, input=run_input.text
        )
    except (ClientError, BotoCoreError) as error:
        raise as_runner_error(
            error, f"starting {target.label} state machine {target.state_machine_name}"
        ) from None
    started = reply.get("startDate")
    return Execution(
        target=target,
        name=name,
        arn=reply["executionArn"],
        items=len(run_input.items),
        started_at=started.timestamp() if isinstance(started, datetime) else time.time(),
    )


def poll(clients: Clients, execution: Execution, *, history_every: float | None = None) -> None:
    """Refresh status, and item counts if ``history_every`` seconds have passed since the last
    count (None: count now), or the execution has ended. Transient errors are kept, not raised.

    WHY two rates: DescribeExecution is small and tells when the run ends (the next run starts
    then, so it is polled often); the history grows with every item and only feeds the bar.
    """
    sfn = clients.stepfunctions
    try:
        described: Any = sfn.describe_execution(executionArn=execution.arn)
        execution.describe = dict(described)
        now = time.monotonic()
        status = str(described.get("status", "RUNNING"))
        if status == "SUCCEEDED" and execution.map_run_arn is None and execution.done > 0:
            # An inline Map that succeeded has done every item: no history read between this
            # run's end and the next one's start (collection reads the whole history anyway).
            read = False
        elif status in TERMINAL or history_every is None:
            read = True
        else:
            # A long history is expensive to serve (a moto server spends ~0.2 s of CPU on 600
            # events, next to the Lambda environments of the run it measures): wait at least
            # HISTORY_COST_FACTOR times the last read, so progress costs the run ~10 % at most.
            spacing = max(history_every, HISTORY_COST_FACTOR * execution._count_seconds)
            read = now - execution._counted_at >= spacing
        if read:
            _count_items(clients, execution)
            execution._counted_at = now
            execution._count_seconds = time.monotonic() - now
        execution.poll_error = None
    except (ClientError, BotoCoreError) as error:
        execution.poll_error = describe_aws_error(error, f"following {execution.name}")
        return
    if status in TERMINAL and not execution.finished:
        execution.status = status
        stop = described.get("stopDate")
        execution.ended_at = stop.timestamp() if isinstance(stop, datetime) else time.time()
        if status == "SUCCEEDED" and execution.map_run_arn is None:
            # Every item is done once the execution is; an output without Map events (or a
            # history read that lagged) must not leave the bar short.
            execution.succeeded = max(execution.succeeded, execution.items - execution.failed)


def _count_items(clients: Clients, execution: Execution) -> None:
    sfn = clients.stepfunctions
    newest = execution._last_event_id
    request = {
        "executionArn": execution.arn,
        "reverseOrder": True,
        "maxResults": 1000,
        "includeExecutionData": False,
    }
    for page in pages(sfn.get_execution_history, request):
        reached_seen = False
        for event in page.get("events", []):
            event_id = int(event["id"])
            if event_id <= execution._last_event_id:
                reached_seen = True
                continue
            newest = max(newest, event_id)
            kind = _ITEM_DONE.get(str(event.get("type")))
            if kind == "succeeded":
                execution.succeeded += 1
            elif kind == "failed":
                execution.failed += 1
            elif event.get("type") == "MapRunStarted":
                details = event.get("mapRunStartedEventDetails") or {}
                execution.map_run_arn = details.get("mapRunArn")
        # reverse order: an event already seen means every later page is older still
        if reached_seen:
            break
    execution._last_event_id = newest
    if execution.map_run_arn:
        run: Any = sfn.describe_map_run(mapRunArn=execution.map_run_arn)
        counts = run.get("itemCounts") or {}
        execution.succeeded = int(counts.get("succeeded", 0))
        execution.failed = int(counts.get("failed", 0)) + int(counts.get("aborted", 0))
        execution.failed += int(counts.get("timedOut", 0))


def wait(
    clients: Clients,
    executions: Sequence[Execution],
    *,
    poll_seconds: float = 0.25,
    history_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Poll until every execution has finished (or the timeout passed; they then stay RUNNING)."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    pending = [e for e in executions if not e.finished]
    while pending:
        for execution in pending:
            poll(clients, execution, history_every=history_seconds)
            if on_progress is not None:
                on_progress(execution)
        pending = [e for e in pending if not e.finished]
        if not pending or (deadline is not None and time.monotonic() >= deadline):
            return
        time.sleep(poll_seconds)


def stop_unfinished(clients: Clients, executions: Sequence[Execution], cause: str) -> list[str]:
    """Stop what is still running (Ctrl-C: no Lambda should keep working for nobody).

    Returns one line per execution that could not be stopped.
    """
    problems: list[str] = []
    for execution in executions:
        if execution.finished:
            continue
        try:
            clients.stepfunctions.stop_execution(
                executionArn=execution.arn, error="pclab.Interrupted", cause=cause
            )
        except (ClientError, BotoCoreError) as error:
            problems.append(describe_aws_error(error, f"stopping {execution.name}"))
    # StopExecution returns before the execution has settled: the saved DescribeExecution
    # should say ABORTED, not RUNNING
    wait(clients, executions, poll_seconds=0.2, timeout_seconds=5.0)
    return problems
