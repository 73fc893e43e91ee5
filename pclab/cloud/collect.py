"""Collect the four sources of one run, each into a :class:`SourceBatch` plus the raw documents.

A source that fails or is absent (traces not sampled, a log group we may not read, logs still on
their way) becomes ``SourceBatch(provided=False, note=...)``: the report says which and why, and
carries on with the rest. Nothing here raises for an AWS error.

X-Ray and CloudWatch Logs lag the run by seconds (minutes at worst on AWS), so both are polled
with a deadline: done as soon as every call the execution output names is there, or when the
count has stopped growing for ``settle_seconds``, or at the deadline with what came.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pclab.analysis.model import Invocation, Source, SourceBatch, SourceFormatError
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.logs import parse_logs
from pclab.analysis.sources.xray import parse_traces
from pclab.cloud.aws import Clients, pages
from pclab.cloud.errors import describe_aws_error, error_code
from pclab.cloud.executions import Execution
from pclab.cloud.stack import FunctionFacts, Target

XRAY_BATCH = 5  # BatchGetTraces takes at most 5 trace ids per call
REPORT_PATTERN_TEXT = '"REPORT RequestId"'
REPORT_PATTERN_JSON = '{ $.type = "platform.report" }'
LOG_WINDOW_MARGIN_SECONDS = 5.0  # clock skew between our clock and Lambda's log timestamps

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class PollPolicy:
    """How long to wait for sources that arrive late (X-Ray, CloudWatch Logs)."""

    deadline_seconds: float = 60.0
    settle_seconds: float = 3.0
    interval_seconds: float = 1.0


@dataclass
class Collected:
    """One source's batch and the raw documents behind it (saved under ``raw/``)."""

    batch: SourceBatch
    raw: dict[str, Any]  # relative file name -> JSON-able document


def jsonable(value: Any) -> Any:
    """boto3 replies carry datetimes (and bytes); saved files use ISO 8601, as the AWS CLI does."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _absent(source: Source, note: str, origin: str | None = None) -> SourceBatch:
    return SourceBatch(source=source, provided=False, note=note, origin=origin)


# ----------------------------------------------------------------------- execution output
def execution_output(execution: Execution) -> Collected:
    target = execution.target
    folder = f"raw/{target.run_name}"
    reply = execution.describe or {}
    name = f"{folder}/describe-execution{execution.raw_suffix}.json"
    raw = {name: jsonable(reply)} if reply else {}
    origin = f"DescribeExecution {execution.name}"
    if not reply.get("output"):
        note = f"{execution.name} has no output (status {execution.status})"
        return Collected(_absent(Source.EXECUTION_OUTPUT, note, origin), raw)
    try:
        records = parse_execution_output(
            reply,
            state_machine=target.run_name,
            execution=execution.arn,
            function_name=target.function_name,
            qualifier=target.qualifier,
        )
    except SourceFormatError as error:
        return Collected(_absent(Source.EXECUTION_OUTPUT, f"unreadable: {error}", origin), raw)
    return Collected(SourceBatch(Source.EXECUTION_OUTPUT, tuple(records), origin=origin), raw)


# ----------------------------------------------------------------------- execution history
def history_events(clients: Clients, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first, through all pages."""
    events: list[dict[str, Any]] = []
    request = {"executionArn": execution_arn, "maxResults": 1000}
    for page in pages(clients.stepfunctions.get_execution_history, request):
        events.extend(page.get("events", []))
    return events


def execution_history(clients: Clients, execution: Execution) -> Collected:
    target = execution.target
    origin = f"GetExecutionHistory {execution.name}"
    try:
        events = history_events(clients, execution.arn)
    except (ClientError, BotoCoreError) as error:
        note = describe_aws_error(error, "reading the execution history")
        return Collected(_absent(Source.EXECUTION_HISTORY, note, origin), {})
    name = f"raw/{target.run_name}/history{execution.raw_suffix}.json"
    raw = {name: {"events": jsonable(events)}}
    try:
        records = parse_execution_history(
            {"events": events}, state_machine=target.run_name, execution=execution.arn
        )
    except SourceFormatError as error:
        return Collected(_absent(Source.EXECUTION_HISTORY, f"unreadable: {error}", origin), raw)
    map_run = execution.map_run_arn or any(e.get("type") == "MapRunStarted" for e in events)
    if not records and map_run:
        # A Distributed Map's per-item Task events are in its child executions, and express
        # children have no GetExecutionHistory at all (their history goes to CloudWatch Logs).
        note = (
            f"{execution.name} runs its items as Distributed Map children: their task events "
            "are not in the parent's history"
        )
        return Collected(_absent(Source.EXECUTION_HISTORY, note, origin), raw)
    for record in records:
        record.function_name = record.function_name or target.function_name
    return Collected(SourceBatch(Source.EXECUTION_HISTORY, tuple(records), origin=origin), raw)


