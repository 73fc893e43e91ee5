"""Adapter for X-Ray BatchGetTraces: what Lambda itself recorded about each traced call.

Per call, Lambda (Active tracing) records an ``AWS::Lambda`` segment (the service: the time the
caller saw, ``aws.request_id``) and a child ``AWS::Lambda::Function`` segment whose subsegments are
``Initialization`` (only when an init ran for this call's environment; it starts before the
function segment), ``Invocation`` (the handler) and ``Overhead``. Parsed defensively, because the
shape has changed over the years and differs by runtime:

- documents arrive as JSON strings (``Segments[].Document``); a streamed subsegment is its own
  document with ``"type": "subsegment"`` and a ``parent_id``, and is attached to its parent;
- newer traces may carry only annotations (``aws:responseLatency``...) and fewer subsegments:
  missing subsegments leave fields ``None`` rather than failing;
- the handler's own ``cold_start`` annotation (aws-xray-sdk, anywhere under the function segment)
  is read as the handler's first-invocation flag;
- an ``AWS::StepFunctions::StateMachine`` segment in the same trace names the state machine.

Throttled calls (an ``AWS::Lambda`` segment without a function segment) are not records: the
execution history counts throttles per item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pclab.analysis.model import Invocation, Source, SourceFormatError
from pclab.analysis.perf import without_gc
from pclab.analysis.sources._common import (
    as_bool,
    as_float,
    as_mapping,
    as_str,
    is_mapping,
    load_json_text,
    paged_entries,
    split_function,
)

_INIT_NAMES = frozenset({"Initialization", "Init", "Restore"})
_INVOKE_NAMES = frozenset({"Invocation", "Invoke"})


def _traces(document: Any) -> list[Mapping[str, Any]]:
    return paged_entries(
        document,
        "Traces",
        'a BatchGetTraces reply {"Traces": [...]}',
        lambda t: is_mapping(t) and isinstance(t.get("Segments"), list),
        "a trace has no 'Segments' list: not a BatchGetTraces reply",
    )


def _documents(trace: Mapping[str, Any]) -> list[dict[str, Any]]:
    raws = [
        segment.get("Document") if is_mapping(segment) else None for segment in trace["Segments"]
    ]
    texts = [raw for raw in raws if isinstance(raw, str)]
    if raws and len(texts) == len(raws):
        # one parse of all documents at once: 30,000 separate json.loads calls cost more than
        # the parsing itself
        try:
            parsed_all = json.loads("[" + ",".join(texts) + "]")
        except ValueError:
            parsed_all = None  # find and name the bad document below
        if (
            isinstance(parsed_all, list)
            and len(parsed_all) == len(raws)
            and all(isinstance(document, dict) for document in parsed_all)
        ):
            return parsed_all
    documents: list[dict[str, Any]] = []
    for index, raw in enumerate(raws):
        if isinstance(raw, (str, bytes)):
            parsed = load_json_text(raw, f"trace {trace.get('Id')} segment {index} Document")
        else:
            parsed = raw
        if not isinstance(parsed, dict):
            raise SourceFormatError(f"trace {trace.get('Id')} segment {index} has no Document")
        documents.append(parsed)
    return documents


def _walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The node and every subsegment below it."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in current.get("subsegments") or ():
            if is_mapping(child):
                stack.append(child)


def _attach_streamed(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put streamed subsegment documents under their parents; return the top-level segments.

    Only parents inside function segments (or inside other streamed subsegments) matter here,
    so only those are indexed: Step Functions segments can hold thousands of subsegments.
    """
    top = [d for d in documents if d.get("type") != "subsegment"]
    streamed = [d for d in documents if d.get("type") == "subsegment"]
    if not streamed:
        return top
    nodes: dict[Any, dict[str, Any]] = {}
    roots = [d for d in top if d.get("origin") == "AWS::Lambda::Function"] + streamed
    for root in roots:
        for node in _walk(root):
            if isinstance(node, dict):
                nodes.setdefault(node.get("id"), node)
    for document in streamed:
        parent = nodes.get(document.get("parent_id"))
        if parent is not None and parent is not document:
            children = parent.setdefault("subsegments", [])
            if all(child is not document for child in children):
                children.append(document)
    return top


def _annotation(node: Mapping[str, Any], name: str) -> Any:
    annotations = as_mapping(node.get("annotations")) or {}
    return annotations.get(name)


