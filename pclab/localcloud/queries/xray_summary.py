"""GetTraceSummaries' TraceSummary for one trace, shaped as the X-Ray API reference gives it.

Fields (API reference, "TraceSummary"; example output in the developer guide's "Getting data from
AWS X-Ray"): ``Id``, ``StartTime``, ``Duration`` (earliest segment start to latest segment end),
``ResponseTime`` (root segment), ``HasFault``/``HasError`` (root segment), ``HasThrottle`` and
``IsPartial`` (any segment), ``Http`` (the root segment's request and response), ``Annotations``
(``{key: [{"AnnotationValue": {"StringValue"|"NumberValue"|"BooleanValue": v}, "ServiceIds":
[...]}]}``, one entry per distinct value), ``Users``, ``ServiceIds`` (every node the trace
touches, inferred ones included, in the order they started), ``ResourceARNs`` and
``EntryPoint`` (the root's service). Root-cause lists (``FaultRootCauses`` ...) and ``Revision``
are left out: the local cloud does not compute them.

Times are rounded to the millisecond, as the guide's examples show them (``"Duration": 3.232``).
Imports only :mod:`.xray_trace`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .xray_trace import Document, Segment, ServiceId, Trace, http_request

_HTTP_REQUEST_FIELDS = (("url", "HttpURL"), ("method", "HttpMethod"))
_HTTP_CLIENT_FIELDS = (("user_agent", "UserAgent"), ("client_ip", "ClientIp"))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def annotation_value(value: Any) -> dict[str, Any] | None:
    """X-Ray's AnnotationValue union for one annotation (None for a type X-Ray does not index)."""
    if isinstance(value, bool):
        return {"BooleanValue": value}
    if isinstance(value, int | float):
        return {"NumberValue": float(value)}
    if isinstance(value, str):
        return {"StringValue": value}
    return None


def _services(services: Iterable[ServiceId]) -> list[dict[str, Any]]:
    unique = dict.fromkeys(services)
    return [s.as_dict() for s in unique]


def _http(trace: Trace) -> dict[str, Any]:
    root = trace.root
    if root is None:
        return {}
    request = http_request(root.doc)
    shaped: dict[str, Any] = {}
    for source, target in _HTTP_REQUEST_FIELDS + _HTTP_CLIENT_FIELDS:
        if request.get(source) is not None:
            shaped[target] = str(request[source])
    if root.status is not None:
        shaped["HttpStatus"] = root.status
    return shaped


def _annotations(trace: Trace) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, dict[tuple[str, Any], tuple[dict[str, Any], list[ServiceId]]]] = {}
    for key, value, service in trace.annotations:
        shaped = annotation_value(value)
        if shaped is None:
            continue
        kind, raw = next(iter(shaped.items()))
        entry = grouped.setdefault(key, {}).setdefault((kind, raw), (shaped, []))
        if service not in entry[1]:
            entry[1].append(service)
    return {
        key: [
            {"AnnotationValue": shaped, "ServiceIds": _services(services)}
            for shaped, services in values.values()
        ]
        for key, values in grouped.items()
    }


def _users(trace: Trace) -> list[dict[str, Any]]:
    by_name: dict[str, list[ServiceId]] = {}
    for name, service in trace.users:
        services = by_name.setdefault(name, [])
        if service not in services:
            services.append(service)
    return [{"UserName": n, "ServiceIds": _services(s)} for n, s in by_name.items()]


def _by_start(segments: list[Segment]) -> list[Segment]:
    """In the order they started (segments arrive in any order; unknown starts last)."""
    return sorted(segments, key=lambda s: (s.start is None, s.start or 0.0))


def build_trace_summary(trace: Trace | Iterable[Document | str]) -> dict[str, Any]:
    """The TraceSummary of one trace (its segment documents, or a :class:`Trace`)."""
    subject = trace if isinstance(trace, Trace) else Trace(trace)
    summary: dict[str, Any] = {"Id": subject.trace_id}
    if subject.start is not None:
        summary["StartTime"] = subject.start
    duration, response = _ms(subject.duration), _ms(subject.response_time)
    if duration is not None:
        summary["Duration"] = duration
    if response is not None:
        summary["ResponseTime"] = response
    summary.update(
        {
            "HasFault": subject.has_fault,
            "HasError": subject.has_error,
            "HasThrottle": subject.has_throttle,
            "IsPartial": subject.is_partial,
            "Http": _http(subject),
            "Annotations": _annotations(subject),
            "Users": _users(subject),
            "ServiceIds": _services(s.service for s in _by_start(subject.all_segments)),
            "ResourceARNs": [
                {"ARN": arn}
                for arn in dict.fromkeys(
                    str(s.doc["resource_arn"])
                    for s in subject.segments
                    if s.doc.get("resource_arn")
                )
            ],
        }
    )
    if subject.root is not None:
        summary["EntryPoint"] = subject.root.service.as_dict()
    return summary
