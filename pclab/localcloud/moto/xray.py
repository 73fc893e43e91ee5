"""X-Ray: the trace half of the telemetry sink, and the trace queries moto does not answer.

moto 5.2.5 stores segments but answers GetTraceSummaries with a FilterExpression with HTTP 500
"Not implemented yet", without one with made-up summaries (no ServiceIds, no Annotations,
ResponseTime 1) and no pagination, and GetServiceGraph / GetTraceGraph with no services. We
answer those three from the stored segment documents with :mod:`pclab.localcloud.queries`
(the filter language, TraceSummary and the service graph live there, tested on their own).

moto internals patched, and why (each replaced where the request's parameters are all at hand;
storage, PutTraceSegments and BatchGetTraces stay moto's):

* ``XRayResponse.trace_summaries`` (GetTraceSummaries): the window by ``TimeRangeType``,
  ``FilterExpression``, pages with ``NextToken`` (:data:`PAGE_SIZE` a page, newest first as AWS
  pages), a bad expression or token a 400 ``InvalidRequestException``;
* ``XRayResponse.service_graph`` (GetServiceGraph): the graph of the traces in the window;
* ``XRayResponse.trace_graph`` (GetTraceGraph): the graph of the named traces;
* ``SegmentCollection.put_segment(segment)`` (every stored segment, from PutTraceSegments or the
  sink): moto's, then the segment joins its trace's :class:`Trace` view, so queries find each
  trace built (the first query over 10,000 traces took 1.4 s when it built them).

moto internals read, and why:

* ``moto.xray.models.xray_backends[account][region]``; ``XRayBackend.process_segment(document)``
  (what PutTraceSegments does for one document: the sink writes in-process, no HTTP per batch);
* ``XRayBackend._segment_collection._traces``: trace id -> ``{"segments": [TraceSegment]}``
  (a view whose document count differs from it is rebuilt from it); a ``TraceSegment`` keeps
  the document's keys as attributes (``name``, ``id``, ``trace_id``, ``start_time``,
  ``end_time``, ``in_progress``, ``origin``, ``parent_id``, ``http``, ``aws``, ``annotations``,
  ``subsegments``, ...) and the others in ``misc``: the document is rebuilt from them rather
  than parsed again from ``raw`` (JSON parsing was 80 % of a first query);
* ``XRayResponse.xray_backend`` and ``_get_param`` (the request's JSON body).

Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from pclab.localcloud.moto._patching import LOG, ORIGINALS, _patch
from pclab.localcloud.queries import (
    FilterExpressionError,
    Trace,
    build_service_graph,
    build_trace_summary,
    compile_filter,
)

# AWS does not document GetTraceSummaries' page size; the local cloud pages at 100 summaries.
PAGE_SIZE = 100
TIME_RANGE_TYPES = ("TraceId", "Event", "Service")
_RESPONSES = "moto.xray.responses.XRayResponse"  # the patched class, as _patch labels it


class XRaySegmentWriter:
    """``put_trace_segments`` of :class:`~pclab.localcloud.moto.MotoTelemetrySink`."""

    def __init__(self, account_id: str, region: str, lock: threading.Lock) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = lock

    def put_trace_segments(self, documents: list[str]) -> None:
        from moto.xray.models import xray_backends

        backend = xray_backends[self.account_id][self.region]
        with self._lock:
            for document in documents:
                try:
                    backend.process_segment(document)
                except Exception as error:  # one bad document must not lose the others
                    LOG.warning("X-Ray segment rejected: %s", error)


# --- reading moto's store --------------------------------------------------------------------

# Per moto segment collection, each trace's view, grown as its segments arrive
# (SegmentCollection.put_segment): a query over 10,000 traces reads them ready, rather than
# rebuilding 60,000 documents (1.4 s of a first GetTraceSummaries, 2.2 s CPU at load 5).
_views: weakref.WeakKeyDictionary[Any, dict[str, Trace]] = weakref.WeakKeyDictionary()
_views_lock = threading.Lock()
_COLLECTION = "moto.xray.models.SegmentCollection"


# TraceSegment's attributes besides ``misc`` (the document's other keys), as its __init__ names
# them; None (and in_progress False) where the document did not have the key.
_SEGMENT_FIELDS = (
    "end_time",
    "in_progress",
    "service",
    "user",
    "origin",
    "parent_id",
    "http",
    "aws",
    "metadata",
    "annotations",
    "subsegments",
)


def segment_document(seg: Any) -> dict[str, Any]:
    """The document as sent, from what moto parsed (parsing ``raw`` again costs 5x the rest)."""
    doc: dict[str, Any] = dict(seg.misc)
    doc.update(name=seg.name, id=seg.id, trace_id=seg.trace_id, start_time=seg.start_time)
    for key in _SEGMENT_FIELDS:
        value = getattr(seg, key)
        if value is not None and value is not False:
            doc[key] = value
    return doc


def put_segment(collection: Any, segment: Any) -> None:
    """SegmentCollection.put_segment: moto stores the segment, we add it to its trace's view."""
    ORIGINALS[(_COLLECTION, "put_segment")](collection, segment)
    document = segment_document(segment)
    with _views_lock:
        views = _views.setdefault(collection, {})
        view = views.get(segment.trace_id)
        if view is None:
            views[segment.trace_id] = Trace([document])
        else:
            view.add([document])