def _function_of(*segments: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    for segment in segments:
        if segment is None:
            continue
        aws = as_mapping(segment.get("aws")) or {}
        for reference in (aws.get("function_arn"), segment.get("resource_arn")):
            name, qualifier = split_function(as_str(reference))
            if name:
                return name, qualifier
    for segment in segments:
        if segment is not None and as_str(segment.get("name")):
            return as_str(segment.get("name")), None
    return None, None


def _error_of(segment: Mapping[str, Any]) -> str | None:
    if not (segment.get("fault") or segment.get("error")):
        return None
    cause = as_mapping(segment.get("cause")) or {}
    for exception in cause.get("exceptions") or ():
        if is_mapping(exception) and as_str(exception.get("type")):
            return as_str(exception.get("type"))
    return "Lambda.Unknown" if segment.get("fault") else "Error"


@without_gc
def parse_traces(document: Any) -> list[Invocation]:
    """One :class:`Invocation` per traced call that reached the function.

    ``document``: a BatchGetTraces reply, a list of its pages, or a bare list of traces (parsed
    or as JSON text).
    """
    invocations: list[Invocation] = []
    for trace in _traces(document):
        top = _attach_streamed(_documents(trace))
        trace_id = as_str(trace.get("Id"))
        state_machine = next(
            (
                as_str(s.get("name"))
                for s in top
                if s.get("origin") == "AWS::StepFunctions::StateMachine"
            ),
            None,
        )
        services = {
            as_str(s.get("id")): s for s in top if s.get("origin") == "AWS::Lambda" and s.get("id")
        }
        for function in (s for s in top if s.get("origin") == "AWS::Lambda::Function"):
            service = services.pop(as_str(function.get("parent_id")), None)
            invocations.append(_invocation(function, service, trace_id, state_machine))
        # A service segment whose function segment is missing (trace still arriving, or the
        # function never ran): keep it only if it names a request that reached the function.
        for service in services.values():
            http = as_mapping(service.get("http")) or {}
            response = as_mapping(http.get("response")) or {}
            if service.get("throttle") or response.get("status") == 429:
                continue
            invocations.append(_invocation(None, service, trace_id, state_machine))
    return invocations


def _invocation(
    function: Mapping[str, Any] | None,
    service: Mapping[str, Any] | None,
    trace_id: str | None,
    state_machine: str | None,
) -> Invocation:
    inv = Invocation(sources={Source.XRAY}, state_machine=state_machine)
    inv.trace_id = as_str((service or function or {}).get("trace_id")) or trace_id
    inv.function_name, inv.qualifier = _function_of(function, service)
    for segment in (service, function):
        aws = as_mapping(segment.get("aws")) if segment else None
        if aws and as_str(aws.get("request_id")) and inv.request_id is None:
            inv.request_id = as_str(aws.get("request_id"))
    if service is not None:
        inv.started_at = as_float(service.get("start_time"))
        inv.ended_at = as_float(service.get("end_time"))
        inv.error = _error_of(service)
        ours = as_mapping((as_mapping(service.get("metadata")) or {}).get("pclab")) or {}
        inv.platform_model = as_str(ours.get("platform_model"))
    if function is None:
        return inv
    inv.error = inv.error or _error_of(function)
    initialization = None
    invocation = None
    for node in _walk(function):
        if node is function:
            continue
        name = node.get("name")
        if name in _INIT_NAMES and initialization is None:
            initialization = node
        elif name in _INVOKE_NAMES and invocation is None:
            invocation = node
        cold_flag = as_bool(_annotation(node, "cold_start"))
        if cold_flag is not None and inv.first_invocation is None:
            inv.first_invocation = cold_flag
    inv.xray_initialization = initialization is not None
    if initialization is not None:
        inv.init_start = as_float(initialization.get("start_time"))
        inv.init_end = as_float(initialization.get("end_time"))
        if inv.init_start is not None and inv.init_end is not None:
            inv.init_duration_ms = (inv.init_end - inv.init_start) * 1000.0
    body = invocation if invocation is not None else function
    inv.handler_start = as_float(body.get("start_time"))
    inv.handler_end = as_float(body.get("end_time"))
    # Without the service segment the caller view stays unknown: the function segment starts
    # after any init the caller waited for.
    return inv
