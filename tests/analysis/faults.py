"""A simulated run in which calls fail, written out as the four documents the analysis reads.

Builds on :mod:`synthetic` (the sample's physics and AWS's document shapes) and changes what each
source shows for a failed call, as Lambda and Step Functions show it (the local cloud's
environments README lists the same shapes):

- ``handler``: the handler raised; its error document names ``requestId``;
- ``init``: the init failed; the error document's ``requestId`` is empty, so the caller's side
  names no request id, while X-Ray (with an Initialization) and the REPORT line do;
- ``timeout``: ``Sandbox.Timedout``, ``"RequestId: <id> Error: Task timed out after 3.00 seconds"``;
- ``killed``: ``Runtime.ExitError``, ``"RequestId: <id> Error: Runtime exited with error: signal:
  killed"`` (an environment lost with its host, or SIGKILL);
- ``throttle``: every retry throttled, ``Lambda.TooManyRequestsException``; the call never
  reached the function, so Lambda's side has no record of it.

``lost`` drops a call's lines from one source (an X-Ray datagram or a log line that never
arrived).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from . import synthetic

KINDS = ("ok", "handler", "init", "timeout", "killed", "throttle")
ERROR_TYPE = {
    "handler": "ValueError",
    "init": "ConfigurationError",
    "timeout": "Sandbox.Timedout",
    "killed": "Runtime.ExitError",
    "throttle": "Lambda.TooManyRequestsException",
}
# what the caller's side can name a request id from
NAMES_REQUEST_ID = frozenset({"ok", "handler", "timeout", "killed"})
REACHES_FUNCTION = frozenset(KINDS) - {"throttle"}


def cause(kind: str, request_id: str) -> str:
    """The Cause Step Functions records: Lambda's error payload (or the throttle's message)."""
    if kind == "throttle":
        return (
            "Rate Exceeded. (Service: AWSLambda; Status Code: 429; Error Code: "
            "TooManyRequestsException; Request ID: 0c7e4bf9-1b9c-4c7e-9a57-1f0e86f6c1d2; "
            "Proxy: null)"
        )
    message = {
        "handler": "item 3: durationSeconds must be a number",
        "init": "FUNCTION_DURATION must be a number of seconds, got 'abc'",
        "timeout": f"RequestId: {request_id} Error: Task timed out after 3.00 seconds",
        "killed": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }[kind]
    document: dict[str, Any] = {"errorMessage": message, "errorType": ERROR_TYPE[kind]}
    if kind in ("handler", "init"):  # the runtime's own documents carry requestId and a trace
        document["requestId"] = request_id if kind == "handler" else ""
        document["stackTrace"] = ['  File "/var/task/concurrencytest.py", line 40, in <module>\n']
    return json.dumps(document)


@dataclass
class FaultyRun:
    run: synthetic.SimulatedRun
    kinds: dict[int, str]  # item -> kind
    lost: dict[str, Set[int]] = field(default_factory=dict)  # "xray"/"logs" -> items lost

    def kind(self, item: int) -> str:
        return self.kinds.get(item, "ok")


def simulate(kinds: Mapping[int, str], items: int, **options: Any) -> FaultyRun:
    run = synthetic.simulate(items, **options)
    for call in run.calls:
        kind = kinds.get(call.item, "ok")
        if kind == "throttle":
            # one throttled attempt, then the retry (after the backoff) throttled for good
            call.throttles = 1
            call.throttle_times = [(call.scheduled, call.scheduled + 0.03)]
            for name in ("started", "handler_start", "handler_end", "ended"):
                setattr(call, name, getattr(call, name) + 0.5)
    run.end = max(call.ended for call in run.calls) + 0.1
    return FaultyRun(run, dict(kinds))


def execution_output(faulty: FaultyRun) -> dict[str, Any]:
    document = synthetic.execution_output(faulty.run)
    for entry, call in zip(document["results"], faulty.run.calls, strict=True):
        kind = faulty.kind(call.item)
        if kind != "ok":
            entry.clear()
            entry.update(
                id=call.item,
                error={"Error": ERROR_TYPE[kind], "Cause": cause(kind, call.request_id)},
            )
    return document


def execution_history(faulty: FaultyRun) -> dict[str, Any]:
    """The inline Map's history: failed items end in TaskFailed with the error and cause."""
    run = faulty.run
    for call in run.calls:
        kind = faulty.kind(call.item)
        call.error = ERROR_TYPE[kind] if kind != "ok" else None
    try:
        document = synthetic.execution_history(run)
    finally:
        for call in run.calls:
            call.error = None
    by_item = {call.item: call for call in run.calls}
    entered: dict[int, int] = {}  # event id -> item, through previousEventId chains
    for event in document["events"]:
        details = event.get("taskStateEnteredEventDetails") or event.get("stateEnteredEventDetails")
        if event["type"] == "TaskStateEntered" and details:
            entered[event["id"]] = json.loads(details["input"])["item"]["id"]
        elif event.get("previousEventId") in entered:
            entered[event["id"]] = entered[event["previousEventId"]]
        failed = event.get("taskFailedEventDetails")
        if failed is not None and event["id"] in entered:
            call = by_item[entered[event["id"]]]
            kind = faulty.kind(call.item)
            if failed["error"] != "Lambda.TooManyRequestsException" or kind == "throttle":
                failed["cause"] = cause(kind, call.request_id)
    return document