def stored_traces(backend: Any) -> list[Trace]:
    """Every trace moto holds, as grown on arrival (rebuilt if a segment got in another way)."""
    collection = backend._segment_collection
    traces: list[Trace] = []
    with _views_lock:
        views = _views.setdefault(collection, {})
        for trace_id, stored in list(collection._traces.items()):
            segments = stored["segments"]
            if not segments:
                continue
            view = views.get(trace_id)
            if view is None or view.documents != len(segments):
                view = views[trace_id] = Trace([segment_document(s) for s in list(segments)])
            traces.append(view)
    return traces


def _trace_id_time(trace: Trace) -> float | None:
    """The epoch second a trace id carries (``1-5f8a1b2c-...``): X-Ray's TraceId time."""
    parts = trace.trace_id.split("-")
    try:
        return float(int(parts[1], 16))
    except (IndexError, ValueError):
        return trace.start


def _segment_times(trace: Trace, ends_only: bool) -> list[float]:
    times: list[float] = []
    for seg in trace.segments:
        if seg.end is not None:
            times.append(seg.end)
        if not ends_only and seg.start is not None:
            times.append(seg.start)
    return times


def window_time(trace: Trace, range_type: str, start: float, end: float) -> float | None:
    """When the trace falls in [start, end] by ``TimeRangeType``, that time; else None.

    TraceId: the trace's start as its id carries it; Event: its last update (latest segment
    time); Service: the latest segment end inside the window.
    """
    if range_type == "TraceId":
        at = _trace_id_time(trace)
        return at if at is not None and start <= at <= end else None
    times = _segment_times(trace, ends_only=range_type == "Service")
    if range_type == "Event":
        latest = max(times, default=None)
        return latest if latest is not None and start <= latest <= end else None
    inside = [t for t in times if start <= t <= end]
    return max(inside) if inside else None


def overlaps(trace: Trace, start: float, end: float) -> bool:
    """The trace was running at some time in [start, end] (GetServiceGraph's window)."""
    first, last = trace.start, trace.end
    if first is None:
        return False
    return first <= end and (last if last is not None else first) >= start


# --- the responses ---------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(message: str) -> tuple[str, dict[str, Any]]:
    """X-Ray's 400 for a request it refuses (the code in body and header, as AWS sends it)."""
    body = json.dumps({"__type": "InvalidRequestException", "message": message})
    return body, {"status": 400, "x-amzn-ErrorType": "InvalidRequestException"}


def _window(response: Any) -> tuple[float, float]:
    try:
        start, end = float(response._get_param("StartTime")), float(response._get_param("EndTime"))
    except (TypeError, ValueError):
        raise _BadRequest("StartTime and EndTime must be numbers of epoch seconds") from None
    if end < start:
        raise _BadRequest("EndTime must not be before StartTime")
    return start, end


