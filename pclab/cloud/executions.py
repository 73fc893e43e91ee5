"""Start the load-generating executions and wait for them, counting finished items as they go.

Progress comes from the execution history: one ``MapIterationSucceeded``/``Failed``/``Aborted``
event per finished item of an inline Map, or DescribeMapRun's item counts for a distributed Map.
The history is read incrementally (newest first, stopping at the last event already seen), so a
long run costs one GetExecutionHistory call per poll, not a re-read of every page.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pclab.cloud.aws import Clients, pages
from pclab.cloud.endpoint import CREDENTIAL_CODES, GONE_CODES, EndpointLost
from pclab.cloud.errors import as_runner_error, describe_aws_error, error_code
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
    part: int = 1  # which of its run's executions (a run too big for one, pclab/cloud/parts.py)
    _last_event_id: int = 0  # the newest history event already counted
    _counted_at: float = float("-inf")  # monotonic time of the last history read
    _count_seconds: float = 0.0  # how long that read took

    @property
    def raw_suffix(self) -> str:
        """Its raw files' suffix: ``describe-execution.json`` for the first execution of a
        run, ``describe-execution-2.json`` for the second..."""
        return "" if self.part == 1 else f"-{self.part}"

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


def start(
    clients: Clients,
    target: Target,
    run_input: ExecutionInput,
    *,
    zero: int | None = None,
    part: int = 1,
) -> Execution:
    """Start one execution now; items with offsets are stamped with their arrival times from
    ``zero`` (the run's arrival zero, shared by its executions), or from now when None, since
    each state machine of a run starts at its own time."""
    name = execution_name(target.label)
    sent = run_input.stamped(time.time()) if zero is None else run_input.stamped_from(zero)
    try:
        reply = clients.stepfunctions.start_execution(
            stateMachineArn=target.state_machine_arn, name=name, input=sent.text
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
        part=part,
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
    except ClientError as error:
        code = error_code(error)
        if code in CREDENTIAL_CODES or code in GONE_CODES:
            raise _refused(clients, execution, error, code) from None
        execution.poll_error = describe_aws_error(error, f"following {execution.name}")
        return
    except BotoCoreError as error:
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


def _refused(clients: Clients, execution: Execution, error: ClientError, code: str) -> Exception:
    """Waiting cannot help: the credentials are refused, or the execution is gone."""
    if code in GONE_CODES:
        where = clients.endpoint_url or f"AWS ({clients.region})"
        message = (
            f"the {execution.target.label} execution {execution.name} no longer exists at "
            f"{where} ({code}): the endpoint lost its state while we followed it (a local "
            "cloud keeps none across restarts: deploy again, then run again)"
        )
    else:
        message = describe_aws_error(error, f"following {execution.name}")
    if clients.watch is not None:
        return clients.watch.declare_lost(message)
    return EndpointLost(message)


def _count_items(clients: Clients, execution: Execution) -> None:
    sfn = clients.stepfunctions
    newest = execution._last_event_id
    request = {
        "executionArn": execution.arn,
        "reverseOrder": True,
        # A poll finds tens of new events: pages of 100 (AWS's default) keep each read small
        # for the server (a page of 1,000 events is ~0.2 s of a moto server's CPU).
        "maxResults": 100,
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
    """Poll until every execution has finished (or the timeout passed; they then stay RUNNING).

    Raises :class:`EndpointLost` when the endpoint has not answered for the clients' endpoint
    timeout, or refuses for good (credentials, an execution that no longer exists).
    """
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    pending = [e for e in executions if not e.finished]
    watch = clients.watch
    if watch is not None and pending:
        watch.doing = f"waiting for {', '.join(e.name for e in pending)}"
    while pending:
        for execution in pending:
            poll(clients, execution, history_every=history_seconds)
            if on_progress is not None:
                on_progress(execution)
            if execution.poll_error and watch is not None:
                # botocore gave up its retries before the bound: keep polling until it passes
                watch.check(execution.poll_error)
        pending = [e for e in pending if not e.finished]
        if not pending or (deadline is not None and time.monotonic() >= deadline):
            return
        time.sleep(poll_seconds)


STOP_BUDGET_SECONDS = 15.0  # the longest Ctrl-C or a lost endpoint waits for StopExecution


def stop_unfinished(
    clients: Clients,
    executions: Sequence[Execution],
    cause: str,
    *,
    budget_seconds: float = STOP_BUDGET_SECONDS,
) -> list[str]:
    """Stop what is still running (Ctrl-C: no Lambda should keep working for nobody).

    Returns one line per execution that could not be stopped. Never waits longer than
    ``budget_seconds``: the endpoint may be the very thing that stopped answering.
    """
    return [line for _, line in _stop(clients, executions, cause, budget_seconds)]


def stop_after_loss(
    clients: Clients,
    executions: Sequence[Execution],
    cause: str,
    *,
    budget_seconds: float = STOP_BUDGET_SECONDS,
) -> list[str]:
    """The same once the endpoint is lost: the names of the executions not stopped."""
    return [execution.name for execution, _ in _stop(clients, executions, cause, budget_seconds)]


def _stop(
    clients: Clients, executions: Sequence[Execution], cause: str, budget_seconds: float
) -> list[tuple[Execution, str]]:
    running = [execution for execution in executions if not execution.finished]
    failures: list[tuple[Execution, str]] = []
    stopped: list[Execution] = []

    def stop_all() -> None:
        for execution in running:
            try:
                clients.stepfunctions.stop_execution(
                    executionArn=execution.arn, error="pclab.Interrupted", cause=cause
                )
                stopped.append(execution)
            except (ClientError, BotoCoreError, EndpointLost) as error:
                failures.append((execution, describe_stop_error(error, execution)))
        if clients.watch is not None and clients.watch.lost is not None:
            return  # nothing will answer the settle polls below
        # StopExecution returns before the execution has settled: the saved DescribeExecution
        # should say ABORTED, not RUNNING
        with contextlib.suppress(EndpointLost):
            wait(clients, running, poll_seconds=0.2, timeout_seconds=5.0)

    if not running:
        return []
    worker = threading.Thread(target=stop_all, name="pclab-stop", daemon=True)
    worker.start()
    worker.join(budget_seconds)
    if worker.is_alive():  # still blocked on the endpoint: leave it, say which were not stopped
        done = {id(execution) for execution, _ in failures}
        failures += [
            (e, f"stopping {e.name}: no answer within {budget_seconds:.0f} s")
            for e in running
            if id(e) not in done and all(e is not s for s in stopped)
        ]
    return failures


def describe_stop_error(error: Exception, execution: Execution) -> str:
    if isinstance(error, EndpointLost):
        return f"stopping {execution.name}: {error}"
    return describe_aws_error(error, f"stopping {execution.name}")