# ----------------------------------------------------------------------- X-Ray
def trace_id(execution: Execution) -> str | None:
    """The execution's X-Ray trace id, from DescribeExecution's ``traceHeader`` (Root=...)."""
    header = (execution.describe or {}).get("traceHeader") or ""
    for part in str(header).split(";"):
        key, _, value = part.strip().partition("=")
        if key == "Root" and value:
            return value
    return None


def batch_get_traces(clients: Clients, trace_ids: Sequence[str]) -> tuple[list[Any], list[str]]:
    """All pages of BatchGetTraces, 5 ids a call: (traces, ids AWS did not process yet)."""
    traces: dict[str, Any] = {}
    unprocessed: list[str] = []
    for start in range(0, len(trace_ids), XRAY_BATCH):
        chunk = list(trace_ids[start : start + XRAY_BATCH])
        request = {"TraceIds": chunk}
        for page in pages(clients.xray.batch_get_traces, request, token="NextToken"):
            for trace in page.get("Traces", []):
                known = traces.setdefault(trace["Id"], {**trace, "Segments": []})
                seen = {segment.get("Id") for segment in known["Segments"]}
                known["Segments"].extend(
                    s for s in trace.get("Segments", []) if s.get("Id") not in seen
                )
            unprocessed.extend(page.get("UnprocessedTraceIds", []))
    return list(traces.values()), unprocessed


def _function_segments(traces: Iterable[Any]) -> int:
    count = 0
    for trace in traces:
        for segment in trace.get("Segments", []):
            document = segment.get("Document")
            if isinstance(document, str) and '"AWS::Lambda::Function"' in document:
                try:
                    if json.loads(document).get("origin") == "AWS::Lambda::Function":
                        count += 1
                except json.JSONDecodeError:
                    continue
    return count


def poll_until_settled(
    fetch: Callable[[], tuple[int, bool]],
    policy: PollPolicy,
    *,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[int], None] | None = None,
) -> None:
    """Call ``fetch`` (-> (count, complete)) until complete, settled, or past the deadline."""
    deadline = clock() + policy.deadline_seconds
    last_count = -1
    last_growth = clock()
    while True:
        count, complete = fetch()
        now = clock()
        if on_poll is not None:
            on_poll(count)
        if complete:
            return
        if count != last_count:
            last_count, last_growth = count, now
        elif count > 0 and now - last_growth >= policy.settle_seconds:
            return
        if now + policy.interval_seconds > deadline:
            return
        sleep(policy.interval_seconds)


def xray(
    clients: Clients,
    executions: Sequence[Execution],
    expected_calls: int | None,
    policy: PollPolicy,
    *,
    sleep: Sleep = time.sleep,
    on_poll: Callable[[int], None] | None = None,
) -> list[Collected]:
    """One batch per execution (traces are per execution); polled together."""
    ids = {execution.arn: trace_id(execution) for execution in executions}
    wanted = [tid for tid in ids.values() if tid]
    state: dict[str, Any] = {"traces": [], "unprocessed": [], "error": None}

    def fetch() -> tuple[int, bool]:
        try:
            traces, unprocessed = batch_get_traces(clients, wanted)
        except (ClientError, BotoCoreError) as error:
            state["error"] = describe_aws_error(error, "reading X-Ray traces (BatchGetTraces)")
            code = error_code(error) if isinstance(error, ClientError) else ""
            # a permanent refusal will not get better by waiting
            return 0, code in ("AccessDeniedException", "AccessDenied", "InvalidRequestException")
        state.update(traces=traces, unprocessed=unprocessed, error=None)
        segments = sum(len(trace.get("Segments", [])) for trace in traces)
        complete = (
            expected_calls is not None
            and not unprocessed
            and _function_segments(traces) >= expected_calls
        )
        return segments, complete

    if wanted:
        poll_until_settled(fetch, policy, sleep=sleep, on_poll=on_poll)
    results: list[Collected] = []
    by_id = {trace["Id"]: trace for trace in state["traces"]}
    for execution in executions:
        results.append(_xray_batch(execution, ids[execution.arn], by_id, state, policy))
    return results


def _xray_batch(
    execution: Execution,
    tid: str | None,
    by_id: dict[str, Any],
    state: dict[str, Any],
    policy: PollPolicy,
) -> Collected:
    origin = f"BatchGetTraces {tid}" if tid else "DescribeExecution traceHeader"
    if tid is None:
        note = (
            f"{execution.name} has no traceHeader: tracing is off for "
            f"{execution.target.state_machine_name}"
        )
        return Collected(_absent(Source.XRAY, note, origin), {})
    trace = by_id.get(tid)
    document = {"Traces": [trace] if trace else [], "UnprocessedTraceIds": state["unprocessed"]}
    name = f"raw/{execution.target.run_name}/traces{execution.raw_suffix}.json"
    raw = {name: jsonable(document)}
    if trace is None:
        note = state["error"] or (
            f"trace {tid} not found within {policy.deadline_seconds:.0f} s (not sampled, or "
            "not yet indexed: re-run `pclab analyze` on the saved files later)"
        )
        return Collected(_absent(Source.XRAY, note, origin), raw)
    try:
        records = parse_traces({"Traces": [trace]})
    except SourceFormatError as error:
        return Collected(_absent(Source.XRAY, f"unreadable: {error}", origin), raw)
    target = execution.target
    # the run's calls are its function's: a call the function makes to another function
    # shares the trace, and is not one of them
    records = [r for r in records if r.function_name in (None, target.function_name)]
    for record in records:
        if record.state_machine in (None, target.state_machine_name):
            record.state_machine = target.run_name
        record.execution = record.execution or execution.arn
    return Collected(SourceBatch(Source.XRAY, tuple(records), origin=origin), raw)


