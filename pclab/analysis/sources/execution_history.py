"""Adapter for Step Functions GetExecutionHistory: when each Lambda task ran, as the caller saw it.

Reads the documented ``HistoryEvent`` format (``id``, ``previousEventId``, ``timestamp``, ``type``
and one ``<type>EventDetails`` object). The events of parallel Map iterations are interleaved, so
events are attributed to their Task state visit by following ``previousEventId`` back to the
nearest ``TaskStateEntered`` (and to the nearest ``MapIterationStarted`` for the iteration index).
Within one visit, each ``TaskScheduled`` starts an attempt: repeated attempts are Retry, and a
``Lambda.TooManyRequestsException`` failure is a throttle.

Both task flavours are read: ``arn:aws:states:::lambda:invoke`` (Task* events; the success output
is Lambda's Invoke response with ``Payload``, ``ExecutedVersion`` and ``SdkResponseMetadata``) and
the legacy direct function ARN resource (LambdaFunction* events; the output is the payload).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pclab.analysis.model import (
    THROTTLE_ERROR,
    Invocation,
    Source,
    item_key,
)
from pclab.analysis.perf import without_gc
from pclab.analysis.sources._common import (
    as_mapping,
    as_str,
    epoch_seconds,
    error_request_id,
    is_mapping,
    maybe_json,
    paged_entries,
    split_function,
    trace_root,
)
from pclab.analysis.sources.execution_output import apply_handler_result

_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})
_STARTED = frozenset({"TaskStarted", "LambdaFunctionStarted"})
_SUCCEEDED = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded"})
_FAILED = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)
_TASK_EVENTS = _SCHEDULED | _STARTED | _SUCCEEDED | _FAILED
_TIMED_OUT = frozenset({"TaskTimedOut", "LambdaFunctionTimedOut"})


_DETAIL_KEYS: dict[str, str] = {}


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """``TaskScheduled`` -> ``event["taskScheduledEventDetails"]`` (empty if absent)."""
    kind = str(event.get("type", ""))
    key = _DETAIL_KEYS.get(kind)
    if key is None:
        key = _DETAIL_KEYS[kind] = kind[:1].lower() + kind[1:] + "EventDetails"
    details = event.get(key)
    return details if is_mapping(details) else {}


@dataclass(slots=True)
class _Attempt:
    scheduled: float | None = None
    started: float | None = None
    ended: float | None = None
    succeeded: bool = False
    error: str | None = None
    cause: str | None = None
    output: Any = None
    parameters: Any = None
    resource_type: str | None = None
    legacy: bool = False  # LambdaFunction* events: the output is the bare payload


@dataclass(slots=True)
class _Visit:
    iteration_event: int | None
    entered_input: Any = None
    attempts: list[_Attempt] = field(default_factory=list)


def _events(document: Any) -> list[Mapping[str, Any]]:
    events = paged_entries(
        document,
        "events",
        'a GetExecutionHistory reply {"events": [...]}',
        lambda e: is_mapping(e) and "type" in e and "id" in e,
        "an event has no 'type' or 'id': not an execution history",
    )
    events.sort(key=lambda e: int(e["id"]))
    return events


def _payload_item(payload: Any) -> str | None:
    payload = as_mapping(maybe_json(payload))
    if payload is None:
        return None
    item = as_mapping(payload.get("item"))
    if item is not None:
        return item_key(item.get("id"))
    return item_key(payload.get("id"))


def _header(headers: Mapping[str, Any], name: str) -> Any:
    """An HTTP header by name, whatever its case (AWS's spelling first: it is the usual one)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    return value


def _fill_from_output(inv: Invocation, output: Any, legacy: bool) -> None:
    """Lambda's Invoke response (lambda:invoke) or the bare payload (legacy resource)."""
    response = as_mapping(maybe_json(output))
    if response is None:
        return
    payload: Mapping[str, Any] | None
    if legacy or "Payload" not in response:
        payload = response
    else:
        payload = as_mapping(maybe_json(response.get("Payload")))
        inv.function_version = as_str(response.get("ExecutedVersion"))
        metadata = as_mapping(response.get("SdkResponseMetadata")) or {}
        http = as_mapping(response.get("SdkHttpMetadata")) or {}
        headers = as_mapping(http.get("HttpHeaders")) or {}
        inv.request_id = as_str(metadata.get("RequestId")) or as_str(
            _header(headers, "x-amzn-RequestId")
        )
        inv.trace_id = trace_root(as_str(_header(headers, "X-Amzn-Trace-Id")))
    if payload is not None and (
        "requestId" in payload or "req" in payload or "environmentId" in payload
    ):
        request_id = inv.request_id
        version = inv.function_version
        apply_handler_result(inv, payload)
        inv.request_id = request_id or inv.request_id
        inv.function_version = version or inv.function_version


@without_gc
def parse_execution_history(
    document: Any,
    *,
    state_machine: str | None = None,
    execution: str | None = None,
) -> list[Invocation]:
    """One :class:`Invocation` per Lambda task visit (per Map item), in the order they began.

    ``document``: a GetExecutionHistory reply, a list of its pages, or a bare list of events
    (parsed or as JSON text). Timestamps may be datetimes, ISO 8601 strings or epoch numbers.
    """
    events = _events(document)
    # event id -> (its TaskStateEntered, its MapIterationStarted, its latest TaskScheduled)
    owner: dict[int, tuple[int | None, int | None, int | None]] = {}
    iteration_index: dict[int, int | None] = {}  # MapIterationStarted id -> its index
    visits: dict[int | tuple[str, int], _Visit] = {}
    nobody: tuple[int | None, int | None, int | None] = (None, None, None)
    for event in events:
        event_id = int(event["id"])
        kind = event["type"]
        previous = event.get("previousEventId")
        visit_id, iteration_id, scheduled_id = (
            owner.get(int(previous), nobody) if previous is not None else nobody
        )
        if kind == "MapIterationStarted":
            # a new iteration starts outside any task visit
            visit_id, iteration_id, scheduled_id = None, event_id, None
            index = _details(event).get("index")
            iteration_index[event_id] = index if isinstance(index, int) else None
        elif kind == "TaskStateEntered":
            visit_id = event_id
            visits[event_id] = _Visit(iteration_id, _details(event).get("input"))
        elif kind in _SCHEDULED:
            scheduled_id = event_id
        owner[event_id] = (visit_id, iteration_id, scheduled_id)
        if kind not in _TASK_EVENTS:
            continue
        key: int | tuple[str, int]
        if visit_id is not None:
            key = visit_id
        elif iteration_id is not None:
            # no TaskStateEntered (legacy or trimmed history): one visit per iteration
            key = ("iteration", iteration_id)
        else:
            # neither (a bare Task outside a Map, history without state events): the attempt chain
            key = ("chain", scheduled_id or event_id)
        visit = visits.get(key)
        if visit is None:
            visit = visits[key] = _Visit(iteration_id)
        _apply(visit, kind, event)

    lambda_visits = [
        visit
        for visit in visits.values()
        # skip Task states that are not Lambda tasks, or not scheduled yet
        if visit.attempts and any(a.resource_type in (None, "lambda") for a in visit.attempts)
    ]
    finals = [visit.attempts[-1] for visit in lambda_visits]
    _parse_in_one_go((a for a in finals if a.succeeded), "output")
    _parse_in_one_go((visit.attempts[0] for visit in lambda_visits), "parameters")
    invocations = [_invocation(v, iteration_index, state_machine, execution) for v in lambda_visits]
    invocations.sort(key=lambda inv: inv.scheduled_at or 0.0)
    return invocations


def _parse_in_one_go(attempts: Iterable[_Attempt], name: str) -> None:
    """Parse the JSON strings in ``attempt.<name>`` with one json.loads: one call per item
    costs more than the parsing itself. Left as they are if any is not JSON."""
    holders = [a for a in attempts if isinstance(getattr(a, name), str)]
    if not holders:
        return
    try:
        parsed = json.loads("[" + ",".join(getattr(a, name) for a in holders) + "]")
    except ValueError:
        return  # each is parsed on its own later, and a bad one is read as absent
    if isinstance(parsed, list) and len(parsed) == len(holders):
        for attempt, value in zip(holders, parsed, strict=True):
            setattr(attempt, name, value)


def _apply(visit: _Visit, kind: str, event: Mapping[str, Any]) -> None:
    when = epoch_seconds(event.get("timestamp"))
    details = _details(event)
    if kind in _SCHEDULED:
        parameters = details.get("parameters", details.get("input"))
        visit.attempts.append(
            _Attempt(
                scheduled=when,
                parameters=parameters,
                resource_type=as_str(details.get("resourceType"))
                or ("lambda" if kind.startswith("Lambda") else None),
            )
        )
        if kind.startswith("Lambda"):
            visit.attempts[-1].legacy = True
            visit.attempts[-1].parameters = {
                "FunctionName": details.get("resource"),
                "Payload": maybe_json(details.get("input")),
            }
        return
    if not visit.attempts or visit.attempts[-1].ended is not None:
        visit.attempts.append(_Attempt())  # history page began mid-attempt
    attempt = visit.attempts[-1]
    if kind in _STARTED:
        attempt.started = when
    elif kind in _SUCCEEDED:
        attempt.ended = when
        attempt.succeeded = True
        attempt.output = details.get("output")
        attempt.legacy = attempt.legacy or kind.startswith("Lambda")
        attempt.resource_type = attempt.resource_type or (
            "lambda" if kind.startswith("Lambda") else as_str(details.get("resourceType"))
        )
    else:
        attempt.ended = when
        attempt.error = as_str(details.get("error")) or (
            "States.Timeout" if kind in _TIMED_OUT else kind
        )
        attempt.cause = as_str(details.get("cause"))


def _invocation(
    visit: _Visit,
    iteration_index: Mapping[int, int | None],
    state_machine: str | None,
    execution: str | None,
) -> Invocation:
    attempts = visit.attempts
    final = attempts[-1]
    inv = Invocation(
        state_machine=state_machine,
        execution=execution,
        sources={Source.EXECUTION_HISTORY},
        retries=len(attempts) - 1,
        throttles=sum(1 for a in attempts if a.error == THROTTLE_ERROR),
    )
    if visit.iteration_event is not None:
        inv.iteration = iteration_index.get(visit.iteration_event)
    first = attempts[0]
    inv.scheduled_at = first.scheduled
    inv.started_at = final.started if final.started is not None else final.scheduled
    inv.ended_at = final.ended
    # retries repeat the same parameters; a history page may begin mid-attempt (none there)
    raw = first.parameters
    if not raw:
        raw = next((a.parameters for a in attempts if a.parameters), None)
    parameters = as_mapping(maybe_json(raw))
    if parameters is not None:
        inv.function_name, inv.qualifier = split_function(as_str(parameters.get("FunctionName")))
        inv.item_id = _payload_item(parameters.get("Payload"))
    if inv.item_id is None:
        inv.item_id = _payload_item(visit.entered_input)
    if final.succeeded:
        _fill_from_output(inv, final.output, final.legacy)
    elif final.ended is not None:
        inv.error = final.error
        inv.error_cause = final.cause
        inv.request_id = error_request_id(final.cause)
    return inv