def xray_traces(faulty: FaultyRun) -> dict[str, Any]:
    """Segments for every call that reached the function (a failed one flagged as Lambda flags
    it); a throttled call leaves only a throttled service segment, which is no call."""
    document = synthetic.xray_traces(faulty.run)
    trace = document["Traces"][0]
    by_request = {call.request_id: call for call in faulty.run.calls}
    kept: list[dict[str, Any]] = []
    parents: dict[str, int] = {}  # segment id -> item
    documents = [json.loads(segment["Document"]) for segment in trace["Segments"]]
    for body in documents:
        request = (body.get("aws") or {}).get("request_id")
        if request in by_request:
            parents[body["id"]] = by_request[request].item
    for body in documents:  # function segments and their subsegments (streamed ones hang there)
        item = parents.get(body.get("parent_id"))
        if item is not None and body.get("origin") == "AWS::Lambda::Function":
            for sub in body.get("subsegments", []):
                parents[sub["id"]] = item
    for body in documents:
        item = parents.get(body.get("id")) or parents.get(body.get("parent_id"))
        if item is not None and body.get("type") == "subsegment" and faulty.kind(item) != "ok":
            continue  # the handler's streamed `work` never got out of a failed call
        kind = faulty.kind(item) if item is not None else "ok"
        if item is not None and item in faulty.lost.get("xray", ()):
            continue
        if kind == "throttle":
            if body.get("origin") == "AWS::Lambda":
                body.update(throttle=True, error=True, http={"response": {"status": 429}})
                kept.append(body)
            continue
        if kind != "ok" and body.get("origin") == "AWS::Lambda::Function":
            body["error"] = True
            body["cause"] = {"exceptions": [{"id": "0f1e2d3c4b5a6978", "type": ERROR_TYPE[kind]}]}
        kept.append(body)
    trace["Segments"] = [{"Id": body["id"], "Document": json.dumps(body)} for body in kept]
    return document


def log_events(faulty: FaultyRun) -> dict[str, Any]:
    """REPORT lines of every call that reached the function; a failed one says so."""
    document = synthetic.log_events(faulty.run)
    by_request = {call.request_id: call for call in faulty.run.calls}
    events: list[dict[str, Any]] = []
    for event in document["events"]:
        request = next((r for r in by_request if r in event["message"]), None)
        item = by_request[request].item if request else None
        kind = faulty.kind(item) if item is not None else "ok"
        if kind == "throttle" or (item is not None and item in faulty.lost.get("logs", ())):
            continue
        if kind != "ok" and event["message"].startswith("REPORT"):
            head, _, tail = event["message"].partition("\n")
            status = "timeout" if kind == "timeout" else "error"
            event["message"] = f"{head}Status: {status}\tError Type: {ERROR_TYPE[kind]}\t\n{tail}"
        events.append(event)
    document["events"] = events
    return document