# ----------------------------------------------------------------------- CloudWatch Logs
def filter_log_events(
    clients: Clients, group: str, pattern: str, start_ms: int, end_ms: int, page_size: int = 10_000
) -> list[dict[str, Any]]:
    """Every matching event of the group in the window, through all pages."""
    events: list[dict[str, Any]] = []
    request = {
        "logGroupName": group,
        "filterPattern": pattern,
        "startTime": start_ms,
        "endTime": end_ms,
        "limit": page_size,
    }
    for page in pages(clients.logs.filter_log_events, request):
        events.extend(page.get("events", []))
    return events


def logs(
    clients: Clients,
    target: Target,
    facts: FunctionFacts,
    window: tuple[float, float],
    known_request_ids: set[str],
    policy: PollPolicy,
    *,
    sleep: Sleep = time.sleep,
    on_poll: Callable[[int], None] | None = None,
    page_size: int = 10_000,
) -> Collected:
    """The REPORT lines of the target's function in the run's window.

    Only lines of this run's calls are kept when the execution output named them (the window
    may also hold another run's calls of the same function), and the lines of failed calls;
    the raw file keeps all.
    """
    group = facts.log_group or f"/aws/lambda/{target.function_name}"
    pattern = REPORT_PATTERN_JSON if facts.log_format.upper() == "JSON" else REPORT_PATTERN_TEXT
    start_ms = max(0, int((window[0] - LOG_WINDOW_MARGIN_SECONDS) * 1000))
    end_ms = max(start_ms, int((window[1] + LOG_WINDOW_MARGIN_SECONDS) * 1000))
    origin = f"FilterLogEvents {group}"
    state: dict[str, Any] = {"events": [], "error": None, "records": []}

    def fetch() -> tuple[int, bool]:
        try:
            events = filter_log_events(clients, group, pattern, start_ms, end_ms, page_size)
        except (ClientError, BotoCoreError) as error:
            missing = isinstance(error, ClientError) and (
                error_code(error) == "ResourceNotFoundException"
            )
            state["error"] = (
                f"log group {group} not found"
                if missing
                else describe_aws_error(error, f"reading {group}")
            )
            code = error_code(error) if isinstance(error, ClientError) else ""
            return 0, code in ("AccessDeniedException", "AccessDenied")
        state.update(events=events, error=None)
        try:
            records = parse_logs({"events": events})
        except SourceFormatError as error:
            state["error"] = f"unreadable: {error}"
            return len(events), True
        state["records"] = records
        seen = {r.request_id for r in records if r.request_id}
        complete = bool(known_request_ids) and known_request_ids <= seen
        return len(events), complete

    poll_until_settled(fetch, policy, sleep=sleep, on_poll=on_poll)
    raw_name = f"raw/{target.function_name}/report-lines.json"
    raw = {raw_name: {"logGroupName": group, "events": jsonable(state["events"])}}
    records: list[Invocation] = state["records"]
    if state["error"] and not records:
        return Collected(_absent(Source.LOGS, state["error"], origin), raw)
    if not state["events"]:
        note = (
            f"no REPORT lines in {group} within {policy.deadline_seconds:.0f} s of the run "
            "(log delivery lags; re-run `pclab analyze` on the saved files later)"
        )
        return Collected(_absent(Source.LOGS, note, origin), raw)
    kept = records
    if known_request_ids:
        # a failed call's REPORT line stays even when the output did not name its request (an
        # init error names none): the join ties it to the item that failed, or leaves it out.
        # Only one logged after the run began: the margin before it may hold the end of an
        # earlier run's calls of the same function, failures included.
        kept = [
            r
            for r in records
            if r.request_id in known_request_ids
            or (r.error is not None and (r.reported_at or 0.0) >= window[0])
        ]
    for record in kept:
        record.function_name = record.function_name or target.function_name
        record.state_machine = record.state_machine or target.run_name
    dropped = len(records) - len(kept)
    ignored = f"{dropped} REPORT line(s) of other calls in the window ignored" if dropped else None
    return Collected(SourceBatch(Source.LOGS, tuple(kept), note=ignored, origin=origin), raw)