Key = tuple[float, float, str]  # (time by TimeRangeType, trace start, trace id): newest first


def _encode_token(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str) -> Key:
    try:
        at, start, trace_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(at), float(start), str(trace_id)
    except (ValueError, TypeError, binascii.Error):
        raise _BadRequest(f"Invalid NextToken: {token!r}") from None


def _refusing_bad_requests(
    answer: Callable[[Any], dict[str, Any]], original_name: str
) -> Callable[[Any], Any]:
    """Missing StartTime/EndTime get moto's own 400; our refusals a 400 InvalidRequestException."""

    def respond(self: Any) -> Any:
        if original_name != "trace_graph" and (
            self._get_param("StartTime") is None or self._get_param("EndTime") is None
        ):
            return ORIGINALS[(_RESPONSES, original_name)](self)
        try:
            return json.dumps(answer(self))
        except _BadRequest as refused:
            return _error(refused.message)

    respond.__name__ = original_name
    respond.__doc__ = answer.__doc__
    return respond


def trace_summaries(response: Any) -> dict[str, Any]:
    """GetTraceSummaries: the window's traces that match the filter, newest first, paged."""
    start, end = _window(response)
    range_type = response._get_param("TimeRangeType") or "TraceId"
    if range_type not in TIME_RANGE_TYPES:
        raise _BadRequest(f"TimeRangeType must be one of {', '.join(TIME_RANGE_TYPES)}")
    expression = response._get_param("FilterExpression")
    try:
        matcher = compile_filter(expression) if expression is not None else None
    except FilterExpressionError as error:
        raise _BadRequest(error.message) from None
    token = response._get_param("NextToken")
    after = _decode_token(token) if token else None
    in_window: list[tuple[Key, Trace]] = []
    for trace in stored_traces(response.xray_backend):
        at = window_time(trace, range_type, start, end)
        if at is not None:
            in_window.append(((at, trace.start or at, trace.trace_id), trace))
    in_window.sort(key=lambda item: item[0], reverse=True)
    page: list[tuple[Key, Trace]] = []
    more = False
    for key, trace in in_window:
        if after is not None and key >= after:
            continue
        if matcher is not None and not matcher.matches(trace):
            continue
        if len(page) == PAGE_SIZE:
            more = True
            break
        page.append((key, trace))
    result: dict[str, Any] = {
        "TraceSummaries": [build_trace_summary(trace) for _, trace in page],
        "ApproximateTime": page[0][0][0] if page else min(end, time.time()),
        "TracesProcessedCount": len(in_window),
    }
    if more:
        result["NextToken"] = _encode_token(page[-1][0])
    return result


def service_graph(response: Any) -> dict[str, Any]:
    """GetServiceGraph: every service of the traces running in the window, with its edges."""
    start, end = _window(response)
    traces = [t for t in stored_traces(response.xray_backend) if overlaps(t, start, end)]
    return build_service_graph(traces, start, end)


def trace_graph(response: Any) -> dict[str, Any]:
    """GetTraceGraph: the service graph of the named traces (unknown ids are left out)."""
    wanted = response._get_param("TraceIds")
    if not isinstance(wanted, list) or not wanted:
        raise _BadRequest("TraceIds must name at least one trace")
    ids = set(map(str, wanted))
    traces = [t for t in stored_traces(response.xray_backend) if t.trace_id in ids]
    return {"Services": build_service_graph(traces)["Services"]}


def _install_xray() -> None:
    from moto.xray.models import SegmentCollection
    from moto.xray.responses import XRayResponse

    for name, answer in (
        ("trace_summaries", trace_summaries),
        ("service_graph", service_graph),
        ("trace_graph", trace_graph),
    ):
        _patch(XRayResponse, name, _refusing_bad_requests(answer, name))
    _patch(SegmentCollection, "put_segment", put_segment)
